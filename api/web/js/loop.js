// The closed loop as the pages need it: which moves exist from a state, who may make them,
// and the SLA clock. Mirrors alerts/tickets/loop.py and api/security/policy.py; the server
// checks again, so a stale table here can only hide a button, never allow a move.

import { duration } from "./fmt.js";

export const MOVES = {
  received: ["assigned", "rejected", "false_alarm"],
  assigned: ["handled", "rejected", "false_alarm"],
  handled: ["feedback"],
  feedback: ["verified", "assigned"],
  verified: [],
  rejected: [],
  false_alarm: [],
};

const MOVERS = {
  assigned: ["enforcement"],
  handled: ["enforcement"],
  feedback: ["enforcement"],
  false_alarm: ["reviewer"],
  verified: ["reviewer"],
  rejected: ["reviewer"],
};

export const OPEN_STATES = ["received", "assigned", "handled", "feedback"];

export function movesFor(state, role) {
  return (MOVES[state] || []).filter((to) => role === "admin" || (MOVERS[to] || []).includes(role));
}

// The SLA clock of a ticket: counting down until the first response, then met or missed.
export function sla(ticket, now = Date.now() / 1000) {
  if (ticket.first_response_at) {
    const met = ticket.first_response_at <= ticket.due_at;
    const took = ticket.first_response_at - ticket.created_at;
    return { cls: met ? "met" : "overdue", text: `${met ? "met" : "missed"}: answered in ${duration(took)}` };
  }
  const left = ticket.due_at - now;
  if (left >= 0) return { cls: "due", text: `due in ${duration(left)}` };
  return { cls: "overdue", text: `overdue by ${duration(-left)}` };
}

// Move a ticket: multipart, with the version last seen so a concurrent move answers 409.
export function moveForm(ticket, to,
  { note = "", photos = [], satisfaction = null, actor = "", assignee = "" } = {}) {
  const form = new FormData();
  form.append("to", to);
  form.append("note", note);
  form.append("expected_version", String(ticket.version));
  // The server takes the actor from the token; older servers read this field.
  if (actor) form.append("actor", actor);
  if (satisfaction !== null) form.append("satisfaction", String(satisfaction));
  if (assignee) form.append("assignee", assignee);
  for (const file of photos) form.append("photos", file, file.name);
  return form;
}
