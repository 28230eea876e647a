// What a stream probe found (`POST /api/probe`), as name/value rows for a <dl>.

import { h } from "./dom.js";

function probeRows(found) {
  if (!found.ok) return [["Stream", found.url], ["Problem", found.error]];
  return [
    ["Stream", found.url],
    ["Video", `${found.codec} ${found.width}x${found.height}` +
      (found.fps ? ` at ${found.fps.toFixed(1)} fps` : "")],
    ["GOP", found.gop_s.length ? found.gop_s.map((g) => g.toFixed(1) + " s").join(", ") : "not measured"],
    ["B-frames", found.bframes ? "yes" : "no"],
    ["Audio", found.audio || "none"],
    ["Timestamps", found.problems.length ? found.problems.join("; ") : "fine"],
  ];
}

// Fill `list` (a <dl>) with the probe's figures; `data-ok` says whether the stream was read.
export function showProbe(list, found) {
  for (const [name, value] of probeRows(found)) {
    list.append(h("dt", {}, name), h("dd", { dataset: { name } }, value));
  }
  list.dataset.ok = String(found.ok);
  list.hidden = false;
}
