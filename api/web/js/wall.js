// The operators' video wall: layouts, pages, a timed tour, group filter, status badges, live
// tiles, alarm linkage (the alerting camera takes the large tile with its box, a beep, an
// alert that stays until acknowledged), the alert ticker and the sensor panel.

import { api } from "./api.js";
import { beep, unlockAudio } from "./alarm.js";
import { sparkline } from "./charts.js";
import { $, clear, h, showError } from "./dom.js";
import { boxOf, listenAlerts } from "./events.js";
import { clock, label } from "./fmt.js";
import { startPage } from "./nav.js";
import { Tile } from "./tile.js";

const CAMERAS_MS = 3000;
const SENSORS_MS = 15000;
const MAX_LIVE = 4; // the large tile plus three grid tiles; the rest show snapshots
const TICKER_MAX = 50;
const DEFAULT_WH = [320, 180];

startPage(["operator"]);

const wall = {
  cameras: [],
  group: "",
  layout: Number(localStorage.getItem("riverwatch.layout")) || 4,
  page: 0,
  tour: null,
  focusId: null,
  pinned: false, // an unacknowledged alert holds the large tile
  pending: new Map(), // alert_id -> newest message, until acknowledged
  sensors: new Set(),
};

const focusTile = new Tile({ large: true });
focusTile.el.id = "focus-tile";
$("#focus").append(focusTile.el);
let gridTiles = [];

function byId(id) {
  return wall.cameras.find((c) => c.id === id) || null;
}

function filtered() {
  return wall.cameras.filter((c) => !wall.group || c.group === wall.group);
}

function pageCount() {
  return Math.max(1, Math.ceil(filtered().length / wall.layout));
}

function render() {
  const cams = filtered();
  wall.page = Math.min(wall.page, pageCount() - 1);
  const onPage = cams.slice(wall.page * wall.layout, (wall.page + 1) * wall.layout);
  $("#wall").classList.toggle("single", wall.layout === 1);
  $("#page-info").textContent = `page ${wall.page + 1}/${pageCount()}`;
  for (const b of document.querySelectorAll("#layouts button")) {
    b.classList.toggle("on", Number(b.dataset.layout) === wall.layout);
  }
  if (wall.layout === 1 && !wall.pinned) wall.focusId = onPage[0] ? onPage[0].id : null;
  if (!byId(wall.focusId)) wall.focusId = cams[0] ? cams[0].id : wall.cameras[0]?.id || null;
  focusTile.show(byId(wall.focusId));
  focusTile.setLive(true);
  renderGrid(wall.layout === 1 ? [] : onPage);
  drawFocusBox();
}

function renderGrid(onPage) {
  const grid = $("#grid");
  const count = wall.layout === 1 ? 0 : wall.layout;
  while (gridTiles.length > count) gridTiles.pop().destroy();
  while (gridTiles.length < count) {
    const tile = new Tile({ onselect: focus });
    gridTiles.push(tile);
    grid.append(tile.el);
  }
  grid.style.setProperty("--cols", String(Math.round(Math.sqrt(Math.max(1, count)))));
  let live = 1; // the large tile's slot
  gridTiles.forEach((tile, i) => {
    const camera = onPage[i] || null;
    tile.show(camera);
    const wantsLive = camera && camera.id !== wall.focusId && camera.state === "streaming";
    tile.setLive(Boolean(wantsLive && live < MAX_LIVE));
    if (wantsLive && live < MAX_LIVE) live += 1;
  });
}

function focus(id, pinned = false) {
  wall.focusId = id;
  wall.pinned = pinned || wall.pinned;
  render();
}

// Cameras and their health, polled; ages tick locally between polls.
async function refreshCameras() {
  try {
    const now = Date.now() / 1000;
    const cameras = await api("/api/cameras");
    wall.cameras = cameras.map((c) => ({ ...c, stateSince: now - c.health.state_age_s }));
    fillGroups();
    showError("#error", null);
    render();
  } catch (error) {
    showError("#error", error);
  }
  await showGoneHubs();
}

