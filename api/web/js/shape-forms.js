// The form of the chosen zone, tripwire or mask in the camera editor. Edits go straight into
// the camera being edited; each form's problem spans are keyed by the shape's path
// ("zones.0.id"), so the API's problems land beside their fields.

import { bind, fill } from "./bind.js";
import { $, h } from "./dom.js";
import { label as pretty } from "./fmt.js";
import { DEFAULT_RULES, DIRECTIONS, SEVERITIES, ZONE_KINDS, ZONE_RULES } from "./vocab.js";

const FORMS = { zone: "#zone-form", tripwire: "#wire-form", mask: "#mask-form" };

function options(select, values) {
  select.append(...values.map((v) => h("option", { value: v }, pretty(v))));
}

function hourOptions(select, last) {
  select.append(h("option", { value: "" }, "—"));
  for (let hour = 0; hour <= last; hour++) {
    select.append(h("option", { value: String(hour) }, String(hour).padStart(2, "0") + ":00"));
  }
}

// `active_hours` is [start, end) in whole local hours (end may be 24, and may be before start
// to wrap midnight); both empty means always. One hour given alone is sent as it is, for the
// server to say what is missing.
function readHours(form) {
  const [from, to] = [$("[data-hours=from]", form).value, $("[data-hours=to]", form).value];
  if (from === "" && to === "") return null;
  return [from === "" ? null : Number(from), to === "" ? null : Number(to)];
}

function showHours(form, hours) {
  $("[data-hours=from]", form).value = hours ? String(hours[0] ?? "") : "";
  $("[data-hours=to]", form).value = hours ? String(hours[1] ?? "") : "";
}

export function shapePath(selected) {
  const base = { zone: "zones", tripwire: "tripwires", mask: "analysis.masks" }[selected.kind];
  return `${base}.${selected.index}`;
}

export class ShapeForms {
  // `changed()` is called after every edit.
  constructor(changed) {
    this.shape = null;
    options($("#zone-kind"), ZONE_KINDS);
    options($("#zone-severity"), SEVERITIES);
    options($("#wire-direction"), DIRECTIONS);
    options($("#wire-severity"), SEVERITIES);
    for (const form of [$("#zone-form"), $("#wire-form")]) {
      hourOptions($("[data-hours=from]", form), 23);
      hourOptions($("[data-hours=to]", form), 24);
      bind(form, () => this.shape, () => changed());
      form.addEventListener("change", (event) => {
        if (!event.target.dataset.hours || !this.shape) return;
        this.shape.active_hours = readHours(form);
        changed();
      });
    }
    $("#zone-rules").append(...ZONE_RULES.map((rule) => h("label", { class: "check" },
      h("input", { type: "checkbox", name: "zone-rule", value: rule }), pretty(rule))));
    $("#zone-rules").addEventListener("change", () => {
      const ticked = [...document.querySelectorAll("input[name=zone-rule]:checked")];
      this.shape.rules = ticked.length ? ticked.map((input) => input.value) : null;
      changed();
    });
    $("#zone-kind").addEventListener("change", () => this.describeDefaults());
  }

  // Show the form of `selected` ({kind, index}) of `camera`, or none.
  show(camera, selected) {
    this.shape = null;
    for (const [kind, selector] of Object.entries(FORMS)) {
      const form = $(selector);
      form.hidden = !selected || selected.kind !== kind;
      const prefix = form.hidden ? null : shapePath(selected);
      for (const span of form.querySelectorAll(".field-error[data-problem]")) {
        const field = span.dataset.problem;
        if (prefix === null) delete span.dataset.for;
        else span.dataset.for = field ? `${prefix}.${field}` : prefix;
      }
    }
    if (!selected) return;
    if (selected.kind === "zone") this.showZone(camera.zones[selected.index]);
    else if (selected.kind === "tripwire") this.showWire(camera.tripwires[selected.index]);
    else this.showMask(camera.analysis.masks[selected.index], selected.index);
  }

  showZone(zone) {
    const form = $("#zone-form");
    fill(form, zone);
    showHours(form, zone.active_hours);
    for (const box of form.querySelectorAll("input[name=zone-rule]")) {
      box.checked = Boolean(zone.rules && zone.rules.includes(box.value));
    }
    $("#zone-points").textContent = `${zone.polygon.length} corners`;
    this.shape = zone;
    this.describeDefaults();
  }

  showWire(wire) {
    const form = $("#wire-form");
    fill(form, wire);
    showHours(form, wire.active_hours);
    $("#wire-points").textContent = `${wire.line.length} points`;
    this.shape = wire;
  }

  showMask(points, index) {
    $("#mask-title").textContent = `Mask ${index + 1}`;
    $("#mask-points").textContent = `${points.length} corners; motion inside is not analysed`;
  }

  describeDefaults() {
    const rules = DEFAULT_RULES[$("#zone-kind").value] || [];
    $("#zone-rules-default").textContent =
      "None ticked: the kind's own (" + rules.map(pretty).join(", ") + ").";
  }
}
