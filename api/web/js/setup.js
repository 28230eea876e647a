// The camera editor: the hub's cameras and groups, and one camera at a time edited in full
// (stream URLs tested before saving, zones, masks and tripwires drawn on its picture), saved
// as a new configuration version. The API's problems are shown beside their fields; a change
// someone else made since the camera was opened is refused and can be reloaded.

import { api, fieldPaths, session, withToken } from "./api.js";
import { bind, fill } from "./bind.js";
import { $, clear, h, showError } from "./dom.js";
import { dateTime, label as pretty } from "./fmt.js";
import { startPage } from "./nav.js";
import { showProbe } from "./probe-view.js";
import { ShapeEditor } from "./shapes.js";
import { DECODE_MODES, GROUP_KINDS, MAIN_RINGS } from "./vocab.js";

startPage([]);

let config = null; // the answer of GET /api/config
// The camera being edited: `camera` is what Save sends; `version` is null for a new one.
let open = null; // {camera, version, storedUrl}
let dirty = false;
let problems = {}; // path below the camera ("zones.0.id") -> message, from the last save

const shapes = new ShapeEditor(({ edited }) => {
  if (edited) dirty = true;
  placeProblems();
});

// --- the lists --------------------------------------------------------------------------------

function cameraRow(item) {
  const c = item.camera;
  const enabled = !c.analysis || c.analysis.enabled !== false;
  return h("tr", { class: "row" + (open && open.camera.id === c.id ? " selected" : ""),
    dataset: { camera: c.id }, onclick: () => openCamera(c.id) },
    h("td", {}, c.id), h("td", {}, c.name), h("td", {}, c.group),
    h("td", {}, enabled ? "on" : "off"), h("td", {}, String((c.zones || []).length)),
    h("td", {}, String((c.tripwires || []).length)),
    h("td", { class: "muted" }, `v${item.version} · ${item.changed_by || "–"} · ${dateTime(item.changed_at)}`));
}

function renderLists() {
  $("#config-version").textContent =
    `Version ${config.version} by ${config.author || "–"}, ${dateTime(config.created_at)}.`;
  clear($("#cameras tbody")).append(...config.cameras.map(cameraRow));
  clear($("#groups tbody")).append(...config.groups.map((g) => h("tr", { dataset: { group: g.id } },
    h("td", {}, g.id), h("td", {}, g.name), h("td", {}, pretty(g.kind)),
    h("td", {}, g.main_ring ? pretty(g.main_ring) : "by kind"),
    h("td", {}, h("button", { type: "button", class: "remove-group",
      onclick: () => removeGroup(g.id) }, "Remove")))));
}

async function loadConfig() {
  try {
    config = await api("/api/config"); // asked first: the tables never show empty
    showError("#config-error", null);
  } catch (error) {
    showError("#config-error", error);
    return false;
  }
  renderLists();
  return true;
}

// --- groups -----------------------------------------------------------------------------------

// The server checks a groups change against the version that last changed the groups, which
// is not the configuration's version once a camera has changed since.
function groupsVersion() {
  return config.groups_version ?? config.version;
}

async function addGroup(event) {
  event.preventDefault();
  const form = $("#add-group");
  const group = { id: $("#group-id").value.trim(), name: $("#group-name").value.trim(),
    kind: $("#group-kind").value };
  const groups = [...config.groups, group];
  try {
    await api("/api/config/groups", { method: "PUT",
      json: { expected_version: groupsVersion(), groups } });
    form.reset();
    groupProblems(form, {});
  } catch (error) {
    const found = fieldPaths(error, ["body", "groups", groups.length - 1]);
    groupProblems(form, Array.isArray(error.detail) ? found : { "": error.message });
  }
  await loadConfig();
  if (open) showGroupChoice(open.camera.group);
}

// The server refuses to remove a group a camera still uses, and says which camera.
async function removeGroup(id) {
  if (!confirm(`Remove the group ${id}?`)) return;
  const groups = config.groups.filter((g) => g.id !== id);
  try {
    await api("/api/config/groups", { method: "PUT",
      json: { expected_version: groupsVersion(), groups } });
    showError("#groups-error", null);
  } catch (error) {
    const messages = Array.isArray(error.detail) ? error.detail.map((d) => d.msg) : [error.message];
    showError("#groups-error", { message: messages.join("; ") });
  }
  await loadConfig();
}

