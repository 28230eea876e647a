"""Tracks: regions associated across one camera's observations.

Each track carries a constant-velocity motion model of its centre (a Kalman filter, see
`Motion`): between sightings it is predicted forward, and a region may join it if its centre
lies within the track's size plus `gate_sigmas` standard deviations of some point of its way,
from where it was to where it should be now: it went on for a share of the time and stopped
there (a dredger stops, a boat slows or turns; the points are sampled, `_ALONG`). Each point
has the filter's own spread for that story: the speed's doubt counts only as far as the track
went on; the position's doubt, the acceleration noise and a sighting's `jitter_px` always.
The gate follows the uncertainty, not the elapsed time alone: a track whose speed is known
keeps a narrow gate along its way, even a GOP later, while one seen once knows nothing of its
speed and reaches as far as its speed prior allows (`fast_speed_px_s` if it was seen moving,
`max_speed_px_s` otherwise). Keyframe-only cameras see a fast boat once every GOP, far from
where it was; the prediction goes there with it. A track whose speed is poorly known (seen
twice 0.2 s apart at full rate, just before its camera lost its full-rate slot) reaches far
along its way and to its sides, but not far behind where it was: a speed's doubt is no licence
to have turned back, so the next boat, entering far behind the last one's track, is a track of
its own and believed at its second sighting.

Association is greedy: confirmed tracks first, the cheapest first (its distance from the way
the track was going over the reach of going on all the way: the gate decides which pairs may
be, not which come first); then unconfirmed ones, the most recently seen first. A track seen
once or twice knows little of its speed, so its gate widens fast while it goes unseen: such a
leftover must not take the sighting of an object seen a moment ago (DeepSORT's matching
cascade, kept to unconfirmed tracks: among confirmed ones a stopped hull's fragment took the
hull after one missed frame).

A track is `confirmed` after `confirm_hits` matched observations: ripples and glint make
regions that do not come back in the same place, so persistence is what separates them.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detectors.regions import Regions

_FEW_PAIRS = 64  # up to this many track-region pairs are associated in plain Python
# Where along its way a track may have stopped, as shares of the way from the point nearest a
# region to the prediction (nearer than that point is never cheaper: the spread only grows).
_ALONG = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class TrackerParams:
    """Association and life-cycle bounds."""

    # Speed priors (bounds at `gate_sigmas`). With the acceleration noise, a still newborn's
    # gate a 2-s GOP later is what a 25 px/s bound gave before the motion model.
    max_speed_px_s: float = 22.0  # of something first seen still
    fast_speed_px_s: float = 50.0  # ... first seen moving: a fast boat, 43 px/s at 320x180
    accel_px_s2: float = 4.0  # white-noise acceleration (px/s^1.5): a boat turns, slows
    jitter_px: float = 3.0  # a region's centre, from 4-pixel cells, about the object's
    gate_sigmas: float = 3.0
    max_misses: int = 2
    confirm_hits: int = 2
    confirm_s: float = 1.5  # at full rate, ripples persist for a frame or two; boats do not stop
    confirm_ratio: float = 0.7  # of the camera's observations since the track began
    history: int = 512
    still_radius_px: float = 6.0


@dataclass(frozen=True, slots=True)
class Observation:
    """Where a track was seen once."""

    ts: float
    seq: int
    xyxy: tuple[int, int, int, int]
    area_px: int
    still: float
    contrast: float


@dataclass(frozen=True, slots=True)
class Motion:
    """A constant-velocity Kalman filter of a track's centre, both axes alike.

    The state is the centre (`x`, `y`) and velocity (`vx`, `vy`) at `ts`; the covariance of
    either axis is `pp` (position), `pv` and `vv` (velocity), the same for both because their
    noises are. A track seen once has its speed prior as `vv`.

    >>> m = Motion.first(10.0, 20.0, 0.0, speed_sd=20.0, jitter_px=3.0)  # seen once...
    >>> m = m.updated(30.0, 20.0, 2.0, accel=0.0, jitter_px=3.0)  # ...and 20 px on, 2 s later
    >>> x, y, pp, _, _ = m.predicted(4.0, accel=0.0)
    >>> round(x), round(y), round(pp**0.5)  # 20 px further on, give or take 7
    (50, 20, 7)
    """

    x: float
    y: float
    vx: float
    vy: float
    ts: float
    pp: float
    pv: float
    vv: float

    @classmethod
    def first(cls, x: float, y: float, ts: float, speed_sd: float, jitter_px: float) -> Motion:
        """Seen once, at rest as far as anyone knows, with `speed_sd` of doubt."""
        return cls(x, y, 0.0, 0.0, ts, jitter_px**2, 0.0, speed_sd**2)

    def predicted(self, ts: float, accel: float) -> tuple[float, float, float, float, float]:
        """Centre and covariance (pp, pv, vv) expected at `ts`."""
        dt = max(ts - self.ts, 0.0)
        q = accel * accel
        pp = self.pp + dt * (2 * self.pv + dt * self.vv) + q * dt**3 / 3
        pv = self.pv + dt * self.vv + q * dt * dt / 2
        vv = self.vv + q * dt
        return self.x + self.vx * dt, self.y + self.vy * dt, pp, pv, vv

    def updated(self, x: float, y: float, ts: float, accel: float, jitter_px: float) -> Motion:
        """The state after a sighting of the centre at (`x`, `y`) at `ts`."""
        px, py, pp, pv, vv = self.predicted(ts, accel)
        s = pp + jitter_px**2
        kp, kv = pp / s, pv / s
        ix, iy = x - px, y - py
        return Motion(
            px + kp * ix,
            py + kp * iy,
            self.vx + kv * ix,
            self.vy + kv * iy,
            max(ts, self.ts),
            (1 - kp) * pp,
            (1 - kp) * pv,
            vv - kv * pv,
        )


@dataclass
class Track:
    """One object followed over a camera's observations (state owned by the `Tracker`)."""

    track_id: int
    slot: int
    history: deque[Observation]
    motion: Motion
    hits: int = 1
    moving_hits: int = 0
    misses: int = 0
    missed_total: int = 0
    path_px: float = 0.0
    anchor_xy: tuple[float, float] = (0.0, 0.0)  # where it came to rest...
    anchor_px: int = 0  # ...and its size there
    still_since: float = 0.0
    best: Observation | None = None
    matched_now: bool = field(default=True)

    @property
    def last(self) -> Observation:
        """The latest observation."""
        return self.history[-1]

    @property
    def first(self) -> Observation:
        """The first observation kept."""
        return self.history[0]

    @property
    def age_s(self) -> float:
        """Seconds from the first to the latest observation."""
        return self.last.ts - self.first.ts

    @property
    def stationary_s(self) -> float:
        """How long the centre has stayed within the still radius."""
        return self.last.ts - self.still_since

    def travel_px(self, seconds: float) -> tuple[float, float]:
        """Path length and straight-line distance covered in the last `seconds`."""
        since = self.last.ts - seconds
        path, (x1, y1) = 0.0, _centre(self.last.xyxy)
        x, y = x1, y1
        for obs in reversed(self.history):
            if obs.ts < since:
                break
            xo, yo = _centre(obs.xyxy)
            path += math.hypot(x - xo, y - yo)
            x, y = xo, yo
        return path, math.hypot(x1 - x, y1 - y)

    def boxes_t5(self) -> npt.NDArray[np.float64]:
        """The track's boxes over time: rows of (ts, x1, y1, x2, y2)."""
        return np.array([(o.ts, *o.xyxy) for o in self.history], np.float64).reshape(-1, 5)


