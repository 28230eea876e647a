"""Tripwires: line crossings with their direction, sequence in / events out, and their config."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from alerts import AlertPolicy
from api.hubview import DetectFigures, LineCount
from api.metrics import crossing_metrics
from detectors import CameraSetup, DetectionCore, Phase
from detectors.background import BackgroundParams
from detectors.lines import CrossingWatch, LineSpec, crossing
from hub.runtime import line_counts
from riverwatch.batch import BatchView, chroma_shape
from riverwatch.config import AnalysisConfig, ConfigError, TripwireConfig, parse_config
from riverwatch.events import Event
from riverwatch.types import AlertPhase, CrossingDirection, RuleKind, Severity
from tests.test_detect_core import FPS, RIVER, SHAPE, run, scene

A_TO_B, B_TO_A = CrossingDirection.A_TO_B, CrossingDirection.B_TO_A
# Drawn left to right across the picture at row 50: side A above it, B below it.
ACROSS = np.array([[0.0, 50.0], [100.0, 50.0]])


@pytest.mark.parametrize(
    ("p", "q", "way"),
    [
        ((50, 40), (50, 60), A_TO_B),  # down the picture
        ((50, 60), (50, 40), B_TO_A),
        ((120, 40), (120, 60), None),  # beside the line's end
        ((10, 40), (90, 45), None),  # along it, on one side
        ((50, 40), (50, 50), None),  # onto it, not over it
    ],
)
def test_a_move_crosses_a_line_one_way_or_none(
    p: tuple[float, float], q: tuple[float, float], way: CrossingDirection | None
) -> None:
    assert crossing(ACROSS, p, q) is way


def test_the_sides_follow_the_line_as_drawn() -> None:
    reversed_line = ACROSS[::-1].copy()
    assert crossing(reversed_line, (50, 40), (50, 60)) is B_TO_A
    zigzag = np.array([[0.0, 50.0], [50.0, 60.0], [100.0, 50.0]])
    assert crossing(zigzag, (50, 40), (50, 70)) is A_TO_B
    assert crossing(zigzag, (20, 40), (80, 40)) is None  # above every segment


def watch_sequence(
    points: list[tuple[float, float]], confirmed: list[bool] | None = None
) -> list[CrossingDirection | None]:
    watch = CrossingWatch()
    flags = confirmed or [True] * len(points)
    return [
        watch.observe(0, 1, ACROSS, 2.0, xy, counts)
        for xy, counts in zip(points, flags, strict=True)
    ]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # down across, then back up: one each way
        (
            [(50, 30), (50, 45), (50, 55), (50, 70), (50, 55), (50, 45)],
            [None] * 2 + [A_TO_B] + [None] * 2 + [B_TO_A],
        ),
        # jittering on the line (inside the 2 px band) after arriving above: nothing
        ([(50, 40), (50, 49), (50, 51), (50, 49.5), (50, 51.5), (50, 48.5)], [None] * 6),
        # jitter across the band's edge on one side only: nothing
        ([(50, 40), (50, 47), (50, 49), (50, 47), (50, 49)], [None] * 5),
        # parallel to the line, below it
        ([(x, 58.0) for x in range(0, 100, 10)], [None] * 10),
        # across, round the line's end, across the same way again: counted once
        (
            [(50, 40), (50, 60), (120, 60), (120, 40), (50, 40), (50, 60)],
            [None, A_TO_B, None, None, None, None],
        ),
        # across a jitter band: one crossing, however long it lingers on the line
        (
            [(50, 40), (50, 49), (50, 51), (50, 49), (50, 53), (50, 51), (50, 60)],
            [None] * 4 + [A_TO_B, None, None],
        ),
    ],
)
def test_crossings_of_one_track_in_sequence(
    points: list[tuple[float, float]], expected: list[CrossingDirection | None]
) -> None:
    assert watch_sequence(points) == expected


def test_a_crossing_before_confirmation_is_reported_once_confirmed_unless_undone() -> None:
    confirmed = [False, False, False, True, True]
    assert watch_sequence([(50, 40), (50, 60), (50, 65), (50, 70), (50, 75)], confirmed) == [
        None,
        None,
        None,
        A_TO_B,
        None,
    ]
    assert (
        watch_sequence([(50, 40), (50, 60), (50, 40), (50, 38), (50, 36)], confirmed) == [None] * 5
    )


def test_tracks_and_lines_are_watched_apart() -> None:
    watch = CrossingWatch()
    other = np.array([[50.0, 0.0], [50.0, 100.0]])  # down the picture: A is to its right
    steps = [(0, 1, (40.0, 40.0)), (1, 1, (40.0, 40.0)), (0, 2, (60.0, 60.0))]
    steps += [(0, 1, (60.0, 60.0)), (1, 1, (60.0, 60.0)), (0, 2, (60.0, 40.0))]
    out = [
        watch.observe(line, track, ACROSS if line == 0 else other, 2.0, xy, True)
        for line, track, xy in steps
    ]
    assert out == [None, None, None, A_TO_B, B_TO_A, B_TO_A]


# ---- end to end through the detection core ------------------------------------------------


def noisy(rng: np.random.Generator) -> np.ndarray:
    return np.clip(110 + rng.normal(0, 4, SHAPE), 0, 255).astype(np.uint8)


def test_boats_crossing_a_line_each_way_give_one_event_each_and_are_counted() -> None:
    wire = TripwireConfig(id="ban-line", line=[(0.0, 0.5), (1.0, 0.5)], direction="both")
    setup = CameraSetup("cam0", AnalysisConfig(), [], [wire])
    core = DetectionCore([setup], SHAPE, background=BackgroundParams(learn_s=0.0))
    rng = np.random.default_rng(5)
    view = BatchView.empty(1, SHAPE)
    view.chroma_n2hw[0] = np.full((2, *chroma_shape(SHAPE)), 128, np.uint8)
    ys = [None] * 30 + list(range(40, 130, 6)) + [None] * 20 + list(range(130, 40, -6))
    ys += [None] * 20
    events = []
    for t, y in enumerate(ys):
        luma = noisy(rng)
        if y is not None:
            luma[y : y + 10, 150:180] = 40
        view.frames_nhw[0], view.seq_n[0], view.ts_n[0] = luma, t + 1, t * 0.5
        view.fresh_n[0] = True
        events += core.step(view, t * 0.5).events
    crossings = [(e.phase, e.zone_id, e.direction) for e in events]
    assert crossings == [
        (Phase.START, "ban-line", A_TO_B),
        (Phase.END, "ban-line", A_TO_B),
        (Phase.START, "ban-line", B_TO_A),
        (Phase.END, "ban-line", B_TO_A),
    ]
    assert all(e.rule is RuleKind.LINE_CROSSING for e in events)
    assert dict(core.lines.counts) == {
        ("cam0", "ban-line", A_TO_B): 1,
        ("cam0", "ban-line", B_TO_A): 1,
    }
    # ... as the hub hands them to the API, and as /metrics shows them
    counts = line_counts(core)
    assert counts == (
        LineCount("cam0", "ban-line", "a_to_b", 1),
        LineCount("cam0", "ban-line", "b_to_a", 1),
    )
    figures = DetectFigures(0, 0.0, 0, 0, None, None, crossings=counts)
    shown = {
        (sample.labels["camera"], sample.labels["line"], sample.labels["direction"]): sample.value
        for family in crossing_metrics(figures)
        for sample in family.samples
        if sample.name == "riverwatch_line_crossings_total"
    }
    assert shown == {("cam0", "ban-line", "a_to_b"): 1.0, ("cam0", "ban-line", "b_to_a"): 1.0}


def test_a_one_way_line_reports_only_its_direction() -> None:
    wire = TripwireConfig(id="up", line=[(0.0, 0.5), (1.0, 0.5)], direction="b_to_a")
    spec = LineSpec.build(0, "cam0", wire, SHAPE)
    assert spec.points_p2.tolist() == [[0.0, 90.0], [320.0, 90.0]]
    assert wire.direction.counts(B_TO_A) and not wire.direction.counts(A_TO_B)


def test_a_boat_crossing_the_scene_gives_one_crossing_the_way_it_went() -> None:
    # Drawn bottom to top through the middle: A is the left half, the boat goes left to right.
    wire = TripwireConfig(id="mid", line=[(0.5, 1.0), (0.5, 0.35)], severity="high")
    frames = scene("river_boat_crossing")
    found = [e for _, r in run([frames], tripwires=[wire]) for e in r.events]
    crossings = [e for e in found if e.rule is RuleKind.LINE_CROSSING]
    assert [(e.phase, e.camera_id, e.zone_id, e.direction) for e in crossings] == [
        (Phase.START, "cam0", "mid", A_TO_B),
        (Phase.END, "cam0", "mid", A_TO_B),
    ]
    boxes = frames[crossings[0].seq - 1].boxes
    # Reported on the first look clear of the line: within a step (7 px) and the detector's
    # 4-px cells of it.
    assert boxes and 160 < boxes[0].x + boxes[0].w / 2 <= 160 + 16
    assert crossings[0].observed_at == (crossings[0].seq - 1) / FPS
    assert {e.zone_id for e in found if e.rule is RuleKind.VESSEL} == {RIVER.id}


# ---- config -------------------------------------------------------------------------------

CAMERA = """
cameras:
  - id: cam-1
    name: Quay
    group: g
    url: rtsp://host/1
    zones:
      - {id: quay, polygon: [[0, 0], [1, 0], [1, 1]]}
    tripwires:
