"""The detection core: one step over the whole batch, from frames to events and decode wishes.

    frames_nhw ─► BackgroundModel (all new rows at once) ─► cell masks
               ─► regions (only cameras with active cells) ─► ghosts dropped and forgotten
               [─► optional ONNX crop model]
               ─► Tracker ─► RuleEngine, LineRules (tripwires) ─► events
               └─► Attention (who decodes at full rate, within the budget) ─► mode changes

State is preallocated per camera; a step allocates only what scales with the activity.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.arrays import adopt_row, contiguous_rows, flat
from detectors.attention import Attention, ModeChanges
from detectors.background import CELL, BackgroundModel, BackgroundParams, CellMasks
from detectors.calibration import CalibrationParams, SelfCalibration
from detectors.ghosts import find_ghosts
from detectors.lines import LineRules, LineSpec
from detectors.looks import EarlierLooks
from detectors.model import CropModel
from detectors.regions import RegionFinder, Regions, active_cells
from detectors.rules import NIGHT_LUMA, RuleEngine, camera_views
from detectors.tracker import Tracker, TrackerParams
from detectors.verifier import Looks, Verifier
from detectors.zones import ZoneGrid, ZoneSpec, rasterise
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, TripwireConfig, ZoneConfig, ZoneKind
from riverwatch.events import Event
from riverwatch.types import DecodeMode

_MARGIN = np.ones((5, 5), np.uint8)  # two cells (8 analysis pixels) around the zones
_CHROMA_ALPHA = 0.04  # per learn: the baseline follows the water's colour over minutes
_CHROMA_INTERVAL_S = 8.0
_CHROMA_TURNS = 4  # blocks of cameras that take turns learning it


@dataclass(frozen=True)
class CameraSetup:
    """What the core needs to know of one camera (its batch row is its index)."""

    camera_id: str
    analysis: AnalysisConfig
    zones: Sequence[ZoneConfig]
    tripwires: Sequence[TripwireConfig] = ()


@dataclass(frozen=True)
class RegionModel:
    """The optional model stage: a crop model and the labels that confirm a region."""

    model: CropModel
    keep: tuple[str, ...]
    min_score: float

    def judge(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> npt.NDArray[np.bool_]:
        """Score every region's crop in one batch; true for those the model believes (a crop
        model judges the frame alone: `earlier` is not used)."""
        keep = np.zeros(len(regions), np.bool_)
        if not len(regions):
            return keep
        scores = self.model.score(frames_nhw, regions.slot_k, regions.xyxy_k)
        for label in self.keep:
            keep |= scores.mask(label, self.min_score)
        return keep

    def confirm(self, frames_nhw: npt.NDArray[np.uint8], regions: Regions) -> Regions:
        """The regions `judge` keeps."""
        return regions.filter(self.judge(frames_nhw, regions))


@dataclass(frozen=True)
class StepResult:
    """One step's output: events, the regions seen, and decode-mode changes to apply."""

    events: list[Event]
    regions: Regions
    modes: ModeChanges
    observed: int


