// Time-series charts in plain SVG: lines, bands and bars over Beijing time.
//
// The scale and tick functions are pure and exported for the tests; ``timeChart``
// assembles them into an <svg>. Labels are set with textContent only.

import { DAY_MS, OFFSET_MS, fmtNumber, fmtTime, beijingDay } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const HOUR_MS = 3600 * 1000;
export const SIZE = { width: 960, height: 300, left: 76, right: 36, top: 14, bottom: 46 };

/** A linear map from ``domain`` to ``range``; a flat domain maps to the range's middle. */
export function linearScale([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  const scale = (v) => (span === 0 ? (r0 + r1) / 2 : r0 + ((v - d0) / span) * (r1 - r0));
  scale.domain = [d0, d1];
  scale.range = [r0, r1];
  return scale;
}

/** Smallest and largest finite number among ``values`` (null when there is none). */
export function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? null : [lo, hi];
}

/** A 1, 2 or 5 times power-of-ten step that cuts ``span`` into about ``count`` parts. */
export function niceStep(span, count) {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

/** Round axis bounds that cover [lo, hi] and the ticks between them, about ``count``.
 * A flat or empty range is widened so the axis still has a span. */
export function niceTicks(lo, hi, count = 5) {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, count);
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let i = 0; first + i * step <= last + step / 1e6; i++) {
    ticks.push(Number((first + i * step).toPrecision(12)));
  }
  return { lo: first, hi: last, step, ticks };
}

/** Tick instants on whole Beijing hours (every 1, 2, 3, 6, 12 or 24 h), at most ``max``. */
export function timeTicks(t0, t1, max = 9) {
  const span = t1 - t0;
  const hours = [1, 2, 3, 6, 12, 24].find((h) => span / (h * HOUR_MS) <= max) ?? 24;
  const step = hours * HOUR_MS;
  // Whole local hours: shift to Beijing, round up to the step, shift back.
  const first = Math.ceil((t0 + OFFSET_MS) / step) * step - OFFSET_MS;
  const ticks = [];
  for (let t = first; t <= t1; t += step) ticks.push(t);
  return ticks;
}

/** The label of a time tick: "06:00", or "11-27 00:00" on a day boundary. */
export function timeTickLabel(t) {
  const clock = fmtTime(t).replace(/ UTC\+8$/, "");
  if ((t + OFFSET_MS) % DAY_MS !== 0) return clock;
  return `${beijingDay(t).slice(5)} ${clock}`;
}

const xy = (x, y) => `${x.toFixed(1)},${y.toFixed(1)}`;

/** Polyline point lists for ``points`` ([{t, v}]), split where ``v`` is missing. */
export function lineSegments(points, x, y) {
  const segments = [];
  let current = [];
  for (const p of points) {
    if (p.v === null || p.v === undefined || !Number.isFinite(p.v)) {
      if (current.length) segments.push(current.join(" "));
      current = [];
      continue;
    }
    current.push(xy(x(p.t), y(p.v)));
  }
  if (current.length) segments.push(current.join(" "));
  return segments;
}

/** Polygon point lists of a band between ``lo`` and ``hi`` ([{t, lo, hi}]), split where
 * either bound is missing. */
export function bandPolygons(points, x, y) {
  const polygons = [];
  let run = [];
  const flush = () => {
    if (run.length) {
      const upper = run.map((p) => xy(x(p.t), y(p.hi)));
      const lower = run.map((p) => xy(x(p.t), y(p.lo))).reverse();
      polygons.push([...upper, ...lower].join(" "));
    }
    run = [];
  };
  for (const p of points) {
    if (Number.isFinite(p.lo) && Number.isFinite(p.hi)) run.push(p);
    else flush();
  }
  flush();
  return polygons;
}

/** Rectangles of bars ([{t, v}] of width ``widthMs``) from zero to each value. */
export function barRects(points, widthMs, x, y) {
  const zero = y(0);
  const rects = [];
  for (const p of points) {
    if (!Number.isFinite(p.v)) continue;
    const x0 = x(p.t);
    const x1 = x(p.t + widthMs);
    const top = Math.min(zero, y(p.v));
    rects.push({
      x: x0 + 0.5,
      y: top,
      width: Math.max(0.5, x1 - x0 - 1),
      height: Math.abs(y(p.v) - zero),
      t: p.t,
      v: p.v,
    });
  }
  return rects;
}

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) n.setAttribute(k, String(v));
  }
  if (text !== undefined) n.textContent = text;
  return n;
}

