"""The learnt region verifier: features that separate hulls from glint, the model folder, the
CLI (`riverwatch verifier train`, `evaluate --verifier`) end to end on generated footage."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detectors.regions import Regions
from detectors.verifier import (
    DEFAULT_LABELS,
    N_FEATURES,
    THRESHOLDS,
    VESSEL,
    Verifier,
    VerifierLoadError,
    choose_min_score,
    region_features,
)
from hub.cli import main

CAMERA_YAML = """\
cameras:
- id: dock-1
  name: Test dock
  group: river
  url: file:///dev/null
  zones:
  - id: water
    polygon: [[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]]
"""


def scene(seed: int, n: int = 40) -> tuple[npt.NDArray[np.uint8], Regions, npt.NDArray[np.int32]]:
    """`n` frames of noisy water, each with one dark hull and one cluster of bright glint
    speckles; the regions a detector would report for both, and their labels."""
    rng = np.random.default_rng(seed)
    frames = np.clip(rng.normal(110, 6, (n, 120, 160)), 0, 255).astype(np.uint8)
    boxes, labels = [], []
    vessel = DEFAULT_LABELS.index(VESSEL)
    for i in range(n):
        w, h = int(rng.integers(14, 30)), int(rng.integers(5, 10))
        x, y = int(rng.integers(5, 160 - w - 5)), int(rng.integers(30, 60))
        frames[i, y : y + h, x : x + w] = rng.integers(30, 60)
        boxes.append((x, y, x + w, y + h))
        labels.append(vessel)
        gx, gy = int(rng.integers(5, 130)), int(rng.integers(70, 100))
        size = int(rng.integers(10, 20))
        speck = rng.random((size, size)) < 0.25
        patch = frames[i, gy : gy + size, gx : gx + size]
        patch[speck] = 250
        boxes.append((gx, gy, gx + size, gy + size))
        labels.append(1 - vessel)
    k = len(boxes)
    xyxy = np.array(boxes, np.int32)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    regions = Regions(
        np.repeat(np.arange(n), 2).astype(np.intp),
        xyxy,
        np.maximum(1, area // 16).astype(np.int32),
        np.zeros(k, np.float32),
        np.zeros(k, np.float32),
    )
    return frames, regions, np.array(labels, np.int32)


def test_features_separate_hulls_from_glint_on_unseen_frames() -> None:
    frames, regions, label_k = scene(seed=1)
    verifier = Verifier.train(region_features(frames, regions), label_k)
    test_frames, test_regions, test_k = scene(seed=2)
    score = verifier.vessel_score(region_features(test_frames, test_regions))
    said = (score >= 0.5).astype(np.int32) == DEFAULT_LABELS.index(VESSEL)
    accuracy = float((said == (test_k == DEFAULT_LABELS.index(VESSEL))).mean())
    assert accuracy >= 0.95
    kept = verifier.confirm(test_frames, test_regions)
    assert 0 < len(kept) < len(test_regions)


def test_ring_features_do_not_move_with_the_views_brightness() -> None:
    # The features against the box's own ring of water (the last ones) read the box in that
    # water's terms: a darker view (evening, exposure) shifts box and ring alike.
    frames, regions, _ = scene(seed=6, n=6)
    assert int(frames.min()) >= 20  # nothing clips
    darker = frames - np.uint8(20)
    ring = slice(-8, -2)
    np.testing.assert_allclose(
        region_features(darker, regions)[:, ring],
        region_features(frames, regions)[:, ring],
        atol=0.02,
    )


def test_the_short_history_tells_a_moving_hull_from_water_that_only_changes() -> None:
    rng = np.random.default_rng(3)
    then = np.clip(rng.normal(110, 6, (1, 120, 160)), 0, 255).astype(np.uint8)
    now = np.clip(rng.normal(110, 6, (1, 120, 160)), 0, 255).astype(np.uint8)
    then[0, 50:58, 20:44] = 40  # the hull a few seconds ago...
    now[0, 50:58, 44:68] = 40  # ...has moved on by its length
    boxes = np.array([[44, 50, 68, 58], [100, 80, 124, 88]], np.int32)  # hull, plain water
    regions = Regions(
        np.zeros(2, np.intp), boxes, np.full(2, 12, np.int32), np.zeros(2, np.float32),
        np.zeros(2, np.float32),
    )  # fmt: skip
    ratio, signed = region_features(now, regions, {0: then[0]})[:, -2:].T
    assert ratio[0] > 1.0 and signed[0] < -5.0  # the hull: far more change, and darker
    assert abs(ratio[1]) < 0.2 and abs(signed[1]) < 0.3  # the water changed as its ring did
    assert np.all(region_features(now, regions)[:, -2:] == 0.0)  # no earlier look: neutral
    assert np.all(region_features(now, regions, {1: then[0]})[:, -2:] == 0.0)  # another camera's


def grouped_rows(
    seed: int, groups: int, per_group: int, shift: float, twins: bool
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Rows in `groups` moments of `per_group` rows: vessels' first feature is `shift` higher.
    With `twins`, a moment's rows are near copies of one random vector and share its label:
    nothing carries over from one moment to the next, as when a model only memorises moments."""
    rng = np.random.default_rng(seed)
    group_k = np.repeat(np.arange(groups, dtype=np.int64), per_group)
    if twins:
        label_k = np.repeat(rng.integers(0, 2, groups), per_group).astype(np.int32)
        features = rng.normal(0, 1, (groups, N_FEATURES))[group_k]
        features += rng.normal(0, 0.01, features.shape)
    else:
        label_k = rng.integers(0, 2, len(group_k)).astype(np.int32)
        features = rng.normal(0, 1, (len(group_k), N_FEATURES))
        features[:, 0] += shift * (label_k == DEFAULT_LABELS.index(VESSEL))
    return features.astype(np.float32), label_k, group_k


