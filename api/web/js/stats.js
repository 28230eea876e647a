// The loop's published figures over a period, and false alarms per camera and per rule.

import { api } from "./api.js";
import { barChart, legend } from "./charts.js";
import { $, clear, h, showError } from "./dom.js";
import { duration, fromLocalInput, label, percent, toLocalInput } from "./fmt.js";
import { startPage } from "./nav.js";

startPage(["reviewer"]);

// The false-alarm charts' two bars per camera or rule, and the key that names them.
const FALSE_ALARM_SERIES = [
  { label: "received", cls: "bar-a" },
  { label: "false alarms", cls: "bar-b" },
];

function period() {
  const preset = $("#preset").value;
  if (preset !== "custom") {
    const until = Date.now() / 1000;
    return { since: until - Number(preset), until };
  }
  return { since: fromLocalInput($("#since").value), until: fromLocalInput($("#until").value) };
}

function figure(id, title, big, small) {
  return h("div", { class: "card figure", id: "fig-" + id },
    h("div", { class: "muted" }, title), h("div", { class: "big" }, big), h("div", { class: "muted" }, small));
}

// No ticket answered or overdue yet: there is nothing to be compliant with, which is not 0 %.
function slaFigure(f) {
  if (!f.sla_due) {
    const card = figure("sla", "SLA compliance", "none due yet",
      f.received ? `${f.received} received, none past due` : "no tickets in the period");
    card.querySelector(".big").classList.add("none");
    return card;
  }
  return figure("sla", "SLA compliance", percent(f.sla_compliance),
    `${f.sla_met} of ${f.sla_due} due answered in time`);
}

// Draw at the container's own width (see barChart), never narrower than a phone's card.
function chartIn(selector, rows) {
  const box = clear($(selector));
  box.append(barChart(rows, { width: Math.max(280, Math.round(box.clientWidth) || 420) }));
  return box;
}

function render(f) {
  clear($("#figures")).append(
    figure("received", "Received", f.received, "tickets in the period"),
    figure("closed", "Closed", f.closed, "verified, rejected or false alarm"),
    figure("closure", "Closure rate", percent(f.closure_rate), `${f.closed} of ${f.received}`),
    slaFigure(f),
    figure("tti", "Median time to intervention", duration(f.median_time_to_intervention_s),
      `${f.interventions} interventions`),
    figure("satisfaction", "Satisfaction", percent(f.satisfaction_rate),
      `${f.satisfied} of ${f.feedback_count} calls · mean ${f.satisfaction_mean?.toFixed(1) ?? "–"}`),
    figure("false", "False alarms", f.false_alarms, percent(f.false_alarm_rate)),
  );
  const loop = [
    ["received", f.received], ["intervened", f.interventions], ["answered in time", f.sla_met],
    ["closed", f.closed], ["satisfied", f.satisfied], ["false alarms", f.false_alarms],
  ].map(([name, value]) => ({ label: name, values: [{ value, cls: name === "false alarms" ? "bar-b" : "bar-a" }] }));
  chartIn("#chart-loop", loop);
  const per = (rows) => rows.map((g) => ({
    label: label(g.key) || "(sensor)",
    values: [g.received, g.false_alarms].map((value, i) =>
      ({ value, cls: FALSE_ALARM_SERIES[i].cls, title: FALSE_ALARM_SERIES[i].label })),
  }));
  chartIn("#chart-camera", per(f.per_camera)).append(legend(FALSE_ALARM_SERIES));
  chartIn("#chart-rule", per(f.per_rule)).append(legend(FALSE_ALARM_SERIES));
}

async function show(event) {
  if (event) event.preventDefault();
  const { since, until } = period();
  if (since === null || until === null || until <= since) {
    showError("#error", "Choose a period whose end is after its start.");
    return;
  }
  $("#since").value = toLocalInput(since);
  $("#until").value = toLocalInput(until);
  try {
    const figures = await api(`/api/stats/loop?since=${since}&until=${until}`);
    showError("#error", null);
    render(figures);
    document.body.dataset.loaded = "1";
  } catch (error) {
    showError("#error", error);
  }
}

$("#period").addEventListener("submit", show);
$("#preset").addEventListener("change", () => $("#preset").value !== "custom" && show());
for (const id of ["#since", "#until"]) {
  $(id).addEventListener("change", () => ($("#preset").value = "custom"));
}
await show();
