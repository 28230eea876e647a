// The session (token in sessionStorage) and a fetch wrapper that sends it.
// A 401 ends the session and returns to the login page; other errors throw ApiError with the
// server's message so a page can show it.

const KEY = "riverwatch.session";
const TIMEOUT_MS = 15000;

export const LANDING = {
  operator: "/wall",
  enforcement: "/inbox",
  reviewer: "/replay",
  admin: "/wall",
};

export class ApiError extends Error {
  constructor(status, message, fields = {}, detail = null) {
    super(message);
    this.status = status;
    this.fields = fields; // field name -> message, from a 422's list of problems
    this.detail = detail; // the answer's `detail` as sent (a 422's problems keep their whole `loc`)
  }
}

// A validation answer's problems by the field they name (the last part of `loc`).
function fieldsOf(body) {
  const out = {};
  if (body && Array.isArray(body.detail)) {
    for (const d of body.detail) {
      const name = Array.isArray(d.loc) && d.loc.length ? String(d.loc[d.loc.length - 1]) : "";
      if (name) out[name] = (out[name] ? out[name] + "; " : "") + d.msg;
    }
  }
  return out;
}

// A validation error's problems by their whole path below `prefix`, joined with dots:
// `["body", "camera"]` turns loc `["body", "camera", "zones", 0, "id"]` into `zones.0.id`.
// A problem outside `prefix` is under "" (a page shows it in its general error line).
export function fieldPaths(error, prefix = ["body"]) {
  const out = {};
  const detail = error && Array.isArray(error.detail) ? error.detail : [];
  for (const d of detail) {
    const loc = Array.isArray(d.loc) ? d.loc.map(String) : [];
    const inside = prefix.every((part, i) => loc[i] === String(part));
    const path = inside ? loc.slice(prefix.length).join(".") : "";
    out[path] = (out[path] ? out[path] + "; " : "") + d.msg;
  }
  return out;
}

export function session() {
  let value = null;
  try {
    value = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    value = null;
  }
  if (!value || !value.token) return null;
  if (value.expires_at && value.expires_at * 1000 < Date.now()) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return value;
}

export function saveSession(answer) {
  const { token, expires_at, username, role } = answer;
  sessionStorage.setItem(KEY, JSON.stringify({ token, expires_at, username, role }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

let leaving = false; // one trip away per page: a second would abort the first

// Leave the page for `url`, once (a stream closing as the page unloads must not start another).
export function leaveFor(url) {
  if (leaving) return;
  leaving = true;
  location.assign(url);
}

export function toLogin() {
  const next = location.pathname + location.search;
  leaveFor("/login?next=" + encodeURIComponent(next));
}

// The current session, or a trip to the login page. `roles` lists who may use the page
// (admin always may); anyone else sees why and where to go.
export function requireSession(roles) {
  const current = session();
  if (!current) {
    toLogin();
    throw new Error("not logged in");
  }
  if (roles && current.role !== "admin" && !roles.includes(current.role)) {
    document.body.dataset.forbidden = "1";
  }
  return current;
}

export function landing(role) {
  return LANDING[role] || "/wall";
}

// `url` with the token as a query parameter, for <img>, <video> and EventSource, which
// cannot send an Authorization header.
export function withToken(url) {
  const current = session();
  if (!current) return url;
  const sep = url.includes("?") ? "&" : "?";
  return url + sep + "token=" + encodeURIComponent(current.token);
}

function detailOf(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && body.detail && typeof body.detail.message === "string") return body.detail.message;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => (d.loc ? d.loc.join(".") + ": " : "") + d.msg).join("; ");
  }
  return "request failed (" + status + ")";
}

// Call the API. `json` sends a JSON body, `form` a FormData (multipart); answers are parsed
// as JSON when they are JSON.
export async function api(path, { method = "GET", json, form, timeoutMs = TIMEOUT_MS } = {}) {
  const headers = {};
  const current = session();
  if (current) headers.Authorization = "Bearer " + current.token;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await fetch(path, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const type = response.headers.get("content-type") || "";
  const parsed = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.status === 401 && current && session()) {  // not when logging out
    clearSession();
    toLogin();
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailOf(parsed, response.status), fieldsOf(parsed),
      parsed ? parsed.detail : null);
  }
  return parsed;
}