def test_the_threshold_rule_scores_every_row_out_of_fold() -> None:
    features_kf, label_k, group_k = grouped_rows(3, groups=30, per_group=8, shift=4.0, twins=False)
    choice = choose_min_score(features_kf, label_k, group_k)
    assert choice is not None and choice.min_score in THRESHOLDS
    assert choice.out_of_fold.regions == len(label_k)  # every row, each once
    assert choice.out_of_fold.f1 >= 0.9


def test_the_threshold_rule_folds_whole_moments() -> None:
    """Rows of one moment never sit on both sides of a fold: scored out of fold, a model that
    only memorised moments is no better than saying vessel to everything (F1 about 2/3),
    where folds of single rows would let it find each row's twins (F1 near 1)."""
    features_kf, label_k, group_k = grouped_rows(5, groups=40, per_group=6, shift=0.0, twins=True)
    choice = choose_min_score(features_kf, label_k, group_k)
    assert choice is not None and choice.out_of_fold.f1 < 0.8
    shuffled = np.random.default_rng(0).permutation(len(label_k)).astype(np.int64)
    by_row = choose_min_score(features_kf, label_k, shuffled)  # each row its own "moment"
    assert by_row is not None and by_row.out_of_fold.f1 > 0.95  # the leak it prevents


def test_the_threshold_rule_needs_two_moments_with_both_labels() -> None:
    features_kf, label_k, _ = grouped_rows(7, groups=1, per_group=20, shift=4.0, twins=False)
    assert choose_min_score(features_kf, label_k, np.zeros(len(label_k), np.int64)) is None


def test_model_folder_round_trips(tmp_path: Path) -> None:
    frames, regions, label_k = scene(seed=3)
    features = region_features(frames, regions)
    verifier = Verifier.train(features, label_k, min_score=0.35, frames=len(frames))
    verifier.save(tmp_path / "m")
    loaded = Verifier.load(tmp_path / "m")
    assert loaded.manifest == verifier.manifest
    assert loaded.manifest.counts.per_label == {"other": 40, "vessel": 40}
    np.testing.assert_allclose(loaded.vessel_score(features), verifier.vessel_score(features))


def broken(folder: Path, what: str) -> None:
    frames, regions, label_k = scene(seed=4, n=10)
    Verifier.train(region_features(frames, regions), label_k).save(folder)
    manifest = folder / "manifest.json"
    if what == "garbage manifest":
        manifest.write_text("{not json", encoding="utf-8")
    elif what == "future version":
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        manifest.write_text(json.dumps({**raw, "version": 99}), encoding="utf-8")
    elif what == "a forest of the earlier spec":
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        manifest.write_text(json.dumps({**raw, "classifier": "cv2.ml.RTrees"}), encoding="utf-8")
    elif what == "garbage model":
        (folder / "model.xml").write_bytes(b"\x00\x01 not a forest")
    elif what == "no model":
        (folder / "model.xml").unlink()