"""


def problems(tripwires: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(CAMERA + tripwires, env={})
    return caught.value.problems


def test_a_tripwire_is_read_with_its_defaults() -> None:
    loaded = parse_config(CAMERA + "      - {id: edge, line: [[0, 0.6], [0.5, 0.7], [1, 0.6]]}\n")
    (wire,) = loaded.cameras[0].config.tripwires
    assert (wire.direction, wire.confirmed_only, wire.min_object_px) == ("both", True, 0)


def test_every_tripwire_error_is_named() -> None:
    found = problems(
        "      - {id: a, line: [[0, 0.5]]}\n"
        "      - {id: b, line: [[0, 0.5], [0, 0.5]], direction: upstream}\n"
        "      - {id: c, line: [[0, 0.5], [1.5, 0.5]], colour: red}\n"
        "      - {id: quay, line: [[0, 0.5], [1, 0.5]]}\n"
        "      - {id: d, line: [[0, 0.5], [1, 0.5]], active_hours: [25, 3]}\n"
        "      - {id: d, line: [[0, 0.5], [1, 0.5]]}\n"
    )
    where = "camera 'cam-1' (cameras[0]): tripwires"
    expected = [
        f"{where}[0].line: List should have at least 2 items",
        f"{where}[1].line: Value error, points 0 and 1 are the same",
        f"{where}[1].direction: Input should be 'a_to_b', 'b_to_a' or 'both'",
        f"{where}[2].line[1][0]: Input should be less than or equal to 1",
        f"{where}[2].colour: Extra inputs are not permitted",
        f"{where}[4].active_hours[0]: Input should be less than or equal to 23",
        "camera 'cam-1' (cameras[0]): tripwires: tripwire id 'd' used 2 times",
        "camera 'cam-1' (cameras[0]): tripwires: tripwire id 'quay' is also a zone id",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)
    assert len(found) == len(expected), found


# ---- the incident desk ---------------------------------------------------------------------


def test_crossings_become_one_incident_per_line_and_direction() -> None:
    def cross(track: int, t: float, way: CrossingDirection) -> list[Event]:
        start = Event(
            phase=Phase.START,
            rule=RuleKind.LINE_CROSSING,
            camera_id="cam0",
            zone_id="mid",
            zone_index=0,
            severity=Severity.HIGH,
            track_id=track,
            started_at=t,
            start_seq=int(t),
            observed_at=t,
            seq=int(t),
            confidence=0.9,
            box_xyxy=(1, 2, 3, 4),
            best_seq=int(t),
            best_ts=t,
            boxes_t5=np.zeros((0, 5)),
            direction=way,
        )
        return [start, replace(start, phase=Phase.END)]

    policy = AlertPolicy(cooldown_s=60.0, update_interval_s=15.0)
    steps = cross(1, 10.0, A_TO_B) + cross(2, 20.0, A_TO_B) + cross(3, 30.0, B_TO_A)
    out = [(m.phase, m.note, m.revision) for e in steps for m in policy.on_event(e)]
    out += [(m.phase, m.note, m.revision) for m in policy.due(200.0)]
    assert out == [
        (AlertPhase.OPEN, "crossed a_to_b", 0),
        (AlertPhase.UPDATE, "crossed a_to_b", 1),  # a second boat the same way joins it
        (AlertPhase.OPEN, "crossed b_to_a", 0),
        (AlertPhase.CLOSE, "crossed a_to_b", 2),
        (AlertPhase.CLOSE, "crossed b_to_a", 1),
    ]
