// The enforcement inbox: tickets arriving live, accept, report handled with a note and
// photos, record the follow-up call; SLA countdown; snapshot and clip at hand. Works on a phone.

import { api, withToken } from "./api.js";
import { beep } from "./alarm.js";
import { $, clear, h, showError } from "./dom.js";
import { listenAlerts } from "./events.js";
import { clock, dateTime, label } from "./fmt.js";
import { OPEN_STATES, moveForm, movesFor, sla } from "./loop.js";
import { startPage } from "./nav.js";
import { setupPush } from "./push.js";

const POLL_MS = 5000;
const me = startPage(["enforcement"]);

const inbox = { tickets: [], tab: "open", selected: null, seen: null, fresh: new Set(), detail: null };

function inTab(t) {
  if (inbox.tab === "open") return OPEN_STATES.includes(t.state);
  if (inbox.tab === "closed") return !OPEN_STATES.includes(t.state);
  return t.state === inbox.tab;
}

function where(t) {
  return t.camera_id || t.sensor_id || "?";
}

async function refresh() {
  try {
    inbox.tickets = await api("/api/tickets?limit=500");
    showError("#error", null);
  } catch (error) {
    showError("#error", error);
    return;
  }
  const ids = new Set(inbox.tickets.map((t) => t.id));
  if (inbox.seen !== null) {
    const arrived = [...ids].filter((id) => !inbox.seen.has(id));
    arrived.forEach((id) => inbox.fresh.add(id));
    if (arrived.length) beep(1);
  }
  inbox.seen = ids;
  renderList();
  if (inbox.selected !== null && !inbox.busy && changed(inbox.selected)) {
    await loadDetail(inbox.selected, false);
  }
}

// Redraw the open ticket only when it changed, so a half-typed report is not wiped.
function changed(id) {
  const now = inbox.tickets.find((t) => t.id === id);
  const shown = inbox.detail && inbox.detail.ticket;
  if (!now || !shown) return Boolean(now);
  return now.version !== shown.version || now.clip !== shown.clip || now.snapshot !== shown.snapshot;
}

function renderList() {
  const list = clear($("#tickets"));
  const shown = inbox.tickets.filter(inTab);
  $("#empty").hidden = shown.length > 0;
  for (const t of shown) {
    const clockNow = sla(t);
    list.append(
      h("li", {
        class: "ticket" + (t.id === inbox.selected ? " selected" : "") +
          (inbox.fresh.has(t.id) ? " new" : ""),
        dataset: { ticketId: t.id, state: t.state, source: t.camera_id || t.sensor_id },
        onclick: () => select(t.id),
      },
        h("span", { class: "title" }, `#${t.id} ${where(t)}`),
        h("span", { class: "state " + t.state }, label(t.state)),
        h("span", {}, h("span", { class: "sev-" + t.severity }, label(t.rule)), " · ", t.zone_id || t.group),
        h("span", { class: "sla " + clockNow.cls, dataset: { due: t.due_at } }, clockNow.text),
        h("span", { class: "muted" }, "received ", clock(t.created_at)),
      ),
    );
  }
  const open = inbox.tickets.filter((t) => t.state === "received").length;
  document.title = (open ? `(${open}) ` : "") + "riverwatch · inbox";
}

async function select(id) {
  inbox.selected = id;
  inbox.fresh.delete(id);
  $("#inbox").classList.add("detail-open");
  renderList();
  await loadDetail(id, true);
}

async function loadDetail(id, scroll) {
  try {
    inbox.detail = await api(`/api/tickets/${id}`);
  } catch (error) {
    showError("#error", error);
    return;
  }
  renderDetail(inbox.detail);
  if (scroll) $("#detail-pane").scrollIntoView({ block: "start" });
}

function evidence(t) {
  const snap = t.snapshot
    ? h("img", { id: "snapshot", alt: "snapshot", src: withToken(`/api/tickets/${t.id}/evidence/snapshot`) })
    : h("p", { class: "muted" }, "snapshot not yet written");
  const clip = t.clip
    ? h("video", { id: "clip", controls: true, preload: "metadata", playsinline: true, muted: true,
        src: withToken(`/api/tickets/${t.id}/evidence/clip`) })
    : h("p", { class: "muted" }, "clip follows after the post-roll");
  return h("div", { class: "evidence" }, snap, clip);
}

function timeline(detail) {
  const photos = new Map();
  for (const a of detail.attachments) {
    const list = photos.get(a.transition_id) || [];
    list.push(a);
    photos.set(a.transition_id, list);
  }
  return h("ol", { class: "timeline", id: "timeline" },
    detail.history.map((m) =>
      h("li", { dataset: { to: m.to_state } },
        h("strong", {}, label(m.to_state)), " · ", m.actor, " · ", dateTime(m.at),
        m.note ? h("div", { class: "note" }, m.note) : null,
        (photos.get(m.id) || []).map((a) => h("div", { class: "muted" }, "📷 ",
          h("a", { href: withToken(`/api/tickets/${a.ticket_id}/attachments/${a.id}`),
            target: "_blank", rel: "noopener", class: "photo" }, a.original_name || a.filename))),
      ),
    ),
  );
}

async function move(t, to, options, form) {
  inbox.busy = true;
  const buttons = form ? form.querySelectorAll("button") : [];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api(`/api/tickets/${t.id}/transitions`, {
      method: "POST",
      form: moveForm(t, to, { ...options, actor: me.username }),
      timeoutMs: 60000,
    });
    showError("#move-error", null);
  } catch (error) {
    const text = error.status === 409 ? `${error.message} (reloaded; try again)` : error.message;
    showError("#error", null);
    inbox.busy = false;
    await refresh();
    showError("#move-error", text);
    return;
  }
  inbox.busy = false;
  await refresh();
}

