// Log in: username and password for a token kept in sessionStorage; the role picks the page.

import { ApiError, api, landing, saveSession, session } from "./api.js";
import { $, showError } from "./dom.js";

// Only a path on this site may be a `next` target (no open redirect).
function nextPage(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  const safe = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login");
  return safe ? next : landing(role);
}

function message(error) {
  if (error instanceof ApiError && error.status === 401) return "Wrong username or password.";
  if (error instanceof ApiError && error.status === 429) {
    return "Too many attempts. Wait a minute and try again.";
  }
  if (error instanceof ApiError) return error.message;
  return "The server did not answer. Check the connection and try again.";
}

async function submit(event) {
  event.preventDefault();
  const button = $("#submit");
  button.disabled = true;
  showError("#error", null);
  try {
    const answer = await api("/api/auth/login", {
      method: "POST",
      json: { username: $("#username").value.trim(), password: $("#password").value },
    });
    saveSession(answer);
    location.assign(nextPage(answer.role));
  } catch (error) {
    showError("#error", message(error));
    $("#password").value = "";
  } finally {
    button.disabled = false;
  }
}

const current = session();
if (current && !new URLSearchParams(location.search).get("next")) {
  location.assign(landing(current.role));
}
$("#login").addEventListener("submit", submit);
