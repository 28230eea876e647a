// Administration: users (add, change role, reset password, disable), a camera URL tested
// before it is added (figures and first picture, never its password), profiles switched by
// hand, and the audit log. Every problem the API finds is shown beside its field.

import { api } from "./api.js";
import { $, clear, h, showError } from "./dom.js";
import { dateTime } from "./fmt.js";
import { startPage } from "./nav.js";
import { showProbe } from "./probe-view.js";

startPage([]);
const ROLES = ["operator", "enforcement", "reviewer", "admin", "sensor-gateway"];

function fieldErrors(form, error) {
  for (const span of form.querySelectorAll(".field-error")) {
    span.textContent = (error && error.fields && error.fields[span.dataset.for]) || "";
  }
}

// --- users ----------------------------------------------------------------------------------

function roleSelect(user) {
  const select = h("select", { "aria-label": "role of " + user.username },
    ROLES.map((r) => h("option", { value: r, selected: r === user.role }, r)));
  select.addEventListener("change", () =>
    change(`/api/users/${encodeURIComponent(user.username)}/role`, { role: select.value }));
  return select;
}

async function change(path, json) {
  try {
    await api(path, { method: "PUT", json });
    showError("#users-error", null);
  } catch (error) {
    showError("#users-error", error);
  }
  await loadUsers();
  await loadAudit();
}

function resetButton(user) {
  return h("button", { type: "button", class: "reset", onclick: async () => {
    const password = prompt(`New password for ${user.username} (12 characters or more)`);
    if (password) await change(`/api/users/${encodeURIComponent(user.username)}/password`, { password });
  } }, "Reset password");
}

async function loadUsers() {
  const users = await api("/api/users");
  const body = clear($("#users tbody"));
  for (const user of users) {
    const toggle = h("button", { type: "button", class: "toggle", onclick: () =>
      change(`/api/users/${encodeURIComponent(user.username)}/disabled`, { disabled: !user.disabled }),
    }, user.disabled ? "Enable" : "Disable");
    body.append(h("tr", { dataset: { user: user.username, disabled: String(user.disabled) } },
      h("td", {}, user.username), h("td", {}, roleSelect(user)),
      h("td", {}, user.disabled ? "disabled" : "active"), h("td", {}, toggle, resetButton(user))));
  }
}

async function addUser(event) {
  event.preventDefault();
  const form = $("#add-user");
  const json = { username: $("#new-username").value.trim(), role: $("#new-role").value,
    password: $("#new-password").value };
  try {
    await api("/api/users", { method: "POST", json });
    form.reset();
    fieldErrors(form, null);
    showError("#users-error", null);
  } catch (error) {
    fieldErrors(form, error);
    showError("#users-error", Object.keys(error.fields || {}).length ? null : error);
  }
  await loadUsers();
  await loadAudit();
}

// --- a camera's URL ---------------------------------------------------------------------------

async function probe(event) {
  event.preventDefault();
  const form = $("#probe");
  const result = clear($("#probe-result"));
  const img = $("#probe-snapshot");
  img.hidden = true;
  result.hidden = true;
  $("#probe-busy").hidden = false;
  try {
    const found = await api("/api/probe", { method: "POST", json: { url: $("#probe-url").value.trim() },
      timeoutMs: 60000 });
    fieldErrors(form, null);
    showProbe(result, found);
    if (found.snapshot) {
      img.src = found.snapshot;
      img.hidden = false;
    }
  } catch (error) {
    fieldErrors(form, error);
    if (!Object.keys(error.fields || {}).length) {
      result.append(h("dt", {}, "Problem"), h("dd", {}, error.message));
      result.hidden = false;
    }
  } finally {
    $("#probe-busy").hidden = true;
  }
  await loadAudit();
}

// --- profiles -------------------------------------------------------------------------------

function describe(p) {
  const by = p.manual ? "by hand" : "by schedule";
  return (p.active ? "on" : "off") + " (" + by + ")";
}

async function loadProfiles() {
  const profiles = await api("/api/profiles");
  const body = clear($("#profiles tbody"));
  for (const p of profiles) {
    const buttons = ["on", "off", "schedule"].map((state) => h("button", { type: "button",
      class: "switch-" + state, onclick: async () => {
        try {
          await api(`/api/profiles/${encodeURIComponent(p.id)}`, { method: "PUT", json: { state } });
          showError("#profiles-error", null);
        } catch (error) {
          showError("#profiles-error", error);
        }
        await loadProfiles();
        await loadAudit();
      } }, state === "schedule" ? "Back to schedule" : "Switch " + state));
    body.append(h("tr", { dataset: { profile: p.id, active: String(p.active) } },
      h("td", {}, p.name), h("td", { class: "state" }, describe(p)), h("td", {}, buttons)));
  }
}

// --- audit ----------------------------------------------------------------------------------

async function loadAudit() {
  const action = $("#audit-action").value.trim();
  const query = new URLSearchParams({ limit: "100" });
  if (action) query.set("action", action);
  const entries = await api("/api/audit?" + query); // asked first: the table never shows empty
  clear($("#audit tbody")).append(...entries.map((e) => h("tr", { dataset: { action: e.action } },
    h("td", {}, dateTime(e.at)), h("td", {}, e.username), h("td", {}, e.action),
    h("td", {}, e.target), h("td", {}, JSON.stringify(e.detail)))));
}

$("#new-role").append(...ROLES.map((r) => h("option", { value: r }, r)));
$("#add-user").addEventListener("submit", addUser);
$("#probe").addEventListener("submit", probe);
$("#audit-action").addEventListener("change", loadAudit);
await Promise.all([loadUsers(), loadProfiles(), loadAudit()]);
document.body.dataset.ready = "1";
