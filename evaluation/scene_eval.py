"""`riverwatch evaluate`: the scene library through the real detection core, scored.

Every scene becomes one camera of one batch, exactly as in the hub: its frames are decoded
from the rendered file, reduced to the analysis luma and chroma the ingest layer produces,
and handed to `DetectionCore.step` at the cadence the camera's decode mode gives (one frame
per GOP in keyframe mode, `detect_fps` once attention promotes it). Scenes loop, like the
simulator's cameras, so each ground-truth event is met once per loop; the loops within the
camera's learning time (a minute) are not scored.

Per scene it reports event recall and precision (a detected start matches a ground-truth
event of the same kind that is under way), false alerts per camera-hour (a start while no
ground-truth object is in view), and the delay from an event's ground-truth start to the
detected start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import av
import cv2
import numpy as np
import numpy.typing as npt

from detectors import CameraSetup, DetectionCore, Event, Phase
from detectors.background import BackgroundParams
from ingest.session import chroma_planes, luma_plane
from riverwatch.batch import BatchView, chroma_shape
from riverwatch.config import AnalysisConfig, ZoneConfig
from riverwatch.types import RuleKind
from simulator.fleet import scene_zone
from simulator.scenes import SCENES, SceneFiles

# Ground-truth event kinds (words in the scenes' truth files) -> the rule that should report them.
TRUTH_RULES = {
    "vessel_present": RuleKind.VESSEL,
    "loitering": RuleKind.LOITERING,
    "dredging": RuleKind.DREDGING,
    "lights_at_night": RuleKind.LIGHTS,
    "stationary_object": RuleKind.STATIONARY,
}
# Every scene with objects is busy nearly all the time, so the evaluation's default budget is a
# stress: 4 full-rate slots for 21 busy cameras (the hub's 25 for 250 cameras of which a tenth
# are busy leaves room for every one of them); `riverwatch evaluate --budget 25` runs it so.
STRESS_BUDGET = 4
GRACE_S = 4.0  # a detection this long after a ground-truth event still belongs to it
# The loops within a camera's learning time are not scored (at least one): a camera that has
# just come up has not yet seen its water without the boat (in service it runs for months).
LEARN_S = BackgroundParams().learn_s


def learning_loops(duration_s: float) -> int:
    """Loops of a scene that fall in the camera's learning time."""
    return max(
        1, math.ceil(LEARN_S / duration_s)
    )  # a detection this long after a ground-truth event still belongs to it


@dataclass
class Clip:
    """A decoded scene at analysis size: luma and chroma per frame, and its ground truth."""

    name: str
    fps: int
    gop: int
    luma_fhw: npt.NDArray[np.uint8]
    chroma_f2hw: npt.NDArray[np.uint8]
    truth: dict[str, object]

    @property
    def camera_id(self) -> str:
        """The camera that plays it: the scene, and its variant when there are several."""
        variant = int(str(self.truth.get("variant", 0)))
        return f"{self.name}.{variant}" if variant else self.name

    @property
    def kind(self) -> str:
        """river or street."""
        return SCENES[self.name].kind

    @property
    def frames(self) -> int:
        return len(self.luma_fhw)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


