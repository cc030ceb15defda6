// An enterprise's view: its own sites, assets (last reading and command), an asset's
// forecast, its participation in bids (offered and awarded), its assets' planned
// setpoints against their baselines, its commands, its performance (its assets'
// delivered response against their planned share, live), its settlement statements and
// its green-power and carbon report. The API scopes every call to the key's account;
// this view asks for nothing else.

import { get, getAll, lastCommands, lastReadings, refreshClock } from "./api.js";
import { timeChart } from "./chart.js";
import { chartWithNumbers, csvButton, el, fill, mapLimit, message, panel, table } from "./dom.js";
import { DAY_MS, dayStartMs, fmtDateTime, fmtNumber, intervalStartMs, isoBeijing, monthOf, toMs } from "./format.js";
import { renderGreen } from "./green.js";
import {
  ASSET_COLUMNS,
  ASSET_CSV,
  assetPlanPicker,
  assetRows,
  commandTable,
  dayPanel,
  dayPicker,
  getPlan,
  guarded,
  loadSites,
  monthPanel,
} from "./panels.js";
import { renderSettlements } from "./settlements.js";
import { trackingPanel } from "./tracking.js";

const LIVE_REFRESH_MS = 60_000;

export async function render(root, ctx) {
  const sites = panel("Sites", { id: "sites" });
  const assets = panel("Assets", { id: "assets" });
  const forecast = panel("Forecast", {
    id: "forecast",
    note: "One asset's day-ahead baseline with its P10–P90 band, and the flexibility it can offer.",
  });
  const participation = panel("Participation in bids", {
    id: "participation",
    note: "What of your assets' flexibility the aggregator offered and the market awarded.",
  });
  const plan = panel("Planned setpoints", {
    id: "plan",
    note:
      "The day-ahead plan for your assets: each one's planned net load (kW) against its " +
      "baseline forecast, including its share of the awards.",
  });
  const commands = panel("Commands", { id: "commands" });
  const tracking = panel("Your performance", {
    id: "tracking",
    note:
      "Your assets' measured response (kW, in the product's direction) against their planned " +
      "share of the pool's awards, per 15-minute interval; the interval under way is live.",
  });
  const money = panel("Your statements", {
    id: "settlements",
    note: "Your settled days: payments, penalties, the aggregator's share and what you receive (CNY).",
  });
  const green = panel("Green power and carbon", { id: "green" });
  fill(
    root,
    sites.section,
    assets.section,
    forecast.section,
    participation.section,
    plan.section,
    tracking.section,
    commands.section,
    money.section,
    green.section,
  );

  const state = { assets: [], sites: [], names: {} };
  const loaded = (async () => {
    [state.assets, state.sites] = await Promise.all([getAll("/assets").then((r) => r.items), loadSites()]);
    state.names = Object.fromEntries(state.assets.map((a) => [a.id, a.name]));
  })();
  const after = (p, load) => guarded(p.body, async () => {
    await loaded;
    await load();
  });

  after(sites, async () => renderSites(sites, state));
  after(assets, async () => renderAssets(assets, ctx, state));
  after(forecast, async () => setupForecast(forecast, ctx, state));
  after(participation, async () =>
    dayPanel(participation, ctx.today, (day) => renderParticipation(participation.body, ctx, state, day)),
  );
  const selection = { assetId: null };
  after(plan, async () =>
    dayPanel(plan, ctx.today, async (day) => {
      const { assets: planned } = await getPlan(day);
      fill(plan.body, assetPlanPicker(ctx, day, planned, state.names, selection));
    }),
  );
  after(commands, async () => renderCommands(commands, state));
  const refreshTracking = trackingPanel(tracking, ctx);
  const month = monthOf(ctx.today);
  monthPanel(money, month, (m) => renderSettlements(money.body, ctx, m));
  monthPanel(green, month, (m) => renderGreen(green.body, ctx, m));

  const timer = setInterval(async () => {
    await refreshClock(ctx);
    refreshTracking();
    after(assets, async () => renderAssets(assets, ctx, state));
    after(commands, async () => renderCommands(commands, state));
  }, LIVE_REFRESH_MS);
  return () => clearInterval(timer);
}

function renderSites(p, state) {
  const columns = [
    { label: "Site", key: "name" },
    { label: "Connection point", key: "connection_point" },
    { label: "Voltage kV", key: "voltage_kv", num: true },
    { label: "Import limit kW", num: true, text: (s) => fmtNumber(s.import_limit_kw, 0) },
    { label: "Export limit kW", num: true, text: (s) => fmtNumber(s.export_limit_kw, 0) },
    { label: "Assets", num: true, text: (s) => state.assets.filter((a) => a.site_id === s.id).length },
  ];
  fill(p.body, table(columns, state.sites, { empty: "No sites enrolled yet." }));
}

async function renderAssets(p, ctx, state) {
  const [readings, commands] = await Promise.all([
    lastReadings(state.assets, ctx, { mapLimit }),
    lastCommands({}, 10),
  ]);
  const rows = assetRows(state.assets, state.sites, readings.readings, commands.latest);
  fill(
    p.body,
    rows.length ? el("div", { class: "numbers-bar" }, csvButton("assets.csv", ASSET_CSV, rows)) : null,
    table(ASSET_COLUMNS, rows, { empty: "No assets enrolled yet." }),
    el("p", { class: "muted" }, `Updated ${fmtDateTime(Date.now())}; refreshes every minute.`),
  );
}

