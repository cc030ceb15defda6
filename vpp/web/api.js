// The service's /v1 API: the key kept in session storage, JSON calls, paging, who the
// caller is and the service's clock.

import { beijingDay, toMs } from "./format.js";

const KEY = "vpp.key";

/** The API key of this browser tab (session storage: gone when the tab closes). */
export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  save(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
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

/** Who the key belongs to and the service's clock (``GET /v1/me``, every role). */
export function whoAmI(key) {
  return get("/me", {}, { key });
}

/** The view's context from ``/v1/me`` and the market list: the caller, the service's
 * "now" (UTC ms; the demo may run the service clock faster than real time) and its
 * Beijing market day. Pure: the tests call it with hand-made answers. */
export function contextOf(me, markets) {
  const now = toMs(me.now);
  return {
    me,
    role: me.role,
    markets,
    now,
    today: beijingDay(now),
    intervalsPerDay: Object.fromEntries(markets.map((m) => [m.product, m.intervals_per_day])),
  };
}

/** What every view needs first: who is calling, the market list, the service's clock. */
export async function context() {
  const [me, markets] = await Promise.all([whoAmI(), get("/markets")]);
  return contextOf(me, markets.items);
}

/** Read the service's clock again (for live refreshes); keeps the old "now" when the
 * call fails (the panels then show their own errors). */
export async function refreshClock(ctx) {
  try {
    ctx.now = toMs((await whoAmI()).now);
  } catch {
    // keep the previous reading
  }
  return ctx;
}

/** The newest reading of each asset (keyed by id), looking back three hours from the
 * service's "now". One request per asset, four at a time, for at most ``max`` assets:
 * the API has no latest-reading query. */
export async function lastReadings(assets, ctx, { max = 200, mapLimit } = {}) {
  const window = {
    start: new Date(ctx.now - 3 * 3600 * 1000).toISOString(),
    end: new Date(ctx.now + 15 * 60 * 1000).toISOString(),
  };
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

/** A file from ``/v1{path}`` (CSV, printable HTML) fetched with the session's key in the
 * Authorization header: the key never goes into a URL, so a link cannot carry it. */
export async function getFile(path, params) {
  const response = await fetch(`/v1${path}${query(params)}`, {
    headers: { Authorization: `Bearer ${session.key}` },
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    const type = response.headers.get("content-type") ?? "";
    const data = type.includes("json") ? await response.json() : null;
    throw new ApiError(response.status, data?.detail, data);
  }
  const disposition = response.headers.get("content-disposition") ?? "";
  const named = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: named ? named[1] : null };
}
