"""The simulator's scene library: generated camera scenes with ground truth.

Each scene is rendered with numpy/OpenCV, encoded with PyAV's libx264 (no B-frames, a fixed
GOP, SPS/PPS repeated at every keyframe) into an MPEG-TS file that the RTSP server loops, and
described by a JSON sidecar:

    {"scene": "river_boat_crossing", "kind": "river", "width": 640, "height": 360, "fps": 15,
     "gop": 30, "frames": 450,
     "objects": [{"id": "boat-1", "kind": "boat", "boxes": [[frame, x, y, w, h], ...]}],
     "events": [{"kind": "vessel_present", "object_id": "boat-1",
                 "start_frame": 12, "end_frame": 300}]}

Boxes are in pixels, top-left origin. Event kinds (each named after the truth it stands for;
`evaluation.scene_eval.TRUTH_RULES` maps them to the rules that should report them):

    vessel_present      a boat or dredger is in view (first to last frame with a box)
    loitering           a boat moves back and forth in the zone
    dredging            a dredger has stopped and works, its plume growing
    lights_at_night     a boat's light is in view in the dark
    stationary_object   a vehicle has parked and stays

Water-only scenes have no objects and no events: they are the "must raise nothing" cases.

The first seven scenes are the everyday ones the demo plays (`plan_fleet` cycles through
`SCENES` in order). After them come the hard cases the detection core must survive:

    river_glint         heavy sun glint: many large specks and a bright, moving sun path
                        (water only: must raise nothing)
    river_wake          a fast boat crosses early and leaves; its wake spreads, drifts and fades
                        for ~15 s after it has gone (vessel_present only while the boat is in
                        view), then an event-free tail
    river_fog           low contrast fog of slowly varying density, faint ripples and a small,
                        faint boat crossing slowly (vessel_present while it is in view)
    river_shake         calm water from a camera shaking in the wind: the whole picture, bank
                        included, moves 1-3 px a frame (water only: must raise nothing)
    river_night_calm    night water with flickering reflections of static shore lights and no
                        boat (water only: must raise nothing)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

SCENE_VERSION = 2  # bump when a renderer changes: cached files are rebuilt
DREDGER_LEAVES = 0.8  # share of the dredger scene after which it sails off
BANK_FRACTION = 0.25  # the river bank occupies the top quarter of river scenes

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SceneSpec:
    """What a scene is."""

    name: str
    kind: str
    description: str
    duration_s: int


@dataclass(frozen=True)
class SceneFiles:
    """A rendered scene: the looping video and its ground truth."""

    name: str
    video: Path
    truth: Path


@dataclass(frozen=True)
class TruthBox:
    """Where one object is in one frame (pixels, top-left origin)."""

    object_id: str
    kind: str
    x: int
    y: int
    w: int
    h: int


SCENES: dict[str, SceneSpec] = {
    s.name: s
    for s in (
        SceneSpec("river_calm", "river", "water with ripples, glint and cloud shadows", 30),
        SceneSpec("river_boat_crossing", "river", "a small boat crossing with a wake", 30),
        SceneSpec("river_loitering", "river", "a boat moving slowly back and forth", 40),
        SceneSpec("river_dredger", "river", "a large vessel that stops, with a brown plume", 40),
        SceneSpec("river_rain", "river", "water in rain, low contrast", 30),
        SceneSpec("river_night", "river", "dark water with boat lights", 30),
        SceneSpec("street", "street", "people and vehicles; one vehicle parks and stays", 40),
        # The hard cases, after the seven the demo plays (plan_fleet cycles in this order).
        SceneSpec("river_glint", "river", "heavy sun glint and a moving sun path", 30),
        SceneSpec("river_wake", "river", "a fast boat whose wake outlives it", 40),
        SceneSpec("river_fog", "river", "fog, faint ripples, a faint slow boat", 36),
        SceneSpec("river_shake", "river", "calm water, camera shaking in the wind", 30),
        SceneSpec("river_night_calm", "river", "night water, shimmering shore lights", 30),
    )
}


@dataclass
class _Geometry:
    width: int
    height: int
    fps: int
    frames: int
    rng: np.random.Generator
    phase_s: float = 0.0  # where the water's waves start: variants of a scene differ here
    yy: npt.NDArray[np.float32] = field(init=False)
    xx: npt.NDArray[np.float32] = field(init=False)

    def __post_init__(self) -> None:
        ys, xs = np.mgrid[0 : self.height, 0 : self.width]
        self.yy, self.xx = ys.astype(np.float32), xs.astype(np.float32)

    @property
    def bank_h(self) -> int:
        return int(self.height * BANK_FRACTION)


class _Water:
    """Animated water: moving ripples, glint specks, drifting cloud shadows, a static bank."""

    def __init__(self, g: _Geometry, colour: tuple[int, int, int], night: bool = False) -> None:
        self._g = g
        self._night = night
        self._colour = np.array(colour, np.float32)
        perspective = 0.4 + 0.6 * (g.yy - g.bank_h).clip(0) / max(1, g.height - g.bank_h)
        self._scale = perspective  # ripples grow towards the camera
        self._bank = self._make_bank()
        self._glint_seed = g.rng.integers(0, 2**31)

    def _make_bank(self) -> Frame:
        g = self._g
        bank = np.zeros((g.bank_h, g.width, 3), np.uint8)
        base = np.array((40, 85, 60) if not self._night else (8, 12, 10), np.float32)
        noise = g.rng.normal(0, 12 if not self._night else 2, (g.bank_h, g.width, 1))
        bank[:] = np.clip(base + noise, 0, 255).astype(np.uint8)
        for _ in range(12):  # trees and buildings on the shore
            x = int(g.rng.integers(0, g.width))
            w, h = int(g.rng.integers(15, 60)), int(g.rng.integers(10, g.bank_h))
            tone = (int(g.rng.integers(20, 90)),) * 3 if not self._night else (15, 15, 15)
            cv2.rectangle(bank, (x, g.bank_h - h), (x + w, g.bank_h), tone, -1)
        return bank

    def render(self, t: int) -> Frame:
        return self.render_with_ripple(t)[0]

    def render_with_ripple(self, t: int) -> tuple[Frame, npt.NDArray[np.float32]]:
        """The frame and its ripple height field (about -2..2), for effects that follow waves."""
        g = self._g
        s = t / g.fps + g.phase_s
        yy, xx = g.yy, g.xx
        ripple = (
            np.sin(xx * 0.09 / self._scale + yy * 0.35 / self._scale - s * 2.1)
            + 0.6 * np.sin(xx * 0.031 - yy * 0.21 / self._scale + s * 1.3)
            + 0.4 * np.sin((xx + yy) * 0.05 - s * 3.0)
        )
        amp = 3.0 if self._night else 7.0
        shade = 1.0 + 0.0 * yy
        if not self._night:  # a soft cloud shadow drifting across
            cx = (s * 12.0) % (g.width * 2) - g.width * 0.5
            shade = 1.0 - 0.18 * np.exp(
                -(((xx - cx) / 180.0) ** 2 + ((yy - g.height * 0.6) / 120.0) ** 2)
            )
        img = (self._colour[None, None, :] + (amp * ripple)[..., None]) * shade[..., None]
        frame: Frame = np.clip(img, 0, 255).astype(np.uint8)
        if not self._night:
            self._glint(frame, ripple, t)
        frame[: g.bank_h] = self._bank
        return frame, ripple

    def _glint(self, frame: Frame, ripple: npt.NDArray[np.float32], t: int) -> None:
        rng = np.random.default_rng(self._glint_seed + t)
        g = self._g
        ys = rng.integers(g.bank_h, g.height, 60)
        xs = rng.integers(0, g.width, 60)
        keep = ripple[ys, xs] > 1.2
        frame[ys[keep], xs[keep]] = (230, 235, 240)


def _boat(
    frame: Frame, x: float, y: float, w: int, h: int, wake: bool, direction: int = 1
) -> TruthBox:
    xi, yi = int(round(x)), int(round(y))
    if wake:
        tail = xi - direction * w if direction > 0 else xi + w
        cv2.line(
            frame,
            (tail, yi + h - 1),
            (xi + (0 if direction > 0 else w), yi + h - 1),
            (200, 205, 210),
            2,
        )
    hull = np.array(
        [
            [xi, yi + h // 3],
            [xi + w, yi + h // 3],
            [xi + w - w // 6, yi + h],
            [xi + w // 6, yi + h],
        ],
        np.int32,
    )
    cv2.fillPoly(frame, [hull], (30, 30, 35))
    cv2.rectangle(frame, (xi + w // 3, yi), (xi + 2 * w // 3, yi + h // 3), (180, 60, 40), -1)
    return TruthBox("", "", xi, yi, w, h)


def _clip_box(box: TruthBox, object_id: str, kind: str, g: _Geometry) -> TruthBox | None:
    x1, y1 = max(0, box.x), max(0, box.y)
    x2, y2 = min(g.width, box.x + box.w), min(g.height, box.y + box.h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return TruthBox(object_id, kind, x1, y1, x2 - x1, y2 - y1)


Renderer = Callable[[_Geometry], Iterator[tuple[Frame, list[TruthBox]]]]


def _river_calm(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (120, 110, 80))
    for t in range(g.frames):
        yield water.render(t), []


def _river_boat_crossing(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (120, 110, 80))
    w, h = max(8, g.width // 20), max(4, g.height // 30)
    y = g.bank_h + (g.height - g.bank_h) * 0.45
    start, end = -w, g.width
    speed = (end - start) / (g.frames * 0.8)
    for t in range(g.frames):
        frame = water.render(t)
        x = start + speed * t
        boxes = []
        if x < end:
            box = _clip_box(_boat(frame, x, y, w, h, wake=True), "boat-1", "boat", g)
            boxes = [box] if box else []
        yield frame, boxes


def _river_loitering(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (110, 115, 85))
    w, h = max(8, g.width // 22), max(4, g.height // 32)
    y0 = g.bank_h + (g.height - g.bank_h) * 0.5
    enter, leave = int(g.frames * 0.1), int(g.frames * 0.9)
    centre = g.width * 0.5
    for t in range(g.frames):
        frame = water.render(t)
        boxes = []
        if t < enter:
            x = -w + (centre + w) * t / enter
        elif t < leave:
            x = centre + g.width * 0.12 * math.sin((t - enter) / g.fps * 0.5)
        else:
            x = centre + (g.width - centre) * (t - leave) / (g.frames - leave)
        y = y0 + 6 * math.sin(t / g.fps * 0.3)
        direction = (
            1 if (t < enter or t >= leave or math.cos((t - enter) / g.fps * 0.5) > 0) else -1
        )
        box = _clip_box(
            _boat(frame, x, y, w, h, wake=False, direction=direction), "boat-1", "boat", g
        )
        if box:
            boxes = [box]
        yield frame, boxes


def _river_dredger(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    """It sails in, stops and works (its plume growing), then sails off before the loop ends:
    a vessel does not vanish on the spot, and a looped clip must not make it do so."""
    water = _Water(g, (115, 110, 85))
    w, h = max(24, g.width * 3 // 16), max(10, g.height // 8)
    y = g.bank_h + (g.height - g.bank_h) * 0.35
    stop_at, leave_at = int(g.frames * 0.25), int(g.frames * DREDGER_LEAVES)
    x_stop = g.width * 0.4
    plume_brown = np.array((40, 90, 140), np.float32)  # BGR brown
    for t in range(g.frames):
        frame = water.render(t)
        x = -w + (x_stop + w) * min(t, stop_at) / stop_at
        if t > leave_at:
            x = x_stop + (g.width - x_stop) * (t - leave_at) / (g.frames - 1 - leave_at)
        if t > stop_at:  # the plume grows behind the working dredger, and fades once it goes
            grow = min(1.0, (t - stop_at) / (g.fps * 8))
            grow *= 1.0 - max(0.0, (t - leave_at) / (g.frames - leave_at))
            cx, cy = x_stop + w * 0.5, y + h * 1.6
            rx, ry = w * (0.4 + 0.8 * grow), h * (0.6 + 1.2 * grow)
            d = ((g.xx - cx) / rx) ** 2 + ((g.yy - cy) / ry) ** 2
            alpha = (np.clip(1.0 - d, 0, 1) * 0.7 * grow)[..., None]
            mixed = frame.astype(np.float32) * (1 - alpha) + plume_brown * alpha
            frame = mixed.astype(np.uint8)
        xi, yi = int(x), int(y)
        cv2.rectangle(frame, (xi, yi + h // 3), (xi + w, yi + h), (50, 50, 55), -1)
        cv2.rectangle(frame, (xi + w // 2, yi), (xi + w * 3 // 4, yi + h // 3), (200, 200, 190), -1)
        cv2.line(frame, (xi + w // 5, yi + h // 3), (xi + w // 8, yi - h // 3), (60, 60, 60), 2)
        box = _clip_box(TruthBox("", "", xi, yi - h // 3, w, h + h // 3), "dredger-1", "dredger", g)
        yield frame, [box] if box else []


def _river_rain(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (110, 108, 100))
    for t in range(g.frames):
        frame = water.render(t)
        frame = (frame.astype(np.uint16) * 3 // 4 + 40).astype(np.uint8)  # grey, low contrast
        rng = np.random.default_rng(10_000 + t)
        for x, y in zip(rng.integers(0, g.width, 80), rng.integers(0, g.height, 80), strict=True):
            cv2.line(frame, (int(x), int(y)), (int(x) - 2, int(y) + 9), (170, 170, 170), 1)
        yield frame, []


def _river_night(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (28, 24, 18), night=True)
    start, end = int(g.frames * 0.2), int(g.frames * 0.8)
    y = g.bank_h + (g.height - g.bank_h) * 0.5
    for t in range(g.frames):
        frame = water.render(t)
        boxes = []
        if start <= t < end:
            x = g.width * 0.2 + g.width * 0.4 * (t - start) / (end - start)
            for i, dx in enumerate((0, 14)):
                cx, cy = int(x + dx), int(y)
                cv2.circle(frame, (cx, cy), 3, (220, 240, 255), -1)
                cv2.line(frame, (cx, cy + 4), (cx, cy + 14), (120, 140, 160), 1)  # reflection
                box = _clip_box(
                    TruthBox("", "", cx - 4, cy - 4, 9, 19), f"light-{i + 1}", "light", g
                )
                if box:
                    boxes.append(box)
        yield frame, boxes


def _street(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    base = np.zeros((g.height, g.width, 3), np.uint8)
    base[:] = (70, 70, 72)
    horizon = int(g.height * 0.45)
    base[:horizon] = (150, 140, 130)
    for i in range(8):  # buildings
        x = i * g.width // 8
        cv2.rectangle(
            base,
            (x + 4, int(g.height * 0.05)),
            (x + g.width // 8 - 4, horizon),
            (90 + 10 * (i % 3), 100, 110 + 8 * (i % 2)),
            -1,
        )
    cv2.rectangle(base, (0, horizon), (g.width, horizon + g.height // 12), (160, 160, 160), -1)
    for x in range(0, g.width, 40):
        cv2.line(
            base, (x, int(g.height * 0.75)), (x + 20, int(g.height * 0.75)), (220, 220, 220), 2
        )
    rng = g.rng
    people = [
        (
            float(rng.uniform(0, g.width)),
            float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.6, 1.2)),
        )
        for _ in range(5)
    ]
    ph, pw = max(6, g.height // 14), max(3, g.width // 90)
    vw, vh = max(20, g.width // 8), max(8, g.height // 12)
    park_at, park_x = int(g.frames * 0.3), g.width * 0.6
    for t in range(g.frames):
        frame = base.copy()
        boxes: list[TruthBox] = []
        for i, (x0, v) in enumerate(people):
            px = (x0 + v * t * 30 / g.fps) % g.width
            y = horizon + g.height // 24
            cv2.rectangle(frame, (int(px), y - ph), (int(px) + pw, y), (40, 50, 120 + 20 * i), -1)
            box = _clip_box(
                TruthBox("", "", int(px), y - ph, pw + 1, ph + 1), f"person-{i + 1}", "person", g
            )
            if box:
                boxes.append(box)
        cx = (t * 9.0 * 15 / g.fps) % (g.width + vw) - vw  # a car driving through
        cy = int(g.height * 0.8)
        cv2.rectangle(frame, (int(cx), cy), (int(cx) + vw, cy + vh), (40, 40, 170), -1)
        box = _clip_box(TruthBox("", "", int(cx), cy, vw, vh), "car-1", "vehicle", g)
        if box:
            boxes.append(box)
        px = -vw + (park_x + vw) * min(t, park_at) / park_at  # a van that parks and stays
        py = int(g.height * 0.58)
        cv2.rectangle(frame, (int(px), py), (int(px) + vw, py + vh + 4), (180, 180, 60), -1)
        box = _clip_box(TruthBox("", "", int(px), py, vw, vh + 4), "van-1", "vehicle", g)
        if box:
            boxes.append(box)
        yield frame, boxes


def _depth(g: _Geometry) -> npt.NDArray[np.float32]:
    """0 at the far shore, 1 at the bottom of the picture (0 on the bank)."""
    depth = (g.yy - g.bank_h).clip(0) / max(1, g.height - g.bank_h)
    return depth.astype(np.float32)


def _area_scaled(count: int, g: _Geometry) -> int:
    """`count` at 640x360, scaled so other sizes keep the same density."""
    return max(1, count * g.width * g.height // (640 * 360))


def _sun_path(
    frame: Frame,
    ripple: npt.NDArray[np.float32],
    depth: npt.NDArray[np.float32],
    t: int,
    g: _Geometry,
) -> Frame:
    """A bright band of glitter below the sun that widens towards the camera and drifts across."""
    s = t / g.fps
    cx = g.width * (0.3 + 0.4 * t / g.frames + 0.03 * math.sin(s * 0.5))
    band_w = g.width * (0.03 + 0.09 * depth)
    weight = np.exp(-(((g.xx - cx) / band_w) ** 2)) * (g.yy >= g.bank_h)
    glitter = np.clip(ripple + 0.3, 0, 2.3) / 2.3
    add = weight * (40.0 + 140.0 * glitter**2)
    warm = np.array((0.9, 0.97, 1.0), np.float32)  # BGR: the sun's path is slightly warm
    lit: Frame = np.clip(frame + add[..., None] * warm, 0, 255).astype(np.uint8)
    return lit


def _glint_specks(frame: Frame, ripple: npt.NDArray[np.float32], t: int, g: _Geometry) -> None:
    """Many small and some larger, horizontally stretched specks on the wave crests."""
    rng = np.random.default_rng(30_000 + t)
    mask = np.zeros((g.height, g.width), np.uint8)
    for count, kernel in ((_area_scaled(900, g), (3, 2)), (_area_scaled(220, g), (7, 3))):
        ys = rng.integers(g.bank_h, g.height, count)
        xs = rng.integers(0, g.width, count)
        keep = ripple[ys, xs] > 0.6
        layer = np.zeros_like(mask)
        layer[ys[keep], xs[keep]] = 255
        mask[cv2.dilate(layer, np.ones(kernel[::-1], np.uint8)) > 0] = 255
    mask[: g.bank_h] = 0
    frame[mask > 0] = (235, 240, 245)


def _river_glint(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (125, 112, 78))
    depth = _depth(g)
    for t in range(g.frames):
        frame, ripple = water.render_with_ripple(t)
        frame = _sun_path(frame, ripple, depth, t, g)
        _glint_specks(frame, ripple, t, g)
        yield frame, []


WAKE_S = 15.0  # how long a wake stays visible after the boat has passed a spot


@dataclass(frozen=True)
class _WakeArm:
    spread: float  # pixels per second away from the boat's line (signed, vertical)
    life_s: float


def _draw_wake(
    frame: Frame, trail: list[tuple[int, float]], y: float, t: int, g: _Geometry
) -> Frame:
    """Diverging bright lines left where the boat's stern was; they spread, drift and fade."""
    speed = g.height / 40.0
    arms = (_WakeArm(-speed, WAKE_S), _WakeArm(speed, WAKE_S), _WakeArm(0.0, WAKE_S / 3))
    mask = np.zeros((g.height, g.width), np.float32)
    thickness = max(1, g.width // 320)
    for arm in arms:
        points = []
        for t0, x0 in trail:
            age = (t - t0) / g.fps
            if age <= arm.life_s:
                drift = 3.0 * age  # the current carries the wake downstream
                points.append((x0 + drift, y + arm.spread * age, 0.75 * (1 - age / arm.life_s)))
        for (xa, ya, _), (xb, yb, alpha) in zip(points, points[1:], strict=False):
            pa, pb = (int(round(xa)), int(round(ya))), (int(round(xb)), int(round(yb)))
            cv2.line(mask, pa, pb, float(alpha), thickness)
    if not mask.any():
        return frame
    mask[: g.bank_h] = 0
    white = np.array((225, 230, 235), np.float32)
    out: Frame = (frame + mask[..., None] * (white - frame)).astype(np.uint8)
    return out


def _river_wake(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (118, 110, 82))
    w, h = max(8, g.width // 18), max(4, g.height // 28)
    y = g.bank_h + (g.height - g.bank_h) * 0.4
    start = g.fps * 2
    speed = (g.width + w) / (g.fps * 6)  # across the picture in 6 s
    trail: list[tuple[int, float]] = []
    for t in range(g.frames):
        x = -w + speed * (t - start)
        in_view = t >= start and x < g.width
        if in_view:
            trail.append((t, x))  # the stern, where the wake starts
        frame = _draw_wake(water.render(t), trail, y + h - 1, t, g)
        boxes = []
        if in_view:
            box = _clip_box(_boat(frame, x, y, w, h, wake=False), "boat-1", "boat", g)
            boxes = [box] if box else []
        yield frame, boxes


def _fog(frame: Frame, far: npt.NDArray[np.float32], t: int, g: _Geometry) -> Frame:
    """Blend towards light grey; denser far away, with slowly drifting banks of fog."""
    s = t / g.fps
    drift = np.sin(g.xx * 0.011 + s * 0.2) * np.cos(g.yy * 0.023 - s * 0.15)
    density = (0.55 + 0.2 * far + 0.08 * drift + 0.05 * math.sin(s * 0.4))[..., None]
    grey = np.array((205, 205, 200), np.float32)
    out: Frame = (frame * (1 - density) + grey * density).astype(np.uint8)
    return out


def _river_fog(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (120, 112, 96))
    far = 1.0 - _depth(g)
    far[: g.bank_h] = 1.0
    w, h = max(6, g.width // 26), max(3, g.height // 40)
    y = g.bank_h + (g.height - g.bank_h) * 0.35
    start, end = int(g.frames * 0.15), int(g.frames * 0.85)  # a slow crossing
    for t in range(g.frames):
        frame = water.render(t)
        boxes = []
        if start <= t < end:
            x = -w + (g.width + w) * (t - start) / (end - start)
            box = _clip_box(_boat(frame, x, y, w, h, wake=False), "boat-1", "boat", g)
            boxes = [box] if box else []
        yield _fog(frame, far, t, g), boxes


def _river_shake(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (120, 110, 80))
    offset = np.zeros(2)
    for t in range(g.frames):
        # A random walk of 1-3 px a frame on each axis; the mount pulls it back beyond 4 px.
        sign = g.rng.choice([-1.0, 1.0], 2)
        sign = np.where(offset * sign > 4.0, -sign, sign)
        offset = offset + sign * g.rng.uniform(1.0, 3.0, 2)
        shift = np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32)
        moved = cv2.warpAffine(
            water.render(t), shift, (g.width, g.height), borderMode=cv2.BORDER_REPLICATE
        )
        frame: Frame = np.asarray(moved, np.uint8)
        yield frame, []


@dataclass(frozen=True)
class _ShoreLight:
    x: int
    y: int
    length: int  # of its reflection on the water
    colour: npt.NDArray[np.float32]
    phase: float


def _shore_lights(g: _Geometry) -> list[_ShoreLight]:
    n, margin = 6, max(8, g.width // 40)
    lights = []
    for i in range(n):
        x = (i + 0.5) * g.width / n + g.rng.uniform(-0.3, 0.3) * g.width / n
        warm = g.rng.uniform(0.5, 1.0)
        lights.append(
            _ShoreLight(
                int(np.clip(x, margin, g.width - margin - 1)),
                g.bank_h - int(g.rng.integers(2, max(3, g.bank_h // 2))),
                int((g.height - g.bank_h) * g.rng.uniform(0.3, 0.6)),
                np.array((120 * (1 - warm) + 60, 170, 220), np.float32),
                float(g.rng.uniform(0, 2 * math.pi)),
            )
        )
    return lights


def _reflection(
    frame: Frame, light: _ShoreLight, ripple: npt.NDArray[np.float32], t: int, g: _Geometry
) -> None:
    """A broken, swaying column of light below a shore light, flickering with the waves."""
    s = t / g.fps
    half = max(6, g.width // 60)
    ys, ye = g.bank_h, g.bank_h + light.length
    xs, xe = max(0, light.x - half), min(g.width, light.x + half + 1)
    yy, xx = g.yy[ys:ye, xs:xe], g.xx[ys:ye, xs:xe]
    down = (yy - ys) / max(1, light.length)
    sway = 2.5 * np.sin(yy * 0.23 + s * 2.7 + light.phase)
    core = np.exp(-(((xx - light.x - sway) / (1.5 + 3.0 * down)) ** 2))
    broken = np.clip(
        0.5 + 0.5 * np.sin(yy * 0.9 - s * 5.0 + light.phase) + 0.3 * ripple[ys:ye, xs:xe], 0, 1
    )
    flicker = g.rng.uniform(0.6, 1.0)
    alpha = (core * broken * (1 - down) * flicker)[..., None]
    patch = frame[ys:ye, xs:xe].astype(np.float32)
    frame[ys:ye, xs:xe] = np.clip(patch + alpha * light.colour, 0, 255).astype(np.uint8)


def _river_night_calm(g: _Geometry) -> Iterator[tuple[Frame, list[TruthBox]]]:
    water = _Water(g, (28, 24, 18), night=True)
    lights = _shore_lights(g)
    for t in range(g.frames):
        frame, ripple = water.render_with_ripple(t)
        for light in lights:
            colour = tuple(int(c) for c in light.colour)
            cv2.circle(frame, (light.x, light.y), 2, colour, -1)  # static, on the bank
            _reflection(frame, light, ripple, t, g)
        yield frame, []


_RENDERERS: dict[str, Renderer] = {
    "river_calm": _river_calm,
    "river_boat_crossing": _river_boat_crossing,
    "river_loitering": _river_loitering,
    "river_dredger": _river_dredger,
    "river_rain": _river_rain,
    "river_night": _river_night,
    "street": _street,
    "river_glint": _river_glint,
    "river_wake": _river_wake,
    "river_fog": _river_fog,
    "river_shake": _river_shake,
    "river_night_calm": _river_night_calm,
}


def _frame_count(name: str, fps: int, gop_seconds: int, duration_s: int | None) -> int:
    seconds = duration_s or SCENES[name].duration_s
    gops = max(1, math.ceil(seconds / gop_seconds))
    return gops * gop_seconds * fps


def render_frames(
    name: str,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    gop_seconds: int = 2,
    duration_s: int | None = None,
    variant: int = 0,
) -> Iterator[tuple[Frame, list[TruthBox]]]:
    """Yield (bgr_frame_hw3_uint8, boxes in that frame) for every frame of the scene.

    `variant` > 0 gives the same story on other water: another bank, glint and crowd (the
    random seed) and waves at another phase; the objects' paths and the truth stay the same.
    """
    if name not in SCENES:
        raise KeyError(f"unknown scene {name!r}; scenes: {', '.join(SCENES)}")
    seed = sum(map(ord, name)) * 7919 + width * 31 + height + variant * 104_729
    g = _Geometry(
        width,
        height,
        fps,
        _frame_count(name, fps, gop_seconds, duration_s),
        np.random.default_rng(seed),
        phase_s=variant * 7.31,
    )
    yield from _RENDERERS[name](g)


def _events(
    name: str, objects: dict[str, list[list[int]]], frames: int, fps: int
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for object_id, boxes in objects.items():
        first, last = boxes[0][0], boxes[-1][0]
        if object_id.startswith(("boat", "dredger")):
            events.append(
                {
                    "kind": "vessel_present",
                    "object_id": object_id,
                    "start_frame": first,
                    "end_frame": last,
                }
            )
        if name == "river_loitering":
            events.append(
                {
                    "kind": "loitering",
                    "object_id": object_id,
                    "start_frame": int(frames * 0.1),
                    "end_frame": int(frames * 0.9),
                }
            )
        if name == "river_dredger":
            events.append(
                {
                    "kind": "dredging",
                    "object_id": object_id,
                    "start_frame": int(frames * 0.25) + fps * 2,
                    "end_frame": int(frames * DREDGER_LEAVES),
                }
            )
        if object_id.startswith("light"):
            events.append(
                {
                    "kind": "lights_at_night",
                    "object_id": object_id,
                    "start_frame": first,
                    "end_frame": last,
                }
            )
        if object_id == "van-1":
            events.append(
                {
                    "kind": "stationary_object",
                    "object_id": object_id,
                    "start_frame": int(frames * 0.3),
                    "end_frame": last,
                }
            )
    return events


def render_scene(
    name: str,
    out_dir: Path,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    gop_seconds: int = 2,
    duration_s: int | None = None,
    variant: int = 0,
) -> SceneFiles:
    """Render, encode and write the .ts and .json (atomically: temp file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _stem(name, width, height, fps, gop_seconds, duration_s, variant)
    video, truth = out_dir / f"{stem}.ts", out_dir / f"{stem}.json"
    gop = fps * gop_seconds
    objects: dict[str, list[list[int]]] = {}
    kinds: dict[str, str] = {}
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, suffix=".ts.part")
    os.close(fd)
    frames = 0
    with av.open(tmp_name, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": "0",
            "preset": "veryfast",
            "tune": "zerolatency",
            "crf": "30",
            "profile": "baseline",
            "x264-params": f"repeat-headers=1:keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        for index, (bgr, boxes) in enumerate(
            render_frames(name, width, height, fps, gop_seconds, duration_s, variant)
        ):
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
            for b in boxes:
                objects.setdefault(b.object_id, []).append([index, b.x, b.y, b.w, b.h])
                kinds[b.object_id] = b.kind
            frames += 1
        container.mux(stream.encode(None))
    doc = {
        "scene": name,
        "variant": variant,
        "kind": SCENES[name].kind,
        "width": width,
        "height": height,
        "fps": fps,
        "gop": gop,
        "frames": frames,
        "objects": [{"id": k, "kind": kinds[k], "boxes": v} for k, v in objects.items()],
        "events": _events(name, objects, frames, fps),
    }
    _write_atomic(truth, json.dumps(doc).encode())
    os.replace(tmp_name, video)
    return SceneFiles(name, video, truth)


def _stem(
    name: str, width: int, height: int, fps: int, gop: int, duration_s: int | None, variant: int
) -> str:
    suffix = f"-d{duration_s}" if duration_s else ""
    suffix += f"-s{variant}" if variant else ""
    return f"{name}-{width}x{height}-{fps}fps-g{gop}{suffix}-v{SCENE_VERSION}"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def ensure_scenes(
    cache_dir: Path,
    names: Iterable[str] | None = None,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    gop_seconds: int = 2,
    variant: int = 0,
) -> dict[str, SceneFiles]:
    """Cached scene files, rendering only those missing."""
    found = {}
    for name in sorted(set(names) if names is not None else SCENES):
        stem = _stem(name, width, height, fps, gop_seconds, None, variant)
        files = SceneFiles(name, cache_dir / f"{stem}.ts", cache_dir / f"{stem}.json")
        if not (files.video.exists() and files.truth.exists()):
            files = render_scene(name, cache_dir, width, height, fps, gop_seconds, variant=variant)
        found[name] = files
    return found
