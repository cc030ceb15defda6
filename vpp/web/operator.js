// The operator's view: pool flexibility, bids and their ladders, awards, the day-ahead
// plan (awarded against planned per product, each asset's setpoints), delivered against
// awarded (live), assets by kind with their last reading and command, failed and expired
// commands, revenue and penalties with the statements, green power and carbon, and the
// grid instructions with their answers.

import { get, getAll, lastCommands, lastReadings, post, refreshClock } from "./api.js";
import { timeChart } from "./chart.js";
import { badge, chartWithNumbers, csvButton, el, fill, mapLimit, message, panel, table } from "./dom.js";
import {
  DAY_MS,
  addDays,
  dayStartMs,
  fmtDateTime,
  fmtNumber,
  intervalRuns,
  intervalStartMs,
  isoBeijing,
  monthOf,
  toMs,
} from "./format.js";
import { enterpriseNames, loadGreenReport, renderGreen } from "./green.js";
import {
  ASSET_COLUMNS,
  ASSET_CSV,
  PLAN_INTERVALS,
  assetPlanPicker,
  assetRows,
  commandTable,
  dayPanel,
  getPlan,
  guarded,
  loadSites,
  monthPanel,
  renderAwards,
} from "./panels.js";
import { renderInstructions } from "./schedules.js";
import { renderSettlements } from "./settlements.js";
import { trackingPanel } from "./tracking.js";

const LIVE_REFRESH_MS = 60_000;
const BAND_MAX_ASSETS = 40;

export async function render(root, ctx) {
  const pool = panel("Pool", { id: "pool" });
  const flex = panel("Pool flexibility, today and tomorrow", {
    id: "flexibility",
    note:
      "Net load (kW, + drawn from the grid) around the forecast baseline: how far the pool " +
      "can raise it (valley filling) and lower it (peak cutting) in each 15-minute interval.",
  });
  const bids = panel("Bids", { id: "bids" });
  const awards = panel("Awards", { id: "awards" });
  const plan = panel("Day-ahead plan", {
    id: "plan",
    note:
      "Per product, what the pool was awarded and what the plan delivers in each 15-minute " +
      "interval; per asset, its planned setpoint against its baseline (net load, kW).",
  });
  const tracking = panel("Delivered vs awarded", {
    id: "tracking",
    note:
      "Per product and 15-minute interval, the pool's measured response (kW, in the product's " +
      "direction) against its award, the ±5 % band and the plan; the interval under way is live.",
  });
  const assets = panel("Assets by kind", { id: "assets" });
  const failures = panel("Failed and expired commands", { id: "failures" });
  const money = panel("Revenue and penalties", {
    id: "settlements",
    note: "Settled days of the month: market payments, penalties, the aggregator's share and what each enterprise receives (CNY).",
  });
  const green = panel("Green power and carbon", { id: "green" });
  const instructions = panel("Grid instructions", {
    id: "instructions",
    note: "Intraday instructions of the grid company and the answer each got (kW in the product's direction).",
  });
  fill(
    root,
    pool.section,
    flex.section,
    bids.section,
    awards.section,
    plan.section,
    tracking.section,
    assets.section,
    failures.section,
    money.section,
    green.section,
    instructions.section,
  );

  const state = { assets: [], names: {} };
  const listed = (async () => {
    state.assets = (await getAll("/assets")).items;
    state.names = Object.fromEntries(state.assets.map((a) => [a.id, a.name]));
  })();
  const assetsLoaded = guarded(assets.body, async () => {
    await listed;
    await loadAssets(assets, ctx, state);
  });
  guarded(pool.body, () => loadPool(pool));
  guarded(flex.body, () => loadFlexibility(flex, ctx, assetsLoaded, state));
  const refreshBids = loadBids(bids, ctx);
  dayPanel(awards, ctx.today, (day) => renderAwards(awards.body, ctx, day));
  const selection = { assetId: null };
  dayPanel(plan, ctx.today, async (day) => {
    await listed.catch(() => {}); // the names; without them the plan shows asset ids
    await renderPlan(plan.body, ctx, day, state.names, selection);
  });
  assetsLoaded.then(() => guarded(failures.body, () => loadFailures(failures, state)));
  const refreshTracking = trackingPanel(tracking, ctx);
  const month = monthOf(ctx.today);
  monthPanel(green, month, (m) => renderGreen(green.body, ctx, m));
  monthPanel(money, month, async (m) => {
    // The enterprises' names come with the month's green report (no account list for operators).
    const names = await loadGreenReport(m).then(enterpriseNames, () => ({}));
    await renderSettlements(money.body, ctx, m, names);
  });
  guarded(instructions.body, () => renderInstructions(instructions.body, ctx));

  const timer = setInterval(async () => {
    await refreshClock(ctx);
    refreshBids();
    refreshTracking();
    guarded(instructions.body, () => renderInstructions(instructions.body, ctx));
    guarded(assets.body, () => loadAssets(assets, ctx, state));
    guarded(failures.body, () => loadFailures(failures, state));
  }, LIVE_REFRESH_MS);
  return () => clearInterval(timer);
}

