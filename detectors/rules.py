"""Rules that turn tracks (and zone occupancy) into events with a start, updates and an end.

Each zone runs the rules its config names (`ZoneConfig.rule_kinds`). A rule is a pure
function of one track (or one zone) at one observation: it answers a confidence when its
condition holds, None otherwise. `RuleEngine` keeps one open event per (rule, zone, track),
starts it the first time its condition holds, updates it while it holds, and ends it when it
has not held for `quiet_observations` observations of that camera or its track is gone.

    vessel_in_zone     a confirmed track whose waterline (box bottom centre) is in the zone
    loitering          ... staying longer than `loiter_s`, slowly or back and forth
    dredging           a large track stationary longer than `dredging_s`, the water beside it
                       turned brown against the camera's own chroma baseline
    lights_at_night    the camera is dark and a confirmed track is much brighter than it
    stationary_object  a track that has not moved for `stationary_s` (street: stall, van)
    crowding           the zone's active share above `crowd_fraction` for `min_observations`
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.background import CellMasks
from detectors.tracker import Track, Tracker
from detectors.zones import ZoneSpec
from riverwatch.config import ZoneConfig
from riverwatch.events import Event, Phase
from riverwatch.types import RuleKind

_VESSEL_RULES = frozenset({RuleKind.VESSEL, RuleKind.LOITERING, RuleKind.DREDGING})
NIGHT_LUMA = 55.0  # a camera whose mean brightness is below this is looking at night
LIGHT_CONTRAST = 45.0
PLUME_MIN = 8.0  # chroma units of (V - V0) - (U - U0) beside the vessel


@dataclass
class _Open:
    started_at: float
    start_seq: int
    quiet: int = 0


@dataclass(frozen=True)
class _Hit:
    confidence: float
    track: Track | None
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class CameraView:
    """What rules may read of one camera at one observation."""

    slot: int
    seq: int
    ts: float
    night: bool
    active_hw: npt.NDArray[np.bool_]
    plume: PlumeMeter


class PlumeMeter:
    """Turbidity beside a box: the water's chroma shift towards brown, against its baseline."""

    def __init__(self, chroma_2hw: npt.NDArray[np.uint8], base_2hw: npt.NDArray[np.float32]):
        self._chroma_2hw = chroma_2hw
        self._base_2hw = base_2hw

    def beside(self, xyxy: tuple[int, int, int, int], cell: int) -> float:
        """The 75th percentile shift in a ring one box-size wide around the box."""
        x1, y1, x2, y2 = (v // cell for v in xyxy)
        pad = max(x2 - x1, y2 - y1, 2)
        ys, xs = slice(max(0, y1 - pad), y2 + pad), slice(max(0, x1 - pad), x2 + pad)
        chroma, base = self._chroma_2hw[:, ys, xs].astype(np.float32), self._base_2hw[:, ys, xs]
        shift_hw = (chroma[1] - base[1]) - (chroma[0] - base[0])
        ring = np.ones(shift_hw.shape, np.bool_)
        ring[y1 - ys.start : y2 - ys.start, x1 - xs.start : x2 - xs.start] = False
        if not ring.any():
            return 0.0
        return _upper_quartile(shift_hw[ring])


def _upper_quartile(values: npt.NDArray[np.float32]) -> float:
    """The 75th percentile (linear between the two nearest, as numpy's default) by partial
    sorting: `np.percentile` costs more than the ring's few hundred values."""
    at = 0.75 * (len(values) - 1)
    lo, hi = int(np.floor(at)), int(np.ceil(at))
    part = np.partition(values, (lo, hi))
    return float(part[lo] + (at - lo) * (part[hi] - part[lo]))


class RuleEngine:
    """Open events for every zone of every camera.

    >>> engine = RuleEngine(zone_specs, grid_cells_zhw, quiet_observations=2)   # doctest: +SKIP
    >>> events = engine.update(views, tracker, ended_tracks)
    """

    def __init__(
        self,
        zones: Sequence[ZoneSpec],
        zone_cells_zhw: npt.NDArray[np.bool_],
        large_px_n: Sequence[int],
        cell: int,
        quiet_observations: int = 2,
    ) -> None:
        self._zones = list(zones)
        self._cells_zhw = zone_cells_zhw
        self._cells_z = np.maximum(zone_cells_zhw.sum(axis=(1, 2)), 1)
        self._large_px_n = list(large_px_n)
        self._cell = cell
        self._quiet = quiet_observations
        self._by_slot: dict[int, list[int]] = {}
        for z, spec in enumerate(self._zones):
            self._by_slot.setdefault(spec.slot, []).append(z)
        self._open: dict[tuple[RuleKind, int, int], _Open] = {}
        self._crowd_streak_z = np.zeros(len(self._zones), np.int32)
        self._crowd_slots = {
            spec.slot for spec in self._zones if RuleKind.CROWDING in spec.zone.rule_kinds
        }

    def carry(self, old: RuleEngine, seq_n: npt.NDArray[np.int64], ts: float) -> list[Event]:
        """Take over `old`'s open events whose zone is here unchanged (same slot, camera and
        settings: a live reconfiguration that did not touch it); end the others."""
        index = {_zone_key(spec): z for z, spec in enumerate(self._zones)}
        ended = []
        for (rule, z, track), state in old._open.items():
            spec = old._zones[z]
            here = index.get(_zone_key(spec))
            if here is None:
                key = (rule, z, track)
                ended.append(old._event(Phase.END, key, state, None, ts, int(seq_n[spec.slot])))
            else:
                self._open[(rule, here, track)] = state
                self._crowd_streak_z[here] = old._crowd_streak_z[z]
        return ended

    def zones_of(self, slot: int) -> list[int]:
        """Indices of a camera's zones."""
        return self._by_slot.get(slot, [])

    def wanted(self, tracker: Tracker) -> set[int]:
        """Cameras worth evaluating: a live track, a crowding zone, or an event in progress."""
        return tracker.busy_slots() | self._crowd_slots | self.open_slots()

    def open_slots(self) -> set[int]:
        """Cameras with an event in progress."""
        return {self._zones[z].slot for (_, z, _) in self._open}

    def update(
        self, views: Sequence[CameraView], tracker: Tracker, ended: Sequence[Track]
    ) -> list[Event]:
        """Evaluate every zone of the observed cameras; return starts, updates and ends."""
        events: list[Event] = []
        gone = {t.track_id for t in ended}
        for view in views:
            hits = self._hits(view, tracker)
            events += self._advance(view, hits, gone)
        return events

    def _hits(self, view: CameraView, tracker: Tracker) -> dict[tuple[RuleKind, int, int], _Hit]:
        hits: dict[tuple[RuleKind, int, int], _Hit] = {}
        tracks = [t for t in tracker.tracks(view.slot) if t.matched_now and tracker.confirmed(t)]
        for z in self.zones_of(view.slot):
            zone = self._zones[z].zone
            if not in_hours(view.ts, zone.active_hours):
                continue
            inside = [t for t in tracks if self._inside(z, t)]
            for rule in zone.rule_kinds:
                if rule is RuleKind.CROWDING:
                    hit = self._crowding(z, view)
                    if hit is not None:
                        hits[(rule, z, 0)] = hit
                    continue
                for track in inside:
                    confidence = self._track_rule(rule, zone, track, view)
                    if confidence is not None:
                        hits[(rule, z, track.track_id)] = _Hit(confidence, track, track.last.xyxy)
        return hits

    def _inside(self, z: int, track: Track) -> bool:
        """Its waterline (bottom centre) is in the zone, and so is most of its box: a strip
        along the zone's edge (a bank, a quay) is not in it."""
        x1, y1, x2, y2 = track.last.xyxy
        h, w = self._cells_zhw.shape[1:]
        c = self._cell
        cx = min(w - 1, ((x1 + x2) // 2) // c)
        cy = min(h - 1, max(0, y2 - 1) // c)
        if not self._cells_zhw[z, cy, cx]:
            return False
        box = self._cells_zhw[
            z, y1 // c : max(y1 // c + 1, y2 // c), x1 // c : max(x1 // c + 1, x2 // c)
        ]
        return bool(box.mean() >= 0.5)

    def _track_rule(
        self, rule: RuleKind, zone: ZoneConfig, track: Track, view: CameraView
    ) -> float | None:
        obs = track.last
        if rule in _VESSEL_RULES and not track.moving_hits:
            # On water, something that appeared in place and never moved is the water itself
            # (a drifting sun path, a shore reflection); vessels arrive.
            return None
        if rule is RuleKind.VESSEL:
            return 1.0 - 0.5**track.hits
        if rule is RuleKind.LOITERING:
            if track.age_s < zone.loiter_s:
                return None
            slow = track.path_px / track.age_s < 3.0
            # To and fro is judged over the last `loiter_s`: a boat followed from where it
            # came in has that run in its history, and it is no sign of leaving.
            path, net = track.travel_px(zone.loiter_s)
            if slow or net < 0.5 * path:
                return min(1.0, 0.6 + 0.4 * track.age_s / (2 * zone.loiter_s))
            return None
        if rule is RuleKind.DREDGING:
            # Its size as seen at its largest: once it stops, the short-term model absorbs
            # the hull and only what the long-term one still sees remains.
            biggest = track.best.area_px if track.best is not None else obs.area_px
            large = biggest >= self._large_px_n[view.slot]
            if not large or track.stationary_s < zone.dredging_s:
                return None
            plume = view.plume.beside(obs.xyxy, self._cell)
            return None if plume < PLUME_MIN else min(1.0, 0.5 + plume / 40.0)
        if rule is RuleKind.LIGHTS:
            if view.night and obs.contrast >= LIGHT_CONTRAST:
                return min(1.0, obs.contrast / 100.0)
            return None
        if rule is RuleKind.STATIONARY:
            if track.stationary_s >= zone.stationary_s:
                return min(1.0, 0.5 + track.stationary_s / (4 * zone.stationary_s))
            return None
        return None

    def _crowding(self, z: int, view: CameraView) -> _Hit | None:
        zone = self._zones[z].zone
        share = float((view.active_hw & self._cells_zhw[z]).sum() / self._cells_z[z])
        busy = share >= zone.crowd_fraction
        self._crowd_streak_z[z] = self._crowd_streak_z[z] + 1 if busy else 0
        if self._crowd_streak_z[z] < zone.min_observations:
            return None
        ys, xs = np.nonzero(view.active_hw & self._cells_zhw[z])
        c = self._cell
        box = (int(xs.min()) * c, int(ys.min()) * c, int(xs.max() + 1) * c, int(ys.max() + 1) * c)
        return _Hit(min(1.0, share / zone.crowd_fraction / 2 + 0.5), None, box)

    def expire(self, slot: int, seq: int, ts: float) -> list[Event]:
        """End every open event of a camera that stopped sending frames (its own observations
        would have ended them)."""
        mine = set(self.zones_of(slot))
        events = []
        for key in [k for k in self._open if k[1] in mine]:
            state = self._open.pop(key)
            events.append(self._event(Phase.END, key, state, None, ts, seq))
        return events

    def _advance(
        self, view: CameraView, hits: dict[tuple[RuleKind, int, int], _Hit], gone: set[int]
    ) -> list[Event]:
        events = []
        for key, hit in hits.items():
            state = self._open.get(key)
            if state is None:
                started = hit.track.first.ts if hit.track is not None else view.ts
                start_seq = hit.track.first.seq if hit.track is not None else view.seq
                state = self._open[key] = _Open(started, start_seq)
                events.append(self._event(Phase.START, key, state, hit, view.ts, view.seq))
            else:
                state.quiet = 0
                events.append(self._event(Phase.UPDATE, key, state, hit, view.ts, view.seq))
        mine = set(self.zones_of(view.slot))
        for key in [k for k in self._open if k[1] in mine and k not in hits]:
            state = self._open[key]
            state.quiet += 1
            if state.quiet >= self._quiet or key[2] in gone:
                del self._open[key]
                events.append(self._event(Phase.END, key, state, None, view.ts, view.seq))
        return events

    def _event(
        self,
        phase: Phase,
        key: tuple[RuleKind, int, int],
        state: _Open,
        hit: _Hit | None,
        ts: float,
        seq: int,
    ) -> Event:
        rule, z, track_id = key
        spec = self._zones[z]
        track = hit.track if hit is not None else None
        best = track.best if track is not None else None
        box = hit.box if hit is not None else (0, 0, 0, 0)
        return Event(
            phase=phase,
            rule=rule,
            camera_id=spec.camera_id,
            zone_id=spec.zone.id,
            zone_index=z,
            severity=spec.zone.severity,
            track_id=track_id,
            started_at=state.started_at,
            start_seq=state.start_seq,
            observed_at=ts,
            seq=seq,
            confidence=hit.confidence if hit is not None else 0.0,
            box_xyxy=box,
            best_seq=best.seq if best is not None else seq,
            best_ts=best.ts if best is not None else ts,
            boxes_t5=track.boxes_t5() if track is not None else np.zeros((0, 5)),
        )


def _zone_key(spec: ZoneSpec) -> tuple[int, str, str]:
    return (spec.slot, spec.camera_id, spec.zone.model_dump_json())


def in_hours(ts: float, hours: tuple[int, int] | None) -> bool:
    """Whether `ts` falls in local hours `[start, end)` (wrapping midnight); None is always."""
    if hours is None:
        return True
    start, end = hours
    hour = time.localtime(ts).tm_hour
    return start <= hour < end if start <= end else hour >= start or hour < end


def camera_views(
    cells: CellMasks,
    active_mhw: npt.NDArray[np.bool_],
    seq_n: npt.NDArray[np.int64],
    ts_n: npt.NDArray[np.float64],
    chroma_n2hw: npt.NDArray[np.uint8],
    chroma_base_n2hw: npt.NDArray[np.float32],
    wanted: set[int],
) -> list[CameraView]:
    """A `CameraView` for each camera of the step that is not muted and is in `wanted`."""
    views: list[CameraView] = []
    candidates = [
        j for j, slot in enumerate(cells.slot_m.tolist()) if slot in wanted and not cells.muted_m[j]
    ]
    if not candidates:
        return views
    night_j = cells.luma_mhw[candidates].mean(axis=(1, 2)) < NIGHT_LUMA
    for j, night in zip(candidates, night_j.tolist(), strict=True):
        s = int(cells.slot_m[j])
        views.append(
            CameraView(
                s,
                int(seq_n[s]),
                float(ts_n[s]),
                bool(night),
                active_mhw[j],
                PlumeMeter(chroma_n2hw[s], chroma_base_n2hw[s]),
            )
        )
    return views