// In a cluster, a hub whose heartbeat stopped is named until its cameras have moved on.
async function showGoneHubs() {
  const badge = $("#cluster");
  try {
    const cluster = await api("/api/cluster");
    const gone = cluster.gone.map((g) => g.hub_id);
    badge.hidden = gone.length === 0;
    badge.textContent = gone.length
      ? `hub ${gone.join(", ")} gone: its cameras move to the others`
      : "";
  } catch {
    badge.hidden = true; // the camera list above already says when the hub cannot be reached
  }
}

function fillGroups() {
  const select = $("#group");
  const groups = [...new Set(wall.cameras.map((c) => c.group).filter(Boolean))].sort();
  const have = [...select.options].map((o) => o.value).filter(Boolean);
  if (groups.join() === have.join()) return;
  clear(select).append(h("option", { value: "" }, "all"));
  for (const g of groups) select.append(h("option", { value: g, selected: g === wall.group }, g));
}

function tickBadges() {
  focusTile.status();
  gridTiles.forEach((t) => t.status());
}

// ---- alarm linkage ----

function alertText(m) {
  return `${label(m.rule)} · ${m.severity}`;
}

function analysisWh(m) {
  return Array.isArray(m.analysis_wh) && m.analysis_wh.length === 2 ? m.analysis_wh : DEFAULT_WH;
}

function drawFocusBox() {
  const mine = [...wall.pending.values()].filter((m) => m.camera_id === wall.focusId);
  const newest = mine[mine.length - 1];
  const box = newest && boxOf(newest);
  if (box) focusTile.setBox(box, analysisWh(newest), alertText(newest));
  else focusTile.clearBox();
}

function onAlert(message) {
  addTicker(message);
  if (message.source === "sensor" && message.sensor_id) addSensor(message.sensor_id);
  if (message.phase === "open") {
    wall.pending.set(message.alert_id, message);
    beep();
    if (message.camera_id && byId(message.camera_id)) focus(message.camera_id, true);
  } else if (wall.pending.has(message.alert_id)) {
    const before = wall.pending.get(message.alert_id);
    // Keep the open message's facts; take the newest box, and note when it ended.
    wall.pending.set(message.alert_id, { ...before, ...message, opened_phase: before.phase });
  }
  renderAlarms();
  drawFocusBox();
}

async function acknowledge(alertId) {
  // Recorded in the audit log (who saw it, when); the wall lets go of it either way, and says
  // so if the record failed.
  api(`/api/alerts/${encodeURIComponent(alertId)}/ack`, { method: "POST" }).catch((error) =>
    showError("#error", new Error(`acknowledgement not recorded: ${error.message}`)),
  );
  wall.pending.delete(alertId);
  if (![...wall.pending.values()].some((m) => m.camera_id === wall.focusId)) wall.pinned = false;
  renderAlarms();
  drawFocusBox();
}

function renderAlarms() {
  const box = clear($("#alarm"));
  for (const m of wall.pending.values()) {
    const ended = m.phase === "close";
    box.append(
      h("div", { class: "alarm-item" + (ended ? " ended" : ""), dataset: { alertId: m.alert_id } },
        h("span", { class: "what" },
          h("strong", {}, m.camera_id || m.sensor_id), " ", alertText(m), " · zone ",
          m.zone_id || "–", " · since ", clock(Number(m.started_at)), ended ? " · ended" : ""),
        h("button", { class: "primary ack", type: "button",
          onclick: () => acknowledge(m.alert_id) }, "Acknowledge")),
    );
  }
}

