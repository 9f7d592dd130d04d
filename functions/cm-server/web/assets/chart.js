// chart.js: a small inline SVG chart of cumulative spending over time, built
// with DOM calls (no chart library, no innerHTML).

import { formatCents } from "./rules.js";

const NS = "http://www.w3.org/2000/svg";
const PAD = { top: 14, right: 16, bottom: 28, left: 52 };
const MAX_DOTS = 80; // beyond this, dots would only be noise

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

// drawChart replaces the contents of svg with the chart of points, each
// {time: Date, cents: number}, oldest first; width and height in pixels.
export function drawChart(svg, points, width, height) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  if (points.length === 0) return;

  let total = 0;
  const series = points.map((p) => ({ t: p.time.getTime(), sum: (total += p.cents), cents: p.cents, time: p.time }));
  let t0 = series[0].t, t1 = series[series.length - 1].t;
  if (t1 - t0 < 3_600_000) { t0 -= 43_200_000; t1 += 43_200_000; } // one moment: show a day around it
  const step = niceStep(Math.max(total, 100) / 3);
  const top = Math.ceil(Math.max(total, 100) / step) * step;
  const w = width - PAD.left - PAD.right, h = height - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * w;
  const y = (c) => PAD.top + h - (c / top) * h;

  const title = el("title", { id: "chart-title" },
    `Spending over time: ${formatCents(total)} in ${points.length} purchase${points.length === 1 ? "" : "s"}`);
  svg.append(title);

  const grid = el("g", { class: "chart-grid" });
  for (let c = 0; c <= top; c += step) {
    grid.append(el("line", { x1: PAD.left, x2: width - PAD.right, y1: y(c), y2: y(c) }));
    grid.append(el("text", { x: PAD.left - 8, y: y(c), dy: "0.32em", "text-anchor": "end" }, compact.format(c / 100)));
  }
  svg.append(grid);

  const spansYears = new Date(t0).getFullYear() !== new Date(t1).getFullYear();
  const day = new Intl.DateTimeFormat(undefined, spansYears
    ? { year: "numeric", month: "short" } : { month: "short", day: "numeric" });
  const axis = el("g", { class: "chart-axis" });
  const ticks = w > 360 ? [0, 0.5, 1] : [0, 1];
  for (const f of ticks) {
    const anchor = f === 0 ? "start" : f === 1 ? "end" : "middle";
    axis.append(el("text", { x: PAD.left + f * w, y: height - 8, "text-anchor": anchor }, day.format(new Date(t0 + f * (t1 - t0)))));
  }
  svg.append(axis);

  // A step line: the total stays flat between purchases and jumps at each.
  let d = `M${x(t0)},${y(0)}`;
  for (const s of series) d += `H${x(s.t)}V${y(s.sum)}`;
  d += `H${x(t1)}`;
  svg.append(el("path", { class: "chart-area", d: `${d}V${y(0)}Z` }));
  svg.append(el("path", { class: "chart-line", d }));

  if (series.length <= MAX_DOTS) {
    const dots = el("g", { class: "chart-dots" });
    const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    for (const s of series) {
      const dot = el("circle", { cx: x(s.t), cy: y(s.sum), r: 3.5 });
      dot.append(el("title", {}, `${when.format(s.time)}: +${formatCents(s.cents)} (total ${formatCents(s.sum)})`));
      dots.append(dot);
    }
    svg.append(dots);
  }
}