@dataclass
class SceneScore:
    """One scene's figures."""

    scene: str
    hours: float
    truth_events: int = 0
    found: int = 0
    detections: int = 0
    matched: int = 0
    false_alerts: int = 0
    delays_s: list[float] = field(default_factory=list)
    missed: list[RuleKind] = field(default_factory=list)
    kind_truth: dict[RuleKind, int] = field(default_factory=dict)
    kind_found: dict[RuleKind, int] = field(default_factory=dict)
    kind_delays_s: dict[RuleKind, list[float]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.found / self.truth_events if self.truth_events else math.nan

    @property
    def precision(self) -> float:
        judged = self.matched + self.false_alerts
        return self.matched / judged if judged else math.nan

    @property
    def false_per_hour(self) -> float:
        return self.false_alerts / self.hours if self.hours else math.nan


def load_clip(files: SceneFiles, shape_hw: tuple[int, int]) -> Clip:
    """Decode a rendered scene into analysis-size luma and chroma (as ingest would)."""
    truth = json.loads(files.truth.read_text(encoding="utf-8"))
    h, w = shape_hw
    lumas, chromas = [], []
    scratch = np.empty((2, *chroma_shape(shape_hw)), np.uint8)
    with av.open(str(files.video)) as container:
        for frame in container.decode(video=0):
            luma = cv2.resize(luma_plane(frame), (w, h), interpolation=cv2.INTER_AREA)
            chroma = chroma_planes(frame, scratch)
            lumas.append(luma)
            chromas.append(chroma.copy() if chroma is not None else np.full_like(scratch, 128))
    return Clip(
        str(truth["scene"]),
        int(truth["fps"]),
        int(truth["gop"]),
        np.stack(lumas),
        np.stack(chromas),
        truth,
    )


def evaluation_zone(kind: str) -> ZoneConfig:
    """The zone every scene of a kind is watched with (the demo's, with short timers)."""
    return ZoneConfig.model_validate(scene_zone(kind))


def run_clips(
    clips: Sequence[Clip],
    loops: int,
    shape_hw: tuple[int, int],
    full_rate_budget: int = 4,
    tick_s: float = 0.2,
) -> list[list[Event]]:
    """Play every clip as one camera of one batch for `loops` loops; events per clip."""
    analysis = AnalysisConfig()
    setups = [
        CameraSetup(c.camera_id, analysis, [evaluation_zone(SCENES[c.name].kind)]) for c in clips
    ]
    core = DetectionCore(setups, shape_hw, full_rate_budget)
    view = BatchView.empty(len(clips), shape_hw)
    full = np.zeros(len(clips), np.bool_)
    next_due = np.zeros(len(clips))
    events: list[list[Event]] = [[] for _ in clips]
    total_s = max(c.duration_s for c in clips) * loops
    for now in np.arange(0.0, total_s, tick_s):
        view.fresh_n[:] = False
        for i, clip in enumerate(clips):
            # Every clip plays to the end of the run (a shorter clip is scored on its whole
            # loops only): a camera that fell silent would skew the others' decode budget.
            index = _frame_due(clip, float(now), bool(full[i]), next_due, i, analysis.detect_fps)
            if index is None:
                continue
            view.frames_nhw[i] = clip.luma_fhw[index % clip.frames]
            view.chroma_n2hw[i] = clip.chroma_f2hw[index % clip.frames]
            view.seq_n[i] += 1
            view.ts_n[i] = float(now)
            view.fresh_n[i] = True
        result = core.step(view, float(now))
        full[result.modes.promote_p] = True
        full[result.modes.demote_d] = False
        for event in result.events:
            events[setups.index(_setup_of(setups, event.camera_id))].append(event)
    return events


def _setup_of(setups: Sequence[CameraSetup], camera_id: str) -> CameraSetup:
    return next(s for s in setups if s.camera_id == camera_id)


def _frame_due(
    clip: Clip, now: float, full: bool, next_due: npt.NDArray[np.float64], i: int, fps: float
) -> int | None:
    """The frame a camera delivers in the tick ending at `now`, or None."""
    if now < next_due[i]:
        return None
    if full:
        next_due[i] = now + 1.0 / fps
        return int(now * clip.fps)
    gop_s = clip.gop / clip.fps
    keyframe = math.floor(now / gop_s + 1e-9)
    next_due[i] = (keyframe + 1) * gop_s
    return keyframe * clip.gop


def score_clip(clip: Clip, events: Sequence[Event], loops: int) -> SceneScore:
    """Match detected starts with ground-truth events, loop by loop."""
    scored = max(0, loops - learning_loops(clip.duration_s))
    score = SceneScore(clip.name, hours=clip.duration_s * scored / 3600)
    truth_events = _truth_intervals(clip, loops)
    presence = _presence_intervals(clip, loops)
    warmup_s = clip.duration_s * learning_loops(clip.duration_s)
    truth_events = [t for t in truth_events if t[1] >= warmup_s]
    end_s = clip.duration_s * loops
    starts = [e for e in events if e.phase is Phase.START and warmup_s <= e.observed_at < end_s]
    score.detections = len(starts)
    found: set[int] = set()
    for event in starts:
        t = event.observed_at
        # One detection may stand for several truth events at once (a boat's two lights).
        matches = [
            k
            for k, (rule, a, b) in enumerate(truth_events)
            if rule is event.rule and a - 1.0 <= t <= b + GRACE_S
        ]
        if matches:
            score.matched += 1
            for k in matches:
                if k not in found:
                    found.add(k)
                    delay = max(0.0, t - truth_events[k][1])
                    score.delays_s.append(delay)
                    score.kind_delays_s.setdefault(event.rule, []).append(delay)
        elif not any(a - 1.0 <= t <= b + GRACE_S for a, b in presence):
            score.false_alerts += 1
    score.truth_events = len(truth_events)
    score.found = len(found)
    for k, (rule, _, _) in enumerate(truth_events):
        score.kind_truth[rule] = score.kind_truth.get(rule, 0) + 1
        score.kind_found[rule] = score.kind_found.get(rule, 0) + (k in found)
    score.missed = sorted({truth_events[k][0] for k in range(len(truth_events)) if k not in found})
    return score


def _truth_intervals(clip: Clip, loops: int) -> list[tuple[RuleKind, float, float]]:
    out = []
    raw_events = clip.truth.get("events", [])
    assert isinstance(raw_events, list)
    for loop in range(loops):
        offset = loop * clip.duration_s
        for ev in raw_events:
            rule = TRUTH_RULES.get(str(ev["kind"]))
            if rule is not None:
                a = offset + int(ev["start_frame"]) / clip.fps
                b = offset + int(ev["end_frame"]) / clip.fps
                out.append((rule, a, b))
    return out


def _presence_intervals(clip: Clip, loops: int) -> list[tuple[float, float]]:
    out = []
    objects = clip.truth.get("objects", [])
    assert isinstance(objects, list)
    for loop in range(loops):
        offset = loop * clip.duration_s
        for obj in objects:
            frames = [b[0] for b in obj["boxes"]]
            out.append((offset + min(frames) / clip.fps, offset + max(frames) / clip.fps))
    return out


def format_table(scores: Sequence[SceneScore]) -> Iterator[str]:
    """The evaluation report as a Markdown table."""
    yield (
        "| scene | hours | truth events | recall | detections | precision | false/cam-h "
        "| delay s (max) | missed |"
    )
    yield "|---|---|---|---|---|---|---|---|---|"
    for s in scores:
        delay = f"{np.median(s.delays_s):.1f} ({max(s.delays_s):.1f})" if s.delays_s else "-"
        yield (
            f"| {s.scene} | {s.hours:.2f} | {s.truth_events} | {_fmt(s.recall)} | "
            f"{s.detections} | {_fmt(s.precision)} | {_fmt(s.false_per_hour, 1)} | {delay} | "
            f"{', '.join(s.missed) or '-'} |"
        )


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def evaluate_scenes(
    scene_files: Iterable[SceneFiles],
    loops: int,
    shape_hw: tuple[int, int],
    water_hours: float = 0.0,
    full_rate_budget: int = STRESS_BUDGET,
) -> list[SceneScore]:
    """Decode, run and score every scene (variants of one scene are summed into one row);
    water-only scenes run for `water_hours` if that is longer. The scenes with objects run as
    one batch sharing `full_rate_budget` full-rate slots, the water-only ones as another."""
    clips = [load_clip(f, shape_hw) for f in scene_files]
    busy = [c for c in clips if c.truth.get("objects")]
    water = [c for c in clips if not c.truth.get("objects")]
    scores = []
    if busy:
        events = run_clips(busy, loops, shape_hw, full_rate_budget)
        scores += _score_group(busy, events, loops)
    if water:
        longest = max(c.duration_s for c in water)
        water_loops = max(loops, math.ceil(water_hours * 3600 / longest) + learning_loops(longest))
        events = run_clips(water, water_loops, shape_hw, full_rate_budget)
        scores += _score_group(water, events, water_loops)
    return _merge_variants(scores)


def _score_group(
    clips: Sequence[Clip], events: Sequence[Sequence[Event]], loops: int
) -> list[SceneScore]:
    """Score clips that played together for `loops` loops of the longest: each on the whole
    loops of its own that fit."""
    played_s = max(c.duration_s for c in clips) * loops
    return [
        score_clip(c, e, int(played_s / c.duration_s + 1e-9))
        for c, e in zip(clips, events, strict=True)
    ]


def _merge_variants(scores: Sequence[SceneScore]) -> list[SceneScore]:
    merged: dict[str, SceneScore] = {}
    for s in scores:
        into = merged.get(s.scene)
        if into is None:
            merged[s.scene] = s
            continue
        into.hours += s.hours
        into.truth_events += s.truth_events
        into.found += s.found
        into.detections += s.detections
        into.matched += s.matched
        into.false_alerts += s.false_alerts
        into.delays_s += s.delays_s
        into.missed = sorted(set(into.missed) | set(s.missed))
        for rule, n in s.kind_truth.items():
            into.kind_truth[rule] = into.kind_truth.get(rule, 0) + n
            into.kind_found[rule] = into.kind_found.get(rule, 0) + s.kind_found.get(rule, 0)
            into.kind_delays_s.setdefault(rule, []).extend(s.kind_delays_s.get(rule, []))
    return list(merged.values())


@dataclass
class KindScore:
    """Recall and delay for one kind of event over every scene."""

    rule: RuleKind
    truth: int = 0
    found: int = 0
    delays_s: list[float] = field(default_factory=list)


def by_kind(clips_scores: Sequence[SceneScore]) -> list[KindScore]:
    """Totals per event kind (the targets are per kind: every vessel, loitering, dredging)."""
    kinds: dict[RuleKind, KindScore] = {}
    for score in clips_scores:
        for rule, found in score.kind_found.items():
            kind = kinds.setdefault(rule, KindScore(rule))
            kind.truth += score.kind_truth[rule]
            kind.found += found
            kind.delays_s += score.kind_delays_s.get(rule, [])
    return sorted(kinds.values(), key=lambda k: k.rule)


def format_kinds(kinds: Sequence[KindScore], scores: Sequence[SceneScore]) -> Iterator[str]:
    """Per-kind recall and delay, then false alerts on water-only footage."""
    yield "| event kind | truth events | found | recall | delay s median (max) |"
    yield "|---|---|---|---|---|"
    for k in kinds:
        delay = f"{np.median(k.delays_s):.1f} ({max(k.delays_s):.1f})" if k.delays_s else "-"
        recall = k.found / k.truth if k.truth else math.nan
        yield f"| {k.rule} | {k.truth} | {k.found} | {_fmt(recall)} | {delay} |"
    hours = sum(s.hours for s in scores)
    false = sum(s.false_alerts for s in scores)
    water = [s for s in scores if s.truth_events == 0]
    water_hours = sum(s.hours for s in water)
    water_false = sum(s.false_alerts for s in water)
    yield ""
    yield (
        f"false alerts: {false} in {hours:.2f} camera-hours in all; on water-only footage "
        f"{water_false} in {water_hours:.2f} camera-hours "
        f"({_fmt(water_false / water_hours * 24 if water_hours else math.nan, 2)} per camera-day)"
    )