function groupProblems(form, found) {
  for (const span of form.querySelectorAll(".field-error")) span.textContent = found[span.dataset.for] || "";
  const rest = Object.entries(found).filter(([key]) => !$(`.field-error[data-for="${key}"]`, form));
  showError("#groups-error", rest.length ? rest.map(([, msg]) => msg).join("; ") : null);
}

// A select of the declared groups, or free text when none are declared. A camera's group
// that is not declared stays a choice, so opening a camera never changes it.
function showGroupChoice(current) {
  const old = $("#cam-group");
  const attrs = { id: "cam-group", "data-field": "group" };
  let input;
  if (config.groups.length) {
    const ids = config.groups.map((g) => g.id);
    input = h("select", attrs, config.groups.map((g) => h("option", { value: g.id }, `${g.name} (${g.id})`)),
      current && !ids.includes(current) ? h("option", { value: current }, `${current} (not declared)`) : null);
  } else {
    input = h("input", { ...attrs, autocomplete: "off", placeholder: "heng" });
  }
  input.value = current || "";
  old.replaceWith(input);
}

// New zones on a street camera watch the street; on a river, the water.
function zoneKindFor(groupId) {
  const group = config.groups.find((g) => g.id === groupId);
  return group && group.kind === "street" ? "street" : "watch";
}

// --- one camera ---------------------------------------------------------------------------------

function newCamera() {
  const group = config.groups.length ? config.groups[0].id : "";
  return { id: "", name: "", group, url: "", sub_url: null, main_ring: null,
    analysis: { enabled: true, masks: [] }, zones: [], tripwires: [] };
}

// Open `camera` in the editor; `keepPicture` keeps the picture shown (a just-added camera's
// stream may not have sent a picture yet, while its probe's picture is on screen).
function edit(camera, version, keepPicture = false) {
  open = { camera, version, storedUrl: version === null ? null : camera.url };
  dirty = false;
  problems = {};
  $("#editor").hidden = false;
  $("#editor-title").textContent = version === null ? "New camera" : `Camera ${camera.id}`;
  showGroupChoice(camera.group);
  fill($("#camera-fields"), camera);
  fill($("#analysis-fields"), camera);
  $("#cam-id").readOnly = version !== null;
  $("#delete-camera").hidden = version === null;
  clear($("#probe-result")).hidden = true;
  shapes.open(camera, zoneKindFor(camera.group));
  if (!keepPicture) showPicture(version === null ? null : snapshotUrl(camera.id));
  showError("#camera-error", null);
  $("#reload-camera").hidden = true;
  placeProblems();
  if (config) renderLists();
}

function leaveUnsaved() {
  return !dirty || confirm("Leave this camera without saving your changes?");
}

function openCamera(id) {
  const item = config.cameras.find((c) => c.camera.id === id);
  if (!item || (open && open.camera.id === id && open.version !== null) || !leaveUnsaved()) return;
  history.replaceState(null, "", "/setup?camera=" + encodeURIComponent(id));
  edit(structuredClone(item.camera), item.version);
  $("#camera-status").textContent = "";
}

function addCamera() {
  if (!leaveUnsaved()) return;
  history.replaceState(null, "", "/setup");
  edit(newCamera(), null);
  $("#camera-status").textContent = "";
  $("#cam-id").focus();
}

async function reloadCamera() {
  const id = open.camera.id;
  if (!(await loadConfig())) return;
  const item = config.cameras.find((c) => c.camera.id === id);
  if (item) edit(structuredClone(item.camera), item.version);
  else showError("#camera-error", `camera '${id}' is no longer in the configuration`);
  $("#camera-status").textContent = item ? `Reloaded version ${item.version}.` : "";
}

// --- the picture to draw on -----------------------------------------------------------------------

function snapshotUrl(id) {
  return withToken(`/api/live/${encodeURIComponent(id)}/snapshot.jpg?t=${Date.now()}`);
}

