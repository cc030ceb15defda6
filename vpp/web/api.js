// The service's /v1 API: the key kept in session storage, JSON calls, paging, and
// what the dashboard infers from the API (the caller's role, the service's day).

import { DAY_MS, addDays, beijingDay } from "./format.js";

const KEY = "vpp.key";
const ROLE = "vpp.role";

/** The API key of this browser tab (session storage: gone when the tab closes). */
export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get role() {
    return sessionStorage.getItem(ROLE);
  },
  save(key, role) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, role);
  },
  clear() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
  },
};

/** A failed call: the HTTP status and the problem document's detail. */
export class ApiError extends Error {
  constructor(status, detail, problem) {
    super(detail ? `${status}: ${detail}` : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== null && v !== undefined) search.set(k, String(v));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Call ``/v1{path}`` with the session's key (or ``key``); the parsed JSON body. */
export async function call(method, path, { params, body, key } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${key ?? session.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/v1${path}${query(params)}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  const type = response.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data?.detail, data);
  return data;
}

export const get = (path, params, options = {}) => call("GET", path, { ...options, params });
export const post = (path, body, options = {}) => call("POST", path, { ...options, body });

/** Every item of a cursor-paginated list, reading at most ``maxPages`` pages; ``more``
 * says whether the list went on. */
export async function getAll(path, params = {}, { limit = 1000, maxPages = 10 } = {}) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page++) {
    const data = await get(path, { ...params, limit, cursor });
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) return { items, more: false };
  }
  return { items, more: true };
}

/** The caller's role, found by which calls the key may make (the API has no "who am I").
 * Operator first: the operator's dashboard needs no refused probe. */
export async function detectRole(key) {
  await get("/markets", {}, { key }); // any valid key: a 401 here means a bad key
  const probes = [
    ["operator", "/pool/summary", {}],
    ["enterprise", "/sites", { limit: 1 }],
    ["grid", "/awards", { day: beijingDay(Date.now()) }],
  ];
  for (const [role, path, params] of probes) {
    try {
      await get(path, params, { key });
      return role;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 403) throw error;
    }
  }
  return "admin";
}

/** The service's market day, read from the market list: a day-ahead product's
 * ``gate_closure_for_tomorrow`` lies ``gate_day_offset`` days before the service's
 * tomorrow. This follows the service clock (which the demo may run faster than real
 * time); falls back to the browser's clock. */
export function serviceToday(markets, nowMs = Date.now()) {
  for (const m of markets) {
    const rules = m.rules ?? {};
    if (!Number.isInteger(rules.gate_day_offset)) continue;
    if (rules.gate_lead_minutes !== null && rules.gate_lead_minutes !== undefined) continue;
    if ("gate_day_of_previous_month" in rules) continue;
    const tomorrow = addDays(beijingDay(m.gate_closure_for_tomorrow), -rules.gate_day_offset);
    return addDays(tomorrow, -1);
  }
  return beijingDay(nowMs);
}

/** What every view needs first: the market list, the service's day and "now" (the
 * browser's clock when it agrees with the service's day, else null: unknown). */
export async function context() {
  const markets = (await get("/markets")).items;
  const today = serviceToday(markets);
  const now = Date.now();
  return {
    markets,
    today,
    now: beijingDay(now) === today ? now : null,
    intervalsPerDay: Object.fromEntries(markets.map((m) => [m.product, m.intervals_per_day])),
  };
}

/** The newest reading of each asset (keyed by id), looking back from ``now`` (or over
 * the service's whole day when "now" is unknown). One request per asset, four at a
 * time, for at most ``max`` assets: the API has no latest-reading query. */
export async function lastReadings(assets, ctx, { max = 200, mapLimit } = {}) {
  const start = ctx.now === null ? Date.parse(`${ctx.today}T00:00:00+08:00`) : ctx.now - 3 * 3600 * 1000;
  const end = ctx.now === null ? start + DAY_MS : ctx.now + 15 * 60 * 1000;
  const window = { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
  const chosen = assets.slice(0, max);
  const found = await mapLimit(chosen, 4, async (asset) => {
    const { items } = await getAll(`/assets/${asset.id}/telemetry`, window, { maxPages: 3 });
    return [asset.id, items.length ? items[items.length - 1] : null];
  });
  return { readings: Object.fromEntries(found), skipped: assets.length - chosen.length };
}

/** The newest command of each asset (keyed by id) and the command list itself; commands
 * are listed oldest first, so this reads up to ``maxPages`` pages of them. */
export async function lastCommands(params = {}, maxPages = 10) {
  const { items, more } = await getAll("/commands", params, { maxPages });
  const latest = {};
  for (const c of items) {
    const seen = latest[c.asset_id];
    if (!seen || Date.parse(c.created_at) >= Date.parse(seen.created_at)) latest[c.asset_id] = c;
  }
  return { latest, items, more };
}
