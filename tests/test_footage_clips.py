"""Footage as video clips and label files in COCO and MOT form, on generated data.

Clips are H.264 written with PyAV in `tmp_path`: noisy water with a dark hull moving right.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from evaluation.footage import (
    ClipSampling,
    FootageError,
    load_footage,
    read_coco,
    read_labels,
    read_mot,
)
from hub.cli import main
from tests.test_footage import CAMERA_YAML, core_row, write_boat_footage

CLIP_FPS = 10


def hull_xy(n: int) -> tuple[int, int]:
    """Top-left corner (0-based) of the hull in frame n (0-based)."""
    return 20 + 3 * n, 120 + n // 10


def write_clip(path: Path, seconds: float = 10.0, creation_time: str | None = None) -> None:
    """H.264 at 10 fps, 320x240, a keyframe every 10 frames; the hull is 32x16, luma 40."""
    rng = np.random.default_rng(11)
    with av.open(str(path), "w") as box:
        if creation_time:
            box.metadata["creation_time"] = creation_time
        stream = box.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.gop_size = 10
        stream.options = {"crf": "18", "preset": "ultrafast", "bf": "0"}
        stream.time_base = Fraction(1, CLIP_FPS)
        for n in range(int(seconds * CLIP_FPS)):
            yuv = np.full((360, 320), 128, np.uint8)
            luma = np.clip(rng.normal(120, 3, (240, 320)), 0, 255).astype(np.uint8)
            x, y = hull_xy(n)
            luma[y : y + 16, x : x + 32] = 40
            yuv[:240] = luma
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = n
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))


def write_mot(path: Path, frames: int = 100) -> None:
    """The hull in every frame, MOT-style: 1-based frame and corner, conf 1, class 1."""
    rows = []
    for n in range(frames):
        x, y = hull_xy(n)
        rows.append(f"{n + 1},1,{x + 1},{y + 1},32,16,1,1,1")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    path = tmp_path / "camera.yaml"
    path.write_text(CAMERA_YAML, encoding="utf-8")
    return path


def test_evaluate_finds_the_boat_in_a_clip_with_mot_labels(
    tmp_path: Path, camera: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, mot = tmp_path / "dock.mp4", tmp_path / "mot.txt"
    write_clip(clip)
    write_mot(mot)
    code = main(["evaluate", "--footage", str(clip), "--camera", str(camera), "--labels", str(mot)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    _, frames, recall, precision, _, _ = core_row(captured.out)
    # 10 s sampled at the camera's detect_fps (5): 50 frames, less the warm-up and the ends.
    assert 40 <= int(frames) <= 48
    assert float(recall) >= 0.9 and float(precision) >= 0.5
    assert "50 images 320x240 in 1 groups" in captured.out


def test_clip_frames_are_timed_sampled_and_labelled_by_frame_number(tmp_path: Path) -> None:
    clip = tmp_path / "dock_2024-05-01_10-00-00.mp4"
    write_clip(clip, seconds=3.0)
    write_mot(clip.with_suffix(".txt"), frames=30)
    start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC).timestamp()

    every = load_footage(tmp_path, sampling=ClipSampling())
    (group,) = every.groups
    assert len(group.frames) == 30 and every.image_wh == (320, 240)
    assert [round(f.ts - start, 3) for f in group.frames[:3]] == [0.0, 0.1, 0.2]
    tenth = group.frames[9]
    assert tenth.path.name == "dock_2024-05-01_10-00-00.mp4#10"
    assert tenth.xywh_k4.tolist() == [[*hull_xy(9), 32, 16]]  # MOT's 1-based corner, 0-based

    sampled = load_footage(tmp_path, sampling=ClipSampling(fps=2.0)).groups[0].frames
    assert [f.clip.frame for f in sampled if f.clip] == [1, 6, 11, 16, 21, 26]
    keys = load_footage(tmp_path, sampling=ClipSampling(keyframes=True)).groups[0].frames
    assert [f.clip.frame for f in keys if f.clip] == [1, 11, 21]


def test_clip_start_from_metadata_else_after_the_clip_before(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.mp4", seconds=1.0, creation_time="2024-05-01T10:00:00.000000Z")
    write_clip(tmp_path / "b.mp4", seconds=1.0)
    for name in ("a", "b"):
        write_mot(tmp_path / f"{name}.txt", frames=10)
    groups = load_footage(tmp_path, sampling=ClipSampling()).groups
    assert [g.frames[0].path.name for g in groups] == ["a.mp4#1", "b.mp4#1"]
    assert groups[0].frames[0].ts == datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()
    assert groups[1].frames[0].ts == groups[0].frames[-1].ts + 40.0  # twice the group gap
    assert groups[0].name.startswith("a.mp4 @ 0.0 s (2024-05-01 10:00:00)")


def test_coco_gives_the_same_scores_as_the_csv(
    tmp_path: Path, camera: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "footage"
    folder.mkdir()
    write_boat_footage(folder, groups=6)
    csv_labels = read_labels(folder / "labels.csv")
    names = sorted(p.name for p in folder.glob("*.jpg"))
    coco = {
        "images": [{"id": i, "file_name": f"frames/{n}"} for i, n in enumerate(names)],
        "categories": [{"id": 1, "name": "boat"}, {"id": 2, "name": "buoy"}],
        "annotations": [
            {"id": k, "image_id": names.index(str(n)), "category_id": 1, "bbox": box.tolist()}
            for k, (n, box) in enumerate(zip(csv_labels.image_k, csv_labels.xywh_k4, strict=True))
        ]
        + [{"id": 999, "image_id": len(names) - 2, "category_id": 2, "bbox": [0, 0, 9, 9]}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco), encoding="utf-8")
    assert read_coco(tmp_path / "coco.json", "boat").xywh_k4.tolist() == csv_labels.xywh_k4.tolist()

    base = ["evaluate", "--footage", str(folder), "--camera", str(camera)]
    assert main(base) == 0
    with_csv = capsys.readouterr().out
    assert main([*base, "--labels", str(tmp_path / "coco.json"), "--category", "boat"]) == 0
    with_coco = capsys.readouterr().out
    table = [line for line in with_csv.splitlines() if line.startswith("|")]
    assert table and table == [line for line in with_coco.splitlines() if line.startswith("|")]
    # Every category: a buoy (a scored frame, where nothing moves) is truth too: recall drops.
    assert main([*base, "--labels", str(tmp_path / "coco.json")]) == 0
    every = core_row(capsys.readouterr().out)
    assert float(every[2]) < float(core_row(with_csv)[2]) and int(every[1]) > 0


def test_mot_and_coco_fractional_boxes_cover_the_pixels_they_touch(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("3,1,10.5,20,4,5.2,-1\n\n4,2,1,1,2,2,0,1,1\n", encoding="utf-8")
    labels = read_mot(path, "c.mp4")
    assert labels.image_k.tolist() == ["c.mp4#3"]  # conf 0: MOT's "ignore" flag
    assert labels.xywh_k4.tolist() == [[9, 19, 5, 6]]


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("mot.txt", "1,1,10,10,0,5\n", "mot.txt:1: a box needs a positive"),
        ("mot.txt", "1,1,10,10\n", "mot.txt:1: want frame,id,x,y,w,h"),
        ("mot.txt", "a,1,10,10,5,5\n", "mot.txt:1: frame must be an integer"),
        ("mot.txt", "0,1,10,10,5,5\n", "MOT frames count from 1"),
        ("coco.json", "{not json", "coco.json: not JSON"),
        ("coco.json", '{"images": []}', "not COCO detection JSON"),
        (
            "coco.json",
            '{"images": [], "annotations": [{"image_id": 4, "bbox": [1,1,2,2]}]}',
            "image_id 4 is not in images",
        ),
        ("coco.json", '{"images": [{"id": 1}], "annotations": []}', "file_name"),
        ("coco.json", '{"images": [], "annotations": [{"image_id": 1}]}', "annotations[0]"),
        ("labels.csv", "image,x,y\n", "no column(s) w, h"),
        ("absent.json", None, "absent.json: no such labels file"),
    ],
)
def test_bad_label_files_exit_2_naming_the_problem(
    tmp_path: Path,
    camera: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str | None,
    needle: str,
) -> None:
    clip = tmp_path / "dock.mp4"
    write_clip(clip, seconds=1.0)
    labels = tmp_path / name
    if text is not None:
        labels.write_text(text, encoding="utf-8")
    code = main(
        ["evaluate", "--footage", str(clip), "--camera", str(camera), "--labels", str(labels)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("setup", "args", "needle"),
    [
        ("no-mot", [], "dock.txt beside it"),
        ("coco-cat", ["--category", "kayak"], "no category 'kayak' (categories: boat)"),
        ("fps", ["--fps", "fast"], "--fps 'fast'"),
        ("not-video", [], "not a readable video"),
        ("mixed", [], "both images and clips"),
    ],
)
def test_bad_clip_footage_exits_2_naming_the_problem(
    tmp_path: Path,
    camera: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    args: list[str],
    needle: str,
) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    clip = folder / "dock.mp4"
    if setup == "not-video":
        clip.write_bytes(b"this is no video at all" * 100)
    else:
        write_clip(clip, seconds=1.0)
    if setup in ("fps", "mixed", "not-video"):
        write_mot(folder / "dock.txt", frames=10)
    if setup == "mixed":
        write_boat_footage(folder, groups=1)
    if setup == "coco-cat":
        doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "boat"}]}
        (tmp_path / "c.json").write_text(json.dumps(doc), encoding="utf-8")
        args = [*args, "--labels", str(tmp_path / "c.json")]
    code = main(["evaluate", "--footage", str(folder), "--camera", str(camera), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err


def test_a_mot_file_cannot_label_a_folder_of_clips(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_clip(tmp_path / f"{name}.mp4", seconds=0.5)
    write_mot(tmp_path / "gt.txt", frames=5)
    with pytest.raises(FootageError, match="beside each clip"):
        load_footage(tmp_path, labels=tmp_path / "gt.txt")


def test_a_csv_can_label_clip_frames_by_name(tmp_path: Path) -> None:
    clip = tmp_path / "dock.mp4"
    write_clip(clip, seconds=0.5)
    (tmp_path / "l.csv").write_text("image,box_id,x,y,w,h\ndock.mp4#3,0,27,121,32,16\n", "utf-8")
    footage = load_footage(clip, labels=tmp_path / "l.csv")
    boxes = [f.xywh_k4.tolist() for f in footage.groups[0].frames]
    assert boxes == [[], [], [[26, 120, 32, 16]], [], []]
    assert footage.unmatched_labels == 0


def test_verifier_train_takes_the_footage_label_file(
    tmp_path: Path, camera: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip, mot = tmp_path / "dock.mp4", tmp_path / "gt.txt"
    write_clip(clip, seconds=0.5)
    mot.write_text("1,1,5,5\n", encoding="utf-8")
    args = ["verifier", "train", "--footage", str(clip), "--camera", str(camera)]
    assert main([*args, "--labels", str(mot), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "gt.txt:1: want frame,id,x,y,w,h" in err and "Traceback" not in err