function showPicture(src) {
  const img = $("#picture");
  $("#stage").classList.toggle("empty", !src);
  $("#no-picture").hidden = Boolean(src);
  $("#no-picture").textContent = "No picture yet: test the URL to draw on its first picture.";
  img.hidden = !src;
  if (src) img.src = src;
  else img.removeAttribute("src");
}

function pictureMissing() {
  $("#stage").classList.add("empty");
  $("#picture").hidden = true;
  $("#no-picture").hidden = false;
  $("#no-picture").textContent = "The camera sends no picture now: test its URL to draw on " +
    "the stream's first picture.";
}

// --- testing the URL ----------------------------------------------------------------------------

// A saved camera whose URL field still shows the stored (redacted) URL is probed by its id:
// the server uses the stored URL, so its credentials never come to the page.
function probeBody() {
  const url = $("#cam-url").value.trim();
  if (open.version !== null && url === open.storedUrl) return { camera_id: open.camera.id };
  return { url };
}

async function probe() {
  const result = clear($("#probe-result"));
  result.hidden = true;
  $("#probe-busy").hidden = false;
  try {
    const found = await api("/api/probe", { method: "POST", json: probeBody(), timeoutMs: 60000 });
    showProbe(result, found);
    if (found.snapshot) {
      result.append(h("dt", {}, "Picture"), h("dd", {}, "below, to draw on"));
      showPicture(found.snapshot);
    }
  } catch (error) {
    result.append(h("dt", {}, "Problem"), h("dd", { dataset: { name: "Problem" } }, error.message));
    result.dataset.ok = "false";
    result.hidden = false;
  } finally {
    $("#probe-busy").hidden = true;
  }
}

// --- problems beside their fields -----------------------------------------------------------------

const SHAPE_ROOT = /^(zones|tripwires|analysis\.masks)\.\d+/;

// The key of the span nearest to `path`: the path itself or its closest parent with a span,
// never climbing out of one shape (a zone's problem is not shown under the list of zones).
function nearestKey(path, spans) {
  const root = (path.match(SHAPE_ROOT) || [""])[0];
  const parts = path.split(".");
  while (parts.length) {
    const key = parts.join(".");
    if (key.length < root.length) break;
    if (spans.has(key)) return key;
    parts.pop();
  }
  return null;
}

// A path for a person: "tripwire wire-1, active_hours.1" for "tripwires.1.active_hours.1".
function describe(path) {
  const root = (path.match(SHAPE_ROOT) || [""])[0];
  if (!root || !open) return path;
  const index = Number(root.split(".").pop());
  const shape = root.startsWith("zones") ? `zone ${open.camera.zones[index]?.id ?? index + 1}`
    : root.startsWith("tripwires") ? `tripwire ${open.camera.tripwires[index]?.id ?? index + 1}`
    : `mask ${index + 1}`;
  const rest = path.slice(root.length + 1);
  return rest ? `${shape}, ${rest}` : shape;
}

function placeProblems() {
  const spans = new Map([...$("#camera-form").querySelectorAll(".field-error[data-for]")]
    .map((span) => [span.dataset.for, span]));
  const texts = new Map();
  const rest = [];
  for (const [path, message] of Object.entries(problems)) {
    const key = path ? nearestKey(path, spans) : null;
    if (key === null) rest.push(path ? `${describe(path)}: ${message}` : message);
    else texts.set(key, (texts.has(key) ? texts.get(key) + "; " : "") + message);
  }
  for (const [key, span] of spans) span.textContent = texts.get(key) || "";
  showError("#camera-error", rest.length ? rest.join("\n") : null);
}

// --- saving -------------------------------------------------------------------------------------

function appliedText(applied) {
  const parts = [["restarted", applied.restarted], ["re-zoned", applied.rezoned],
    ["added", applied.added], ["removed", applied.removed]]
    .filter(([, ids]) => ids && ids.length).map(([what, ids]) => `${what} ${ids.join(", ")}`);
  return parts.length ? "applied: " + parts.join("; ") : "nothing to apply";
}

