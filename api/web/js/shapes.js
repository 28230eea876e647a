// Zones, masks and tripwires of the camera being edited, drawn on its picture: the drawing
// tools, the list of shapes beside the picture, and the chosen shape's form. Shapes are kept in
// the camera object itself (`zones`, `tripwires`, `analysis.masks`), ready to be saved. The
// chosen shape's corners can be dragged, or removed with Delete.

import { $, clear, h } from "./dom.js";
import { closesPolygon, pointsOf, render, shapeAt, toNormal, vertexAt } from "./draw.js";
import { label as pretty } from "./fmt.js";
import { ShapeForms, shapePath } from "./shape-forms.js";

const MIN_POINTS = { zone: 3, mask: 3, tripwire: 2 };
const HINTS = {
  zone: "Click the zone's corners on the picture; finish with Finish, a double-click or a " +
    "click on the first corner (3 corners at least). Esc cancels, Backspace removes a corner.",
  mask: "Click the corners of the area to leave out of analysis; finish like a zone.",
  tripwire: "Click the line's points from its start to its end (2 at least), then Finish or " +
    "double-click. Side A is on the left walking from start to end, B on the right.",
};
const SAME_POINT = 0.002; // a click this near the last point (normalised) adds nothing

function nextId(camera, prefix) {
  const taken = new Set([...camera.zones, ...camera.tripwires].map((s) => s.id));
  let n = 1;
  while (taken.has(`${prefix}-${n}`)) n++;
  return `${prefix}-${n}`;
}

export class ShapeEditor {
  // `changed({edited})` is called after every change of shapes or of the chosen one; `edited`
  // is false when only the choice changed.
  constructor(changed) {
    this.changed = changed;
    this.camera = null;
    this.zoneKind = "watch";
    this.selected = null; // {kind, index}
    this.sketch = null; // {kind, points} while drawing
    this.cursor = null;
    // Corners of the chosen shape, by index: the one under the pointer, and the one last grabbed
    // (kept after the pointer leaves it, for Delete).
    this.hovered = null;
    this.grabbed = null;
    this.dragging = false;
    this.pressedCorner = false; // the click ending a press on a corner selects nothing
    this.problemPaths = [];
    this.forms = new ShapeForms(() => this.edited());
    this.canvas = $("#canvas");
    this.listen();
  }

