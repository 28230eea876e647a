// The header every page shares: the pages this role uses, who is logged in, log out.

import { clearSession, leaveFor, requireSession, session } from "./api.js";
import { h } from "./dom.js";

const LINKS = [
  { href: "/wall", text: "Video wall", roles: ["operator"] },
  { href: "/inbox", text: "Inbox", roles: ["enforcement"] },
  { href: "/replay", text: "Incidents", roles: ["reviewer"] },
  { href: "/stats", text: "Stats", roles: ["reviewer"] },
  { href: "/label", text: "Labels", roles: ["reviewer"] },
  { href: "/admin", text: "Admin", roles: [] },
  { href: "/setup", text: "Cameras", roles: [] },
];

async function logout() {
  // The session goes first: a poll that meets the revoked token must not start a second
  // trip to the login page (it would abort this one).
  const current = session();
  clearSession();
  if (current) {
    try {
      await fetch("/api/auth/logout", {
        method: "POST",
        headers: { Authorization: "Bearer " + current.token },
        signal: AbortSignal.timeout(3000),
      });
    } catch {
      // The token is dropped here either way; an unreachable server cannot keep it alive.
    }
  }
  leaveFor("/login");
}

// Check the session, draw the header, and return the session.
export function startPage(roles) {
  const current = requireSession(roles);
  const header = document.querySelector("header.top");
  const links = LINKS.filter((l) => current.role === "admin" || l.roles.includes(current.role));
  const nav = h(
    "nav",
    {},
    links.map((l) =>
      h("a", { href: l.href, class: location.pathname === l.href ? "active" : "" }, l.text),
    ),
  );
  const who = h(
    "span",
    { class: "who" },
    h("span", { id: "username" }, current.username),
    " · ",
    h("span", { id: "role" }, current.role),
    " ",
    h("button", { type: "button", id: "logout", onclick: logout }, "Log out"),
  );
  header.append(h("a", { href: "/", class: "brand" }, "riverwatch"), nav, who);
  if (document.body.dataset.forbidden) {
    document.querySelector("main").prepend(
      h("p", { class: "error", id: "forbidden" }, "This page is not for the " + current.role +
        " role; your pages are linked above."),
    );
  }
  return current;
}
