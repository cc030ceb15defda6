// Delivered against awarded per product and 15-minute interval (GET /v1/dispatch/tracking):
// the pool's for operators, an enterprise's own assets' contribution for enterprises.
//
// The delivery rule: an interval counts as delivered when the measured response is within
// ±5 % of the award (operators) or of the enterprise's planned share (enterprises: the
// API gives no award per enterprise). The interval under way is marked "live": its
// delivery is the mean so far.

import { get } from "./api.js";
import { timeChart } from "./chart.js";
import { chartWithNumbers, el, message, refill } from "./dom.js";
import { DAY_MS, dayStartMs, fmtDateTime, fmtNumber, fmtPct, intervalStartMs, isoBeijing, toMs, withinBand } from "./format.js";
import { dayPicker, guarded } from "./panels.js";

export const BAND = 0.05;
const INTERVALS = 96;
const HOURS = 24 / INTERVALS;

/** One product's tracked intervals as rows (only the intervals the API lists), each
 * with its reference (award for the pool, planned share for an enterprise) and whether
 * the delivery is within ±5 % of it. Pure: the tests call it with hand-made answers. */
export function trackingRows(tracking, product) {
  const pool = tracking.scope === "pool";
  return tracking.intervals
    .filter((iv) => iv.product === product)
    .map((iv) => {
      const reference = pool ? iv.awarded_kw : iv.planned_kw;
      return {
        interval: iv.interval,
        t: toMs(iv.start),
        awarded_kw: iv.awarded_kw,
        target_kw: iv.target_kw,
        planned_kw: iv.planned_kw,
        delivered_kw: iv.delivered_kw,
        reference_kw: reference,
        ratio: iv.delivered_kw !== null && reference > 0 ? iv.delivered_kw / reference : null,
        live: iv.live,
        within: withinBand(iv.delivered_kw, reference, BAND),
      };
    });
}

/** A product's day in numbers: intervals with something to deliver, how many were
 * within ±5 %, how many are not measured yet, energies (kWh). The pool's counts are the
 * API's; an enterprise's are counted here against its planned share. */
export function trackingSummary(tracking, product, rows) {
  const pool = tracking.scope === "pool";
  const counted = rows.filter((r) => r.reference_kw > 0);
  const summary = tracking.products.find((p) => p.product === product);
  return {
    product,
    direction: summary?.direction ?? "",
    reference: pool ? "award" : "planned share",
    intervals: pool ? summary.intervals_awarded : counted.length,
    within: pool ? summary.intervals_within_5pct : counted.filter((r) => r.within).length,
    unmeasured: counted.filter((r) => r.delivered_kw === null).length,
    live: rows.some((r) => r.live),
    referenceKwh: pool ? summary.awarded_kwh : counted.reduce((sum, r) => sum + r.reference_kw * HOURS, 0),
    deliveredKwh: summary ? summary.delivered_kwh : 0,
  };
}

function summaryLine(s, day) {
  const within = `${s.within} of ${s.intervals} intervals delivered within ±5 % of the ${s.reference}`;
  const pending = s.unmeasured ? ` (${s.unmeasured} not measured yet)` : "";
  const energy = `; ${fmtNumber(s.deliveredKwh, 0)} kWh delivered of ${fmtNumber(s.referenceKwh, 0)} kWh ${
    s.reference === "award" ? "awarded" : "planned"
  }`;
  const live = s.live ? "; the interval under way is live (mean so far)" : "";
  return el(
    "li",
    { class: s.within === s.intervals ? "delivered" : "shortfall", "data-product": s.product, "data-within": s.within },
    el("b", {}, `${s.product} (${s.direction}): `),
    `${within}${pending}${energy}${live}.`,
    s.intervals === 0 ? ` Nothing to deliver on ${day}.` : "",
  );
}

const kw = (key, label) => ({ label, num: true, text: (r) => fmtNumber(r[key], 1), csv: (r) => r[key] });

function verdict(r) {
  if (r.delivered_kw === null) return "not measured yet";
  const text = r.within ? "within ±5 %" : "outside ±5 %";
  return r.live ? `${text} (live, so far)` : text;
}

