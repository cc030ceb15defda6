// Building the page. Every piece of data goes in as text (textContent), never as
// HTML: nothing here parses markup, so a name like "<img onerror=...>" stays text.

import { getFile } from "./api.js";
import { toCsv } from "./format.js";

/** An element with attributes, event handlers (on*) and children (nodes or text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A titled panel: a section with a heading, a toolbar and a body to fill. */
export function panel(title, { id, note } = {}) {
  const tools = el("div", { class: "tools" });
  const body = el("div", { class: "body", "aria-busy": "true" }, el("p", { class: "muted" }, "Loading…"));
  const section = el(
    "section",
    { class: "panel", id },
    el("div", { class: "panel-head" }, el("h2", {}, title), tools),
    note ? el("p", { class: "note" }, note) : null,
    body,
  );
  return { section, tools, body };
}

/** A message in a panel body: "muted" for empty data, "error" for failures. */
export function message(text, kind = "muted") {
  return el("p", { class: kind, role: kind === "error" ? "alert" : null }, text);
}

const cellClass = (column) => [column.num ? "num" : "", column.wrap ? "wrap" : ""].join(" ").trim() || null;

/** A table of ``rows`` by ``columns`` ([{label, key | text(row) | cell(row), num, wrap}]):
 * ``key`` and ``text`` give text, ``cell`` a node built with ``el``; ``rowClass(row)``
 * may give a row a class (to highlight it). */
export function table(columns, rows, { caption, empty = "Nothing to show.", rowClass } = {}) {
  if (rows.length === 0) return message(empty);
  const head = el(
    "tr",
    {},
    columns.map((c) => el("th", { scope: "col", class: cellClass(c) }, c.label)),
  );
  const body = rows.map((row) =>
    el(
      "tr",
      { class: rowClass ? rowClass(row) : null },
      columns.map((c) => {
        let content;
        if (c.cell) content = c.cell(row);
        else if (c.text) content = c.text(row);
        else content = row[c.key];
        return el("td", { class: cellClass(c) }, content ?? "");
      }),
    ),
  );
  return el(
    "div",
    { class: "table-wrap" },
    el("table", {}, caption ? el("caption", {}, caption) : null, el("thead", {}, head), el("tbody", {}, body)),
  );
}

/** Hand a blob to the browser as a download named ``filename``. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Open a blob (a printable HTML page) in a new tab; false when the browser refused. */
export function openBlob(blob) {
  const url = URL.createObjectURL(blob);
  const opened = window.open(url, "_blank", "noopener");
  // A noopener window returns null even when it opened; the URL lives a minute.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return opened;
}

/** A button that fetches ``/v1{path}`` with the Authorization header (the key never goes
 * into a URL) and saves it as ``filename`` or, with ``open``, shows it in a new tab.
 * Failures are shown next to the button. */
export function fileButton(label, path, { params, filename, open = false, title, cls = "secondary", data = {} } = {}) {
  const status = el("span", { class: "error file-status", role: "status" });
  const button = el(
    "button",
    {
      type: "button",
      class: `${cls} file`,
      title: title ?? (open ? `Open ${label} in a new tab` : `Download ${filename ?? label}`),
      ...Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v])),
      onclick: async () => {
        status.textContent = "";
        button.disabled = true;
        try {
          const file = await getFile(path, params);
          if (open) openBlob(new Blob([file.blob], { type: "text/html;charset=utf-8" }));
          else saveBlob(file.blob, filename ?? file.filename ?? "download");
        } catch (error) {
          status.textContent = `${label}: ${error.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
  return el("span", { class: "file-action" }, button, status);
}

/** Refill ``node`` for a live refresh, keeping open what the reader opened: the
 * ``details`` blocks open before stay open (matched by position). */
export function refill(node, ...children) {
  const open = [...node.querySelectorAll("details")].map((d) => d.open);
  fill(node, ...children);
  node.querySelectorAll("details").forEach((d, i) => {
    if (open[i]) d.open = true;
  });
  return node;
}

/** A button that downloads ``rows`` as a CSV file (columns as for ``toCsv``). */
export function csvButton(filename, columns, rows, label = "CSV") {
  return el(
    "button",
    {
      type: "button",
      class: "secondary",
      title: `Download ${filename}`,
      onclick: () => saveBlob(new Blob([toCsv(columns, rows)], { type: "text/csv;charset=utf-8" }), filename),
    },
    label,
  );
}

/** A chart followed by its numbers: a CSV download and a collapsible table. */
export function chartWithNumbers(chart, { columns, rows, filename, caption, rowClass }) {
  return el(
    "figure",
    { class: "chart" },
    chart,
    el("div", { class: "numbers-bar" }, csvButton(filename, columns, rows, `CSV (${rows.length} rows)`)),
    el("details", { class: "numbers" }, el("summary", {}, "Table of the numbers"), table(columns, rows, { caption, rowClass })),
  );
}

/** Run ``fn`` over ``items`` with at most ``limit`` calls in flight; results in order. */
export async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** A compact state badge (the state's name as text, a class for its colour). */
export function badge(state) {
  return el("span", { class: `badge state-${String(state).replace(/[^a-z_]/g, "")}` }, state);
}
