// The labelling page: an incident's snapshot with its detected boxes; a reviewer marks a box
// boat or not, drags out a box around a boat that was missed (stored as boat), removes marks,
// and steps through the incidents that have snapshots. Boxes travel in snapshot pixels.

import { api, withToken } from "./api.js";
import { drawBox, fitCanvas } from "./alarm.js";
import { $, clear, h, showError } from "./dom.js";
import { dateTime, label as pretty } from "./fmt.js";
import { startPage } from "./nav.js";

startPage(["reviewer"]);
const MIN_DRAG_PX = 6; // a smaller drag is a click
const COLOURS = { detected: "#ff1744", boat: "#00c853", not_boat: "#9e9e9e", drawing: "#ffd600" };
let ticketId = Number(new URLSearchParams(location.search).get("ticket")) || null;
let incidents = [];
let view = null; // the answer of GET /api/labels
let chosen = null; // a detected box waiting for boat / not boat
let drag = null; // {start: [x, y], end: [x, y]} in image pixels

// Pointer position in snapshot pixels (the picture fills the stage, the canvas covers it).
function toImage(event) {
  const rect = $("#boxes").getBoundingClientRect();
  const [w, hgt] = view.image_wh;
  const x = ((event.clientX - rect.left) / rect.width) * w;
  const y = ((event.clientY - rect.top) / rect.height) * hgt;
  return [Math.min(Math.max(x, 0), w), Math.min(Math.max(y, 0), hgt)];
}

function toScreen(box) {
  const canvas = $("#boxes");
  const sx = canvas.clientWidth / view.image_wh[0];
  const sy = canvas.clientHeight / view.image_wh[1];
  return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
}

function dragBox() {
  const [[ax, ay], [bx, by]] = [drag.start, drag.end];
  return [Math.round(Math.min(ax, bx)), Math.round(Math.min(ay, by)),
    Math.round(Math.max(ax, bx)), Math.round(Math.max(ay, by))];
}

function draw() {
  const ctx = fitCanvas($("#boxes"));
  if (!view || !view.image_wh || !$("#snapshot").naturalWidth) return;
  for (const box of view.detected) drawBox(ctx, toScreen(box), "detected", COLOURS.detected);
  for (const s of view.samples) drawBox(ctx, toScreen(s.box_xyxy), pretty(s.label), COLOURS[s.label]);
  if (chosen) drawBox(ctx, toScreen(chosen), "chosen", COLOURS.drawing);
  if (drag) drawBox(ctx, toScreen(dragBox()), "", COLOURS.drawing);
}

function inside(box, [x, y]) {
  return x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3];
}

function onDown(event) {
  if (!view || !view.image_wh) return;
  event.preventDefault();
  $("#boxes").setPointerCapture(event.pointerId);
  const at = toImage(event);
  drag = { start: at, end: at };
}

function onMove(event) {
  if (!drag) return;
  drag.end = toImage(event);
  draw();
}

async function onUp(event) {
  if (!drag) return;
  drag.end = toImage(event);
  const box = dragBox();
  const moved = Math.hypot(drag.end[0] - drag.start[0], drag.end[1] - drag.start[1]);
  const rect = $("#boxes").getBoundingClientRect();
  const screenMoved = (moved * rect.width) / view.image_wh[0];
  const start = drag.start;
  drag = null;
  if (screenMoved >= MIN_DRAG_PX) {
    choose(null);
    await save(box, "boat");
    return;
  }
  choose(view.detected.find((b) => inside(b, start)) || null);
}

function choose(box) {
  chosen = box;
  $("#choice").hidden = !box;
  if (box) $("#choice-text").textContent = `The box at ${box.join(", ")} is`;
  draw();
}

async function save(box, value) {
  try {
    await api("/api/labels", { method: "POST", json: { ticket_id: ticketId, box_xyxy: box, label: value } });
    showError("#error", null);
  } catch (error) {
    showError("#error", error);
  }
  await loadTicket();
}

async function remove(id) {
  try {
    await api(`/api/labels/${id}`, { method: "DELETE" });
    showError("#error", null);
  } catch (error) {
    showError("#error", error);
  }
  await loadTicket();
}

function renderMarks() {
  const list = clear($("#marks"));
  if (!view.samples.length) list.append(h("li", { class: "muted" }, "No labels yet."));
  for (const s of view.samples) {
    list.append(h("li", { dataset: { labelId: s.id, label: s.label } },
      `${pretty(s.label)} · ${s.box_xyxy.join(", ")} · ${s.source} by ${s.user}, ${dateTime(s.ts)} `,
      h("button", { type: "button", class: "remove", onclick: () => remove(s.id) }, "Remove")));
  }
}

function renderList() {
  const list = clear($("#incidents"));
  for (const item of incidents) {
    const t = item.ticket;
    const verdict = item.verdict ? ` · ${pretty(item.verdict.verdict)}` : "";
    list.append(h("li", { class: t.id === ticketId ? "current" : "" },
      h("a", { href: `/label?ticket=${t.id}`, dataset: { ticketId: t.id }, onclick: (e) => { e.preventDefault(); openTicket(t.id); } },
        `#${t.id} ${t.camera_id} · ${pretty(t.rule)} · ${dateTime(t.started_at)}${verdict}`)));
  }
}

async function counts() {
  try {
    const c = await api("/api/labels/counts");
    $("#counts").textContent = `The site has ${c.by_label.boat || 0} boat and ${c.by_label.not_boat || 0} not-boat labels.`;
  } catch (error) {
    showError("#error", error);
  }
}

