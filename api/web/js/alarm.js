// Alarm helpers: a beep made with WebAudio (no sound file) and a box drawn over a picture.

let audio = null;
let beeps = 0;

// Browsers start audio only after a user gesture; the first click on the page unlocks it.
export function unlockAudio() {
  if (!audio) audio = new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio.state;
}

export function beep(times = 3) {
  const ctx = audio || new AudioContext();
  audio = ctx;
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  for (let i = 0; i < times; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.value = 0.08;
    osc.connect(gain).connect(ctx.destination);
    const at = ctx.currentTime + i * 0.3;
    osc.start(at);
    osc.stop(at + 0.15);
  }
  beeps += 1;
  document.body.dataset.beeps = String(beeps);
  return ctx.state;
}

// Where the picture sits inside an element shown with object-fit: contain.
export function contentRect(elWidth, elHeight, mediaWidth, mediaHeight) {
  if (!mediaWidth || !mediaHeight) return { x: 0, y: 0, w: elWidth, h: elHeight };
  const scale = Math.min(elWidth / mediaWidth, elHeight / mediaHeight);
  const w = mediaWidth * scale;
  const h = mediaHeight * scale;
  return { x: (elWidth - w) / 2, y: (elHeight - h) / 2, w, h };
}

// A box in analysis pixels (the frame the detectors saw, `analysis_wh`) mapped onto the
// displayed picture. The analysis frame is the camera frame resized without keeping its aspect,
// so x and y scale separately.
export function scaleBox(box, analysisWh, rect) {
  const [aw, ah] = analysisWh;
  const sx = rect.w / aw;
  const sy = rect.h / ah;
  return [rect.x + box[0] * sx, rect.y + box[1] * sy, rect.x + box[2] * sx, rect.y + box[3] * sy];
}

// Size a canvas to its element's pixels and return its 2D context, cleared.
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  return ctx;
}

export function drawBox(ctx, xyxy, text, colour = "#ff1744") {
  const [x1, y1, x2, y2] = xyxy;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 3;
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  if (text) {
    ctx.font = "bold 13px system-ui, sans-serif";
    const width = ctx.measureText(text).width + 8;
    const top = Math.max(0, y1 - 18);
    ctx.fillStyle = colour;
    ctx.fillRect(x1, top, width, 18);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x1 + 4, top + 13);
  }
}
