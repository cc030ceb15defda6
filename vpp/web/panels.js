// Panels more than one view shows: a day picker, awards per product, asset tables with
// their last reading and command, command lists, an asset's planned setpoints.

import { get, getAll } from "./api.js";
import { timeChart } from "./chart.js";
import { badge, chartWithNumbers, csvButton, el, fill, message, table } from "./dom.js";
import {
  DAY_MS,
  addDays,
  addMonths,
  dayStartMs,
  fmtDateTime,
  fmtNumber,
  intervalRuns,
  intervalStartMs,
  isoBeijing,
  toMs,
} from "./format.js";

/** Show a failure in a panel body instead of throwing it to the console. */
export async function guarded(body, load) {
  body.setAttribute("aria-busy", "true");
  try {
    await load();
  } catch (error) {
    fill(body, message(`Could not load: ${error.message}`, "error"));
  } finally {
    body.setAttribute("aria-busy", "false");
  }
}

/** Previous / date / next controls for a market day; calls ``onChange(day)``. */
export function dayPicker(initial, onChange, label = "Market day") {
  let day = initial;
  const input = el("input", { type: "date", value: day, "aria-label": label });
  const set = (next) => {
    if (!next) return;
    day = next;
    input.value = day;
    onChange(day);
  };
  input.addEventListener("change", () => set(input.value));
  return el(
    "span",
    { class: "day-picker" },
    el("button", { type: "button", class: "secondary", onclick: () => set(addDays(day, -1)) }, "◀"),
    el("label", {}, `${label} `, input),
    el("button", { type: "button", class: "secondary", onclick: () => set(addDays(day, 1)) }, "▶"),
  );
}

/** Previous / month / next controls for a calendar month ("YYYY-MM"); calls
 * ``onChange(month)``. */
export function monthPicker(initial, onChange, label = "Month") {
  let month = initial;
  const input = el("input", { type: "month", value: month, "aria-label": label });
  const set = (next) => {
    if (!next || !/^\d{4}-(0[1-9]|1[0-2])$/.test(next)) return;
    month = next;
    input.value = month;
    onChange(month);
  };
  input.addEventListener("change", () => set(input.value));
  return el(
    "span",
    { class: "day-picker month-picker" },
    el("button", { type: "button", class: "secondary prev", onclick: () => set(addMonths(month, -1)) }, "◀"),
    el("label", {}, `${label} `, input),
    el("button", { type: "button", class: "secondary next", onclick: () => set(addMonths(month, 1)) }, "▶"),
  );
}

/** A panel body that shows one month at a time (as ``dayPanel`` does days). */
export function monthPanel(p, initial, render) {
  const show = (month) => {
    fill(p.body, message("Loading…"));
    return guarded(p.body, () => render(month));
  };
  fill(p.tools, monthPicker(initial, show));
  return show(initial);
}