async function loadPool(p) {
  const summary = await get("/pool/summary");
  const columns = [
    { label: "Kind", key: "kind" },
    { label: "Assets", key: "count", num: true },
    { label: "Rated up kW", num: true, text: (r) => fmtNumber(r.up_kw, 0), csv: (r) => r.up_kw },
    { label: "Rated down kW", num: true, text: (r) => fmtNumber(r.down_kw, 0), csv: (r) => r.down_kw },
  ];
  const total = { kind: "pool", count: summary.asset_count, up_kw: summary.up_kw, down_kw: summary.down_kw };
  fill(
    p.body,
    el(
      "p",
      { class: "figures" },
      el("span", {}, el("b", {}, fmtNumber(summary.enterprise_count)), " enterprises"),
      el("span", {}, el("b", {}, fmtNumber(summary.asset_count)), " assets"),
      el("span", {}, el("b", {}, `${fmtNumber(summary.up_kw)} kW`), " rated up"),
      el("span", {}, el("b", {}, `${fmtNumber(summary.down_kw)} kW`), " rated down"),
    ),
    table(columns, [...summary.by_kind, total], { caption: "Rated flexibility by kind (no forecast, no energy limit)" }),
  );
}

/** Sum each asset's baseline P10 and P90 per interval (kW) over ``days``. */
async function summedBand(assets, days) {
  const band = new Map();
  await mapLimit(
    assets.flatMap((a) => days.map((day) => [a, day])),
    4,
    async ([asset, day]) => {
      const forecast = await get(`/assets/${asset.id}/forecast`, { day });
      for (const iv of forecast.intervals) {
        if (iv.p10_kw === null || iv.p90_kw === null) continue;
        const t = toMs(iv.start);
        const sum = band.get(t) ?? { lo: 0, hi: 0 };
        sum.lo += iv.p10_kw;
        sum.hi += iv.p90_kw;
        band.set(t, sum);
      }
    },
  );
  return band;
}

