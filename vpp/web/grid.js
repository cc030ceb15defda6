// The grid company's view: the pool's awards per product and interval, and the market
// products with their gates. Dispatch schedules and instruction history have no API
// yet; each becomes one more panel in ``render`` when it lands.

import { el, fill, panel, table } from "./dom.js";
import { fmtDateTime } from "./format.js";
import { dayPanel, renderAwards } from "./panels.js";

export async function render(root, ctx) {
  const awards = panel("Awards per product and interval", { id: "awards" });
  const markets = panel("Market products", { id: "markets" });
  fill(root, awards.section, markets.section);
  dayPanel(awards, ctx.today, (day) => renderAwards(awards.body, ctx, day));
  fill(markets.body, marketTable(ctx.markets));
  return () => {};
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