  listen() {
    $("#draw-zone").addEventListener("click", () => this.start("zone"));
    $("#draw-mask").addEventListener("click", () => this.start("mask"));
    $("#draw-tripwire").addEventListener("click", () => this.start("tripwire"));
    $("#draw-finish").addEventListener("click", () => this.finish());
    $("#draw-cancel").addEventListener("click", () => this.cancel());
    this.canvas.addEventListener("click", (event) => this.onClick(event));
    this.canvas.addEventListener("dblclick", (event) => {
      event.preventDefault();
      this.finish();
    });
    this.canvas.addEventListener("pointerdown", (event) => this.grab(event));
    this.canvas.addEventListener("pointermove", (event) => this.onPointerMove(event));
    this.canvas.addEventListener("pointerup", () => (this.dragging = false));
    this.canvas.addEventListener("pointercancel", () => (this.dragging = false));
    this.canvas.addEventListener("pointerleave", () => {
      this.cursor = null;
      this.hovered = null;
      this.draw();
    });
    document.addEventListener("keydown", (event) => this.onKey(event));
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  // Edit the shapes of `camera`; new zones get `zoneKind` (the kind that fits its group).
  open(camera, zoneKind) {
    this.camera = camera;
    this.camera.analysis = this.camera.analysis || {};
    this.camera.analysis.masks = this.camera.analysis.masks || [];
    this.zoneKind = zoneKind;
    this.sketch = null;
    this.select(null);
  }

  get shapes() {
    const c = this.camera;
    return { zones: c.zones, tripwires: c.tripwires, masks: c.analysis.masks };
  }

  select(selected) {
    this.sketch = null;
    this.showTools();
    this.selected = selected;
    this.hovered = this.grabbed = null;
    this.forms.show(this.camera, selected);
    this.renderList();
    this.draw();
    this.changed({ edited: false });
  }

  // Choose the first shape with a problem, unless the chosen one has one.
  selectFirstWithProblem(paths) {
    this.problemPaths = paths;
    const hit = (s) => paths.some((p) => p === shapePath(s) || p.startsWith(shapePath(s) + "."));
    if (this.selected && hit(this.selected)) return this.renderList();
    const all = [
      ...this.camera.zones.map((_, index) => ({ kind: "zone", index })),
      ...this.camera.tripwires.map((_, index) => ({ kind: "tripwire", index })),
      ...this.camera.analysis.masks.map((_, index) => ({ kind: "mask", index })),
    ];
    const first = all.find(hit);
    if (first) this.select(first);
    else this.renderList();
  }

  edited() {
    this.renderList();
    this.draw();
    this.changed({ edited: true });
  }

  draw() {
    if (!this.camera) return;
    render(this.canvas, this.shapes, this.selected, this.sketch, this.cursor, this.hovered ?? this.grabbed);
  }

  // --- moving the chosen shape's corners ----------------------------------------------------------

  get chosenPoints() {
    return this.selected ? pointsOf(this.shapes, this.selected) : null;
  }

  grab(event) {
    const points = this.chosenPoints;
    const index = points && event.button === 0 ? vertexAt(this.canvas, points, event) : null;
    this.pressedCorner = index !== null;
    if (index === null) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId); // the drag goes on outside the picture
    this.grabbed = index;
    this.dragging = true;
    this.draw();
  }

  onPointerMove(event) {
    if (this.dragging) {
      this.chosenPoints[this.grabbed] = toNormal(this.canvas, event);
      this.edited();
    } else if (this.sketch) {
      this.cursor = toNormal(this.canvas, event);
      this.draw();
    } else {
      this.hover(event);
    }
  }

  hover(event) {
    const points = this.chosenPoints;
    const hovered = points ? vertexAt(this.canvas, points, event) : null;
    this.canvas.classList.toggle("on-vertex", hovered !== null);
    if (hovered === this.hovered) return;
    this.hovered = hovered;
    this.draw();
  }

  // Delete or Backspace removes the marked corner, while the shape keeps enough of them.
  removeCorner(event) {
    const points = this.chosenPoints;
    const index = this.hovered ?? this.grabbed;
    const enough = points && points.length > MIN_POINTS[this.selected.kind];
    if (!enough || index === null || this.dragging) return;
    event.preventDefault();
    points.splice(index, 1);
    this.hovered = this.grabbed = null;
    this.forms.show(this.camera, this.selected); // its count of corners
    this.edited();
  }

  // --- drawing ----------------------------------------------------------------------------------

  start(kind) {
    this.sketch = { kind, points: [] };
    this.selected = null;
    this.hovered = this.grabbed = null;
    this.forms.show(this.camera, null);
    this.showTools();
    this.renderList();
    this.draw();
  }

  cancel() {
    this.sketch = null;
    this.showTools();
    this.draw();
  }

  onClick(event) {
    if (!this.camera || this.pressedCorner) return;
    if (!this.sketch) {
      this.select(shapeAt(this.canvas, this.shapes, event));
      return;
    }
    if (event.detail > 1) return; // the second click of a double-click, which finishes
    const points = this.sketch.points;
    if (this.sketch.kind !== "tripwire" && closesPolygon(this.canvas, points, event)) {
      this.finish();
      return;
    }
    const at = toNormal(this.canvas, event);
    const last = points[points.length - 1];
    if (last && Math.hypot(at[0] - last[0], at[1] - last[1]) < SAME_POINT) return;
    points.push(at);
    this.showTools();
    this.draw();
  }

  onKey(event) {
    if (event.target.closest("input, select, textarea")) return;
    if (this.sketch) this.onSketchKey(event);
    else if (event.key === "Delete" || event.key === "Backspace") this.removeCorner(event);
  }

