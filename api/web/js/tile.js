// One tile of the video wall: live WebRTC video when it has a live slot, else a JPEG snapshot
// refreshed every few seconds; a status badge; an overlay canvas for alarm boxes.

import { withToken } from "./api.js";
import { contentRect, drawBox, fitCanvas, scaleBox } from "./alarm.js";
import { h } from "./dom.js";
import { duration } from "./fmt.js";
import { LivePlayer } from "./live.js";

const SNAPSHOT_MS = 2000;
const OFFLINE = new Set(["connecting", "backing_off", "failed", "stopped"]);

export function badgeOf(camera, now = Date.now() / 1000) {
  if (!camera) return { cls: "", text: "" };
  const kind = OFFLINE.has(camera.state) ? "offline" : camera.state;
  const age = camera.stateSince ? now - camera.stateSince : camera.health.state_age_s;
  // A camera that streams but analyses nothing says so: "no frames", the reason on hover.
  const text = kind === "no_frames" ? "no frames" : kind;
  // A configuration warning (a GOP too long for a zone) shows as "⚠ long GOP", advice on hover.
  const warnings = camera.warnings || [];
  if (warnings.length && kind === "streaming") {
    return { cls: "warning", text: `⚠ long GOP ${camera.health.gop_s.toFixed(1)} s`, title: warnings.join("\n") };
  }
  return { cls: kind, text: `${text} ${duration(age)}`, title: camera.health.reason || "" };
}

/** A wall tile; `tile.el` goes into the page. */
export class Tile {
  constructor({ large = false, onselect = null } = {}) {
    this.video = h("video", { muted: true, playsinline: true, autoplay: true, hidden: true });
    this.video.muted = true;
    this.img = h("img", { alt: "", hidden: true });
    this.canvas = h("canvas", { class: "overlay" });
    this.badge = h("span", { class: "badge" });
    this.name = h("span", { class: "name" });
    this.mode = h("span", { class: "mode" });
    this.empty = h("div", { class: "empty" }, "no camera");
    this.el = h("div", { class: "tile" + (large ? " large" : "") },
      this.img, this.video, this.canvas, this.badge, this.name, this.mode, this.empty);
    this.large = large;
    this.camera = null;
    this.player = null;
    this.liveState = "off";
    this.box = null;
    this.snapTimer = null;
    this.snapLoading = false;
    if (onselect) this.el.addEventListener("click", () => this.camera && onselect(this.camera.id));
    this.video.addEventListener("resize", () => this.redraw());
    this.video.addEventListener("playing", () => this.#setLive(this.liveState));
    this.img.addEventListener("load", () => { this.snapLoading = false; this.img.hidden = this.#playing(); this.redraw(); });
    this.img.addEventListener("error", () => { this.snapLoading = false; });
    new ResizeObserver(() => this.redraw()).observe(this.el);
  }

  show(camera) {
    const id = camera ? camera.id : null;
    if (!this.camera || this.camera.id !== id) {
      this.#stopLive();
      this.clearBox();
      this.img.removeAttribute("src");
      this.img.hidden = true;
    }
    this.camera = camera;
    this.el.dataset.camera = id || "";
    this.empty.hidden = Boolean(camera);
    this.mode.hidden = !camera;
    this.name.textContent = camera ? camera.name || camera.id : "";
    this.status();
  }

  status() {
    const badge = badgeOf(this.camera);
    this.badge.className = "badge " + badge.cls;
    this.badge.textContent = badge.text;
    this.badge.title = badge.title || "";
    this.badge.hidden = !this.camera;
    this.el.dataset.state = this.camera ? this.camera.state : "";
  }

  // Live video when `live` is true and the camera streams; snapshots otherwise.
  setLive(live) {
    const wanted = live && this.camera && this.camera.state === "streaming";
    if (wanted && !this.player) {
      this.player = new LivePlayer(this.camera.id, this.video, (s, why) => this.#setLive(s, why),
        { main: this.large });
      this.player.start();
    } else if (!wanted && this.player) {
      this.#stopLive();
    }
    this.#snapshots(this.camera && !this.#playing());
  }

  #playing() {
    return this.liveState === "live" && this.video.readyState >= 2;
  }

  #setLive(state, why = "") {
    this.liveState = state;
    this.el.dataset.live = state;
    const playing = this.#playing();
    this.video.hidden = !playing;
    this.img.hidden = playing || !this.img.getAttribute("src");
    // The large tile asks for the main stream; it says when it shows another, and why.
    const player = this.player;
    const stream = player && player.stream === "main" ? "live · main" : "live";
    const note = player && player.note ? " · sub-stream" : "";
    const failed = state === "failed" && /H\.264 only/.test(why) ? " · codec not playable" : "";
    this.mode.textContent = playing ? stream + note : player ? `snapshot · ${state}${failed}` : "snapshot";
    this.mode.title = (player && player.note) || why || "";
    this.el.dataset.stream = playing && player ? player.stream || "" : "";
    this.#snapshots(this.camera && !playing);
    this.redraw();
  }

  #stopLive() {
    if (this.player) this.player.stop();
    this.player = null;
    this.#setLive("off");
  }

  #snapshots(on) {
    if (!on) {
      clearInterval(this.snapTimer);
      this.snapTimer = null;
      return;
    }
    if (this.snapTimer) return;
    const load = () => {
      // One request at a time per tile: a slow hub is not sent a pile of them.
      if (this.snapLoading || !this.camera) return;
      this.snapLoading = true;
      const main = this.large ? "&stream=main" : "";
      const url = `/api/live/${encodeURIComponent(this.camera.id)}/snapshot.jpg?t=${Date.now()}${main}`;
      this.img.src = withToken(url);
    };
    load();
    this.snapTimer = setInterval(load, SNAPSHOT_MS);
  }

  setBox(box, analysisWh, text) {
    this.box = { box, analysisWh, text };
    this.el.classList.add("alarm");
    this.redraw();
  }

  clearBox() {
    this.box = null;
    this.el.classList.remove("alarm");
    delete this.canvas.dataset.box;
    this.redraw();
  }

  redraw() {
    const ctx = fitCanvas(this.canvas);
    if (!this.box) return;
    const media = this.#playing()
      ? [this.video.videoWidth, this.video.videoHeight]
      : [this.img.naturalWidth, this.img.naturalHeight];
    const rect = contentRect(this.canvas.clientWidth, this.canvas.clientHeight, media[0], media[1]);
    const xyxy = scaleBox(this.box.box, this.box.analysisWh, rect);
    drawBox(ctx, xyxy, this.box.text);
    this.canvas.dataset.box = xyxy.map((v) => Math.round(v)).join(",");
  }

  destroy() {
    this.#stopLive();
    this.#snapshots(false);
    this.el.remove();
  }
}
