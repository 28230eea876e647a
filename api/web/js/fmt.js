// Formatting of times and durations for people.

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}

export function clock(epoch) {
  if (!epoch) return "–";
  return new Date(epoch * 1000).toLocaleTimeString([], { hour12: false });
}

export function dateTime(epoch) {
  if (!epoch) return "–";
  const d = new Date(epoch * 1000);
  return d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour12: false });
}

export function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %";
}

export function label(text) {
  return String(text || "").replaceAll("_", " ");
}

// <input type="datetime-local"> value <-> epoch seconds, in local time.
export function toLocalInput(epoch) {
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
    "T" + pad(d.getHours()) + ":" + pad(d.getMinutes())
  );
}

export function fromLocalInput(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return isFinite(t) ? t / 1000 : null;
}
