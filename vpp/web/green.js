// Green power and carbon of a month (GET /v1/green/report?month=): the park's (operators)
// or the enterprise's own green-power share, clean-energy share against the park's
// target, carbon intensity (t CO2 per tce), energy carriers, and the CSV exports
// (report, carbon footprint) fetched with the Authorization header.

import { get } from "./api.js";
import { csvButton, el, fileButton, fill, message, table } from "./dom.js";
import { fmtNumber, fmtPct } from "./format.js";

const cache = new Map();
const CACHE_MS = 60_000;

/** The month's report, shared for a minute by the panels that need it (the operator's
 * settlement panel takes the enterprises' names from it). */
export function loadGreenReport(month) {
  const hit = cache.get(month);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.promise;
  const promise = get("/green/report", { month });
  cache.set(month, { at: Date.now(), promise });
  promise.catch(() => cache.delete(month));
  return promise;
}

/** Account id -> name of the enterprises a report lists. */
export function enterpriseNames(report) {
  return Object.fromEntries(report.enterprises.map((e) => [e.scope, e.name]));
}

const MATCHING = [
  ["load_kwh", "Consumption kWh"],
  ["pv_kwh", "On-site PV kWh"],
  ["pv_self_kwh", "PV used on site kWh"],
  ["pv_export_kwh", "PV exported kWh"],
  ["grid_import_kwh", "Grid import kWh"],
  ["contract_kwh", "Green contracts kWh"],
  ["contract_matched_kwh", "Contracts matched to load kWh"],
  ["certified_kwh", "Certified (GEC) kWh"],
  ["contract_green_kwh", "Contract green power kWh"],
  ["green_kwh", "Green power kWh"],
  ["grid_residual_kwh", "Grid residual kWh"],
];

/** Rows of the matching table: each quantity by 15-minute and by hourly matching. */
export function matchingRows(scope) {
  const rows = MATCHING.map(([key, label]) => ({
    label,
    quarter: scope.matching_15min[key],
    hourly: scope.matching_hourly[key],
    share: false,
  }));
  rows.push(
    { label: "Green share", quarter: scope.matching_15min.green_share, hourly: scope.matching_hourly.green_share, share: true },
    {
      label: "PV self-consumption share",
      quarter: scope.matching_15min.self_consumption_share,
      hourly: scope.matching_hourly.self_consumption_share,
      share: true,
    },
  );
  return rows;
}

function figures(scope, targets) {
  const clean = scope.clean_share;
  return el(
    "div",
    { class: "figures green-figures" },
    el("span", { "data-figure": "green-share" }, el("b", {}, fmtPct(scope.matching_15min.green_share) || "—"), " green power (15-min matching)"),
    el(
      "span",
      { "data-figure": "clean-share" },
      el("b", {}, fmtPct(clean) || "—"),
      ` clean energy, target ${fmtPct(targets.clean_share, 0)} by ${targets.clean_share_year} `,
      el("meter", {
        min: 0,
        max: 1,
        value: clean ?? 0,
        low: targets.clean_share,
        optimum: 1,
        title: `Clean-energy share ${fmtPct(clean)} of a ${fmtPct(targets.clean_share, 0)} target`,
      }),
    ),
    el(
      "span",
      { "data-figure": "intensity" },
      el("b", {}, scope.intensity_t_co2_per_tce === null ? "—" : fmtNumber(scope.intensity_t_co2_per_tce, 3)),
      " t CO2 per tce",
    ),
    el("span", { "data-figure": "energy" }, el("b", {}, `${fmtNumber(scope.energy_tce, 1)} tce`), " energy"),
    el("span", { "data-figure": "co2" }, el("b", {}, `${fmtNumber(scope.co2_kg / 1000, 1)} t CO2`), " emitted"),
    el("span", { "data-figure": "avoided" }, el("b", {}, `${fmtNumber(scope.shifting.avoided_co2_kg, 0)} kg CO2`), " avoided by load shifting"),
  );
}