function layerValues(layer) {
  if (layer.type === "band") return layer.points.flatMap((p) => [p.lo, p.hi]);
  if (layer.type === "bars") return [0, ...layer.points.map((p) => p.v)];
  return layer.points.map((p) => p.v);
}

/**
 * An SVG chart over time.
 *   spec.title     accessible name
 *   spec.x         [t0, t1] in UTC ms
 *   spec.yLabel    axis title with its unit, e.g. "Net load, kW"
 *   spec.unit      unit for tooltips, e.g. "kW"
 *   spec.layers    [{type: "line" | "band" | "bars", cls, label, points, widthMs}]
 *                  line/bars points: {t, v}; band points: {t, lo, hi}
 *   spec.markers   [{t, label}] vertical rules (e.g. now)
 * Returns a <div class="chart-box"> with the <svg> and its legend.
 */
export function timeChart(spec) {
  const { width, height, left, right, top, bottom } = SIZE;
  const [t0, t1] = spec.x;
  const x = linearScale([t0, t1], [left, width - right]);
  const found = extent(spec.layers.flatMap(layerValues)) ?? [0, 1];
  const yAxis = niceTicks(found[0], found[1], 5);
  const y = linearScale([yAxis.lo, yAxis.hi], [height - bottom, top]);

  const svg = node("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    class: "time-chart",
    "aria-label": spec.title,
  });
  svg.append(node("title", {}, spec.title));

  const grid = node("g", { class: "grid" });
  for (const v of yAxis.ticks) {
    grid.append(node("line", { x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    grid.append(
      node("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmtNumber(v, 2)),
    );
  }
  for (const t of timeTicks(t0, t1)) {
    grid.append(node("line", { x1: x(t), x2: x(t), y1: top, y2: height - bottom, class: "vgrid" }));
    grid.append(
      node("text", { x: x(t), y: height - bottom + 16, "text-anchor": "middle", class: "tick" }, timeTickLabel(t)),
    );
  }
  svg.append(grid);

  for (const layer of spec.layers) {
    const g = node("g", { class: `layer ${layer.type} ${layer.cls ?? ""}`, "data-label": layer.label });
    if (layer.type === "band") {
      for (const points of bandPolygons(layer.points, x, y)) g.append(node("polygon", { points }));
    } else if (layer.type === "line") {
      for (const points of lineSegments(layer.points, x, y)) g.append(node("polyline", { points }));
    } else if (layer.type === "bars") {
      for (const r of barRects(layer.points, layer.widthMs, x, y)) {
        const rect = node("rect", { x: r.x, y: r.y, width: r.width, height: r.height });
        rect.append(node("title", {}, `${layer.label}, ${fmtTime(r.t)}: ${fmtNumber(r.v, 1)} ${spec.unit ?? ""}`));
        g.append(rect);
      }
    }
    svg.append(g);
  }

  for (const marker of spec.markers ?? []) {
    if (marker.t < t0 || marker.t > t1) continue;
    const g = node("g", { class: "marker" });
    g.append(node("line", { x1: x(marker.t), x2: x(marker.t), y1: top, y2: height - bottom }));
    g.append(node("text", { x: x(marker.t) + 4, y: top + 10 }, marker.label));
    svg.append(g);
  }

  const axes = node("g", { class: "axes" });
  axes.append(node("line", { x1: left, x2: left, y1: top, y2: height - bottom }));
  axes.append(node("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  axes.append(
    node(
      "text",
      { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" },
      spec.xLabel ?? "Beijing time (UTC+8)",
    ),
  );
  axes.append(
    node(
      "text",
      {
        x: -(top + height - bottom) / 2,
        y: 16,
        transform: "rotate(-90)",
        "text-anchor": "middle",
        class: "axis-title",
      },
      spec.yLabel,
    ),
  );
  svg.append(axes);

  const legend = document.createElement("ul");
  legend.className = "legend";
  for (const layer of spec.layers) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${layer.type} ${layer.cls ?? ""}`;
    item.append(swatch, document.createTextNode(layer.label));
    legend.append(item);
  }
  const box = document.createElement("div");
  box.className = "chart-box";
  box.append(svg, legend);
  return box;
}
