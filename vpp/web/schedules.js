// The pool's published schedules (GET /v1/grid/schedules?day=): baseline and planned net
// load, and per product awarded, target and deliverable kW, day-ahead version against the
// current one; and the grid instructions with the answers they got
// (GET /v1/grid/instructions).

import { get, getAll } from "./api.js";
import { timeChart } from "./chart.js";
import { badge, chartWithNumbers, csvButton, el, fill, message, table } from "./dom.js";
import { DAY_MS, dayStartMs, fmtDateTime, fmtNumber, intervalRuns, intervalStartMs, isoBeijing, toMs } from "./format.js";

const INTERVALS = 96;

/** Rows of a day's schedules, one per interval: the day-ahead (``da_``) and current
 * (``cur_``) baseline and planned net load, and per product ``<product>|awarded`` etc.
 * Pure: the tests call it with hand-made answers. */
export function scheduleRows(day, schedules) {
  const { day_ahead: da, current: cur } = schedules;
  return Array.from({ length: INTERVALS }, (_, k) => {
    const row = {
      interval: k,
      t: intervalStartMs(day, k, INTERVALS),
      da_baseline_kw: da ? da.baseline_kw[k] : null,
      da_planned_kw: da ? da.planned_kw[k] : null,
      cur_baseline_kw: cur ? cur.baseline_kw[k] : null,
      cur_planned_kw: cur ? cur.planned_kw[k] : null,
    };
    for (const [prefix, version] of [["da", da], ["cur", cur]]) {
      for (const p of version?.products ?? []) {
        row[`${prefix}|${p.product}|awarded`] = p.awarded_kw[k];
        row[`${prefix}|${p.product}|target`] = p.target_kw[k];
        row[`${prefix}|${p.product}|deliverable`] = p.deliverable_kw[k];
      }
    }
    return row;
  });
}

const kw = (key, label) => ({ label, num: true, text: (r) => fmtNumber(r[key], 1), csv: (r) => r[key] ?? "" });

function versionLine(label, version) {
  if (!version) return el("li", {}, `${label}: none published.`);
  return el(
    "li",
    { "data-version": version.version },
    `${label}: version ${version.version}, published ${fmtDateTime(version.updated_at)}`,
    version.cause ? ` (${version.cause})` : "",
    ".",
  );
}

/** A day's schedules into ``body``: net load chart, one chart per product, numbers. */
export async function renderSchedules(body, ctx, day) {
  const schedules = await get("/grid/schedules", { day });
  const { day_ahead: da, current: cur } = schedules;
  if (!da && !cur) {
    fill(
      body,
      message(
        `No schedule published for ${day} (Beijing): the pool publishes it once the day's awards are in ` +
          "and the day-ahead plan is made (the day before).",
      ),
    );
    return;
  }
  const rows = scheduleRows(day, schedules);
  const x = [dayStartMs(day), dayStartMs(day) + DAY_MS];
  const line = (cls, label, key) => ({ type: "line", cls, label, points: rows.map((r) => ({ t: r.t, v: r[key] })) });
  const netLayers = [line("s-baseline", "Baseline (current)", "cur_baseline_kw"), line("s-planned", "Planned net load (current)", "cur_planned_kw")];
  if (da && da.version !== cur?.version) netLayers.push(line("s-dayahead", "Planned net load (day-ahead)", "da_planned_kw"));
  const netChart = timeChart({
    title: `Pool net load schedule on ${day} (Beijing)`,
    x,
    yLabel: "Net load, kW",
    unit: "kW",
    layers: netLayers,
    markers: [{ t: ctx.now, label: "now" }],
  });
  const products = [...new Set([...(cur?.products ?? []), ...(da?.products ?? [])].map((p) => p.product))].sort();
  const productCharts = products.map((product) => {
    const layers = [
      line("s-awarded-kw", "Awarded kW", `cur|${product}|awarded`),
      line("s-target", "Target kW (current)", `cur|${product}|target`),
      line("s-planned", "Deliverable kW (current)", `cur|${product}|deliverable`),
    ];
    if (da && da.version !== cur?.version) layers.push(line("s-dayahead", "Target kW (day-ahead)", `da|${product}|target`));
    return el(
      "div",
      { class: "product", "data-product": product },
      el("h3", {}, product),
      timeChart({
        title: `${product} schedule on ${day} (Beijing)`,
        x,
        yLabel: "Power in the product's direction, kW",
        unit: "kW",
        layers,
        markers: [{ t: ctx.now, label: "now" }],
      }),
    );
  });
  const columns = [
    { label: "Interval", key: "interval", num: true },
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    kw("da_baseline_kw", "Baseline kW (day-ahead)"),
    kw("da_planned_kw", "Planned kW (day-ahead)"),
    kw("cur_baseline_kw", "Baseline kW (current)"),
    kw("cur_planned_kw", "Planned kW (current)"),
    ...products.flatMap((p) => [
      kw(`da|${p}|awarded`, `${p} awarded kW`),
      kw(`da|${p}|target`, `${p} target kW (day-ahead)`),
      kw(`cur|${p}|target`, `${p} target kW (current)`),
      kw(`cur|${p}|deliverable`, `${p} deliverable kW (current)`),
    ]),
  ];
  fill(
    body,
    el("ul", { class: "versions" }, versionLine("Day-ahead", da), versionLine("Current", cur)),
    el("h3", {}, "Pool net load"),
    chartWithNumbers(netChart, {
      columns,
      rows,
      filename: `schedule-${day}.csv`,
      // Where an instruction moved a target away from the day-ahead schedule.
      rowClass: (r) => (da && cur && products.some((p) => r[`cur|${p}|target`] !== r[`da|${p}|target`]) ? "changed" : null),
    }),
    productCharts,
  );
}

