"""Tripwires: a track's reference point crossing a line, with the direction, as events.

Each line is turned into analysis pixels once per camera (`LineSpec.build`); per observation a
track costs a distance to a few segments, and a segment test only when it changed side.

A track's state per line is the last point where it was clear of the line (further than the
line's hysteresis band) and the direction it last crossed. A crossing is the move from that
point to the next clear point intersecting the line; its direction is the side change
(A is left of the line walked from its first point to its last, B right). A track inside the
band is on neither side, so jitter on the line never counts; and a crossing the same way as
the track's last one (it went round an end of the line) is not counted again: one crossing per
track, line and direction until it crosses back.

A crossing is instantaneous: its event starts and ends at the same observation. When only
confirmed tracks count, a crossing made before the track was confirmed is reported at its
first confirmed observation, provided it has not crossed back meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from detectors.rules import CameraView, in_hours
from detectors.tracker import Track, Tracker
from riverwatch.config import TripwireConfig
from riverwatch.events import Event, Phase
from riverwatch.types import CrossingDirection, RuleKind

Xy = tuple[float, float]


@dataclass(frozen=True)
class LineSpec:
    """A tripwire of the camera in batch row `slot`, in analysis pixels.

    `points_p2` are the line's vertices, `band_px` its hysteresis half-width and `reach_px`
    how far on each side its objects are followed.
    """

    slot: int
    camera_id: str
    wire: TripwireConfig
    points_p2: npt.NDArray[np.float64]
    band_px: float
    reach_px: float

    @classmethod
    def build(
        cls, slot: int, camera_id: str, wire: TripwireConfig, shape_hw: tuple[int, int]
    ) -> LineSpec:
        """Scale the normalised line to the analysis picture."""
        h, w = shape_hw
        points = np.array([(x * w, y * h) for x, y in wire.line], np.float64)
        side = max(h, w)
        return cls(slot, camera_id, wire, points, wire.hysteresis * side, wire.reach * side)

    def watched_cells(self, cells_hw: tuple[int, int], cell: int) -> npt.NDArray[np.bool_]:
        """The cells within `reach_px` of the line, where objects must be followed."""
        canvas = np.zeros(cells_hw, np.uint8)
        points = np.round(self.points_p2 / cell).astype(np.int32)
        thickness = max(1, round(2 * self.reach_px / cell) + 1)
        cv2.polylines(canvas, [points], False, 1, thickness)
        mask: npt.NDArray[np.bool_] = canvas.astype(np.bool_)
        return mask


def _line_key(spec: LineSpec) -> tuple[int, str, str]:
    return (spec.slot, spec.camera_id, spec.wire.model_dump_json())


def reference_point(xyxy: tuple[int, int, int, int]) -> Xy:
    """A box's bottom centre: a vessel's waterline, a person's feet."""
    return ((xyxy[0] + xyxy[2]) / 2.0, float(xyxy[3]))


def _cross(ax: float, ay: float, bx: float, by: float) -> float:
    return ax * by - ay * bx


def distance(points_p2: npt.NDArray[np.float64], p: Xy) -> float:
    """The distance from a point to the polyline."""
    a, b = points_p2[:-1], points_p2[1:]
    ab = b - a
    t = np.clip(((p[0] - a[:, 0]) * ab[:, 0] + (p[1] - a[:, 1]) * ab[:, 1]) / (ab**2).sum(1), 0, 1)
    near = a + t[:, None] * ab
    return float(np.hypot(near[:, 0] - p[0], near[:, 1] - p[1]).min())


def crossing(points_p2: npt.NDArray[np.float64], p: Xy, q: Xy) -> CrossingDirection | None:
    """Which way the move p -> q crosses the polyline, or None.

    Each segment the move intersects counts +1 when crossed from its left (A) to its right
    (B), -1 the other way; the sum's sign is the direction (a move through a zigzag twice,
    in and out, crosses it no way).
    """
    net = 0
    mx, my = q[0] - p[0], q[1] - p[1]
    for (ax, ay), (bx, by) in zip(points_p2[:-1].tolist(), points_p2[1:].tolist(), strict=True):
        ux, uy = bx - ax, by - ay
        side_p = _cross(ux, uy, p[0] - ax, p[1] - ay)
        side_q = _cross(ux, uy, q[0] - ax, q[1] - ay)
        if side_p * side_q >= 0:
            continue  # the move stays on one side of this segment's line
        end_a = _cross(mx, my, ax - p[0], ay - p[1])
        end_b = _cross(mx, my, bx - p[0], by - p[1])
        if end_a * end_b > 0:
            continue  # both of the segment's ends on one side of the move: it passes by
        # Image rows grow downwards: a positive cross product is on the segment's right.
        net += 1 if side_q > 0 else -1
    if net == 0:
        return None
    return CrossingDirection.A_TO_B if net > 0 else CrossingDirection.B_TO_A


@dataclass
class _Side:
    """One track against one line."""

    clear_at: Xy | None = None  # the last point clear of the band
    crossed: CrossingDirection | None = None  # the last crossing, counted or pending
    pending: bool = False  # crossed before the track was confirmed; not yet reported


