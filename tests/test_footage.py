"""Real-footage evaluation: parsing, box scoring and the baselines on generated data.

Nothing here needs the footage, except one optional test that runs the real thing on the
first three Sooke groups when `../shared/data` is there.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from evaluation.footage import (
    BoxMatch,
    CoreCamera,
    FootageError,
    FootageScore,
    TimePattern,
    ignore_mask,
    load_camera,
    load_footage,
    mask_boxes,
    match_boxes,
    read_labels,
    read_times,
    run_footage,
    three_frame_foreground,
    to_full,
    ucsd_frames,
    with_default_knobs,
    with_knobs,
)
from hub.cli import main

DATA = Path(os.environ.get("RIVERWATCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
SOOKE = DATA / "sooke-boats"
CONFIGS = Path(__file__).parents[1] / "configs" / "footage"
PREFIX = "sooke1_ptz_capture_"

LABELS_CSV = """image,box_id,x,y,w,h
sooke1_ptz_capture_2019-08-18_13-38-10.jpg,0,18,418,23,9
sooke1_ptz_capture_2019-08-18_13-38-14.jpg,0,1,1,25,9
sooke1_ptz_capture_2019-08-18_13-38-14.jpg,1,100,200,10,5
sooke1_ptz_capture_2019-08-18_13-41-10.jpg,0,321,574,123,42
"""


def write_footage(folder: Path) -> None:
    """Small grey JPEG files (only the first is opened, for its size) and a tiny labels.csv."""
    for stamp in ("13-38-10", "13-38-14", "13-38-19", "13-41-14", "13-41-10"):
        cv2.imwrite(
            str(folder / f"{PREFIX}2019-08-18_{stamp}.jpg"), np.full((48, 64), 90, np.uint8)
        )
    (folder / "labels.csv").write_text(LABELS_CSV, encoding="utf-8")


def test_labels_become_zero_based(tmp_path: Path) -> None:
    write_footage(tmp_path)
    labels = read_labels(tmp_path / "labels.csv")
    assert labels.of(f"{PREFIX}2019-08-18_13-38-14.jpg").tolist() == [
        [0, 0, 25, 9],
        [99, 199, 10, 5],
    ]
    assert labels.of("unlabelled.jpg").shape == (0, 4)


def test_frames_grouped_by_time_gaps_in_time_order(tmp_path: Path) -> None:
    write_footage(tmp_path)
    footage = load_footage(tmp_path)
    groups = footage.groups
    assert [g.name for g in groups] == ["2019-08-18 13:38:10", "2019-08-18 13:41:10"]
    assert [len(g.frames) for g in groups] == [3, 2]
    first = groups[0]
    assert [round(f.ts - first.frames[0].ts) for f in first.frames] == [0, 4, 9]
    assert first.frames[1].path.name == f"{PREFIX}2019-08-18_13-38-14.jpg"
    assert first.frames[1].xyxy_k4.tolist() == [[0, 0, 25, 9], [99, 199, 109, 204]]
    assert first.frames[2].xywh_k4.shape == (0, 4)
    assert groups[1].frames[0].path.name.endswith("13-41-10.jpg")  # sorted by time, not listing
    assert footage.image_wh == (64, 48)


@pytest.mark.parametrize(
    ("pattern", "name", "seconds_after_sooke_example"),
    [
        ("%Y-%m-%d_%H-%M-%S", f"{PREFIX}2019-08-18_13-38-10.jpg", 0.0),
        ("%Y%m%dT%H%M%S", "cam7_20190818T133815_0001.png", 5.0),
        ("%H-%M-%S.%f on %Y-%m-%d", "x_13-38-10.5 on 2019-08-18.jpg", 0.5),
    ],
)
def test_time_patterns(pattern: str, name: str, seconds_after_sooke_example: float) -> None:
    sooke = datetime(2019, 8, 18, 13, 38, 10, tzinfo=UTC).timestamp()
    assert TimePattern(pattern).time_of(name) == sooke + seconds_after_sooke_example


def test_time_pattern_errors_name_the_problem() -> None:
    with pytest.raises(FootageError, match="%q"):
        TimePattern("%Y-%q")
    with pytest.raises(FootageError, match="frame_7.jpg"):
        TimePattern().time_of("frame_7.jpg")


def test_times_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("image,ts\na.jpg,12.5\nb.jpg,1970-01-01T00:01:00\n", encoding="utf-8")
    assert read_times(path) == {"a.jpg": 12.5, "b.jpg": 60.0}
    path.write_text("image,ts\na.jpg,soon\n", encoding="utf-8")
    with pytest.raises(FootageError, match="times.csv:2"):
        read_times(path)


def boxes(*rows: tuple[float, float, float, float]) -> npt.NDArray[np.float64]:
    return np.array(rows, np.float64).reshape(-1, 4)


@pytest.mark.parametrize(
    ("truth", "detections", "expected"),
    [
        (boxes((0, 0, 10, 10), (50, 50, 60, 60)), boxes(), BoxMatch(2, 0, 0, 0)),
        (boxes(), boxes((0, 0, 10, 10)), BoxMatch(0, 0, 1, 0)),
        (boxes((0, 0, 10, 10), (50, 50, 60, 60)), boxes((5, 5, 20, 20)), BoxMatch(2, 1, 1, 1)),
        # Half-open boxes: sharing an edge is not an overlap.
        (boxes((0, 0, 10, 10)), boxes((10, 0, 20, 10)), BoxMatch(1, 0, 1, 0)),
        # One big detection over two boats finds both but is one right detection.
        (boxes((0, 0, 10, 10), (50, 50, 60, 60)), boxes((0, 0, 100, 100)), BoxMatch(2, 2, 1, 1)),
        # Two pieces of one boat are two right detections, one boat found.
        (boxes((0, 0, 40, 10)), boxes((0, 0, 10, 10), (30, 0, 35, 5)), BoxMatch(1, 1, 2, 2)),
        (boxes((0, 0, 10, 10)), boxes((0, 0, 10, 10), (70, 70, 80, 80)), BoxMatch(1, 1, 2, 1)),
    ],
)
def test_box_matching(
    truth: npt.NDArray[np.float64], detections: npt.NDArray[np.float64], expected: BoxMatch
) -> None:
    assert match_boxes(truth, detections) == expected


def test_scores_add_up_over_frames() -> None:
    score = FootageScore("m")
    for match in (BoxMatch(2, 1, 1, 1), BoxMatch(2, 2, 4, 2), BoxMatch(1, 0, 0, 0)):
        score.add(match)
    assert (score.frames, score.recall, score.precision) == (3, 0.6, 0.6)
    assert score.f1 == pytest.approx(0.6)
    assert score.false_per_frame == pytest.approx(2 / 3)
    empty = FootageScore("none")
    empty.add(BoxMatch(3, 0, 0, 0))
    assert empty.recall == 0.0 and math.isnan(empty.precision) and math.isnan(empty.f1)


def test_boxes_scale_from_analysis_size_to_label_pixels() -> None:
    scaled = to_full(np.array([[10, 20, 30, 40]], np.int32), (540, 960), (1920, 1080))
    assert scaled.tolist() == [[20.0, 40.0, 60.0, 80.0]]


def noise_frames(positions: list[tuple[int, int]], seed: int = 3) -> list[npt.NDArray[np.uint8]]:
    """Grey noise (sd 3) with a dark 8x8 square at each position in turn."""
    rng = np.random.default_rng(seed)
    frames = []
    for x, y in positions:
        frame = np.clip(rng.normal(128, 3, (96, 128)), 0, 255).astype(np.uint8)
        frame[y : y + 8, x : x + 8] = 40
        frames.append(frame)
    return frames


def test_three_frame_difference_boxes_the_middle_position() -> None:
    f1, f2, f3 = noise_frames([(20, 40), (34, 41), (48, 42)])
    found = mask_boxes(three_frame_foreground(f1, f2, f3), min_px=16)
    assert found.tolist() == [[34, 41, 42, 49]]


def test_three_frame_difference_sees_nothing_on_still_noise() -> None:
    f1, f2, f3 = noise_frames([(20, 40)] * 3)
    assert mask_boxes(three_frame_foreground(f1, f2, f3), min_px=1).shape == (0, 4)


def test_core_camera_is_muted_for_its_warmup_then_quiet_on_still_water() -> None:
    camera = CoreCamera(load_camera(CONFIGS / "sooke-garden.yaml"), (96, 128))
    frames = noise_frames([(20, 40)] * (camera.warmup + 3))
    outputs = [camera.step(f, 5.0 * i) for i, f in enumerate(frames)]
    assert [o.muted for o in outputs] == [True] * camera.warmup + [False] * 3
    assert [len(o.regions_k4) for o in outputs] == [0] * len(frames)


@pytest.mark.parametrize("name", ["sooke-garden.yaml", "sooke-slope.yaml"])
def test_sooke_camera_files_hold_masks_a_sea_zone_and_default_knobs(name: str) -> None:
    setup = load_camera(CONFIGS / name)
    assert len(setup.analysis.masks) == 4 and [z.id for z in setup.zones] == ["sea"]
    assert setup.analysis == with_default_knobs(setup).analysis  # no label-tuned knob
    tuned = with_knobs(setup, sensitivity=4.0, min_object_px=32)
    assert (tuned.analysis.sensitivity, tuned.analysis.min_object_px) == (4.0, 32)
    assert tuned.analysis.masks == setup.analysis.masks
    ignore = ignore_mask(setup, (540, 960))
    assert ignore[20, 700] and not ignore[300, 480]  # timestamp masked, open sea not


def test_ucsd_frames_in_numeric_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        (tmp_path / f"frame_{n}.jpg").touch()
    assert [p.name for p in ucsd_frames(tmp_path)] == ["frame_1.jpg", "frame_2.jpg", "frame_10.jpg"]


@pytest.mark.skipif(not SOOKE.is_dir(), reason="the shared footage is not here")
def test_real_footage_first_three_groups() -> None:
    garden = load_footage(SOOKE, images="*2019-08-18*")
    first = replace(garden, groups=garden.groups[:3])
    setup = with_knobs(load_camera(CONFIGS / "sooke-garden.yaml"), min_object_px=32)
    run = run_footage(first, setup, (540, 960))
    assert run.warmup_groups == [first.groups[0].name]
    assert run.masked and run.min_blob_px == 32
    for score in run.scores:
        assert score.frames == 2
        assert score.truth == sum(len(g.frames[1].xywh_k4) for g in first.groups[1:])
        assert 0 <= score.found <= score.truth and 0 <= score.right <= score.detections


# --- `riverwatch evaluate --footage DIR --camera FILE`, end to end ---------------------------

CAMERA_YAML = """
cameras:
- id: dock-1
  name: Test dock
  group: river
  url: file:///dev/null
  analysis:
    masks:
    - [[0.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 0.1]]
  zones:
  - id: water
    polygon: [[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]]