  onSketchKey(event) {
    if (event.key === "Escape") this.cancel();
    else if (event.key === "Enter") this.finish();
    else if (event.key === "Backspace") {
      event.preventDefault();
      this.sketch.points.pop();
      this.showTools();
      this.draw();
    }
  }

  finish() {
    const sketch = this.sketch;
    if (!sketch || sketch.points.length < MIN_POINTS[sketch.kind]) return;
    this.sketch = null;
    this.showTools();
    const c = this.camera;
    if (sketch.kind === "zone") {
      c.zones.push({ id: nextId(c, "zone"), name: "", kind: this.zoneKind, severity: "medium",
        polygon: sketch.points, rules: null });
      this.select({ kind: "zone", index: c.zones.length - 1 });
    } else if (sketch.kind === "tripwire") {
      c.tripwires.push({ id: nextId(c, "wire"), name: "", line: sketch.points, direction: "both",
        severity: "medium", confirmed_only: true });
      this.select({ kind: "tripwire", index: c.tripwires.length - 1 });
    } else {
      c.analysis.masks.push(sketch.points);
      this.select({ kind: "mask", index: c.analysis.masks.length - 1 });
    }
    this.changed({ edited: true });
  }

  showTools() {
    const kind = this.sketch && this.sketch.kind;
    for (const [name, button] of [["zone", "#draw-zone"], ["mask", "#draw-mask"], ["tripwire", "#draw-tripwire"]]) {
      $(button).classList.toggle("on", kind === name);
    }
    $("#draw-finish").disabled = !kind || this.sketch.points.length < MIN_POINTS[kind];
    $("#draw-cancel").disabled = !kind;
    $("#draw-hint").textContent = kind ? HINTS[kind] :
      "Choose a tool to draw; click a shape on the picture or in the list to edit it, drag its " +
      "corners to move them, Delete removes the corner under the pointer.";
    this.canvas.classList.toggle("drawing", Boolean(kind));
  }

  // --- the list beside the picture --------------------------------------------------------

  remove(selected) {
    const list = { zone: this.camera.zones, tripwire: this.camera.tripwires,
      mask: this.camera.analysis.masks }[selected.kind];
    list.splice(selected.index, 1);
    this.selected = null;
    this.hovered = this.grabbed = null;
    this.forms.show(this.camera, null);
    this.edited();
  }

  item(selected, key, text) {
    const path = shapePath(selected);
    const troubled = this.problemPaths.some((p) => p === path || p.startsWith(path + "."));
    const chosen = this.selected && this.selected.kind === selected.kind &&
      this.selected.index === selected.index;
    return h("li", { class: [selected.kind, chosen ? "selected" : "", troubled ? "troubled" : ""].join(" "),
      dataset: { shape: key }, onclick: () => this.select(selected) },
      h("span", { class: "what" }, text),
      h("button", { type: "button", class: "remove", "aria-label": "delete " + text,
        onclick: (event) => { event.stopPropagation(); this.remove(selected); } }, "Delete"));
  }

  renderList() {
    const list = clear($("#shapes"));
    if (!this.camera) return;
    const c = this.camera;
    c.zones.forEach((z, index) => list.append(this.item({ kind: "zone", index }, `zone:${z.id}`,
      `Zone ${z.id} · ${pretty(z.kind || "watch")} · ${z.severity || "medium"}`)));
    c.tripwires.forEach((w, index) => list.append(this.item({ kind: "tripwire", index },
      `tripwire:${w.id}`, `Tripwire ${w.id} · ${pretty(w.direction || "both")}`)));
    c.analysis.masks.forEach((m, index) => list.append(this.item({ kind: "mask", index },
      `mask:${index}`, `Mask ${index + 1} · ${m.length} corners`)));
    if (!list.children.length) list.append(h("li", { class: "muted" }, "No zones, tripwires or masks yet."));
  }
}