async function loadFlexibility(p, ctx, assetsLoaded, state) {
  const days = [ctx.today, addDays(ctx.today, 1)];
  const pools = await Promise.all(days.map((day) => get("/pool/flexibility", { day })));
  const rows = pools.flatMap((pool) =>
    pool.intervals.map((iv) => ({ ...iv, t: toMs(iv.start), p10: null, p90: null })),
  );
  const missing = pools.map((pool, i) => `${days[i]}: ${pool.assets_without_forecast} of ${pool.assets}`);
  let bandNote = "Loading the baseline band…";
  const draw = () => {
    const layers = [
      {
        type: "band",
        cls: "s-call",
        label: "Single-call range: baseline − down … + up, each asset called alone (over-states)",
        points: rows.map((r) => ({ t: r.t, lo: r.baseline_kw - r.down_call_kw, hi: r.baseline_kw + r.up_call_kw })),
      },
      {
        type: "band",
        cls: "s-guaranteed",
        label: "Guaranteed range: baseline − down … + up, deliverable together",
        points: rows.map((r) => ({ t: r.t, lo: r.baseline_kw - r.down_kw, hi: r.baseline_kw + r.up_kw })),
      },
    ];
    if (rows.some((r) => r.p10 !== null)) {
      layers.push({
        type: "band",
        cls: "s-p1090",
        label: "Baseline P10–P90: sum of the assets' bands (errors taken as fully correlated: wider than the pool's)",
        points: rows.map((r) => ({ t: r.t, lo: r.p10, hi: r.p90 })),
      });
    }
    layers.push({
      type: "line",
      cls: "s-baseline",
      label: "Baseline forecast",
      points: rows.map((r) => ({ t: r.t, v: r.baseline_kw })),
    });
    const chart = timeChart({
      title: `Pool flexibility envelope, ${days[0]} and ${days[1]} (Beijing)`,
      x: [dayStartMs(days[0]), dayStartMs(days[0]) + 2 * DAY_MS],
      yLabel: "Net load, kW",
      unit: "kW",
      layers,
      markers: [{ t: ctx.now, label: "now" }],
    });
    const kw = (key, label) => ({
      label,
      num: true,
      text: (r) => fmtNumber(r[key], 0),
      csv: (r) => r[key],
    });
    const columns = [
      { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
      kw("baseline_kw", "Baseline kW"),
      kw("up_kw", "Up kW (guaranteed)"),
      kw("down_kw", "Down kW (guaranteed)"),
      kw("up_call_kw", "Up kW (single call)"),
      kw("down_call_kw", "Down kW (single call)"),
      kw("p10", "Baseline P10 kW (Σ assets)"),
      kw("p90", "Baseline P90 kW (Σ assets)"),
    ];
    fill(
      p.body,
      el("p", { class: "muted" }, `Assets without a forecast: ${missing.join(", ")}. ${bandNote}`),
      chartWithNumbers(chart, { columns, rows, filename: `pool-flexibility-${days[0]}.csv` }),
    );
  };
  draw();

  await assetsLoaded;
  const active = state.assets.filter((a) => !a.retired_at);
  if (active.length > BAND_MAX_ASSETS) {
    bandNote = `No baseline band: the API has no pool quantiles and ${active.length} assets are too many to sum here.`;
  } else {
    const band = await summedBand(active, days);
    for (const r of rows) {
      const b = band.get(r.t);
      if (b) Object.assign(r, { p10: b.lo, p90: b.hi });
    }
    bandNote = "";
  }
  draw();
}

/** The day-ahead plan of ``day``: per product awarded against planned kW with any
 * shortfall in words and numbers, then the chosen asset's setpoints. */
async function renderPlan(body, ctx, day, names, selection) {
  const plan = await getPlan(day);
  if (plan.targets.length === 0 && plan.assets.length === 0) {
    fill(body, message(`No day-ahead plan for ${day} (Beijing): it is made once the day's awards are in.`));
    return;
  }
  const products = [...new Set(plan.targets.map((t) => t.product))].sort();
  const blocks = products.map((product) => productPlan(ctx, day, product, plan.targets));
  fill(
    body,
    shortfallSummary(day, products, plan.targets),
    blocks,
    el("h3", {}, "Per asset: planned setpoint against baseline"),
    assetPlanPicker(ctx, day, plan.assets, names, selection),
  );
}

const hoursOf = (perDay) => 24 / perDay;

/** In words: for each product, whether the plan delivers every awarded kW, else where and
 * by how much it falls short. */
function shortfallSummary(day, products, targets) {
  if (products.length === 0) return message(`Nothing awarded for ${day} (Beijing): the plan follows the firm schedules.`);
  const lines = products.map((product) => {
    const mine = targets.filter((t) => t.product === product);
    const short = mine.filter((t) => t.shortfall_kw > 0.05);
    const awarded = mine.reduce((sum, t) => sum + t.awarded_kw * hoursOf(PLAN_INTERVALS), 0);
    if (short.length === 0) {
      return el(
        "li",
        { class: "delivered", "data-product": product },
        `${product}: the plan delivers every awarded kW (${fmtNumber(awarded, 0)} kWh in ${mine.length} intervals).`,
      );
    }
    const kwh = short.reduce((sum, t) => sum + t.shortfall_kw * hoursOf(PLAN_INTERVALS), 0);
    const worst = Math.max(...short.map((t) => t.shortfall_kw));
    return el(
      "li",
      { class: "shortfall", "data-product": product },
      el("b", {}, `${product}: short`),
      ` by up to ${fmtNumber(worst, 1)} kW in ${short.length} of ${mine.length} awarded intervals ` +
        `(${intervalRuns(day, short.map((t) => t.interval), PLAN_INTERVALS).join(", ")}): ` +
        `${fmtNumber(kwh, 1)} kWh of ${fmtNumber(awarded, 0)} kWh awarded will not be delivered as planned.`,
    );
  });
  return el("ul", { class: "plan-summary" }, lines);
}

/** One product's awarded and planned kW per interval (all 96, zero where nothing was
 * awarded), with the shortfall as bars. */
function productPlan(ctx, day, product, targets) {
  const byInterval = new Map(targets.filter((t) => t.product === product).map((t) => [t.interval, t]));
  const rows = Array.from({ length: PLAN_INTERVALS }, (_, k) => {
    const target = byInterval.get(k);
    return {
      interval: k,
      t: intervalStartMs(day, k, PLAN_INTERVALS),
      awarded_kw: target?.awarded_kw ?? 0,
      planned_kw: target?.planned_kw ?? 0,
      shortfall_kw: target?.shortfall_kw ?? 0,
    };
  });
  const widthMs = DAY_MS / PLAN_INTERVALS;
  const chart = timeChart({
    title: `Awarded and planned ${product} on ${day} (Beijing)`,
    x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
    yLabel: "Power, kW",
    unit: "kW",
    layers: [
      {
        type: "bars",
        cls: "s-shortfall",
        label: "Shortfall kW (awarded − planned)",
        points: rows.map((r) => ({ t: r.t, v: r.shortfall_kw > 0.05 ? r.shortfall_kw : null })),
        widthMs,
      },
      { type: "line", cls: "s-awarded-kw", label: "Awarded kW", points: rows.map((r) => ({ t: r.t, v: r.awarded_kw })) },
      { type: "line", cls: "s-planned", label: "Planned kW", points: rows.map((r) => ({ t: r.t, v: r.planned_kw })) },
    ],
    markers: [{ t: ctx.now, label: "now" }],
  });
  const kw = (key, label) => ({ label, num: true, text: (r) => fmtNumber(r[key], 1), csv: (r) => r[key] });
  const columns = [
    { label: "Interval", key: "interval", num: true },
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    kw("awarded_kw", "Awarded kW"),
    kw("planned_kw", "Planned kW"),
    kw("shortfall_kw", "Shortfall kW"),
    { label: "", text: (r) => (r.shortfall_kw > 0.05 ? "short" : ""), csv: (r) => (r.shortfall_kw > 0.05 ? "short" : "") },
  ];
  return el(
    "div",
    { class: "product", "data-product": product },
    el("h3", {}, product),
    chartWithNumbers(chart, {
      columns,
      rows,
      filename: `plan-${product}-${day}.csv`,
      rowClass: (r) => (r.shortfall_kw > 0.05 ? "short" : null),
    }),
  );
}

const BID_COLUMNS = (onApprove, onLadder) => [
  { label: "Day", key: "day" },
  { label: "Product", key: "product" },
  { label: "Side", key: "side" },
  { label: "State", cell: (b) => el("span", { "data-state": b.state }, badge(b.state)), csv: (b) => b.state },
  { label: "Rev.", key: "revision", num: true },
  { label: "Offered kWh", num: true, text: (b) => fmtNumber(b.offered_kwh, 0), csv: (b) => b.offered_kwh },
  {
    label: "Expected revenue CNY",
    num: true,
    text: (b) => fmtNumber(b.expected_revenue_cny, 0),
    csv: (b) => b.expected_revenue_cny,
  },
  { label: "Awarded kWh", num: true, text: (b) => fmtNumber(b.awarded_kwh, 0), csv: (b) => b.awarded_kwh },
  { label: "Updated (UTC+8)", text: (b) => fmtDateTime(b.updated_at), csv: (b) => isoBeijing(b.updated_at) },
  { label: "Detail", key: "detail", wrap: true },
  {
    label: "",
    cell: (b) =>
      el(
        "span",
        { class: "actions" },
        b.state === "draft"
          ? el("button", { type: "button", class: "approve", "data-bid": b.id, onclick: () => onApprove(b) }, "Approve")
          : null,
        el("button", { type: "button", class: "secondary ladder", "data-bid": b.id, onclick: () => onLadder(b) }, "Ladder"),
      ),
    csv: (b) => b.id,
  },
];

/** The bids of today and later with their approve and ladder buttons; returns the
 * function that reloads them. */
function loadBids(p, ctx) {
  let showSuperseded = false;
  const ladder = el("div", { class: "ladder-box" });
  const status = el("p", { class: "muted", role: "status" });
  const toggle = el("input", {
    type: "checkbox",
    onchange: (e) => {
      showSuperseded = e.target.checked;
      refresh();
    },
  });
  fill(p.tools, el("label", {}, toggle, " show superseded"));

  const approve = async (bid) => {
    status.textContent = `Approving ${bid.product} for ${bid.day}…`;
    try {
      await post(`/bids/${bid.id}/approve`, undefined);
      status.textContent = `Approved ${bid.product} for ${bid.day}.`;
    } catch (error) {
      status.textContent = "";
      status.append(el("span", { class: "error" }, `Approval refused: ${error.message}`));
    }
    await refresh();
  };
  const showLadder = (bid) => guarded(ladder, () => renderLadder(ladder, ctx, bid.id));

  async function refresh() {
    await guarded(p.body, async () => {
      const { items } = await getAll("/bids", {}, { maxPages: 5 });
      const upcoming = items
        .filter((b) => b.day >= ctx.today && (showSuperseded || b.state !== "superseded"))
        .sort((a, b) => (a.day === b.day ? a.product.localeCompare(b.product) : a.day.localeCompare(b.day)));
      const columns = BID_COLUMNS(approve, showLadder);
      fill(
        p.body,
        status,
        el("div", { class: "numbers-bar" }, csvButton(`bids-from-${ctx.today}.csv`, columns, upcoming)),
        table(columns, upcoming, {
          caption: `Bids for ${ctx.today} (Beijing) and later`,
          empty: `No bids for ${ctx.today} or later yet: the scheduler drafts them on the day before.`,
        }),
        ladder,
      );
    });
  }
  refresh();
  return refresh;
}

async function renderLadder(box, ctx, bidId) {
  fill(box, message("Loading the ladder…"));
  const bid = await get(`/bids/${bidId}`);
  const perDay = ctx.intervalsPerDay[bid.product] ?? bid.ladder.length;
  const steps = bid.ladder.flatMap((entry) =>
    entry.steps.map((s, i) => ({
      interval: entry.interval,
      t: intervalStartMs(bid.day, entry.interval, perDay),
      step: i + 1,
      ...s,
    })),
  );
  const totals = bid.ladder.map((entry) => ({
    t: intervalStartMs(bid.day, entry.interval, perDay),
    v: entry.steps.reduce((sum, s) => sum + s.quantity_kw, 0),
  }));
  const chart = timeChart({
    title: `Ladder of ${bid.product} for ${bid.day}`,
    x: [dayStartMs(bid.day), dayStartMs(bid.day) + DAY_MS],
    yLabel: "Offered power, kW",
    unit: "kW",
    layers: [
      {
        type: "bars",
        cls: bid.side === "up" ? "s-up" : "s-down",
        label: `Offered kW, all price steps (${bid.side})`,
        points: totals,
        widthMs: DAY_MS / perDay,
      },
    ],
  });
  const columns = [
    { label: "Interval", key: "interval", num: true },
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    { label: "Step", key: "step", num: true },
    {
      label: "Price CNY/MWh",
      num: true,
      text: (r) => fmtNumber(r.price_cny_per_mwh, 2),
      csv: (r) => r.price_cny_per_mwh,
    },
    { label: "Quantity kW", num: true, text: (r) => fmtNumber(r.quantity_kw, 1), csv: (r) => r.quantity_kw },
  ];
  fill(
    box,
    el("h3", {}, `Ladder: ${bid.product}, ${bid.day}, revision ${bid.revision} `, badge(bid.state)),
    chartWithNumbers(chart, {
      columns,
      rows: steps,
      filename: `ladder-${bid.product}-${bid.day}-r${bid.revision}.csv`,
    }),
  );
}

async function loadAssets(p, ctx, state) {
  const [sites, readings, commands] = await Promise.all([
    loadSites(),
    lastReadings(state.assets, ctx, { mapLimit }),
    lastCommands({}, 10),
  ]);
  const rows = assetRows(state.assets, sites, readings.readings, commands.latest);
  const kinds = [...new Set(rows.map((r) => r.kind))].sort();
  const columns = ASSET_COLUMNS.filter((c) => c.label !== "Kind");
  const notes = [];
  if (readings.skipped) notes.push(`Last readings shown for the first ${rows.length - readings.skipped} assets.`);
  if (commands.more) notes.push("Last commands read from the first 10,000 commands only.");
  fill(
    p.body,
    notes.length ? message(notes.join(" ")) : null,
    el("div", { class: "numbers-bar" }, csvButton("assets.csv", ASSET_CSV, rows)),
    kinds.map((kind) => {
      const group = rows.filter((r) => r.kind === kind);
      return el(
        "div",
        { class: "kind", "data-kind": kind },
        el("h3", {}, `${kind} `, el("span", { class: "muted" }, `${group.length} assets`)),
        table(columns, group),
      );
    }),
    el("p", { class: "muted" }, `Updated ${fmtDateTime(Date.now())}; refreshes every minute.`),
  );
}

async function loadFailures(p, state) {
  const [failed, expired] = await Promise.all([
    getAll("/commands", { state: "failed" }, { maxPages: 5 }),
    getAll("/commands", { state: "expired" }, { maxPages: 5 }),
  ]);
  fill(
    p.body,
    commandTable([...failed.items, ...expired.items], state.names, "failed-and-expired-commands.csv", {
      empty: "No failed or expired commands.",
    }),
  );
}