/** One product's chart (band, delivered bars, reference lines) with its numbers. */
function productBlock(ctx, tracking, day, product) {
  const pool = tracking.scope === "pool";
  const rows = trackingRows(tracking, product);
  const byInterval = new Map(rows.map((r) => [r.interval, r]));
  const all = Array.from({ length: INTERVALS }, (_, k) => byInterval.get(k) ?? { interval: k, t: intervalStartMs(day, k) });
  const series = (key) => all.map((r) => ({ t: r.t, v: r[key] ?? null }));
  const reference = pool ? "award" : "planned share";
  const layers = [
    {
      type: "band",
      cls: "s-band",
      label: `±5 % of the ${reference}`,
      points: all.map((r) => (r.reference_kw > 0 ? { t: r.t, lo: r.reference_kw * (1 - BAND), hi: r.reference_kw * (1 + BAND) } : { t: r.t, lo: null, hi: null })),
    },
    {
      type: "bars",
      cls: "s-delivered",
      label: "Delivered kW (interval over)",
      points: all.map((r) => ({ t: r.t, v: r.live ? null : (r.delivered_kw ?? null) })),
      widthMs: DAY_MS / INTERVALS,
    },
    {
      type: "bars",
      cls: "s-live",
      label: "Delivered kW so far (interval under way)",
      points: all.map((r) => ({ t: r.t, v: r.live ? (r.delivered_kw ?? null) : null })),
      widthMs: DAY_MS / INTERVALS,
    },
  ];
  if (pool) {
    layers.push({ type: "line", cls: "s-awarded-kw", label: "Awarded kW", points: series("awarded_kw") });
    if (rows.some((r) => r.target_kw !== r.awarded_kw)) {
      layers.push({ type: "line", cls: "s-target", label: "Target kW (grid instruction)", points: series("target_kw") });
    }
  }
  layers.push({
    type: "line",
    cls: "s-planned",
    label: pool ? "Planned kW" : "Your planned share kW",
    points: series("planned_kw"),
  });
  const chart = timeChart({
    title: `Delivered against ${pool ? "awarded" : "planned"} ${product} on ${day} (Beijing)`,
    x: [dayStartMs(day), dayStartMs(day) + DAY_MS],
    yLabel: "Response, kW",
    unit: "kW",
    layers,
    markers: [{ t: ctx.now, label: "now" }],
  });
  const columns = [
    { label: "Interval", key: "interval", num: true },
    { label: "Start (UTC+8)", text: (r) => fmtDateTime(r.t), csv: (r) => isoBeijing(r.t) },
    ...(pool ? [kw("awarded_kw", "Awarded kW"), kw("target_kw", "Target kW")] : []),
    kw("planned_kw", pool ? "Planned kW" : "Planned share kW"),
    kw("delivered_kw", "Delivered kW"),
    {
      label: `Delivered / ${pool ? "awarded" : "planned"}`,
      num: true,
      text: (r) => fmtPct(r.ratio),
      csv: (r) => (r.ratio === null ? "" : Number(r.ratio.toFixed(4))),
    },
    { label: "±5 % rule", text: verdict, csv: verdict },
  ];
  return el(
    "div",
    { class: "product", "data-product": product },
    el("h3", {}, product),
    chartWithNumbers(chart, {
      columns,
      rows,
      filename: `tracking-${product}-${day}.csv`,
      rowClass: (r) => (r.live ? "live" : r.delivered_kw !== null && !r.within ? "short" : null),
    }),
  );
}

/** Render the tracking of ``day`` into ``body`` (keeping open tables open on refresh). */
export async function renderTracking(body, ctx, day) {
  const tracking = await get("/dispatch/tracking", { day });
  const pool = tracking.scope === "pool";
  if (tracking.intervals.length === 0) {
    const why =
      day > ctx.today
        ? `${day} (Beijing) has not begun; its awards and plan arrive after the day-ahead clearing.`
        : pool
          ? `Nothing to track on ${day} (Beijing): the pool has no award for that day ` +
            "(awards arrive after the day-ahead clearing, the day before)."
          : `Nothing to track on ${day} (Beijing): none of your assets was dispatched for an award that day.`;
    refill(body, message(why));
    return;
  }
  const products = [...new Set(tracking.intervals.map((iv) => iv.product))].sort();
  const summaries = products.map((p) => trackingSummary(tracking, p, trackingRows(tracking, p)));
  refill(
    body,
    el("ul", { class: "plan-summary tracking-summary" }, summaries.map((s) => summaryLine(s, day))),
    products.map((p) => productBlock(ctx, tracking, day, p)),
    el("p", { class: "muted" }, `Updated ${fmtDateTime(ctx.now)} (service time); refreshes every minute.`),
  );
}

/** Wire a tracking panel: a day picker (default today) and the first render. Returns the
 * function a live refresh calls. */
export function trackingPanel(p, ctx) {
  let day = ctx.today;
  const show = () => guarded(p.body, () => renderTracking(p.body, ctx, day));
  p.tools.replaceChildren(
    dayPicker(day, (d) => {
      day = d;
      p.body.replaceChildren(message("Loading…"));
      show();
    }),
  );
  show();
  return show;
}
