"""Tracks: regions associated across one camera's observations.

Association is greedy on a cost matrix computed with numpy per camera: the distance between
centres, scaled by how far the object could have gone since it was last seen (its size plus
`max_speed_px_s` times the gap). Keyframe-only cameras see an object once every GOP, so the
gate grows with the gap instead of assuming video rate.

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


@dataclass(frozen=True)
class TrackerParams:
    """Association and life-cycle bounds."""

    max_speed_px_s: float = 25.0
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


@dataclass
class Track:
    """One object followed over a camera's observations (state owned by the `Tracker`)."""

    track_id: int
    slot: int
    history: deque[Observation]
    hits: int = 1
    moving_hits: int = 0
    misses: int = 0
    missed_total: int = 0
    path_px: float = 0.0
    anchor_xy: tuple[float, float] = (0.0, 0.0)
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

    @property
    def net_px(self) -> float:
        """Straight-line distance from the first to the latest centre."""
        (x0, y0), (x1, y1) = _centre(self.first.xyxy), _centre(self.last.xyxy)
        return float(np.hypot(x1 - x0, y1 - y0))

    def boxes_t5(self) -> npt.NDArray[np.float64]:
        """The track's boxes over time: rows of (ts, x1, y1, x2, y2)."""
        return np.array([(o.ts, *o.xyxy) for o in self.history], np.float64).reshape(-1, 5)


def _centre(xyxy: tuple[int, int, int, int]) -> tuple[float, float]:
    return ((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2)


class Tracker:
    """Tracks for every camera; `update` takes one step's regions for the observed cameras.

    >>> tracker = Tracker()                                             # doctest: +SKIP
    >>> ended = tracker.update(slot_m, seq_n, ts_n, regions)
    >>> tracker.tracks(slot)
    """

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
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
                track.missed_total += 1
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

    def _associate(
        self, tracks: list[Track], xyxy_k4: npt.NDArray[np.int32], ts: float
    ) -> list[tuple[int, int]]:
        """Greedy pairs (track, region), cheapest first, each within the track's reach."""
        if not tracks or not len(xyxy_k4):
            return []
        if len(tracks) * len(xyxy_k4) <= _FEW_PAIRS:
            costs = self._costs_few(tracks, xyxy_k4.tolist(), ts)
        else:
            costs = self._costs_many(tracks, xyxy_k4, ts)
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_k: set[int] = set()
        for _, t, k in sorted(costs):
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
        speed = self.params.max_speed_px_s
        costs = []
        for t, track in enumerate(tracks):
            x1, y1, x2, y2 = track.last.xyxy
            reach = max(x2 - x1, y2 - y1) + speed * max(ts - track.last.ts, 0.2)
            for k, (a, b, c, d) in enumerate(boxes):
                cost = math.hypot((a + c - x1 - x2) / 2, (b + d - y1 - y2) / 2) / reach
                if cost <= 1.0:
                    costs.append((cost, t, k))
        return costs

    def _costs_many(
        self, tracks: list[Track], xyxy_k4: npt.NDArray[np.int32], ts: float
    ) -> list[tuple[float, int, int]]:
        """The same with numpy: centre distance over the reach (size plus speed times gap)."""
        last = np.array([t.last.xyxy for t in tracks], np.float64)
        gap = np.array([ts - t.last.ts for t in tracks], np.float64)
        boxes = xyxy_k4.astype(np.float64)
        centre_t2 = (last[:, :2] + last[:, 2:]) / 2
        centre_k2 = (boxes[:, :2] + boxes[:, 2:]) / 2
        dist_tk = np.linalg.norm(centre_t2[:, None, :] - centre_k2[None, :, :], axis=2)
        size_t = np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1])
        reach_t = size_t + self.params.max_speed_px_s * np.maximum(gap, 0.2)
        cost_tk = dist_tk / reach_t[:, None]
        ts_, ks_ = np.nonzero(cost_tk <= 1.0)
        return list(zip(cost_tk[ts_, ks_].tolist(), ts_.tolist(), ks_.tolist(), strict=True))

    def _new_track(self, slot: int, obs: Observation) -> Track:
        track = Track(next(self._ids), slot, deque([obs], maxlen=self.params.history))
        track.moving_hits = int(obs.still < 0.5)
        track.anchor_xy = _centre(obs.xyxy)
        track.still_since = obs.ts
        track.best = obs
        return track

    def _extend(self, track: Track, obs: Observation) -> None:
        (x0, y0), (x1, y1) = _centre(track.last.xyxy), _centre(obs.xyxy)
        track.path_px += float(np.hypot(x1 - x0, y1 - y0))
        track.history.append(obs)
        track.hits += 1
        track.moving_hits += obs.still < 0.5
        track.misses = 0
        track.matched_now = True
        ax, ay = track.anchor_xy
        w, h = obs.xyxy[2] - obs.xyxy[0], obs.xyxy[3] - obs.xyxy[1]
        radius = max(self.params.still_radius_px, 0.3 * max(w, h))  # big hulls jitter more
        if np.hypot(x1 - ax, y1 - ay) > radius:
            track.anchor_xy, track.still_since = (x1, y1), obs.ts
        if track.best is None or obs.area_px >= track.best.area_px:
            track.best = obs

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
