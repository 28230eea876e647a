// The loop's published figures over a period, and false alarms per camera and per rule.

import { api } from "./api.js";
import { barChart } from "./charts.js";
import { $, clear, h, showError } from "./dom.js";
import { duration, fromLocalInput, label, percent, toLocalInput } from "./fmt.js";
import { startPage } from "./nav.js";

startPage(["reviewer"]);

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

function render(f) {
  clear($("#figures")).append(
    figure("received", "Received", f.received, "tickets in the period"),
    figure("closed", "Closed", f.closed, "verified, rejected or false alarm"),
    figure("closure", "Closure rate", percent(f.closure_rate), `${f.closed} of ${f.received}`),
    figure("sla", "SLA compliance", percent(f.sla_compliance), `${f.sla_met} answered in time`),
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
  clear($("#chart-loop")).append(barChart(loop));
  const per = (rows) => rows.map((g) => ({
    label: label(g.key) || "(sensor)",
    values: [
      { value: g.received, cls: "bar-a", title: "received" },
      { value: g.false_alarms, cls: "bar-b", title: "false alarms" },
    ],
  }));
  clear($("#chart-camera")).append(barChart(per(f.per_camera)));
  clear($("#chart-rule")).append(barChart(per(f.per_rule)));
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