@dataclass
class CrossingWatch:
    """The state machine of every track against every line, with the crossings counted.

    >>> watch = CrossingWatch()
    >>> line = np.array([[0.0, 50.0], [100.0, 50.0]])
    >>> [watch.observe(0, 7, line, 2.0, xy, True) for xy in [(50, 40), (50, 49), (50, 60)]]
    [None, None, <CrossingDirection.A_TO_B: 'a_to_b'>]
    """

    _sides: dict[tuple[int, int], _Side] = field(default_factory=dict)

    def observe(
        self,
        line: int,
        track_id: int,
        points_p2: npt.NDArray[np.float64],
        band_px: float,
        xy: Xy,
        counts: bool,
    ) -> CrossingDirection | None:
        """Advance one track against one line; the direction to report now, if any.

        `counts` is whether the track may be reported now (confirmed, large enough); a
        crossing it makes meanwhile waits, and is dropped if it crosses back first.
        """
        state = self._sides.setdefault((line, track_id), _Side())
        if distance(points_p2, xy) > band_px:
            if state.clear_at is not None:
                way = crossing(points_p2, state.clear_at, xy)
                if way is not None and way is not state.crossed:
                    fresh_back = state.pending  # it crossed back before it could be reported
                    state.crossed, state.pending = way, not fresh_back
            state.clear_at = xy
        if state.pending and counts:
            state.pending = False
            return state.crossed
        return None

    def carry(self, old: CrossingWatch, index: Mapping[int, int]) -> None:
        """Take over `old`'s state of the lines `index` maps (old line -> line here)."""
        for (line, track), side in old._sides.items():
            if line in index:
                self._sides[(index[line], track)] = side

    def forget(self, track_ids: set[int]) -> None:
        """Drop the state of tracks that ended."""
        for key in [k for k in self._sides if k[1] in track_ids]:
            del self._sides[key]


class LineRules:
    """Crossing events for every tripwire of every camera, and their counts.

    `counts` holds crossings reported since the start, by (camera, line id, direction): an
    operator's per-period figure is the difference of two readings (Prometheus: `increase`).
    """

    def __init__(self, lines: Sequence[LineSpec]) -> None:
        self._lines = list(lines)
        self._by_slot: dict[int, list[int]] = {}
        for i, spec in enumerate(self._lines):
            self._by_slot.setdefault(spec.slot, []).append(i)
        self._watch = CrossingWatch()
        self.counts: Counter[tuple[str, str, CrossingDirection]] = Counter()

    def carry(self, old: LineRules) -> None:
        """Take over `old`'s counts, and its tracks' state on the lines here unchanged (a live
        reconfiguration that did not touch them)."""
        here = {_line_key(spec): i for i, spec in enumerate(self._lines)}
        index = {
            i: here[_line_key(spec)] for i, spec in enumerate(old._lines) if _line_key(spec) in here
        }
        self._watch.carry(old._watch, index)
        self.counts.update(old.counts)

    @property
    def specs(self) -> tuple[LineSpec, ...]:
        """The lines, in the order their events' `zone_index` refers to."""
        return tuple(self._lines)

    def update(
        self, views: Sequence[CameraView], tracker: Tracker, ended: Sequence[Track]
    ) -> list[Event]:
        """A start and an end for every reported crossing of the observed cameras."""
        events: list[Event] = []
        for view in views:
            for i in self._by_slot.get(view.slot, []):
                spec = self._lines[i]
                if not in_hours(view.ts, spec.wire.active_hours):
                    continue
                for track in tracker.tracks(view.slot):
                    if track.matched_now:
                        events += self._observe(i, spec, track, tracker, view)
        self._watch.forget({t.track_id for t in ended})
        return events

    def expire(self, slot: int, dropped: set[int]) -> None:
        """Forget the tracks of a camera that fell silent (the tracker dropped them)."""
        if slot in self._by_slot:
            self._watch.forget(dropped)

    def _observe(
        self, i: int, spec: LineSpec, track: Track, tracker: Tracker, view: CameraView
    ) -> list[Event]:
        obs = track.last
        counts = (tracker.confirmed(track) or not spec.wire.confirmed_only) and (
            (track.best.area_px if track.best is not None else obs.area_px)
            >= spec.wire.min_object_px
        )
        xy = reference_point(obs.xyxy)
        way = self._watch.observe(i, track.track_id, spec.points_p2, spec.band_px, xy, counts)
        if way is None or not spec.wire.direction.counts(way):
            return []
        self.counts[(spec.camera_id, spec.wire.id, way)] += 1
        best = track.best or obs
        steps = []
        for phase in (Phase.START, Phase.END):
            steps.append(
                Event(
                    phase=phase,
                    rule=RuleKind.LINE_CROSSING,
                    camera_id=spec.camera_id,
                    zone_id=spec.wire.id,
                    zone_index=i,
                    severity=spec.wire.severity,
                    track_id=track.track_id,
                    started_at=view.ts,
                    start_seq=view.seq,
                    observed_at=view.ts,
                    seq=view.seq,
                    confidence=1.0 - 0.5**track.hits,
                    box_xyxy=obs.xyxy,
                    best_seq=best.seq,
                    best_ts=best.ts,
                    boxes_t5=track.boxes_t5(),
                    direction=way,
                )
            )
        return steps