const CARRIER_COLUMNS = [
  { label: "Carrier", key: "carrier" },
  { label: "Quantity", num: true, text: (c) => fmtNumber(c.quantity, 2), csv: (c) => c.quantity },
  { label: "Unit", key: "unit" },
  { label: "Energy tce", num: true, text: (c) => fmtNumber(c.tce, 3), csv: (c) => c.tce },
  { label: "CO2 kg", num: true, text: (c) => fmtNumber(c.co2_kg, 0), csv: (c) => c.co2_kg },
];

const MATCHING_COLUMNS = [
  { label: "Quantity", key: "label" },
  { label: "15-minute matching", num: true, text: (r) => (r.share ? fmtPct(r.quarter) : fmtNumber(r.quarter, 0)), csv: (r) => r.quarter },
  { label: "Hourly matching", num: true, text: (r) => (r.share ? fmtPct(r.hourly) : fmtNumber(r.hourly, 0)), csv: (r) => r.hourly },
];

/** The month's report into ``body``: the park (operators) or the caller's own. */
export async function renderGreen(body, ctx, month) {
  const report = await loadGreenReport(month);
  const pool = ctx.role !== "enterprise";
  const scope = pool ? report.park : report.enterprises[0];
  const exports = el(
    "div",
    { class: "numbers-bar exports" },
    fileButton("Report CSV", "/green/report.csv", { params: { month }, filename: `green-report-${month}.csv` }),
    pool ? null : fileButton("Footprint CSV", "/green/footprint.csv", { params: { month }, filename: `carbon-footprint-${month}.csv` }),
  );
  if (!scope || (scope.matching_15min.load_kwh === 0 && scope.energy_tce === 0)) {
    fill(
      body,
      message(
        `No energy recorded for ${month}${pool ? " in the park" : " at your sites"}: the report counts the ` +
          "telemetry of enrolled assets and the meter readings of other carriers (gas, heat, steam, water).",
      ),
      exports,
    );
    return;
  }
  const blocks = [
    el("h3", {}, pool ? `The park, ${month}` : `${scope.name}, ${month}`),
    figures(scope, report.targets),
    exports,
    el("h3", {}, "Energy carriers (GB/T 2589 coefficients)"),
    el("div", { class: "numbers-bar" }, csvButton(`carriers-${month}.csv`, CARRIER_COLUMNS, scope.carriers)),
    table(CARRIER_COLUMNS, scope.carriers, { caption: "Quantities in each carrier's unit; energy in tce; CO2 in kg", empty: "No carriers metered." }),
    el("h3", {}, "Green-power matching"),
    el("div", { class: "numbers-bar" }, csvButton(`green-matching-${month}.csv`, MATCHING_COLUMNS, matchingRows(scope))),
    table(MATCHING_COLUMNS, matchingRows(scope), { caption: "Energy in kWh; shares of consumption" }),
  ];
  if (pool) {
    const columns = [
      { label: "Enterprise", key: "name" },
      { label: "Green share", num: true, text: (e) => fmtPct(e.matching_15min.green_share), csv: (e) => e.matching_15min.green_share },
      { label: "Clean share", num: true, text: (e) => fmtPct(e.clean_share), csv: (e) => e.clean_share },
      { label: "Energy tce", num: true, text: (e) => fmtNumber(e.energy_tce, 1), csv: (e) => e.energy_tce },
      { label: "CO2 t", num: true, text: (e) => fmtNumber(e.co2_kg / 1000, 1), csv: (e) => e.co2_kg / 1000 },
      {
        label: "t CO2 per tce",
        num: true,
        text: (e) => fmtNumber(e.intensity_t_co2_per_tce, 3),
        csv: (e) => e.intensity_t_co2_per_tce,
      },
      {
        label: "Footprint",
        cell: (e) =>
          fileButton("CSV", "/green/footprint.csv", {
            params: { month, account_id: e.scope },
            filename: `carbon-footprint-${month}-${String(e.name).replace(/[^\w.-]+/g, "_")}.csv`,
          }),
        csv: (e) => e.scope,
      },
    ];
    blocks.push(
      el("h3", {}, "Per enterprise"),
      el("div", { class: "numbers-bar" }, csvButton(`green-enterprises-${month}.csv`, columns, report.enterprises)),
      table(columns, report.enterprises, { empty: "No enterprises." }),
    );
  }
  fill(body, blocks);
}