function acceptForm(t) {
  const who = h("input", { name: "assignee", value: me.username, maxlength: 100 });
  const form = h("form", { class: "row", id: "accept-form" },
    h("label", {}, "Assign to", who),
    h("button", { class: "primary", type: "submit", id: "accept" }, "Accept"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = who.value.trim() || me.username;
    const note = name === me.username ? `accepted by ${name}` : `assigned to ${name} by ${me.username}`;
    move(t, "assigned", { note, assignee: name }, form);
  });
  return form;
}

function handledForm(t) {
  const note = h("textarea", { name: "note", id: "handled-note", rows: 3, maxlength: 4000,
    required: true, placeholder: "What was found and done" });
  const photos = h("input", { type: "file", name: "photos", id: "photos", multiple: true,
    accept: "image/jpeg,image/png", capture: "environment" });
  const form = h("form", { id: "handled-form", class: "actions" },
    h("label", {}, "Report", note), h("label", {}, "Photos", photos),
    h("button", { class: "primary", type: "submit", id: "handled" }, "Mark handled"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    move(t, "handled", { note: note.value.trim(), photos: [...photos.files] }, form);
  });
  return form;
}

function feedbackForm(t) {
  const score = h("select", { name: "satisfaction", id: "satisfaction" },
    [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, `${n}`)));
  const note = h("input", { name: "note", id: "feedback-note", maxlength: 4000,
    placeholder: "what the reporter said" });
  const form = h("form", { id: "feedback-form", class: "actions" },
    h("label", {}, "Follow-up call: satisfaction (5 = very)", score), h("label", {}, "Note", note),
    h("button", { class: "primary", type: "submit", id: "feedback" }, "Record follow-up"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    move(t, "feedback", { note: note.value.trim(), satisfaction: Number(score.value) }, form);
  });
  return form;
}

function plainButton(t, to, text, cls = "") {
  const form = h("form", { class: "row" },
    h("button", { type: "submit", class: cls, id: "move-" + to }, text));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    move(t, to, { note: `${text.toLowerCase()} by ${me.username}` }, form);
  });
  return form;
}

function actions(t) {
  const moves = movesFor(t.state, me.role);
  const parts = [];
  for (const to of moves) {
    if (to === "assigned" && t.state === "received") parts.push(acceptForm(t));
    else if (to === "assigned") parts.push(plainButton(t, to, "Rework"));
    else if (to === "handled") parts.push(handledForm(t));
    else if (to === "feedback") parts.push(feedbackForm(t));
    else if (to === "verified") parts.push(plainButton(t, to, "Verify", "primary"));
    else parts.push(plainButton(t, to, to === "false_alarm" ? "False alarm" : "Reject", "danger"));
  }
  if (t.state === "feedback" && !moves.includes("verified")) {
    parts.unshift(h("p", { class: "muted" }, "Follow-up recorded: waiting for a reviewer to verify."));
  } else if (parts.length === 0) {
    const why = OPEN_STATES.includes(t.state) ? "Waiting for a reviewer." : "Closed.";
    parts.push(h("p", { class: "muted" }, why));
  }
  return h("div", { class: "actions" }, h("p", { class: "error", id: "move-error", hidden: true }), parts);
}

function renderDetail(detail) {
  const t = detail.ticket;
  const clockNow = sla(t);
  $("#pick").hidden = true;
  clear($("#detail")).append(
    h("button", { type: "button", class: "back", onclick: () => $("#inbox").classList.remove("detail-open") }, "‹ Back"),
    h("h2", { id: "detail-title", dataset: { ticketId: t.id, state: t.state, version: t.version } },
      `#${t.id} ${where(t)} · ${label(t.rule)}`),
    h("p", {}, h("span", { class: "state " + t.state, id: "detail-state" }, label(t.state)), " ",
      h("span", { class: "sev-" + t.severity }, t.severity), " · zone ", t.zone_id || "–", " · ",
      h("span", { class: "sla " + clockNow.cls, id: "detail-sla", dataset: { due: t.due_at } }, clockNow.text),
      t.assignee ? h("span", { id: "detail-assignee" }, " · with ", t.assignee) : ""),
    evidence(t),
    actions(t),
    h("h3", {}, "Timeline"),
    timeline(detail),
  );
}

// The SLA countdowns tick every second without asking the server.
function tick() {
  const byId = new Map(inbox.tickets.map((t) => [String(t.id), t]));
  for (const el of document.querySelectorAll("#tickets li.ticket")) {
    const t = byId.get(el.dataset.ticketId);
    const span = el.querySelector(".sla");
    if (!t || !span) continue;
    const clockNow = sla(t);
    span.className = "sla " + clockNow.cls;
    span.textContent = clockNow.text;
  }
  if (inbox.detail) {
    const span = $("#detail-sla");
    const clockNow = sla(inbox.detail.ticket);
    if (span) {
      span.className = "sla " + clockNow.cls;
      span.textContent = clockNow.text;
    }
  }
}

for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => {
    inbox.tab = b.dataset.tab;
    document.querySelectorAll("#tabs button").forEach((x) => x.classList.toggle("on", x === b));
    renderList();
  });
}

setupPush($("#push"), $("#push-state")).catch((error) => ($("#push-state").textContent = error.message));
await refresh();
// A chat robot's link names the incident (`?alert=`): open its ticket.
const linked = new URLSearchParams(location.search).get("alert");
const ticket = linked ? inbox.tickets.find((t) => t.alert_id === linked) : null;
if (ticket) await select(ticket.id);
setInterval(refresh, POLL_MS);
setInterval(tick, 1000);
// New tickets appear as their alert is consumed; the event stream says when to look.
listenAlerts(() => setTimeout(refresh, 1000), (s) => (document.body.dataset.feed = s));
