// One incident for a reviewer: the clip (range requests make it scrubbable), the snapshot
// with the track drawn over it in time order, the ticket's transitions and verdicts as a
// timeline, the verdict form, and the reviewer's moves in the loop (verify, reject).

import { api, withToken } from "./api.js";
import { contentRect, drawBox, fitCanvas, scaleBox } from "./alarm.js";
import { $, clear, h, showError } from "./dom.js";
import { dateTime, duration, label } from "./fmt.js";
import { moveForm, movesFor } from "./loop.js";
import { startPage } from "./nav.js";

const me = startPage(["reviewer"]);
const id = Number(new URLSearchParams(location.search).get("id"));
const FALLBACK_WH = [320, 180];
let detail = null;

function analysisWh() {
  const wh = detail.analysis_wh;
  return Array.isArray(wh) && wh.length === 2 ? wh : null;
}

// The path of the box centres from oldest (blue) to newest (red), and the box at the chosen
// point in time.
function drawTrack() {
  const canvas = $("#track");
  const img = $("#snapshot");
  const ctx = fitCanvas(canvas);
  const points = detail.track;
  if (!points.length || !img.naturalWidth) return;
  const wh = analysisWh() || FALLBACK_WH;
  const rect = contentRect(canvas.clientWidth, canvas.clientHeight, img.naturalWidth, img.naturalHeight);
  const upto = Number($("#track-t").value);
  const boxes = points.slice(0, upto + 1).map((p) => scaleBox(p.box, wh, rect));
  ctx.lineWidth = 3;
  for (let i = 1; i < boxes.length; i++) {
    const share = i / Math.max(1, points.length - 1);
    ctx.strokeStyle = `rgb(${Math.round(255 * share)}, 80, ${Math.round(255 * (1 - share))})`;
    const [a, b] = [boxes[i - 1], boxes[i]];
    ctx.beginPath();
    ctx.moveTo((a[0] + a[2]) / 2, (a[1] + a[3]) / 2);
    ctx.lineTo((b[0] + b[2]) / 2, (b[1] + b[3]) / 2);
    ctx.stroke();
  }
  const at = points[upto];
  drawBox(ctx, boxes[boxes.length - 1], `+${duration(at.at - points[0].at)}`);
  canvas.dataset.points = String(boxes.length);
  canvas.dataset.box = boxes[boxes.length - 1].map((v) => Math.round(v)).join(",");
}

function renderMedia() {
  const t = detail.ticket;
  const clip = $("#clip");
  if (detail.evidence.clip && !clip.getAttribute("src")) clip.src = withToken(detail.evidence.clip);
  $("#clip-note").textContent = detail.evidence.clip ? "" : "No clip yet (written after the post-roll).";
  const preroll = $("#preroll");
  if (detail.evidence.preroll && !preroll.getAttribute("src")) preroll.src = withToken(detail.evidence.preroll);
  $("#preroll-box").hidden = !detail.evidence.preroll;
  const img = $("#snapshot");
  if (detail.evidence.snapshot && !img.getAttribute("src")) img.src = withToken(detail.evidence.snapshot);
  const slider = $("#track-t");
  slider.max = String(Math.max(0, detail.track.length - 1));
  slider.value = slider.max;
  const span = detail.track.length
    ? `${detail.track.length} points over ${duration(detail.track.at(-1).at - detail.track[0].at)}`
    : "no track points";
  const scale = analysisWh() ? "" : " · scale assumed 320×180 (the API gives no analysis_wh)";
  $("#track-note").textContent = span + scale;
  $("#title").textContent = `#${t.id} ${t.camera_id || t.sensor_id} · ${label(t.rule)}`;
  $("#facts").textContent = `${t.group} · zone ${t.zone_id || "–"} · ${t.severity} · score ` +
    `${t.score.toFixed(2)} · started ${dateTime(t.started_at)} · ${label(t.state)}`;
}

function renderTimeline() {
  const items = [
    ...detail.transitions.map((m) => ({ at: m.at, kind: "move", m })),
    ...detail.verdicts.map((v) => ({ at: v.at, kind: "verdict", v })),
  ].sort((a, b) => a.at - b.at);
  clear($("#timeline")).append(
    ...items.map((item) => item.kind === "move"
      ? h("li", { dataset: { to: item.m.to_state } }, h("strong", {}, label(item.m.to_state)),
          " · ", item.m.actor, " · ", dateTime(item.at),
          item.m.note ? h("div", { class: "note" }, item.m.note) : null)
      : h("li", { dataset: { verdict: item.v.verdict } }, h("strong", {}, "verdict: " + label(item.v.verdict)),
          " · ", item.v.actor, " · ", dateTime(item.at),
          item.v.note ? h("div", { class: "note" }, item.v.note) : null)),
  );
  const v = detail.verdict;
  $("#current-verdict").textContent = v
    ? `Current verdict: ${label(v.verdict)} by ${v.actor}, ${dateTime(v.at)}` : "No verdict yet.";
  $("#current-verdict").dataset.verdict = v ? v.verdict : "";
}

function renderActions() {
  const t = detail.ticket;
  const box = clear($("#loop-actions"));
  const mine = movesFor(t.state, me.role).filter((to) => ["verified", "rejected", "false_alarm"].includes(to));
  if (!mine.length) return;
  box.append(h("h2", {}, "Close the loop"));
  for (const to of mine) {
    const text = { verified: "Verify", rejected: "Reject", false_alarm: "Close as false alarm" }[to];
    box.append(h("button", { type: "button", id: "move-" + to, class: to === "verified" ? "primary" : "",
      onclick: () => move(to, text) }, text));
  }
}

async function move(to, text) {
  try {
    await api(`/api/tickets/${id}/transitions`, {
      method: "POST", form: moveForm(detail.ticket, to, { note: `${text} by ${me.username}`, actor: me.username }),
    });
    showError("#error", null);
  } catch (error) {
    showError("#error", error);
  }
  await load();
}

async function giveVerdict(event) {
  event.preventDefault();
  const form = new FormData($("#verdict-form"));
  try {
    await api(`/api/incidents/${id}/verdict`, {
      method: "POST",
      json: { verdict: form.get("verdict"), note: String(form.get("note") || "").trim() },
    });
    showError("#verdict-error", null);
    $("#verdict-note").value = "";
  } catch (error) {
    showError("#verdict-error", error);
  }
  await load();
}

async function load() {
  try {
    detail = await api(`/api/incidents/${id}`);
  } catch (error) {
    showError("#error", error);
    return;
  }
  document.body.dataset.ticketState = detail.ticket.state;
  renderMedia();
  renderTimeline();
  renderActions();
  drawTrack();
}

$("#snapshot").addEventListener("load", drawTrack);
$("#track-t").addEventListener("input", drawTrack);
new ResizeObserver(() => detail && drawTrack()).observe($("#track-stage"));
$("#verdict-form").addEventListener("submit", giveVerdict);
if (!Number.isInteger(id) || id < 1) showError("#error", "no incident id in the address");
else {
  $("#label-link").href = `/label?ticket=${id}`;
  await load();
}