"""


def write_boat_footage(folder: Path, groups: int = 8) -> None:
    """Noisy water with a dark hull (the core wants a region to darken water by day) moving
    right: three frames 5 s apart per minute, as the Sooke camera takes them; labels.csv."""
    rng = np.random.default_rng(7)
    rows = ["image,box_id,x,y,w,h"]
    for g in range(groups):
        for k in range(3):
            frame = np.clip(rng.normal(120, 3, (240, 320)), 0, 255).astype(np.uint8)
            x, y = 20 + 30 * g + 6 * k, 120 + 4 * g
            frame[y : y + 16, x : x + 32] = 40
            name = f"dock_2024-05-01_10-{g:02d}-{5 * k:02d}.jpg"
            cv2.imwrite(str(folder / name), frame)
            rows.append(f"{name},0,{x + 1},{y + 1},32,16")  # 1-based corner
    (folder / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def core_row(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("| core: regions |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_evaluate_finds_the_boat_on_generated_footage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_boat_footage(tmp_path)
    camera = tmp_path / "camera.yaml"
    camera.write_text(CAMERA_YAML, encoding="utf-8")
    code = main(["evaluate", "--footage", str(tmp_path), "--camera", str(camera)])
    out = capsys.readouterr().out
    assert code == 0
    _, frames, recall, precision, _, _ = core_row(out)
    assert int(frames) >= 5  # the groups after the core's warm-up
    assert float(recall) >= 0.9 and float(precision) >= 0.5
    assert "three-frame difference" in out and "MOG2 per group" in out
    assert "camera 'dock-1'" in out and "analysis 160x120" in out


@pytest.mark.parametrize(
    ("camera_text", "labels", "needle"),
    [
        (CAMERA_YAML.replace("group: river", "group: river\n  colour: red"), True, "colour"),
        (CAMERA_YAML.replace("[0.0, 0.2]", "[0.0, 1.7]"), True, "zones[0].polygon"),
        (CAMERA_YAML.split("  zones:")[0], True, "no zones"),
        (CAMERA_YAML, False, "labels.csv"),
    ],
)
def test_evaluate_bad_input_is_exit_2_naming_the_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    camera_text: str,
    labels: bool,
    needle: str,
) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    write_boat_footage(footage, groups=2)
    if not labels:
        (footage / "labels.csv").unlink()
    camera = tmp_path / "camera.yaml"
    camera.write_text(camera_text, encoding="utf-8")
    code = main(["evaluate", "--footage", str(footage), "--camera", str(camera)])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_evaluate_footage_needs_a_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--footage", str(tmp_path)]) == 2
    assert "--camera" in capsys.readouterr().err
