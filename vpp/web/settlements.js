// Revenue and penalties: the settled days of a month (GET /v1/settlements?month=), their
// statements (CSV and printable HTML) and sealed evidence. Operators see every
// enterprise's lines and the pool's totals; an enterprise only its own lines.
//
// Money comes from the API as decimal strings (CNY); sums are made in fen (integers), so
// the totals shown are exact.

import { get } from "./api.js";
import { csvButton, el, fileButton, fill, message, table } from "./dom.js";
import { fmtCny, fmtDateTime, fmtNumber, isoBeijing } from "./format.js";

/** A CNY decimal string as integer fen ("12.34" -> 1234). */
export function toFen(value) {
  if (value === null || value === undefined || value === "") return 0;
  const text = String(value).trim();
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace(/^[-+]/, "").split(".");
  const fen = Number(whole) * 100 + Number(frac.padEnd(2, "0").slice(0, 2));
  return negative ? -fen : fen;
}

/** Integer fen as a CNY decimal string (1234 -> "12.34", -5 -> "-0.05"). */
export function fenText(fen) {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** The exact sum of CNY decimal strings, as a decimal string. */
export function sumCny(values) {
  return fenText(values.reduce((sum, v) => sum + toFen(v), 0));
}

const MONEY = ["payment_cny", "penalty_cny", "gross_cny", "aggregator_cny", "net_cny"];

/** One row per settled day: the pool's totals (operators) or the sum of the caller's
 * own lines (enterprises). */
export function dayRows(items) {
  return items.map((s) => {
    const own = Object.fromEntries(MONEY.map((k) => [k, sumCny(s.lines.map((l) => l[k]))]));
    const pool = s.pool;
    return {
      id: s.id,
      day: s.day,
      version: s.version,
      settled_at: s.settled_at,
      payment_cny: pool ? pool.payment_cny : own.payment_cny,
      penalty_cny: pool ? pool.penalty_cny : own.penalty_cny,
      net_cny: pool ? pool.net_cny : own.gross_cny,
      aggregator_cny: pool ? pool.aggregator_cny : own.aggregator_cny,
      enterprises_net_cny: pool ? pool.enterprises_net_cny : own.net_cny,
      flagged: pool ? pool.flagged_intervals : s.lines.reduce((n, l) => n + l.flagged_intervals, 0),
      response_kwh: s.lines.reduce((sum, l) => sum + l.response_kwh, 0),
    };
  });
}

const money = (key, label) => ({ label, num: true, text: (r) => fmtCny(r[key]), csv: (r) => r[key] });

function statementActions(row) {
  const base = `/settlements/${row.id}`;
  const name = `statement-${row.day}-v${row.version}`;
  return el(
    "span",
    { class: "actions statement", "data-day": row.day },
    fileButton("CSV", `${base}/statement.csv`, { filename: `${name}.csv`, data: { statement: row.id } }),
    fileButton("Printable", `${base}/statement.html`, { open: true, data: { statement: row.id } }),
    fileButton("Evidence", `/evidence/${row.day}`, { filename: `evidence-${row.day}.json` }),
  );
}

/** The month's settlements into ``body``; ``names`` maps account ids to names. */
export async function renderSettlements(body, ctx, month, names = {}) {
  const data = await get("/settlements", { month });
  const pool = ctx.role !== "enterprise";
  if (data.items.length === 0) {
    const current = month >= ctx.today.slice(0, 7);
    fill(
      body,
      message(
        `Not settled yet: no settled day in ${month}${pool ? "" : " with your assets"}. ` +
          "A day is settled 6 h after it ends (Beijing), once its delivery data is complete, " +
          `and only if the pool had awards that day.${current ? " Today and yesterday may still be open." : ""}`,
      ),
    );
    return;
  }
  const rows = dayRows(data.items).sort((a, b) => a.day.localeCompare(b.day));
  const total = (key) => sumCny(rows.map((r) => r[key]));
  const figures = el(
    "p",
    { class: "figures money" },
    el("span", { "data-figure": "payment" }, el("b", {}, fmtCny(total("payment_cny"))), " payments"),
    el("span", { "data-figure": "penalty" }, el("b", {}, fmtCny(total("penalty_cny"))), " penalties"),
    el("span", { "data-figure": "net" }, el("b", {}, fmtCny(total("net_cny"))), pool ? " net (pool)" : " net before the aggregator's share"),
    el("span", { "data-figure": "aggregator" }, el("b", {}, fmtCny(total("aggregator_cny"))), " aggregator share"),
    el(
      "span",
      { "data-figure": "enterprises" },
      el("b", {}, fmtCny(total("enterprises_net_cny"))),
      pool ? " to the enterprises" : " to you",
    ),
    el("span", {}, el("b", {}, String(rows.length)), rows.length === 1 ? " settled day" : " settled days"),
  );
  const dayColumns = [
    { label: "Day", key: "day" },
    { label: "Version", key: "version", num: true },
    { label: "Settled (UTC+8)", text: (r) => fmtDateTime(r.settled_at), csv: (r) => isoBeijing(r.settled_at) },
    money("payment_cny", "Payments"),
    money("penalty_cny", "Penalties"),
    money("net_cny", pool ? "Net (pool)" : "Net before share"),
    money("aggregator_cny", "Aggregator share"),
    money("enterprises_net_cny", pool ? "Enterprises net" : "Your net"),
    { label: "Flagged intervals", key: "flagged", num: true },
    { label: "Statement", cell: statementActions, csv: (r) => r.id },
  ];
  const lineColumns = [
    ...(pool ? [{ label: "Enterprise", text: (l) => names[l.account_id] ?? l.account_id }] : []),
    { label: "Product", key: "product" },
    { label: "Allocated kWh", num: true, text: (l) => fmtNumber(l.allocated_kwh, 1), csv: (l) => l.allocated_kwh },
    { label: "Response kWh", num: true, text: (l) => fmtNumber(l.response_kwh, 1), csv: (l) => l.response_kwh },
    { label: "Flagged", key: "flagged_intervals", num: true },
    money("payment_cny", "Payments"),
    money("penalty_cny", "Penalties"),
    money("gross_cny", "Gross"),
    money("aggregator_cny", "Aggregator share"),
    money("net_cny", "Net to the enterprise"),
  ];
  fill(
    body,
    figures,
    el("h3", {}, "Settled days"),
    el("div", { class: "numbers-bar" }, csvButton(`settlements-${month}.csv`, dayColumns, rows)),
    table(dayColumns, rows, { caption: `Money in CNY; ${month}, latest version of each day` }),
    el("h3", {}, pool ? "Per enterprise and product" : "Per product"),
    el("div", { class: "numbers-bar" }, csvButton(`settlement-lines-${month}.csv`, lineColumns, data.totals)),
    table(lineColumns, data.totals, { caption: `Summed over ${month}` }),
  );
}
