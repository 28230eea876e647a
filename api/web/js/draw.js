// The camera editor's shapes drawn on a canvas over the camera's picture: zones filled and
// labelled, masks hatched, tripwires as lines with their crossing arrow and sides A and B, and
// the shape being drawn. Points are normalised [x, y] (0..1 of the picture, y down); the
// canvas maps them to its CSS pixels, so the drawing follows the picture's displayed size.

import { fitCanvas } from "./alarm.js";

const COLOURS = { zone: "#2196f3", wire: "#ff5722", mask: "#9e9e9e", selected: "#ffd600",
  drawing: "#00e676" };
const CLOSE_PX = 10; // a click this near a polygon's first point closes it
const WIRE_PX = 8; // a click this near a tripwire selects it
const GRAB_PX = 8; // a press this near a corner of the chosen shape grabs it
const SIDE_PX = 30; // how far the A and B labels sit from the line

// --- geometry ---------------------------------------------------------------------------------

const round4 = (v) => Math.round(Math.min(Math.max(v, 0), 1) * 10000) / 10000;

// A pointer event's position on the canvas, normalised and rounded to 4 decimals.
export function toNormal(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return [round4((event.clientX - rect.left) / rect.width),
    round4((event.clientY - rect.top) / rect.height)];
}

function toPixels(canvas, [x, y]) {
  return [x * canvas.clientWidth, y * canvas.clientHeight];
}

