// The grid company's view: the pool's published schedules (day-ahead against current
// version), the instructions it sent with their answers, the pool's awards per product
// and interval, and the market products with their gates.

import { refreshClock } from "./api.js";
import { el, fill, panel, table } from "./dom.js";
import { fmtDateTime } from "./format.js";
import { dayPanel, guarded, renderAwards } from "./panels.js";
import { renderInstructions, renderSchedules } from "./schedules.js";

const LIVE_REFRESH_MS = 60_000;

export async function render(root, ctx) {
  const schedules = panel("Pool schedules", {
    id: "schedules",
    note:
      "The pool's published schedule: baseline and planned net load (kW, + drawn from the grid) " +
      "and per product awarded, target and deliverable kW; the day-ahead version against the " +
      "current one (intraday instructions included).",
  });
  const instructions = panel("Instruction history", {
    id: "instructions",
    note: "Your intraday instructions and the answer each got at once (kW in the product's direction).",
  });
  const awards = panel("Awards per product and interval", { id: "awards" });
  const markets = panel("Market products", { id: "markets" });
  fill(root, schedules.section, instructions.section, awards.section, markets.section);
  dayPanel(schedules, ctx.today, (day) => renderSchedules(schedules.body, ctx, day));
  guarded(instructions.body, () => renderInstructions(instructions.body, ctx));
  dayPanel(awards, ctx.today, (day) => renderAwards(awards.body, ctx, day));
  fill(markets.body, marketTable(ctx.markets));
  const timer = setInterval(async () => {
    await refreshClock(ctx);
    guarded(instructions.body, () => renderInstructions(instructions.body, ctx));
  }, LIVE_REFRESH_MS);
  return () => clearInterval(timer);
}

/** Products with their side, resolution and next gate closure. */
export function marketTable(markets) {
  const columns = [
    { label: "Product", key: "product" },
    { label: "Rule pack", key: "version" },
    { label: "Side", key: "side" },
    { label: "Intervals per day", key: "intervals_per_day", num: true },
    { label: "Gate closure for tomorrow (UTC+8)", text: (m) => fmtDateTime(m.gate_closure_for_tomorrow) },
    { label: "Pricing", text: (m) => m.rules?.pricing ?? "" },
  ];
  return el("div", {}, table(columns, markets, { empty: "No market products configured." }));
}
