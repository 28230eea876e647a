"""The scene library: every scene renders, its truth fits the picture, the hard cases are hard."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from simulator.fleet import plan_fleet
from simulator.scenes import (
    BANK_FRACTION,
    SCENES,
    Frame,
    TruthBox,
    _events,
    _frame_count,
    render_frames,
    render_scene,
)

# Small and fast: 2 frames a second, 1 s GOP.
W, H, FPS, GOP_S = 160, 96, 2, 1
DEMO_SCENES = [
    "river_calm",
    "river_boat_crossing",
    "river_loitering",
    "river_dredger",
    "river_rain",
    "river_night",
    "street",
]
WATER_ONLY = ["river_calm", "river_rain", "river_glint", "river_shake", "river_night_calm"]
HARD_CASES_EVENTS = {
    "river_glint": [],
    "river_wake": ["vessel_present"],
    "river_fog": ["vessel_present"],
    "river_shake": [],
    "river_night_calm": [],
}

Rendered = list[tuple[Frame, list[TruthBox]]]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    """Every scene at test size, rendered once for the module."""
    return {name: list(render_frames(name, W, H, fps=FPS, gop_seconds=GOP_S)) for name in SCENES}


def _objects(frames: Rendered) -> dict[str, list[list[int]]]:
    """Boxes per object, as render_scene collects them for the sidecar."""
    objects: dict[str, list[list[int]]] = {}
    for index, (_, boxes) in enumerate(frames):
        for b in boxes:
            objects.setdefault(b.object_id, []).append([index, b.x, b.y, b.w, b.h])
    return objects


def _bank_gray(frame: Frame) -> npt.NDArray[np.float64]:
    """The bank's inner rows (away from the edge the shake smears), as float for correlation."""
    bank_h = int(H * BANK_FRACTION)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float64)
    return gray[4 : bank_h - 4]


def _bank_shifts(frames: Rendered) -> list[float]:
    """How far the bank moved between consecutive frames (phase correlation, pixels)."""
    shifts = []
    for (a, _), (b, _) in zip(frames, frames[1:], strict=False):
        (dx, dy), _ = cv2.phaseCorrelate(_bank_gray(a), _bank_gray(b))
        shifts.append(float(np.hypot(dx, dy)))
    return shifts


def test_demo_scenes_come_first() -> None:
    assert list(SCENES)[: len(DEMO_SCENES)] == DEMO_SCENES
    assert [c.scene for c in plan_fleet(7)] == DEMO_SCENES
    assert set(HARD_CASES_EVENTS) <= set(SCENES)
    assert all(SCENES[name].kind == "river" for name in HARD_CASES_EVENTS)
    assert all(30 <= SCENES[name].duration_s <= 40 for name in HARD_CASES_EVENTS)


@pytest.mark.parametrize("name", list(SCENES))
def test_frames_shape_dtype_and_count(name: str, rendered: dict[str, Rendered]) -> None:
    frames = rendered[name]
    assert len(frames) == _frame_count(name, FPS, GOP_S, None)
    for frame, _ in frames:
        assert frame.shape == (H, W, 3)
        assert frame.dtype == np.uint8


@pytest.mark.parametrize("name", list(SCENES))
def test_truth_boxes_lie_inside_the_frame(name: str, rendered: dict[str, Rendered]) -> None:
    for _, boxes in rendered[name]:
        for b in boxes:
            assert b.object_id and b.kind
            assert 0 <= b.x and 0 <= b.y and b.w > 0 and b.h > 0
            assert b.x + b.w <= W and b.y + b.h <= H


@pytest.mark.parametrize("name", WATER_ONLY)
def test_water_only_scenes_have_no_objects(name: str, rendered: dict[str, Rendered]) -> None:
    assert all(not boxes for _, boxes in rendered[name])


@pytest.mark.parametrize(("name", "kinds"), list(HARD_CASES_EVENTS.items()))
def test_hard_case_events(name: str, kinds: list[str], rendered: dict[str, Rendered]) -> None:
    frames = rendered[name]
    events = _events(name, _objects(frames), len(frames), FPS)
    assert [e["kind"] for e in events] == kinds


def test_wake_event_covers_the_boat_only(rendered: dict[str, Rendered]) -> None:
    frames = rendered["river_wake"]
    objects = _objects(frames)
    (event,) = _events("river_wake", objects, len(frames), FPS)
    seen = [box[0] for box in objects["boat-1"]]
    assert event == {
        "kind": "vessel_present",
        "object_id": "boat-1",
        "start_frame": min(seen),
        "end_frame": max(seen),
    }


def test_wake_boat_leaves_early_and_its_wake_stays(rendered: dict[str, Rendered]) -> None:
    frames = rendered["river_wake"]
    with_boat = [i for i, (_, boxes) in enumerate(frames) if boxes]
    assert with_boat, "the boat never shows"
    assert max(with_boat) < len(frames) // 3
    assert all(not boxes for _, boxes in frames[len(frames) * 2 // 3 :])

    def bright(frame: Frame) -> int:
        water = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[int(H * BANK_FRACTION) :]
        return int((water > 170).sum())

    just_left = frames[max(with_boat) + 2 * FPS][0]  # 2 s after the boat has gone
    assert bright(just_left) > bright(frames[-1][0]) + 50, "no wake after the boat left"


def test_shake_moves_the_whole_picture(rendered: dict[str, Rendered]) -> None:
    shaken = _bank_shifts(rendered["river_shake"])
    still = _bank_shifts(rendered["river_calm"])
    assert max(still) < 0.25, "the calm scene's bank should not move"
    assert max(shaken) >= 1.0
    assert sum(s >= 0.5 for s in shaken) > len(shaken) // 2, "the shake should be most frames"


def test_hard_cases_differ_from_calm_water(rendered: dict[str, Rendered]) -> None:
    calm = rendered["river_calm"][0][0].astype(np.int16)
    for name in HARD_CASES_EVENTS:
        frame = rendered[name][len(rendered[name]) // 4][0].astype(np.int16)
        assert np.abs(frame - calm).mean() > 5, name


def test_render_scene_round_trip(tmp_path: Path) -> None:
    files = render_scene("river_wake", tmp_path, W, H, fps=FPS, gop_seconds=GOP_S)
    expected = _frame_count("river_wake", FPS, GOP_S, None)
    with av.open(str(files.video)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(decoded) == expected
    assert decoded[0].shape == (H, W, 3)
    doc = json.loads(files.truth.read_text(encoding="utf-8"))
    assert set(doc) == {
        "scene",
        "variant",
        "kind",
        "width",
        "height",
        "fps",
        "gop",
        "frames",
        "objects",
        "events",
    }
    assert (doc["scene"], doc["kind"], doc["frames"]) == ("river_wake", "river", expected)
    assert doc["variant"] == 0
    assert (doc["width"], doc["height"], doc["fps"], doc["gop"]) == (W, H, FPS, FPS * GOP_S)
    assert [o["id"] for o in doc["objects"]] == ["boat-1"]
    assert [e["kind"] for e in doc["events"]] == ["vessel_present"]
    assert not list(tmp_path.glob("*.part")), "temporary files left behind"


def test_a_variant_is_other_water_with_the_same_story() -> None:
    first = list(render_frames("river_boat_crossing", W, H, FPS, GOP_S))
    other = list(render_frames("river_boat_crossing", W, H, FPS, GOP_S, variant=1))
    assert len(first) == len(other)
    assert [boxes for _, boxes in first] == [boxes for _, boxes in other]  # the same truth
    assert not np.array_equal(first[0][0], other[0][0])  # on other water
