"""Real-footage evaluation: parsing, box scoring and the baselines on generated data.

Nothing here needs the footage, except one optional test that runs the real thing on the
first three Sooke groups when `../shared/data` is there.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from evaluation.footage import (
    SOOKE_ANALYSIS,
    SOOKE_DIR,
    SOOKE_PRESETS,
    BoxMatch,
    CoreCamera,
    FootageScore,
    load_sooke,
    mask_boxes,
    match_boxes,
    preset_of,
    read_labels,
    run_sooke,
    three_frame_foreground,
    to_full,
    ucsd_frames,
)
from riverwatch.config import AnalysisConfig

DATA = Path(os.environ.get("RIVERWATCH_DATA", Path(__file__).parents[2] / "shared" / "data"))
PREFIX = "sooke1_ptz_capture_"

LABELS_CSV = """image,box_id,x,y,w,h
sooke1_ptz_capture_2019-08-18_13-38-10.jpg,0,18,418,23,9
sooke1_ptz_capture_2019-08-18_13-38-14.jpg,0,1,1,25,9
sooke1_ptz_capture_2019-08-18_13-38-14.jpg,1,100,200,10,5
sooke1_ptz_capture_2019-08-18_13-41-10.jpg,0,321,574,123,42
"""


def write_footage(folder: Path) -> None:
    """Empty JPEG files (the parser never opens them) and a tiny labels.csv."""
    for stamp in ("13-38-10", "13-38-14", "13-38-19", "13-41-14", "13-41-10"):
        (folder / f"{PREFIX}2019-08-18_{stamp}.jpg").touch()
    (folder / "labels.csv").write_text(LABELS_CSV, encoding="utf-8")


def test_labels_become_zero_based(tmp_path: Path) -> None:
    write_footage(tmp_path)
    labels = read_labels(tmp_path / "labels.csv")
    assert labels.of(f"{PREFIX}2019-08-18_13-38-14.jpg").tolist() == [
        [0, 0, 25, 9],
        [99, 199, 10, 5],
    ]
    assert labels.of("unlabelled.jpg").shape == (0, 4)


def test_frames_grouped_by_minute_in_time_order(tmp_path: Path) -> None:
    write_footage(tmp_path)
    groups = load_sooke(tmp_path)
    assert [g.minute for g in groups] == ["2019-08-18_13-38", "2019-08-18_13-41"]
    assert [len(g.frames) for g in groups] == [3, 2]
    first = groups[0]
    assert [round(f.ts - first.frames[0].ts) for f in first.frames] == [0, 4, 9]
    assert first.middle.path.name == f"{PREFIX}2019-08-18_13-38-14.jpg"
    assert first.middle.xyxy_k4.tolist() == [[0, 0, 25, 9], [99, 199, 109, 204]]
    assert first.frames[2].xywh_k4.shape == (0, 4)
    assert groups[1].frames[0].path.name.endswith("13-41-10.jpg")  # sorted by time, not listing


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
    scaled = to_full(np.array([[10, 20, 30, 40]], np.int32), (540, 960))
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
    preset = SOOKE_PRESETS[0]
    camera = CoreCamera(preset.setup(SOOKE_ANALYSIS), (96, 128))
    frames = noise_frames([(20, 40)] * (camera.warmup + 3))
    outputs = [camera.step(f, 5.0 * i) for i, f in enumerate(frames)]
    assert [o.muted for o in outputs] == [True] * camera.warmup + [False] * 3
    assert [len(o.regions_k4) for o in outputs] == [0] * len(frames)


def test_presets_are_valid_configs_and_masks_can_be_turned_off() -> None:
    for preset in SOOKE_PRESETS:
        setup = preset.setup(AnalysisConfig(min_object_px=32))
        assert setup.analysis.min_object_px == 32
        assert len(setup.analysis.masks) == len(preset.masks) and len(setup.zones) == 1
        assert preset.setup(AnalysisConfig(), masked=False).analysis.masks == []
        ignore = preset.ignore_mask((540, 960))
        assert ignore[20, 700] and not ignore[300, 480]  # timestamp masked, open sea not
    assert preset_of("2019-09-20").name == "slope"
    with pytest.raises(KeyError):
        preset_of("2020-01-01")


def test_ucsd_frames_in_numeric_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        (tmp_path / f"frame_{n}.jpg").touch()
    assert [p.name for p in ucsd_frames(tmp_path)] == ["frame_1.jpg", "frame_2.jpg", "frame_10.jpg"]


@pytest.mark.skipif(not (DATA / SOOKE_DIR).is_dir(), reason="the shared footage is not here")
def test_real_footage_first_three_groups() -> None:
    folder = DATA / SOOKE_DIR
    groups = load_sooke(folder)[:3]
    run = run_sooke(folder, groups=groups)
    assert run.warmup_groups == [groups[0].minute]
    assert run.masked and run.min_blob_px == SOOKE_ANALYSIS.min_object_px
    for score in run.scores:
        assert score.frames == 2
        assert score.truth == sum(len(g.middle.xywh_k4) for g in groups[1:])
        assert 0 <= score.found <= score.truth and 0 <= score.right <= score.detections