/** Awards of one day, one bar chart and table per product (kW per interval). */
export async function renderAwards(body, ctx, day) {
  const { items } = await get("/awards", { day });
  if (items.length === 0) {
    fill(body, message(`No awards for ${day} (Beijing).`));
    return;
  }
  const products = [...new Set(items.map((a) => a.product))].sort();
  const blocks = products.map((product) => {
    const perDay = ctx.intervalsPerDay[product] ?? 96;
    const hours = 24 / perDay;
    const rows = items
      .filter((a) => a.product === product)
      .map((a) => ({ ...a, t: intervalStartMs(day, a.interval, perDay) }));
    const totals = new Map();
    for (const r of rows) totals.set(r.interval, (totals.get(r.interval) ?? 0) + r.quantity_kw);
    const points = [...totals].map(([k, v]) => ({ t: intervalStartMs(day, k, perDay), v }));
    const energy = [...totals.values()].reduce((sum, v) => sum + v * hours, 0);
    const chart = timeChart({
      title: `Awarded ${product} on ${day}`,
      x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
      yLabel: "Awarded power, kW",
      unit: "kW",
      layers: [
        {
          type: "bars",
          cls: rows[0].side === "up" ? "s-up" : "s-down",
          label: `Awarded kW (${rows[0].side})`,
          points,
          widthMs: DAY_MS / perDay,
        },
      ],
      markers: [{ t: ctx.now, label: "now" }],
    });
    const columns = [
      { label: "Interval", key: "interval", num: true },
      { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
      { label: "Side", key: "side" },
      { label: "Quantity kW", num: true, text: (r) => fmtNumber(r.quantity_kw, 1), csv: (r) => r.quantity_kw },
      {
        label: "Offer price CNY/MWh",
        num: true,
        text: (r) => fmtNumber(r.price_cny_per_mwh, 2),
        csv: (r) => r.price_cny_per_mwh,
      },
      {
        label: "Clearing price CNY/MWh",
        num: true,
        text: (r) => fmtNumber(r.clearing_price_cny_per_mwh, 2),
        csv: (r) => r.clearing_price_cny_per_mwh,
      },
    ];
    return el(
      "div",
      { class: "product", "data-product": product },
      el("h3", {}, product, el("span", { class: "muted" }, ` · ${fmtNumber(energy, 0)} kWh awarded`)),
      chartWithNumbers(chart, { columns, rows, filename: `awards-${product}-${day}.csv` }),
    );
  });
  fill(body, blocks);
}

/** A panel body that shows one day at a time, with a day picker in the panel's tools;
 * resolves once the first day is shown. */
export function dayPanel(p, initial, render) {
  const show = (day) => {
    fill(p.body, message("Loading…"));
    return guarded(p.body, () => render(day));
  };
  fill(p.tools, dayPicker(initial, show));
  return show(initial);
}

function readingCells(reading) {
  if (!reading) return { ts: null, time: "—", power: null, soc: null, status: "" };
  return {
    ts: reading.ts,
    time: fmtDateTime(reading.ts),
    power: reading.power_kw,
    soc: reading.soc === null ? null : reading.soc * 100,
    status: reading.status ?? "",
  };
}

/** The columns of an asset table (name, site, rated flexibility, last reading, last
 * command), over rows built by ``assetRows``. */
export const ASSET_COLUMNS = [
  { label: "Asset", key: "name" },
  { label: "Kind", key: "kind" },
  { label: "Site", key: "site" },
  { label: "Rated up / down kW", num: true, text: (r) => `${fmtNumber(r.up_kw, 0)} / ${fmtNumber(r.down_kw, 0)}` },
  { label: "Last reading (UTC+8)", key: "reading_time" },
  { label: "Power kW", num: true, text: (r) => fmtNumber(r.power_kw, 1) },
  { label: "SoC %", num: true, text: (r) => fmtNumber(r.soc_pct, 1) },
  { label: "Status", key: "status" },
  {
    label: "Last command (UTC+8, setpoint kW, state)",
    cell: (r) =>
      r.command_state
        ? el("span", {}, `${r.command_time} · ${fmtNumber(r.command_kw, 1)} kW `, badge(r.command_state))
        : "—",
  },
];

/** The same rows as CSV columns, one value each. */
export const ASSET_CSV = [
  { label: "asset_id", key: "id" },
  { label: "asset", key: "name" },
  { label: "kind", key: "kind" },
  { label: "site", key: "site" },
  { label: "rated_up_kw", key: "up_kw" },
  { label: "rated_down_kw", key: "down_kw" },
  { label: "last_reading_at", csv: (r) => (r.reading_ts ? isoBeijing(r.reading_ts) : "") },
  { label: "power_kw", key: "power_kw" },
  { label: "soc_pct", key: "soc_pct" },
  { label: "status", key: "status" },
  { label: "last_command_at", csv: (r) => (r.command_at ? isoBeijing(r.command_at) : "") },
  { label: "last_command_kw", key: "command_kw" },
  { label: "last_command_state", key: "command_state" },
];

/** One row per asset for ``ASSET_COLUMNS``. */
export function assetRows(assets, sites, readings, commands) {
  const siteNames = Object.fromEntries(sites.map((s) => [s.id, s.name]));
  return assets.map((a) => {
    const reading = readingCells(readings[a.id]);
    const command = commands[a.id];
    return {
      id: a.id,
      name: a.name,
      kind: a.kind,
      site: siteNames[a.site_id] ?? "",
      up_kw: a.flexibility.up_kw,
      down_kw: a.flexibility.down_kw,
      reading_ts: reading.ts,
      reading_time: reading.time,
      power_kw: reading.power,
      soc_pct: reading.soc,
      status: reading.status,
      command_at: command ? command.created_at : null,
      command_time: command ? fmtDateTime(command.created_at) : "—",
      command_kw: command ? command.power_kw : null,
      command_state: command ? command.state : null,
    };
  });
}

/** Columns of a command list; ``names`` maps asset ids to names. */
export function commandColumns(names) {
  return [
    { label: "Created (UTC+8)", text: (c) => fmtDateTime(c.created_at), csv: (c) => isoBeijing(c.created_at) },
    { label: "Asset", text: (c) => names[c.asset_id] ?? c.asset_id },
    {
      label: "Interval start (UTC+8)",
      text: (c) => fmtDateTime(c.interval_start),
      csv: (c) => isoBeijing(c.interval_start),
    },
    { label: "Setpoint kW", num: true, text: (c) => fmtNumber(c.power_kw, 1), csv: (c) => c.power_kw },
    { label: "State", cell: (c) => badge(c.state), csv: (c) => c.state },
    { label: "Attempts", key: "attempts", num: true },
    { label: "Source", key: "source" },
    { label: "Detail", key: "detail" },
  ];
}

/** Newest first, at most ``max``, with a CSV of the same rows. */
export function commandTable(commands, names, filename, { max = 100, empty } = {}) {
  const rows = [...commands].sort((a, b) => toMs(b.created_at) - toMs(a.created_at)).slice(0, max);
  const columns = commandColumns(names);
  return el(
    "div",
    {},
    rows.length ? el("div", { class: "numbers-bar" }, csvButton(filename, columns, rows)) : null,
    table(columns, rows, { empty }),
  );
}

/** Sites of the caller (enterprise: its own; operator: all). */
export async function loadSites() {
  return (await getAll("/sites")).items;
}

/** Intervals of a day-ahead plan (the plan is made per 15 minutes whatever the product). */
export const PLAN_INTERVALS = 96;

/** The day-ahead plan of ``day``: operators get every asset and the pool's targets,
 * an enterprise its own assets only (and no targets). */
export function getPlan(day) {
  return get("/dispatch/plan", { day });
}

const kwColumn = (key, label) => ({
  label,
  num: true,
  text: (r) => fmtNumber(r[key], 1),
  csv: (r) => r[key],
});

/** One asset's planned setpoint against its baseline: chart, summary, table and CSV. */
export function assetPlanChart(ctx, day, plan, name) {
  const rows = plan.setpoint_kw.map((setpoint, k) => ({
    interval: k,
    t: intervalStartMs(day, k, plan.setpoint_kw.length),
    baseline_kw: plan.baseline_kw[k],
    deviation_kw: plan.deviation_kw[k],
    setpoint_kw: setpoint,
  }));
  const chart = timeChart({
    title: `Planned setpoint of ${name} on ${day} (Beijing)`,
    x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
    yLabel: "Net load, kW",
    unit: "kW",
    layers: [
      // The setpoint first and wider: where it equals the baseline, both stay visible.
      { type: "line", cls: "s-setpoint", label: "Planned setpoint", points: rows.map((r) => ({ t: r.t, v: r.setpoint_kw })) },
      { type: "line", cls: "s-baseline", label: "Baseline forecast", points: rows.map((r) => ({ t: r.t, v: r.baseline_kw })) },
    ],
    markers: [{ t: ctx.now, label: "now" }],
  });
  const hours = 24 / rows.length;
  const moved = rows.filter((r) => Math.abs(r.deviation_kw) >= 0.5);
  const energy = rows.reduce((sum, r) => sum + r.deviation_kw * hours, 0);
  const largest = moved.reduce((best, r) => (Math.abs(r.deviation_kw) > Math.abs(best.deviation_kw) ? r : best), moved[0]);
  const summary = moved.length
    ? `Moved from its baseline in ${moved.length} of ${rows.length} intervals ` +
      `(${intervalRuns(day, moved.map((r) => r.interval), rows.length).join(", ")}): ` +
      `${fmtNumber(energy, 0)} kWh in all; the largest deviation ${fmtNumber(largest.deviation_kw, 0)} kW ` +
      `at ${fmtDateTime(largest.t)}.`
    : "Follows its baseline all day: no setpoint moves it.";
  const columns = [
    { label: "Interval", key: "interval", num: true },
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    kwColumn("baseline_kw", "Baseline kW"),
    kwColumn("deviation_kw", "Deviation kW"),
    kwColumn("setpoint_kw", "Setpoint kW"),
  ];
  return el(
    "div",
    { class: "asset-plan-chart", "data-asset": plan.asset_id },
    el("p", { class: "muted summary" }, summary),
    chartWithNumbers(chart, {
      columns,
      rows,
      filename: `plan-${day}-${String(name).replace(/[^\w.-]+/g, "_")}.csv`,
      rowClass: (r) => (Math.abs(r.deviation_kw) >= 0.5 ? "moved" : null),
    }),
  );
}

/** Every planned asset with a select to choose one (``names`` by id); ``selection``
 * ({assetId}) keeps the choice from one day to the next. */
export function assetPlanPicker(ctx, day, assets, names, selection) {
  if (assets.length === 0) return message(`No planned setpoints for ${day} (Beijing).`);
  const nameOf = (a) => names[a.asset_id] ?? a.asset_id;
  const sorted = [...assets].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const byId = Object.fromEntries(sorted.map((a) => [a.asset_id, a]));
  if (!byId[selection.assetId]) selection.assetId = sorted[0].asset_id;
  const box = el("div", {});
  const draw = () => {
    const chosen = byId[selection.assetId];
    fill(box, assetPlanChart(ctx, day, chosen, nameOf(chosen)));
  };
  const select = el(
    "select",
    {
      "aria-label": "Asset",
      class: "asset-select",
      onchange: (e) => {
        selection.assetId = e.target.value;
        draw();
      },
    },
    sorted.map((a) =>
      el("option", { value: a.asset_id, selected: a.asset_id === selection.assetId }, nameOf(a)),
    ),
  );
  draw();
  return el(
    "div",
    { class: "asset-plan" },
    el("label", {}, `Asset (${sorted.length} planned) `, select),
    box,
  );
}