function pixelAt(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

function distanceToSegment(p, a, b) {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.min(Math.max(((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2, 0), 1) : 0;
  return distance(p, [a[0] + t * dx, a[1] + t * dy]);
}

function insidePolygon([x, y], points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Whether a click (in pixels) lands on the first of at least three points: it closes a polygon.
export function closesPolygon(canvas, points, event) {
  if (points.length < 3) return false;
  return distance(pixelAt(canvas, event), toPixels(canvas, points[0])) <= CLOSE_PX;
}

// The points of the shape `selected` ({kind, index}) of `shapes`: the arrays saved, not copies.
export function pointsOf(shapes, selected) {
  if (selected.kind === "zone") return shapes.zones[selected.index].polygon;
  if (selected.kind === "tripwire") return shapes.tripwires[selected.index].line;
  return shapes.masks[selected.index];
}

// The index of the point of `points` nearest a pointer event, or null when none is near
// enough to grab.
export function vertexAt(canvas, points, event) {
  const at = pixelAt(canvas, event);
  let nearest = null;
  let nearestPx = GRAB_PX;
  points.forEach((p, i) => {
    const px = distance(at, toPixels(canvas, p));
    if (px <= nearestPx) [nearest, nearestPx] = [i, px];
  });
  return nearest;
}

// The shape under a click, as {kind, index}: tripwires first (thin), then zones, then masks.
export function shapeAt(canvas, shapes, event) {
  const at = pixelAt(canvas, event);
  const px = (points) => points.map((p) => toPixels(canvas, p));
  const wire = shapes.tripwires.findIndex((w) => px(w.line).some((a, i, all) =>
    i > 0 && distanceToSegment(at, all[i - 1], a) <= WIRE_PX));
  if (wire >= 0) return { kind: "tripwire", index: wire };
  const lastInside = (list, pick) => {
    for (let i = list.length - 1; i >= 0; i--) if (insidePolygon(at, px(pick(list[i])))) return i;
    return -1;
  };
  const zone = lastInside(shapes.zones, (z) => z.polygon);
  if (zone >= 0) return { kind: "zone", index: zone };
  const mask = lastInside(shapes.masks, (m) => m);
  return mask >= 0 ? { kind: "mask", index: mask } : null;
}

// --- drawing ----------------------------------------------------------------------------------

let hatch = null;

function hatchPattern(ctx) {
  if (!hatch) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = tile.getContext("2d");
    t.fillStyle = "rgba(60, 60, 60, 0.35)";
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = "rgba(220, 220, 220, 0.8)";
    t.beginPath();
    t.moveTo(0, 8);
    t.lineTo(8, 0);
    t.stroke();
    hatch = tile;
  }
  return ctx.createPattern(hatch, "repeat");
}

function path(ctx, points, close) {
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  if (close) ctx.closePath();
}

function tag(ctx, text, [x, y], colour) {
  ctx.font = "bold 13px system-ui, sans-serif";
  const width = ctx.measureText(text).width + 8;
  ctx.fillStyle = colour;
  ctx.fillRect(x - width / 2, y - 9, width, 18);
  ctx.fillStyle = "#000";
  ctx.fillText(text, x - width / 2 + 4, y + 4);
}

function handles(ctx, points, colour) {
  ctx.fillStyle = colour;
  for (const [x, y] of points) ctx.fillRect(x - 4, y - 4, 8, 8);
}

// The corner a drag moves or Delete removes, larger than the other handles.
function markVertex(ctx, [x, y]) {
  ctx.fillStyle = COLOURS.selected;
  ctx.fillRect(x - 6, y - 6, 12, 12);
  ctx.strokeStyle = "#000";
  ctx.lineWidth = 2;
  ctx.strokeRect(x - 6, y - 6, 12, 12);
}

function drawZone(ctx, points, label, selected) {
  const colour = selected ? COLOURS.selected : COLOURS.zone;
  path(ctx, points, true);
  ctx.fillStyle = selected ? "rgba(255, 214, 0, 0.25)" : "rgba(33, 150, 243, 0.25)";
  ctx.fill();
  ctx.strokeStyle = colour;
  ctx.lineWidth = selected ? 3 : 2;
  ctx.stroke();
  const centre = points.reduce((s, p) => [s[0] + p[0] / points.length, s[1] + p[1] / points.length], [0, 0]);
  tag(ctx, label, centre, colour);
  if (selected) handles(ctx, points, colour);
}

function drawMask(ctx, points, label, selected) {
  path(ctx, points, true);
  ctx.fillStyle = hatchPattern(ctx);
  ctx.fill();
  ctx.strokeStyle = selected ? COLOURS.selected : COLOURS.mask;
  ctx.lineWidth = selected ? 3 : 1.5;
  ctx.stroke();
  if (selected) {
    handles(ctx, points, COLOURS.selected);
    tag(ctx, label, points[0], COLOURS.selected);
  }
}

function arrowHead(ctx, from, to) {
  const angle = Math.atan2(to[1] - from[1], to[0] - from[0]);
  ctx.beginPath();
  ctx.moveTo(to[0], to[1]);
  ctx.lineTo(to[0] - 10 * Math.cos(angle - 0.45), to[1] - 10 * Math.sin(angle - 0.45));
  ctx.lineTo(to[0] - 10 * Math.cos(angle + 0.45), to[1] - 10 * Math.sin(angle + 0.45));
  ctx.closePath();
  ctx.fill();
}

// Side A is on the left of the line walked from its first point to its last, with y growing
// downwards: for a walk along (dx, dy) that is the direction (dy, -dx).
function sides(points) {
  const i = Math.floor((points.length - 1) / 2);
  const [a, b] = [points[i], points[i + 1]];
  const length = distance(a, b) || 1;
  const left = [(b[1] - a[1]) / length, -(b[0] - a[0]) / length];
  const middle = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const at = (k) => [middle[0] + left[0] * k, middle[1] + left[1] * k];
  return { sideA: at(SIDE_PX), sideB: at(-SIDE_PX), fromA: at(SIDE_PX - 11), toB: at(11 - SIDE_PX) };
}

function drawWire(ctx, points, wire, selected) {
  const colour = selected ? COLOURS.selected : COLOURS.wire;
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = selected ? 4 : 3;
  path(ctx, points, false);
  ctx.stroke();
  const { sideA, sideB, fromA, toB } = sides(points);
  ctx.lineWidth = 2;
  path(ctx, [fromA, toB], false);
  ctx.stroke();
  if (wire.direction !== "b_to_a") arrowHead(ctx, fromA, toB);
  if (wire.direction !== "a_to_b") arrowHead(ctx, toB, fromA);
  tag(ctx, "A", sideA, colour);
  tag(ctx, "B", sideB, colour);
  tag(ctx, wire.id || "?", points[0], colour);
  if (selected) handles(ctx, points, colour);
}

function drawSketch(ctx, sketch, cursor) {
  const points = sketch.points.concat(cursor ? [cursor] : []);
  ctx.strokeStyle = COLOURS.drawing;
  ctx.lineWidth = 2;
  ctx.setLineDash([6, 4]);
  path(ctx, points, sketch.kind !== "tripwire" && points.length > 2);
  ctx.stroke();
  ctx.setLineDash([]);
  handles(ctx, sketch.points, COLOURS.drawing);
  if (sketch.kind !== "tripwire" && sketch.points.length >= 3) {
    const [x, y] = sketch.points[0];
    ctx.beginPath();
    ctx.arc(x, y, CLOSE_PX, 0, 2 * Math.PI);
    ctx.stroke(); // the first point: clicking it closes the polygon
  }
}

// Draw every shape of `shapes` ({zones, masks, tripwires}); `selected` is {kind, index} or
// null, `sketch` the shape being drawn ({kind, points}) or null, `cursor` a normalised point,
// `vertex` the index of the selected shape's marked corner or null.
export function render(canvas, shapes, selected, sketch, cursor, vertex) {
  const ctx = fitCanvas(canvas);
  const px = (points) => points.map((p) => toPixels(canvas, p));
  const is = (kind, index) => Boolean(selected && selected.kind === kind && selected.index === index);
  shapes.masks.forEach((m, i) => drawMask(ctx, px(m), `mask ${i + 1}`, is("mask", i)));
  shapes.zones.forEach((z, i) => drawZone(ctx, px(z.polygon), z.id || "?", is("zone", i)));
  shapes.tripwires.forEach((w, i) => drawWire(ctx, px(w.line), w, is("tripwire", i)));
  const marked = selected && vertex !== null ? pointsOf(shapes, selected)[vertex] : null;
  if (marked) markVertex(ctx, toPixels(canvas, marked));
  if (sketch) drawSketch(ctx, { kind: sketch.kind, points: px(sketch.points) }, cursor && toPixels(canvas, cursor));
}