async function loadTicket() {
  if (!ticketId) return;
  try {
    view = await api(`/api/labels?ticket=${ticketId}`);
  } catch (error) {
    showError("#error", error);
    return;
  }
  $("#title").textContent = `Incident #${view.ticket_id}`;
  $("#incident-link").href = `/incident?id=${view.ticket_id}`;
  $("#facts").textContent = view.snapshot
    ? `${view.camera_id} · snapshot ${view.image_wh.join("×")}`
    : `${view.camera_id} · no snapshot to label`;
  $("#stage").hidden = !view.snapshot;
  const img = $("#snapshot");
  const src = view.snapshot ? withToken(view.snapshot) : "";
  if (src && img.dataset.ticket !== String(view.ticket_id)) {
    img.dataset.ticket = String(view.ticket_id);
    img.src = src;
  }
  renderMarks();
  draw();
  await counts();
  document.body.dataset.loaded = String(view.ticket_id);
}

async function openTicket(id) {
  ticketId = id;
  history.replaceState(null, "", `/label?ticket=${id}`);
  choose(null);
  renderList();
  await loadTicket();
}

function step(by) {
  if (!incidents.length) return;
  const at = incidents.findIndex((i) => i.ticket.id === ticketId);
  const next = incidents[Math.min(Math.max(at + by, 0), incidents.length - 1)];
  if (next) openTicket(next.ticket.id);
}

async function loadList() {
  try {
    const page = await api("/api/incidents?limit=200");
    incidents = page.items.filter((i) => i.evidence.snapshot);
  } catch (error) {
    showError("#error", error);
  }
  renderList();
}

// The site's verifier: its versions with their held-out scores, retraining, activating.
function score(held) {
  return held ? `held-out F1 ${held.f1.toFixed(2)} on ${held.regions} boxes` : "no held-out score";
}

function renderVersions(status) {
  const live = status.live ? "the hub runs the active version" : "the hub's config does not run it (verifier: site)";
  const labels = Object.entries(status.labels).map(([k, n]) => `${n} ${pretty(k)}`).join(", ");
  const problem = status.problem ? ` · ${status.problem}` : "";
  $("#verifier-facts").textContent = `Active: ${status.active || "none"} · ${live} · labels: ${labels}${problem}`;
  const list = clear($("#versions"));
  for (const v of [...status.versions].reverse()) {
    const counts = Object.entries(v.per_label).map(([k, n]) => `${n} ${k}`).join(" / ");
    const button = v.state === "active" ? null
      : h("button", { type: "button", onclick: () => activate(v.version, false) }, "Activate");
    list.append(h("li", { dataset: { version: v.version, state: v.state } },
      h("strong", {}, v.version), ` · ${v.state} · ${score(v.held_out)} · ${counts} · ${v.reason} `, button));
  }
}

async function loadVerifier() {
  try {
    renderVersions(await api("/api/verifier"));
  } catch (error) {
    showError("#error", error);
  }
}

function said(out) {
  if (out.activated) return "Activated.";
  if (out.state === "candidate") return "Not active yet: read the scores, then activate it or leave it.";
  return `Kept, not activated: ${out.reason}`;
}

async function retrain() {
  const text = $("#retrain-text");
  const button = $("#activate-trained");
  $("#retrain").disabled = true;
  button.hidden = true;
  $("#retrain-result").hidden = false;
  text.textContent = "Training from the site's labels…";
  const activate = $("#retrain-auto").checked ? "if_not_worse" : "review";
  try {
    const out = await api("/api/verifier/train", { method: "POST", json: { activate }, timeoutMs: 300000 });
    const theirs = out.active_held_out ? `; the active model scores F1 ${out.active_held_out.f1.toFixed(2)} on the same boxes` : "";
    text.textContent = `${out.version}: ${score(out.held_out)}${theirs}. ${said(out)}`;
    button.textContent = `Activate ${out.version}`;
    button.dataset.version = out.version;
    button.hidden = out.state !== "candidate";
    document.body.dataset.trained = out.version;
  } catch (error) {
    text.textContent = String(error.message || error);
  } finally {
    $("#retrain").disabled = false;
  }
  await loadVerifier();
}

async function activate(version, force) {
  try {
    await api("/api/verifier/activate", { method: "POST", json: { version, force } });
    if ($("#activate-trained").dataset.version === version) $("#activate-trained").hidden = true;
    document.body.dataset.activation = `${version}:active`;
  } catch (error) {
    if (error.status === 409 && confirm(`${error.message}\n\nActivate it anyway?`)) return activate(version, true);
    showError("#error", error);
    document.body.dataset.activation = `${version}:refused`;
  }
  await loadVerifier();
}

const canvas = $("#boxes");
canvas.addEventListener("pointerdown", onDown);
canvas.addEventListener("pointermove", onMove);
canvas.addEventListener("pointerup", onUp);
$("#snapshot").addEventListener("load", () => {
  document.body.dataset.image = $("#snapshot").dataset.ticket;
  draw();
});
new ResizeObserver(draw).observe($("#stage"));
$("#mark-boat").addEventListener("click", () => { const b = chosen; choose(null); save(b, "boat"); });
$("#mark-not-boat").addEventListener("click", () => { const b = chosen; choose(null); save(b, "not_boat"); });
$("#mark-cancel").addEventListener("click", () => choose(null));
$("#prev").addEventListener("click", () => step(-1));
$("#next").addEventListener("click", () => step(1));
$("#retrain").addEventListener("click", retrain);
$("#activate-trained").addEventListener("click", (e) => activate(e.currentTarget.dataset.version, false));
loadVerifier();
await loadList();
if (!ticketId && incidents.length) await openTicket(incidents[0].ticket.id);
else await loadTicket();
await counts();