def _size(xyxy: tuple[int, int, int, int]) -> int:
    return max(xyxy[2] - xyxy[0], xyxy[3] - xyxy[1])


def _centre(xyxy: tuple[int, int, int, int]) -> tuple[float, float]:
    return ((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2)


class Tracker:
    """Tracks for every camera; `update` takes one step's regions for the observed cameras.

    >>> tracker = Tracker()                                             # doctest: +SKIP
    >>> ended = tracker.update(slot_m, seq_n, ts_n, regions)
    >>> tracker.tracks(slot)
    """

    def __init__(self, params: TrackerParams | None = None, width_px: int | None = None) -> None:
        self.params = params or TrackerParams()
        self._width_px = width_px
        self._tracks: dict[int, list[Track]] = {}
        self._ids = itertools.count(1)

    def tracks(self, slot: int) -> list[Track]:
        """The live tracks of one camera."""
        return self._tracks.get(slot, [])

    def drop(self, slot: int) -> list[Track]:
        """Forget a camera's tracks (it stopped sending frames); returns them."""
        return self._tracks.pop(slot, [])

    def busy_slots(self) -> set[int]:
        """Cameras with at least one live track."""
        return set(self._tracks)

    def update(
        self,
        slot_m: npt.NDArray[np.intp],
        seq_n: npt.NDArray[np.int64],
        ts_n: npt.NDArray[np.float64],
        regions: Regions,
    ) -> list[Track]:
        """Advance every observed camera by one observation; return the tracks that ended.

        Only cameras with a region or a live track are visited; regions are split by camera
        with one sort.
        """
        order = np.argsort(regions.slot_k, kind="stable")
        sorted_slots = regions.slot_k[order]
        observed = set(slot_m.tolist())
        busy = (set(sorted_slots.tolist()) | set(self._tracks)) & observed
        ended: list[Track] = []
        seen = _Seen(regions)
        for slot in sorted(busy):
            lo, hi = np.searchsorted(sorted_slots, (slot, slot + 1))
            ended += self._update_camera(
                slot, int(seq_n[slot]), float(ts_n[slot]), regions, order[lo:hi], seen
            )
        return ended

    def _update_camera(
        self,
        slot: int,
        seq: int,
        ts: float,
        regions: Regions,
        ks: npt.NDArray[np.intp],
        seen: _Seen,
    ) -> list[Track]:
        tracks = self._tracks.get(slot, [])
        pairs = self._associate(tracks, regions.xyxy_k[ks], ts)
        taken = set()
        for t_index, j in pairs:
            self._extend(tracks[t_index], seen.at(int(ks[j]), ts, seq))
            taken.add(t_index)
        matched = {j for _, j in pairs}
        ended = []
        for index, track in enumerate(tracks):
            if index not in taken:
                track.misses += 1
                # An object entering or leaving is only partly in view: not seeing it at the
                # picture's side is no sign that it was never there.
                track.missed_total += not self._at_side(track.last.xyxy)
                track.matched_now = False
                if track.misses > self.params.max_misses:
                    ended.append(track)
        alive = [t for t in tracks if t not in ended]
        movers = [t for t in tracks if t.moving_hits >= 2 and self.confirmed(t)]
        for j, k in enumerate(ks):
            if j not in matched:
                track = self._new_track(slot, seen.at(int(k), ts, seq))
                if track.last.still >= 0.5 and any(_part_of(track.last, m) for m in movers):
                    track.moving_hits = 1  # a piece of a vessel that arrived, not the water
                alive.append(track)
        if alive:
            self._tracks[slot] = alive
        else:
            self._tracks.pop(slot, None)
        return ended

    def _at_side(self, xyxy: tuple[int, int, int, int]) -> bool:
        """Whether a box touches the picture's left or right side, where vessels come in and
        go out (the top is the far bank, the bottom near water, where glint is)."""
        return self._width_px is not None and (xyxy[0] <= 0 or xyxy[2] >= self._width_px)

    def _associate(
        self, tracks: list[Track], xyxy_k4: npt.NDArray[np.int32], ts: float
    ) -> list[tuple[int, int]]:
        """Greedy pairs (track, region), each within the track's reach: confirmed tracks first,
        cheapest first; then the unconfirmed, the most recently seen first."""
        if not tracks or not len(xyxy_k4):
            return []
        if len(tracks) * len(xyxy_k4) <= _FEW_PAIRS:
            costs = self._costs_few(tracks, xyxy_k4.tolist(), ts)
        else:
            costs = self._costs_many(tracks, xyxy_k4, ts)
        rank = [(0, 0) if self.confirmed(t) else (1, t.misses) for t in tracks]
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_k: set[int] = set()
        for _, t, k in sorted(costs, key=lambda c: (rank[c[1]], c)):
            if t not in used_t and k not in used_k:
                pairs.append((t, k))
                used_t.add(t)
                used_k.add(k)
        return pairs

    def _costs_few(
        self, tracks: list[Track], boxes: list[list[int]], ts: float
    ) -> list[tuple[float, int, int]]:
        """(cost, track, region) within reach, in plain Python: for a few pairs, numpy's
        per-call overhead is most of the time."""
        p, g = self.params, self.params.gate_sigmas
        costs = []
        for t, track in enumerate(tracks):
            m = track.motion
            dt = max(ts - m.ts, 0.0)
            ux, uy = m.vx * dt, m.vy * dt
            run = ux * ux + uy * uy
            size = _size(track.last.xyxy)
            # The spread of a sighting had the track gone on for a share f of the time and
            # stopped: still + f * (b + f * c), the speed's doubt carried only as far as it went.
            still = m.pp + p.accel_px_s2**2 * dt**3 / 3
            b, c = 2 * dt * m.pv, dt * dt * m.vv
            reach = size + g * math.sqrt(still + b + c)
            jitter = p.jitter_px**2
            for k, (x1, y1, x2, y2) in enumerate(boxes):
                dx, dy = (x1 + x2) / 2 - m.x, (y1 + y2) / 2 - m.y
                near = min(max((dx * ux + dy * uy) / run, 0.0), 1.0) if run else 0.0
                off = math.hypot(dx - near * ux, dy - near * uy)
                if off > size + g * math.sqrt(still + b + c + jitter):
                    continue  # beyond the widest gate, that of going on all the way
                for step in _ALONG:
                    f = near + (1.0 - near) * step
                    gate = size + g * math.sqrt(still + f * (b + f * c) + jitter)
                    if math.hypot(dx - f * ux, dy - f * uy) <= gate:
                        costs.append((off / reach, t, k))
                        break
        return costs

    def _costs_many(
        self, tracks: list[Track], xyxy_k4: npt.NDArray[np.int32], ts: float
    ) -> list[tuple[float, int, int]]:
        """The same with numpy, every pair at every sampled point of its way."""
        p, g = self.params, self.params.gate_sigmas
        state = np.array(
            [(t.motion.x, t.motion.y, t.motion.vx, t.motion.vy, t.motion.ts) for t in tracks]
        )
        cov = np.array([(t.motion.pp, t.motion.pv, t.motion.vv) for t in tracks])
        dt = np.maximum(ts - state[:, 4], 0.0)
        still_t = cov[:, 0] + p.accel_px_s2**2 * dt**3 / 3
        b_t, c_t = 2 * dt * cov[:, 1], dt * dt * cov[:, 2]
        last = np.array([t.last.xyxy for t in tracks], np.float64)
        size_t = np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1])
        u_t2 = state[:, 2:4] * dt[:, None]
        boxes = xyxy_k4.astype(np.float64)
        d_tk2 = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2 - state[:, None, :2]
        run_t = np.maximum((u_t2 * u_t2).sum(axis=1), 1e-12)
        near_tk = np.clip((d_tk2 * u_t2[:, None, :]).sum(axis=2) / run_t[:, None], 0.0, 1.0)
        f_tks = near_tk[:, :, None] + (1.0 - near_tk[:, :, None]) * np.array(_ALONG)
        off_tks2 = d_tk2[:, :, None, :] - f_tks[..., None] * u_t2[:, None, None, :]
        dist_tks = np.sqrt((off_tks2 * off_tks2).sum(axis=3))
        b_tks, c_tks = b_t[:, None, None], c_t[:, None, None]
        spread_tks = still_t[:, None, None] + f_tks * (b_tks + f_tks * c_tks)
        gate_tks = size_t[:, None, None] + g * np.sqrt(spread_tks + p.jitter_px**2)
        reach_t = size_t + g * np.sqrt(still_t + b_t + c_t)
        cost_tk = dist_tks[:, :, 0] / reach_t[:, None]
        ts_, ks_ = np.nonzero((dist_tks <= gate_tks).any(axis=2))
        return list(zip(cost_tk[ts_, ks_].tolist(), ts_.tolist(), ks_.tolist(), strict=True))

    def _new_track(self, slot: int, obs: Observation) -> Track:
        p = self.params
        moving = obs.still < 0.5
        speed = p.fast_speed_px_s if moving else p.max_speed_px_s
        x, y = _centre(obs.xyxy)
        motion = Motion.first(x, y, obs.ts, speed / p.gate_sigmas, p.jitter_px)
        track = Track(next(self._ids), slot, deque([obs], maxlen=p.history), motion)
        track.moving_hits = int(moving)
        track.anchor_xy, track.anchor_px = _centre(obs.xyxy), _size(obs.xyxy)
        track.still_since = obs.ts
        track.best = obs
        return track

    def _extend(self, track: Track, obs: Observation) -> None:
        (x0, y0), (x1, y1) = _centre(track.last.xyxy), _centre(obs.xyxy)
        track.path_px += float(np.hypot(x1 - x0, y1 - y0))
        p = self.params
        track.motion = track.motion.updated(x1, y1, obs.ts, p.accel_px_s2, p.jitter_px)
        track.history.append(obs)
        track.hits += 1
        track.moving_hits += obs.still < 0.5
        track.misses = 0
        track.matched_now = True
        if track.best is None or obs.area_px >= track.best.area_px:
            track.best = obs
        # A stopped object shows itself in pieces (a van's end, then the whole van): it is
        # still while what is seen stays within half its size, this piece's or the one's
        # seen where it came to rest.
        size = _size(obs.xyxy)
        radius = max(p.still_radius_px, 0.5 * max(size, track.anchor_px))
        ax, ay = track.anchor_xy
        if math.hypot(x1 - ax, y1 - ay) > radius:
            track.anchor_xy, track.anchor_px, track.still_since = (x1, y1), size, obs.ts

    def confirmed(self, track: Track) -> bool:
        """Whether a track has been seen often enough to be believed."""
        p = self.params
        return (
            track.hits >= p.confirm_hits
            and track.age_s >= p.confirm_s
            and track.hits >= p.confirm_ratio * (track.hits + track.missed_total)
        )


def _part_of(obs: Observation, vessel: Track) -> bool:
    """Whether a still region lies where a vessel that moved is: within its size (as seen at
    its largest) of its latest centre. A hull that stops shows itself in pieces."""
    size = vessel.best.xyxy if vessel.best is not None else vessel.last.xyxy
    reach = max(size[2] - size[0], size[3] - size[1])
    (x0, y0), (x1, y1) = _centre(vessel.last.xyxy), _centre(obs.xyxy)
    return bool(np.hypot(x1 - x0, y1 - y0) <= reach)


class _Seen:
    """One step's regions as plain Python values, read once (numpy scalars are slow one by
    one)."""

    def __init__(self, regions: Regions) -> None:
        self._xyxy: list[list[int]] = regions.xyxy_k.tolist()
        self._area: list[int] = regions.area_px_k.tolist()
        self._still: list[float] = regions.still_k.tolist()
        self._contrast: list[float] = regions.contrast_k.tolist()

    def at(self, k: int, ts: float, seq: int) -> Observation:
        """Region `k` as an observation at `ts`, `seq`."""
        x1, y1, x2, y2 = self._xyxy[k]
        return Observation(
            ts, seq, (x1, y1, x2, y2), self._area[k], self._still[k], self._contrast[k]
        )
