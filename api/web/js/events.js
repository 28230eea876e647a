// The live alert stream: server-sent events from /api/events (token in the query, since
// EventSource cannot send headers). The browser reconnects by itself after a drop.

import { session, toLogin, withToken } from "./api.js";

export function listenAlerts(onalert, onstatus = () => {}) {
  const source = new EventSource(withToken("/api/events"));
  source.addEventListener("open", () => onstatus("open"));
  source.addEventListener("error", () => {
    onstatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    // An expired token makes every reconnect fail; go and log in again instead.
    if (!session()) {
      source.close();
      toLogin();
    }
  });
  source.addEventListener("alert", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onalert(message);
  });
  return source;
}

// The box of an alert message: `box` [x1,y1,x2,y2], else the flat `box_xyxy` "x1,y1,x2,y2".
export function boxOf(message) {
  if (Array.isArray(message.box) && message.box.length === 4) return message.box.map(Number);
  if (typeof message.box_xyxy === "string") {
    const parts = message.box_xyxy.split(",").map(Number);
    if (parts.length === 4 && parts.every(isFinite)) return parts;
  }
  if (Array.isArray(message.box_xyxy)) return message.box_xyxy.map(Number);
  return null;
}