/** "1,200 kW" for one value, "800–1,200 kW" for a range of values. */
export function kwRange(values) {
  if (!values || values.length === 0) return "";
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? `${fmtNumber(lo, 1)} kW` : `${fmtNumber(lo, 1)}–${fmtNumber(hi, 1)} kW`;
}

const instructionColumns = (ctx) => [
  { label: "Received (UTC+8)", text: (i) => fmtDateTime(i.received_at), csv: (i) => isoBeijing(i.received_at) },
  { label: "Instruction", key: "instruction_id" },
  { label: "Product", key: "product" },
  { label: "Day", key: "day" },
  {
    label: "Intervals (UTC+8)",
    wrap: true,
    text: (i) => intervalRuns(i.day, i.intervals, ctx.intervalsPerDay[i.product] ?? INTERVALS).join(", "),
    csv: (i) => i.intervals.join(";"),
  },
  { label: "Target", num: true, text: (i) => kwRange(i.target_kw), csv: (i) => i.target_kw.join(";") },
  { label: "Feasible", num: true, text: (i) => kwRange(i.feasible_kw), csv: (i) => i.feasible_kw.join(";") },
  { label: "Answer", cell: (i) => el("span", { "data-status": i.status }, badge(i.status)), csv: (i) => i.status },
  { label: "Reason", key: "reason", wrap: true },
  { label: "Schedule version", num: true, text: (i) => i.schedule_version ?? "—", csv: (i) => i.schedule_version ?? "" },
  { label: "Source", key: "source" },
];

/** Every instruction (newest first, at most ``max``) and the answer it got. */
export async function renderInstructions(body, ctx, { max = 200 } = {}) {
  const columns = instructionColumns(ctx);
  const { items, more } = await getAll("/grid/instructions", {}, { maxPages: 5 });
  const rows = [...items].sort((a, b) => toMs(b.received_at) - toMs(a.received_at)).slice(0, max);
  fill(
    body,
    more || items.length > max ? message(`Showing the newest ${rows.length} instructions.`) : null,
    rows.length ? el("div", { class: "numbers-bar" }, csvButton("grid-instructions.csv", columns, rows)) : null,
    table(columns, rows, {
      empty: "No grid instructions received yet: the grid company sends them during the day (API, OpenADR or IEC 104).",
    }),
  );
}
