// Beijing time, numbers and CSV. Pure functions: no DOM, no network.
//
// Market days and intervals are Asia/Shanghai (UTC+8, no daylight saving), so local
// times are plain arithmetic on UTC milliseconds; the browser's own time zone is
// never used.

export const OFFSET_MS = 8 * 3600 * 1000;
export const OFFSET_LABEL = "UTC+8";
export const DAY_MS = 24 * 3600 * 1000;

const pad = (n) => String(n).padStart(2, "0");

/** Milliseconds since the epoch of an ISO timestamp (with offset) or a number. */
export function toMs(value) {
  return typeof value === "number" ? value : Date.parse(value);
}

/** Beijing calendar fields of an instant. */
export function beijingParts(value) {
  const d = new Date(toMs(value) + OFFSET_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
  };
}

/** The Beijing market day ("YYYY-MM-DD") an instant falls in. */
export function beijingDay(value) {
  const p = beijingParts(value);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** "14:15 UTC+8" */
export function fmtTime(value) {
  const p = beijingParts(value);
  return `${pad(p.hour)}:${pad(p.minute)} ${OFFSET_LABEL}`;
}

/** "2026-11-26 14:15 UTC+8" */
export function fmtDateTime(value) {
  if (value === null || value === undefined) return "";
  return `${beijingDay(value)} ${fmtTime(value)}`;
}

/** "2026-11-26T14:15+08:00": the same instant, machine-readable, for CSV files. */
export function isoBeijing(value) {
  const p = beijingParts(value);
  return `${beijingDay(value)}T${pad(p.hour)}:${pad(p.minute)}+08:00`;
}

/** UTC milliseconds of 00:00 Beijing on a market day ("YYYY-MM-DD"). */
export function dayStartMs(day) {
  const [y, m, d] = day.split("-").map(Number);
  return Date.UTC(y, m - 1, d) - OFFSET_MS;
}

/** The market day ``n`` days after ``day`` (n may be negative). */
export function addDays(day, n) {
  return beijingDay(dayStartMs(day) + n * DAY_MS);
}

/** Start (UTC ms) of interval ``k`` of a day divided into ``perDay`` intervals. */
export function intervalStartMs(day, k, perDay = 96) {
  return dayStartMs(day) + (k * DAY_MS) / perDay;
}

/** Runs of consecutive intervals of a day as Beijing time ranges, e.g.
 * ["18:00–18:30 UTC+8", "19:45–20:00 UTC+8"] for intervals 72, 73, 79 (96 a day). */
export function intervalRuns(day, intervals, perDay = 96) {
  const sorted = [...new Set(intervals)].sort((a, b) => a - b);
  const runs = [];
  for (const k of sorted) {
    const last = runs[runs.length - 1];
    if (last && k === last[1] + 1) last[1] = k;
    else runs.push([k, k]);
  }
  return runs.map(([first, last]) => {
    const from = fmtTime(intervalStartMs(day, first, perDay)).replace(` ${OFFSET_LABEL}`, "");
    return `${from}–${fmtTime(intervalStartMs(day, last + 1, perDay))}`;
  });
}

/** A number with thousands separators and at most ``digits`` decimals; "" for null. */
export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  const text = Number(value).toLocaleString("en-US", {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  });
  return text === "-0" ? "0" : text; // a tiny negative rounds to zero, unsigned
}

/** "1,234 kW" */
export function fmtKw(value) {
  return value === null || value === undefined ? "" : `${fmtNumber(value, 0)} kW`;
}

/** One CSV field (RFC 4180). Text that a spreadsheet would run as a formula is
 * prefixed with an apostrophe: names come from users. */
export function csvCell(value) {
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text of ``rows`` (objects) by ``columns`` ([{key, label}]), CRLF line ends. */
export function toCsv(columns, rows) {
  const lines = [columns.map((c) => csvCell(c.label)).join(",")];
  for (const row of rows) {
    lines.push(columns.map((c) => csvCell(c.csv ? c.csv(row) : row[c.key])).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** "1,234.50 CNY" from a decimal string or number (money is exact in the API: strings). */
export function fmtCny(value) {
  if (value === null || value === undefined || value === "") return "";
  return `${Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} CNY`;
}

/** "42.5 %" from a share 0..1; "" for null. */
export function fmtPct(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return "";
  return `${fmtNumber(share * 100, digits)} %`;
}

/** The Beijing calendar month ("YYYY-MM") of a market day ("YYYY-MM-DD"). */
export function monthOf(day) {
  return day.slice(0, 7);
}

/** The month ``n`` months after ``month`` ("YYYY-MM"; n may be negative). */
export function addMonths(month, n) {
  const [y, m] = month.split("-").map(Number);
  const index = y * 12 + (m - 1) + n;
  return `${Math.floor(index / 12)}-${pad((index % 12) + 1)}`;
}

/** Whether ``delivered`` is within ±``share`` of ``reference`` (kW; the ±5 % delivery
 * rule). A missing measurement or a zero reference is not. */
export function withinBand(delivered, reference, share = 0.05) {
  if (delivered === null || delivered === undefined || !(reference > 0)) return false;
  return Math.abs(delivered - reference) <= share * reference;
}