function setupForecast(p, ctx, state) {
  if (state.assets.length === 0) {
    fill(p.body, message("No assets enrolled yet."));
    return;
  }
  let assetId = state.assets[0].id;
  let day = ctx.today;
  const select = el(
    "select",
    {
      "aria-label": "Asset",
      onchange: (e) => {
        assetId = e.target.value;
        show();
      },
    },
    state.assets.map((a) => el("option", { value: a.id }, a.name)),
  );
  const show = () => {
    fill(p.body, message("Loading…"));
    return guarded(p.body, () => renderForecast(p.body, ctx, assetId, day, state.names[assetId]));
  };
  const picker = dayPicker(ctx.today, (d) => {
    day = d;
    show();
  });
  fill(p.tools, select, picker);
  return show();
}

async function renderForecast(body, ctx, assetId, day, name) {
  const forecast = await get(`/assets/${assetId}/forecast`, { day });
  const rows = forecast.intervals.map((iv) => ({ ...iv, t: toMs(iv.start) }));
  const chart = timeChart({
    title: `Forecast of ${name} on ${day}`,
    x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
    yLabel: "Net load, kW",
    unit: "kW",
    layers: [
      {
        type: "band",
        cls: "s-guaranteed",
        label: "Guaranteed range: baseline − down … + up",
        points: rows.map((r) => ({ t: r.t, lo: r.baseline_kw - r.down_kw, hi: r.baseline_kw + r.up_kw })),
      },
      {
        type: "band",
        cls: "s-p1090",
        label: "Baseline P10–P90",
        points: rows.map((r) => ({ t: r.t, lo: r.p10_kw, hi: r.p90_kw })),
      },
      { type: "line", cls: "s-baseline", label: "Baseline forecast", points: rows.map((r) => ({ t: r.t, v: r.baseline_kw })) },
    ],
    markers: [{ t: ctx.now, label: "now" }],
  });
  const kw = (key, label) => ({ label, num: true, text: (r) => fmtNumber(r[key], 1), csv: (r) => r[key] });
  const columns = [
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    kw("baseline_kw", "Baseline kW"),
    kw("p10_kw", "P10 kW"),
    kw("p50_kw", "P50 kW"),
    kw("p90_kw", "P90 kW"),
    kw("up_kw", "Up kW"),
    kw("down_kw", "Down kW"),
  ];
  const notes = [`Method: ${forecast.method}; confidence: ${forecast.confidence}.`, ...forecast.quality_notes];
  fill(
    body,
    el("p", { class: "muted" }, notes.join(" ")),
    chartWithNumbers(chart, { columns, rows, filename: `forecast-${day}.csv` }),
  );
}

async function renderParticipation(body, ctx, state, day) {
  const { items } = await get("/participation", { day });
  if (items.length === 0) {
    fill(body, message(`None of your assets is in a bid for ${day} (Beijing).`));
    return;
  }
  const products = [...new Set(items.map((i) => i.product))].sort();
  const charts = products.map((product) => {
    const mine = items.filter((i) => i.product === product);
    const perDay = ctx.intervalsPerDay[product] ?? mine[0].offered_kw.length;
    const sum = (key) =>
      mine[0][key].map((_, k) => ({
        t: intervalStartMs(day, k, perDay),
        v: mine.reduce((total, i) => total + (i[key][k] ?? 0), 0),
      }));
    const offered = sum("offered_kw");
    const awarded = sum("awarded_kw");
    const rows = offered.map((o, k) => ({ interval: k, t: o.t, offered: o.v, awarded: awarded[k].v }));
    const chart = timeChart({
      title: `Your assets in ${product} on ${day}`,
      x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
      yLabel: "Power, kW",
      unit: "kW",
      layers: [
        { type: "bars", cls: "s-offered", label: "Offered kW", points: offered, widthMs: DAY_MS / perDay },
        { type: "bars", cls: "s-awarded", label: "Awarded kW", points: awarded, widthMs: DAY_MS / perDay },
      ],
    });
    const columns = [
      { label: "Interval", key: "interval", num: true },
      { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
      { label: "Offered kW", num: true, text: (r) => fmtNumber(r.offered, 1), csv: (r) => r.offered },
      { label: "Awarded kW", num: true, text: (r) => fmtNumber(r.awarded, 1), csv: (r) => r.awarded },
    ];
    return el(
      "div",
      { class: "product", "data-product": product },
      el("h3", {}, product),
      chartWithNumbers(chart, { columns, rows, filename: `participation-${product}-${day}.csv` }),
    );
  });
  const columns = [
    { label: "Asset", text: (i) => state.names[i.asset_id] ?? i.asset_id },
    { label: "Product", key: "product" },
    { label: "Bid state", key: "bid_state" },
    { label: "Offered kWh", num: true, text: (i) => fmtNumber(i.offered_kwh, 0) },
    { label: "Awarded kWh", num: true, text: (i) => fmtNumber(i.awarded_kwh, 0) },
  ];
  fill(body, table(columns, items, { caption: `Per asset, ${day}` }), charts);
}

async function renderCommands(p, state) {
  const { items, more } = await lastCommands({}, 10);
  fill(
    p.body,
    more ? message("Showing the newest of the first 10,000 commands.") : null,
    commandTable(items, state.names, "commands.csv", { empty: "No commands for your assets yet." }),
  );
}