class DetectionCore:
    """All cameras' detection state; `step(view, now)` once per tick.

    >>> core = DetectionCore(setups, (180, 320), full_rate_budget=25)   # doctest: +SKIP
    >>> result = core.step(view, time.time())
    >>> for slot in result.modes.promote_p: ingest.set_mode(ids[slot], DecodeMode.FULL)
    """

    def __init__(
        self,
        cameras: Sequence[CameraSetup],
        shape_hw: tuple[int, int],
        full_rate_budget: int = 25,
        quiet_s: float = 20.0,
        background: BackgroundParams | None = None,
        tracker: TrackerParams | None = None,
        model: RegionModel | Verifier | None = None,
        calibration: CalibrationParams | None = None,
        spare: int = 0,
    ) -> None:
        cameras = [*cameras, *([FREE_SLOT] * spare)]  # rows for cameras added while running
        n = len(cameras)
        self._cameras = cameras
        self._shape_hw = shape_hw
        cells_hw = (shape_hw[0] // CELL, shape_hw[1] // CELL)
        self._model = model
        # The verifier compares a region with the camera's look a few seconds back.
        self._looks = EarlierLooks(n, shape_hw) if isinstance(model, Verifier) else None
        self._enabled_n = np.array([c.analysis.enabled for c in cameras], np.bool_)
        self._background_params = background
        self.background = _background(cameras, shape_hw, background)
        self._regions = _region_finder(cameras, cells_hw)
        self.tracker = Tracker(tracker, shape_hw[1])
        self._calibration_params = calibration
        self.calibration = _calibration(cameras, calibration)
        self.attention = Attention(n, full_rate_budget, quiet_s, np.zeros(n, np.int64))
        self._chroma_base = np.full((n, 2, *cells_hw), 128.0, np.float32)
        self._chroma_seen_n = np.zeros(n, np.bool_)
        self._active_nhw = np.zeros((n, *cells_hw), np.bool_)
        self._hold_nhw = np.zeros((n, *cells_hw), np.bool_)
        self._holding: set[int] = set()  # cameras with cells held
        self._chroma_mask = np.zeros((n, 2, *cells_hw), np.uint8)
        self._chroma_learned_at_n = np.full(n, -np.inf)
        self._large_px_n = np.array([c.analysis.large_vessel_px for c in cameras], np.int64)
        self._vessel_stays_n = np.zeros(n, np.bool_)
        self._seen_at_n = np.full(n, -np.inf)
        self._quiet_s = quiet_s
        self._changes: list[tuple[dict[int, CameraSetup], set[int]]] = []
        self._changes_lock = threading.Lock()
        self.rules = RuleEngine([], np.zeros((0, *cells_hw), np.bool_), [], CELL)
        self.lines = LineRules([])
        self._build_zones(np.zeros(n, np.int64), 0.0)

    @property
    def setups(self) -> tuple[CameraSetup, ...]:
        """What each slot runs (`FREE_SLOT` for a free one)."""
        return tuple(self._cameras)

    def reconfigure(
        self, changes: Mapping[int, CameraSetup | None], relearn: Set[int] = frozenset()
    ) -> None:
        """Give slots new settings (None frees one), applied at the start of the next step:
        the step runs in a worker thread, so this only queues them.

        Only what changed starts again. An open event survives when its zone (or tripwire) is
        the same; the others end. A slot learns its water again when it gets another camera,
        other analysis settings, or is in `relearn` (its stream changed); a slot whose zones
        alone changed keeps its background, calibration and tracks.
        """
        wanted = {slot: setup or FREE_SLOT for slot, setup in changes.items()}
        with self._changes_lock:
            self._changes.append((wanted, set(relearn)))

    def _apply_changes(self, seq_n: npt.NDArray[np.int64], now: float) -> list[Event]:
        with self._changes_lock:
            queued, self._changes = self._changes, []
        if not queued:
            return []
        for wanted, relearn in queued:
            for slot, setup in wanted.items():
                old = self._cameras[slot]
                self._cameras[slot] = setup
                if slot in relearn or not _learns_alike(old, setup):
                    self._restart_slot(slot, setup)
                self._enabled_n[slot] = setup.analysis.enabled
        return self._build_zones(seq_n, now)

    def _restart_slot(self, slot: int, setup: CameraSetup) -> None:
        """Forget what a slot learned: it starts as a new camera."""
        one = [setup]
        self.background.restart(slot, _background(one, self._shape_hw, self._background_params))
        adopt_row(self._regions, _region_finder(one, self.background.cells_hw), slot)
        adopt_row(self.calibration, _calibration(one, self._calibration_params), slot)
        if self._looks is not None:
            adopt_row(self._looks, EarlierLooks(1, self._shape_hw), slot)
        self.lines.expire(slot, {t.track_id for t in self.tracker.drop(slot)})
        self.attention.forget(slot)
        self._chroma_base[slot] = 128.0
        self._chroma_seen_n[slot] = False
        self._hold_nhw[slot] = False
        self._holding.discard(slot)
        self._chroma_learned_at_n[slot] = -np.inf
        self._large_px_n[slot] = setup.analysis.large_vessel_px
        self._vessel_stays_n[slot] = False
        self._seen_at_n[slot] = -np.inf

    def _build_zones(self, seq_n: npt.NDArray[np.int64], now: float) -> list[Event]:
        """Zones, tripwires and what they make watched, from every slot's setup; the open
        events of zones that stayed the same carried over, the others ended."""
        cameras, shape_hw = self._cameras, self._shape_hw
        n = len(cameras)
        cells_hw = self.background.cells_hw
        specs = [
            ZoneSpec(slot, cam.camera_id, zone)
            for slot, cam in enumerate(cameras)
            if cam.analysis.enabled
            for zone in cam.zones
        ]
        self.grid = ZoneGrid.build(specs, shape_hw, CELL)
        zone_cells = self.grid.weights_zc.reshape(len(specs), *cells_hw).astype(np.bool_)
        rules = RuleEngine(specs, zone_cells, [c.analysis.large_vessel_px for c in cameras], CELL)
        ended = rules.carry(self.rules, seq_n, now)
        lines = [
            LineSpec.build(slot, cam.camera_id, wire, shape_hw)
            for slot, cam in enumerate(cameras)
            if cam.analysis.enabled
            for wire in cam.tripwires
        ]
        line_rules = LineRules(lines)
        line_rules.carry(self.lines)
        self.rules, self.lines = rules, line_rules
        self._zone_any_nhw = np.zeros((n, *cells_hw), np.bool_)
        for z, spec in enumerate(specs):
            self._zone_any_nhw[spec.slot] |= zone_cells[z]
        for line in lines:  # a tripwire's neighbourhood is watched like a zone
            self._zone_any_nhw[line.slot] |= line.watched_cells(cells_hw, CELL)
        # Objects are looked for in the zones and a margin around them (a boat is tracked just
        # before it enters); a bank, a sky or a quay outside every zone is never analysed.
        self._watched_nhw = (
            np.stack(
                [cv2.dilate(m.view(np.uint8), _MARGIN).astype(np.bool_) for m in self._zone_any_nhw]
            )
            if n
            else self._zone_any_nhw
        )
        severity = np.zeros(n, np.int64)
        for spec in specs:
            severity[spec.slot] = max(severity[spec.slot], spec.zone.severity.rank)
        for line in lines:
            severity[line.slot] = max(severity[line.slot], line.wire.severity.rank)
        pinned = np.array([c.analysis.decode_mode is DecodeMode.FULL for c in cameras], np.bool_)
        self.attention.configure(severity, pinned)
        return ended

    def step(self, view: BatchView, now: float) -> StepResult:
        """Analyse every camera with a new frame; never raises for quiet or missing cameras."""
        changed = self._apply_changes(view.seq_n, now)
        slot_m = np.flatnonzero(view.fresh_n & self._enabled_n)
        expired = changed + self._expire(slot_m, view.seq_n, now)
        if not len(slot_m):
            return StepResult(expired, Regions.empty(), self._attend(slot_m, None, now), 0)
        cells = self.background.step(view.frames_nhw, slot_m, view.ts_n, self._hold_nhw)
        active = active_cells(cells, self.background.params.cell_on, self._active_nhw)
        m = len(slot_m)
        whole = int(slot_m[-1]) == m - 1  # the first m cameras, in order: no gather
        np.logical_and(
            active, self._watched_nhw[:m] if whole else self._watched_nhw[slot_m], out=active
        )
        regions = self._regions.find(cells, active)
        ghosts = find_ghosts(cells, regions)
        gone = regions.filter(ghosts)
        regions = regions.filter(~ghosts)
        dropped = None
        if self._model is not None:
            looks = self._looks
            earlier = looks.usable(regions.slot_k.tolist(), view.ts_n) if looks else None
            keep = self._model.judge(view.frames_nhw, regions, earlier)
            if looks is not None:
                looks.remember(view.frames_nhw, slot_m, view.ts_n)
            regions, dropped = regions.filter(keep), regions.filter(~keep)
        ended = self.tracker.update(slot_m[~cells.blind_m], view.seq_n, view.ts_n, regions)
        self._hold_tracks(slot_m)
        retune = self.calibration.observe(slot_m[~cells.blind_m], self.tracker, ended, dropped)
        views = camera_views(
            cells,
            active,
            view.seq_n,
            view.ts_n,
            view.chroma_n2hw,
            self._chroma_base,
            self.rules.wanted(self.tracker),
        )
        events = expired + self.rules.update(views, self.tracker, ended)
        events += self.lines.update(views, self.tracker, ended)
        self._learn_chroma(slot_m, view.chroma_n2hw, active, view.ts_n)
        self.background.settle()  # its learning ran beside all of the above
        if len(retune):
            self.background.retune(retune.slot_k, retune.sensitivity_k)
        if len(gone):
            self.background.forget(gone.slot_k, gone.xyxy_k, cells)
        return StepResult(events, regions, self._attend(slot_m, cells, now, active), len(slot_m))

    def _expire(
        self, slot_m: npt.NDArray[np.intp], seq_n: npt.NDArray[np.int64], now: float
    ) -> list[Event]:
        """End the events and tracks of cameras that sent no frame for `quiet_s` (a camera
        that went offline mid-event would otherwise keep its incident open for ever)."""
        events: list[Event] = []
        fresh = set(slot_m.tolist())
        for slot in (self.rules.open_slots() | self.tracker.busy_slots()) - fresh:
            if now - self._seen_at_n[slot] > self._quiet_s:
                events += self.rules.expire(slot, int(seq_n[slot]), now)
                self.lines.expire(slot, {t.track_id for t in self.tracker.drop(slot)})
        return events

    def _hold_tracks(self, slot_m: npt.NDArray[np.intp]) -> None:
        """Mark the cells under believed tracks (a cell around them too), for the long-term
        background to leave alone on the next step; and the cameras where a large vessel has
        stopped, whose water colour is not learned meanwhile (its plume is not the water's)."""
        hold = self._hold_nhw
        observed = set(slot_m.tolist())
        for slot in self._holding & observed:  # only cameras that hold something are cleared
            hold[slot] = False
        self._vessel_stays_n[slot_m] = False
        h, w = hold.shape[1:]
        c = CELL
        self._holding -= observed
        for slot in self.tracker.busy_slots() & observed:
            for track in self.tracker.tracks(slot):
                if not self.tracker.confirmed(track):
                    continue
                biggest = track.best.area_px if track.best is not None else 0
                if biggest >= self._large_px_n[slot] and track.stationary_s > 0:
                    self._vessel_stays_n[slot] = True
                x1, y1, x2, y2 = track.last.xyxy
                self._holding.add(slot)
                hold[
                    slot,
                    max(0, y1 // c - 1) : min(h, y2 // c + 1),
                    max(0, x1 // c - 1) : min(w, x2 // c + 1),
                ] = True

    def _attend(
        self,
        slot_m: npt.NDArray[np.intp],
        cells: CellMasks | None,
        now: float,
        active_mhw: npt.NDArray[np.bool_] | None = None,
    ) -> ModeChanges:
        n = len(self._cameras)
        active_n = np.zeros(n, np.bool_)
        if cells is not None and active_mhw is not None:
            busy = np.flatnonzero(active_mhw.reshape(len(slot_m), -1).any(axis=1))
            zone = self._zone_any_nhw[slot_m[busy]]
            in_zone = (active_mhw[busy] & zone).any(axis=(1, 2))
            active_n[slot_m[busy]] = in_zone & ~cells.muted_m[busy]
        self._seen_at_n[slot_m] = now
        in_event = np.zeros(n, np.bool_)
        in_event[list(self.rules.open_slots())] = True
        # A camera that stopped sending frames cannot end its events: it holds no budget.
        in_event &= now - self._seen_at_n <= self._quiet_s
        return self.attention.update(active_n, in_event, now)

    def _learn_chroma(
        self,
        slot_m: npt.NDArray[np.intp],
        chroma_n2hw: npt.NDArray[np.uint8],
        active_mhw: npt.NDArray[np.bool_],
        ts_n: npt.NDArray[np.float64],
    ) -> None:
        """A slow per-cell chroma baseline, frozen where something is going on. Each camera
        learns it every `_CHROMA_INTERVAL_S`, the cameras taking turns in contiguous blocks
        of the batch (so that a tick learns a block in place, not a gathered copy)."""
        n = len(self._cameras)
        first = slot_m[~self._chroma_seen_n[slot_m]]
        if len(first):
            self._chroma_base[first] = chroma_n2hw[first]
            self._chroma_seen_n[first] = True
            turn = (first * _CHROMA_TURNS) // max(n, 1)
            self._chroma_learned_at_n[first] = ts_n[first] - turn * (
                _CHROMA_INTERVAL_S / _CHROMA_TURNS
            )
        due = ts_n[slot_m] - self._chroma_learned_at_n[slot_m] >= _CHROMA_INTERVAL_S
        j = contiguous_rows(due)
        slots = slot_m[j]
        k = len(slots)
        if not k:
            return
        block = contiguous_rows(np.isin(np.arange(n), slots))
        in_place = isinstance(block, slice)
        mask = self._chroma_mask[:k]
        np.logical_not(active_mhw[j], out=mask[:, 0].view(np.bool_))
        mask[self._vessel_stays_n[slots], 0] = 0  # a stopped vessel's plume is not the water's
        mask[:, 1] = mask[:, 0]
        chroma = chroma_n2hw[block] if in_place else chroma_n2hw[slots]
        base = self._chroma_base[block] if in_place else self._chroma_base[slots]
        cv2.accumulateWeighted(flat(chroma), flat(base), _CHROMA_ALPHA, mask=flat(mask))
        if not in_place:
            self._chroma_base[slots] = base
        self._chroma_learned_at_n[slots] = ts_n[slots]


FREE_SLOT = CameraSetup("", AnalysisConfig(enabled=False), ())  # a row no camera uses yet


def _learns_alike(old: CameraSetup, new: CameraSetup) -> bool:
    """Whether what a slot learned still holds: the same camera, analysed the same way (how
    often it is decoded, and being switched off a while, change nothing it learned)."""
    ignore = {"decode_mode", "detect_fps", "enabled"}
    return (
        old.camera_id == new.camera_id
        and old.analysis.model_dump(exclude=ignore) == new.analysis.model_dump(exclude=ignore)
        and _watches_water(old) == _watches_water(new)
    )


def _background(
    cameras: Sequence[CameraSetup], shape_hw: tuple[int, int], params: BackgroundParams | None
) -> BackgroundModel:
    return BackgroundModel(
        len(cameras),
        shape_hw,
        [c.analysis.sensitivity for c in cameras],
        [c.analysis.diff_threshold for c in cameras],
        _ignore_masks(cameras, shape_hw),
        params,
    )


def _region_finder(cameras: Sequence[CameraSetup], cells_hw: tuple[int, int]) -> RegionFinder:
    grounds = [c.analysis.ground for c in cameras]
    return RegionFinder(
        len(cameras),
        cells_hw,
        np.array([c.analysis.min_object_px for c in cameras], np.int64),
        np.array([c.analysis.max_object_px for c in cameras], np.int64),
        NIGHT_LUMA,
        np.array([_watches_water(c) for c in cameras], np.bool_),
        horizon_n=np.array([g.horizon if g else 0.0 for g in grounds]),
        horizon_scale_n=np.array([g.scale_at_horizon if g else 1.0 for g in grounds]),
    )


def _calibration(
    cameras: Sequence[CameraSetup], params: CalibrationParams | None
) -> SelfCalibration:
    return SelfCalibration(
        [c.analysis.sensitivity for c in cameras],
        np.array([_watches_water(c) for c in cameras], np.bool_),
        params,
    )


def _watches_water(camera: CameraSetup) -> bool:
    """A camera with a river zone (anything but a street zone) looks at water."""
    return any(zone.kind is not ZoneKind.STREET for zone in camera.zones)


def _ignore_masks(
    cameras: Sequence[CameraSetup], shape_hw: tuple[int, int]
) -> npt.NDArray[np.bool_] | None:
    if not any(c.analysis.masks for c in cameras):
        return None
    ignore = np.zeros((len(cameras), *shape_hw), np.bool_)
    for slot, cam in enumerate(cameras):
        for polygon in cam.analysis.masks:
            ignore[slot] |= rasterise(polygon, shape_hw)
    return ignore