function showFailure(error) {
  $("#camera-status").textContent = "";
  problems = error.status === 422 && Array.isArray(error.detail)
    ? fieldPaths(error, ["body", "camera"]) : { "": error.message };
  // A new camera's 409 is an id taken: there is nothing of it to reload.
  $("#reload-camera").hidden = error.status !== 409 || open.version === null;
  shapes.selectFirstWithProblem(Object.keys(problems));
  placeProblems();
}

async function save(event) {
  event.preventDefault();
  const camera = open.camera;
  const request = open.version === null
    ? api("/api/config/cameras", { method: "POST", json: { camera } })
    : api(`/api/config/cameras/${encodeURIComponent(camera.id)}`, { method: "PUT",
      json: { expected_version: open.version, camera } });
  $("#save-camera").disabled = true;
  try {
    const answer = await request;
    const probed = ($("#picture").getAttribute("src") || "").startsWith("data:");
    await loadConfig();
    edit(structuredClone(answer.camera.camera), answer.camera.version, probed);
    history.replaceState(null, "", "/setup?camera=" + encodeURIComponent(camera.id));
    $("#camera-status").textContent = `Saved as version ${answer.version}; ${appliedText(answer.applied)}.`;
  } catch (error) {
    showFailure(error);
  } finally {
    $("#save-camera").disabled = false;
  }
}

async function deleteCamera() {
  const id = open.camera.id;
  if (!confirm(`Delete camera ${id}? Its zones and tripwires go with it.`)) return;
  try {
    const answer = await api(`/api/config/cameras/${encodeURIComponent(id)}?expected_version=${open.version}`,
      { method: "DELETE" });
    open = null;
    dirty = false;
    $("#editor").hidden = true;
    history.replaceState(null, "", "/setup");
    await loadConfig();
    $("#config-version").append(` Deleted ${id} in version ${answer.version}; ${appliedText(answer.applied)}.`);
  } catch (error) {
    showFailure(error);
  }
}

// --- export ---------------------------------------------------------------------------------------

// The YAML needs the token, so it is fetched and handed over as a file, not linked.
async function exportYaml() {
  try {
    const response = await fetch("/api/config/export", {
      headers: { Authorization: "Bearer " + session().token },
      signal: AbortSignal.timeout(15000),
    });
    if (!response.ok) throw new Error(`export failed (${response.status})`);
    const url = URL.createObjectURL(await response.blob());
    h("a", { href: url, download: `riverwatch-config-v${config ? config.version : "x"}.yaml` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    showError("#config-error", null);
  } catch (error) {
    showError("#config-error", error);
  }
}

// --- start ----------------------------------------------------------------------------------------

function fillChoices() {
  $("#group-kind").append(...GROUP_KINDS.map((k) => h("option", { value: k }, pretty(k))));
  // Empty: the config's `defaults:` decide (a new camera shows that, not a blank choice).
  $("#cam-decode-mode").append(h("option", { value: "" }, "the defaults'"),
    ...DECODE_MODES.map((m) => h("option", { value: m }, pretty(m))));
  $("#cam-main-ring").append(...MAIN_RINGS.map((r) => h("option", { value: r }, pretty(r))));
}

function listen() {
  $("#add-camera").addEventListener("click", addCamera);
  $("#export-yaml").addEventListener("click", exportYaml);
  $("#add-group").addEventListener("submit", addGroup);
  $("#camera-form").addEventListener("submit", save);
  $("#delete-camera").addEventListener("click", deleteCamera);
  $("#reload-camera").addEventListener("click", reloadCamera);
  $("#probe-camera").addEventListener("click", probe);
  $("#refresh-picture").addEventListener("click", () => {
    if (open && open.version !== null) showPicture(snapshotUrl(open.camera.id));
  });
  $("#picture").addEventListener("error", pictureMissing);
  for (const fields of [$("#camera-fields"), $("#analysis-fields")]) {
    bind(fields, () => open && open.camera, (input) => {
      dirty = true;
      if (input.id === "cam-group") shapes.zoneKind = zoneKindFor(input.value);
    });
  }
  window.addEventListener("beforeunload", (event) => {
    if (dirty) event.preventDefault();
  });
}

fillChoices();
listen();
if (await loadConfig()) {
  const wanted = new URLSearchParams(location.search).get("camera");
  if (wanted) openCamera(wanted);
}
document.body.dataset.ready = "1";
