// The reviewers' incident list, filterable by camera, group, rule, time range and status.

import { api } from "./api.js";
import { $, clear, h, showError } from "./dom.js";
import { dateTime, fromLocalInput, label, toLocalInput } from "./fmt.js";
import { startPage } from "./nav.js";

const PAGE = 50;
const SVG = "http://www.w3.org/2000/svg";
// Drawn as SVG, not emoji: a server without emoji fonts shows emoji as empty boxes.
const ICONS = {
  snapshot: ["M3 7h4l2-3h6l2 3h4v13H3z", "M12 10a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7z"],
  clip: ["M3 5h18v14H3z", "M7 5v14M17 5v14M3 9h4M3 15h4M17 9h4M17 15h4"],
};
const KNOWN_RULES = ["vessel_in_zone", "loitering", "dredging", "turbid_plume", "lights_at_night",
  "stationary_object", "crowding", "turbid"];

startPage(["reviewer"]);
let offset = 0;

function query() {
  const form = new FormData($("#filters"));
  const params = new URLSearchParams();
  for (const key of ["camera", "group", "rule", "state"]) {
    const value = String(form.get(key) || "").trim();
    if (value) params.set(key, value);
  }
  for (const key of ["since", "until"]) {
    const epoch = fromLocalInput(String(form.get(key) || ""));
    if (epoch !== null) params.set(key, String(epoch));
  }
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  return params;
}

let searches = 0; // an answer to an older search must not replace a newer one

async function search() {
  const mine = ++searches;
  const params = query();
  let page;
  try {
    page = await api("/api/incidents?" + params);
    showError("#error", null);
  } catch (error) {
    if (mine === searches) showError("#error", error);
    return;
  }
  if (mine !== searches) return;
  $("#incidents").dataset.query = String(params);
  const body = clear($("#incidents tbody"));
  for (const item of page.items) body.append(row(item));
  const last = Math.min(page.total, offset + page.items.length);
  $("#count").textContent = page.total
    ? `${offset + 1}–${last} of ${page.total} incidents` : "No incident matches.";
  $("#prev").disabled = offset === 0;
  $("#next").disabled = last >= page.total;
  history.replaceState(null, "", "?" + params);
}

// A 16 px outline icon with a tooltip and an accessible name.
function icon(name, title) {
  const el = document.createElementNS(SVG, "svg");
  for (const [k, v] of Object.entries({ class: "icon", viewBox: "0 0 24 24", width: 16, height: 16,
    role: "img", "aria-label": title })) el.setAttribute(k, String(v));
  el.dataset.icon = name;
  const tip = document.createElementNS(SVG, "title");
  tip.textContent = title;
  el.append(tip);
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    el.append(path);
  }
  return el;
}

function row({ ticket: t, evidence, verdict }) {
  const open = () => location.assign(`/incident?id=${t.id}`);
  return h("tr", { class: "row", dataset: { ticketId: t.id }, onclick: open },
    h("td", {}, h("a", { href: `/incident?id=${t.id}` }, `#${t.id}`)),
    h("td", {}, t.camera_id || t.sensor_id),
    h("td", {}, t.group),
    h("td", {}, label(t.rule)),
    h("td", { class: "sev-" + t.severity }, t.severity),
    h("td", {}, dateTime(t.started_at)),
    h("td", {}, h("span", { class: "state " + t.state }, label(t.state))),
    h("td", {}, verdict ? label(verdict.verdict) : "–"),
    h("td", { class: "evidence-icons" }, evidence.snapshot ? icon("snapshot", "snapshot") : null,
      evidence.clip ? icon("clip", "video clip") : null),
  );
}

async function fillFilters() {
  for (const r of KNOWN_RULES) $("#rules").append(h("option", { value: r }));
  try {
    const cameras = await api("/api/cameras");
    for (const c of cameras) $("#f-camera").append(h("option", { value: c.id }, c.name || c.id));
    for (const g of [...new Set(cameras.map((c) => c.group))].sort()) {
      $("#f-group").append(h("option", { value: g }, g));
    }
  } catch (error) {
    showError("#error", error);
  }
  // Filters survive a reload and a trip to an incident and back.
  const params = new URLSearchParams(location.search);
  for (const key of ["camera", "group", "rule", "state"]) {
    if (params.get(key)) $("#f-" + key).value = params.get(key);
  }
  for (const key of ["since", "until"]) {
    if (Number(params.get(key))) $("#f-" + key).value = toLocalInput(Number(params.get(key)));
  }
  offset = Number(params.get("offset")) || 0;
}

$("#filters").addEventListener("submit", (e) => {
  e.preventDefault();
  offset = 0;
  search();
});
$("#prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); search(); });
$("#next").addEventListener("click", () => { offset += PAGE; search(); });

await fillFilters();
await search();
