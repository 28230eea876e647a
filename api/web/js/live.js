// Live view of one camera over WebRTC: a recvonly video transceiver, the offer POSTed to
// /api/live/{id}/offer, the answer applied. The hub forwards the camera's H.264 as it is.

import { api } from "./api.js";

const GATHER_TIMEOUT_MS = 3000;
const RETRY_MS = [2000, 5000, 15000, 30000];

// Wait for ICE gathering to finish: the hub (aiortc) takes one offer with every candidate
// and does not trickle.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

/** One WebRTC viewer bound to a <video>; `onstate(state)` hears connecting/live/failed. */
export class LivePlayer {
  constructor(cameraId, video, onstate = () => {}, { main = false } = {}) {
    this.cameraId = cameraId;
    this.video = video;
    this.onstate = onstate;
    this.main = main; // ask for the main stream; the answer says which stream came, and why
    this.note = "";
    this.pc = null;
    this.failures = 0;
    this.retryTimer = null;
    this.stopped = false;
  }

  async start() {
    this.stopped = false;
    this.onstate("connecting");
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (event) => {
      this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.video.play().catch(() => {});
    });
    pc.addEventListener("connectionstatechange", () => this.#changed(pc));
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const stream = this.main ? "?stream=main" : "";
      const answer = await api(`/api/live/${encodeURIComponent(this.cameraId)}/offer${stream}`, {
        method: "POST",
        json: { sdp: pc.localDescription.sdp, type: pc.localDescription.type },
      });
      if (this.pc !== pc) return;
      this.stream = answer.stream;
      this.note = answer.note || "";
      await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
    } catch (error) {
      if (this.pc === pc) this.#failed(String(error.message || error));
    }
  }

  #changed(pc) {
    if (this.pc !== pc) return;
    if (pc.connectionState === "connected") {
      this.failures = 0;
      this.onstate("live");
    } else if (["failed", "closed", "disconnected"].includes(pc.connectionState)) {
      this.#failed(pc.connectionState);
    }
  }

  #failed(reason) {
    this.#close();
    this.onstate("failed", reason);
    if (this.stopped) return;
    // Back off: a camera that is down, or a hub at its viewer limit, is not hammered.
    const wait = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.start(), wait);
  }

  #close() {
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    this.video.srcObject = null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.#close();
  }
}