function addTicker(m) {
  const list = $("#ticker");
  const phase = m.phase || "open";
  list.prepend(
    h("li", { dataset: { alertId: m.alert_id, phase, camera: m.camera_id || "" } },
      clock(Number(m.observed_at)), " ",
      h("strong", {}, m.camera_id || m.sensor_id), " ",
      h("span", { class: "sev-" + m.severity }, label(m.rule)), " ", phase),
  );
  while (list.children.length > TICKER_MAX) list.lastChild.remove();
}

async function loadTicker() {
  try {
    const recent = await api("/api/alerts?limit=20");
    for (const a of recent.reverse()) {
      addTicker(a); // each message keeps its own phase: a close must not read "open"
    }
  } catch (error) {
    showError("#error", error);
  }
}

// ---- sensors ----

function addSensor(id) {
  // A sensor alert is news: chart the reading that raised it now, not at the next refresh.
  wall.sensors.add(id);
  refreshSensors();
}

async function listSensors() {
  try {
    const answer = await api("/api/sensors");
    for (const s of Array.isArray(answer) ? answer : []) wall.sensors.add(s.id || s.sensor_id || s);
  } catch {
    // The list could not be read: sensors still appear as they raise alerts.
  }
}

async function refreshSensors() {
  const panel = $("#sensors");
  if (wall.sensors.size === 0) return;
  const blocks = [];
  for (const id of [...wall.sensors].sort()) {
    try {
      const data = await api(`/api/sensors/${encodeURIComponent(id)}/readings?limit=500`);
      const last = data.readings[data.readings.length - 1];
      const canvas = h("canvas");
      blocks.push([h("div", { class: "sensor", dataset: { sensor: id } },
        h("div", {}, id, " ", h("span", { class: "value" },
          last ? `${last.value} ${data.unit}` : "–")), canvas), canvas, data.readings]);
    } catch (error) {
      blocks.push([h("div", { class: "sensor error" }, `${id}: ${error.message}`), null, null]);
    }
  }
  clear(panel).append(...blocks.map((b) => b[0]));
  for (const [, canvas, readings] of blocks) if (canvas) sparkline(canvas, readings);
}

// ---- toolbar ----

function setTour(on) {
  clearInterval(wall.tour);
  wall.tour = null;
  if (on) {
    const seconds = Math.max(3, Number($("#tour-s").value) || 10);
    wall.tour = setInterval(() => {
      wall.page = (wall.page + 1) % pageCount();
      render();
    }, seconds * 1000);
  }
  $("#tour").classList.toggle("on", on);
  $("#tour").dataset.on = on ? "1" : "";
}

function wireToolbar() {
  for (const b of document.querySelectorAll("#layouts button")) {
    b.addEventListener("click", () => {
      wall.layout = Number(b.dataset.layout);
      localStorage.setItem("riverwatch.layout", String(wall.layout));
      wall.page = 0;
      render();
    });
  }
  $("#group").addEventListener("change", (e) => {
    wall.group = e.target.value;
    wall.page = 0;
    render();
  });
  $("#prev").addEventListener("click", () => {
    wall.page = (wall.page - 1 + pageCount()) % pageCount();
    render();
  });
  $("#next").addEventListener("click", () => {
    wall.page = (wall.page + 1) % pageCount();
    render();
  });
  $("#tour").addEventListener("click", () => setTour(!wall.tour));
  $("#tour-s").addEventListener("change", () => wall.tour && setTour(true));
  $("#sound").addEventListener("click", () => {
    $("#sound").textContent = unlockAudio() === "running" ? "Sound on ✓" : "Sound on";
  });
  document.addEventListener("click", unlockAudio, { once: true });
}

wireToolbar();
render();
await refreshCameras();
setInterval(refreshCameras, CAMERAS_MS);
setInterval(tickBadges, 1000);
await loadTicker();
listenAlerts(onAlert, (s) => {
  $("#feed-status").textContent = "alerts: " + s;
  document.body.dataset.feed = s;
});
await listSensors();
refreshSensors();
setInterval(refreshSensors, SENSORS_MS);
