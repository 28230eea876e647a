// Small charts drawn by hand: a canvas sparkline and SVG bar charts.

import { fitCanvas } from "./alarm.js";

const SVG = "http://www.w3.org/2000/svg";

// A line of (ts, value) points filling the canvas; the y range pads the data by 10 %.
export function sparkline(canvas, points, colour = "#4da3ff") {
  const ctx = fitCanvas(canvas);
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (points.length === 0) {
    ctx.fillStyle = "#64707d";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText("no readings in the last hour", 4, h / 2 + 4);
    return;
  }
  const t0 = points[0].ts;
  const t1 = Math.max(points[points.length - 1].ts, t0 + 1);
  let lo = Math.min(...points.map((p) => p.value));
  let hi = Math.max(...points.map((p) => p.value));
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
  lo -= pad;
  hi += pad;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((p, i) => {
    const x = ((p.ts - t0) / (t1 - t0)) * (w - 2) + 1;
    const y = h - ((p.value - lo) / (hi - lo)) * (h - 2) - 1;
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// Horizontal bars: rows of {label, values: [{value, cls, title}]}, bars of a row side by side
// on one scale. `format` writes a bar's value at its end.
// Pass the container's `width` in CSS pixels: the chart is then drawn at scale 1, so its
// labels keep their CSS size (13 px) instead of shrinking with a narrow card.
export function barChart(rows, { width = 420, rowHeight = 28, labelWidth = 130, format = String } = {}) {
  const series = Math.max(1, ...rows.map((r) => r.values.length));
  const barH = Math.max(6, (rowHeight - 6) / series);
  const max = Math.max(1e-9, ...rows.flatMap((r) => r.values.map((v) => v.value || 0)));
  const height = Math.max(rowHeight, rows.length * rowHeight) + 4;
  const chart = svg("svg", {
    class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img",
  });
  const span = width - labelWidth - 50;
  rows.forEach((row, i) => {
    const y = i * rowHeight + 2;
    chart.append(svg("text", { x: 0, y: y + rowHeight / 2 + 3 }, row.label || "(none)"));
    row.values.forEach((v, j) => {
      const len = Math.max(1, ((v.value || 0) / max) * span);
      const by = y + j * barH;
      const bar = svg("rect", {
        x: labelWidth, y: by, width: len, height: barH - 1, class: v.cls || "bar-a",
      });
      bar.append(svg("title", {}, `${v.title || ""} ${format(v.value)}`));
      chart.append(bar, svg("text", { x: labelWidth + len + 4, y: by + barH - 2 }, format(v.value)));
    });
  });
  if (rows.length === 0) chart.append(svg("text", { x: 0, y: 16 }, "nothing in this period"));
  return chart;
}

// A key to a chart's series: [{label, cls}], each with a swatch of its bar's colour.
export function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const { label, cls } of series) {
    const item = document.createElement("span");
    item.className = "legend-item";
    item.dataset.series = cls;
    const swatch = svg("svg", { class: "chart swatch", viewBox: "0 0 12 12", width: 12, height: 12 });
    swatch.append(svg("rect", { x: 0, y: 0, width: 12, height: 12, class: cls }));
    item.append(swatch, document.createTextNode(label));
    box.append(item);
  }
  return box;
}