@pytest.mark.parametrize(
    ("what", "needle"),
    [
        ("garbage manifest", "not a verifier manifest"),
        ("future version", "format version 99"),
        ("a forest of the earlier spec", "train the model again"),
        ("garbage model", "model.xml"),
        ("no model", "missing"),
    ],
)
def test_a_bad_model_folder_is_a_clear_error(tmp_path: Path, what: str, needle: str) -> None:
    broken(tmp_path / "m", what)
    with pytest.raises(VerifierLoadError, match=needle):
        Verifier.load(tmp_path / "m")


def write_footage(folder: Path, groups: int = 10) -> None:
    """Noisy water, three frames 5 s apart per minute, a labelled dark hull moving right and an
    unlabelled dark blotch that jumps about (the not-vessel the verifier must learn)."""
    rng = np.random.default_rng(7)
    rows = ["image,box_id,x,y,w,h"]
    for g in range(groups):
        for k in range(3):
            frame = np.clip(rng.normal(120, 3, (240, 320)), 0, 255).astype(np.uint8)
            x, y = 20 + 25 * g + 6 * k, 120 + 4 * g
            frame[y : y + 16, x : x + 40] = 40
            bx, by = int(rng.integers(20, 280)), int(rng.integers(60, 90))
            blotch = rng.random((24, 24)) < 0.5
            frame[by : by + 24, bx : bx + 24][blotch] = 70
            name = f"dock_2024-05-01_10-{g:02d}-{5 * k:02d}.jpg"
            cv2.imwrite(str(folder / name), frame)
            rows.append(f"{name},0,{x + 1},{y + 1},40,16")  # 1-based corner
    (folder / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def table_row(text: str, method: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {method} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_train_then_evaluate_with_the_verifier_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    write_footage(footage)
    camera = tmp_path / "camera.yaml"
    camera.write_text(CAMERA_YAML, encoding="utf-8")
    model = tmp_path / "dock.verifier"
    args = ["--footage", str(footage), "--camera", str(camera)]
    assert main(["verifier", "train", *args, "--out", str(model)]) == 0
    assert "wrote" in capsys.readouterr().out
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == ["other", "vessel"] and manifest["version"] == 1
    assert manifest["counts"]["per_label"]["vessel"] > 0
    assert manifest["counts"]["per_label"]["other"] > 0
    assert main(["evaluate", *args, "--verifier", str(model)]) == 0
    out = capsys.readouterr().out
    plain = table_row(out, "core: regions")
    checked = table_row(out, "core + verifier: regions")
    assert plain[1] == checked[1]  # the same frames scored
    assert float(checked[5]) < float(plain[5])  # fewer false regions per frame
    assert float(checked[2]) >= 0.8  # the hull is still found


def test_evaluate_with_a_bad_verifier_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    footage = tmp_path / "footage"
    footage.mkdir()
    write_footage(footage, groups=2)
    camera = tmp_path / "camera.yaml"
    camera.write_text(CAMERA_YAML, encoding="utf-8")
    broken(tmp_path / "m", "garbage model")
    args = ["evaluate", "--footage", str(footage), "--camera", str(camera)]
    assert main([*args, "--verifier", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "bad verifier" in err and "model.xml" in err and "Traceback" not in err
    assert main([*args, "--verifier", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


HUB_YAML = """\
verifier: dock.verifier
cameras:
- id: dock-1
  name: Dock
  group: river
  url: rtsp://127.0.0.1:8554/dock
  zones:
  - id: water
    polygon: [[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]]
"""
ONNX_MODEL = """\
model:
  path: vessel.onnx
  input_size: [32, 32]
  labels: [other, vessel]
  keep: [vessel]
"""


def test_the_hub_loads_the_verifier_its_config_names(tmp_path: Path) -> None:
    from hub.runtime import load_region_model
    from riverwatch.config import load_config

    frames, regions, label_k = scene(seed=5, n=10)
    Verifier.train(region_features(frames, regions), label_k).save(tmp_path / "dock.verifier")
    config = tmp_path / "hub.yaml"
    config.write_text(HUB_YAML, encoding="utf-8")
    assert isinstance(load_region_model(load_config(config)), Verifier)
    config.write_text(ONNX_MODEL + HUB_YAML, encoding="utf-8")
    with pytest.raises(Exception, match="both a model and a verifier"):
        load_region_model(load_config(config))
