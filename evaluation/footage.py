"""Any footage through the real detection core, scored against OpenCV baselines.

An operator's own footage: a folder of images, their capture times (from the file names by a
pattern, `TimePattern`, or from an `image,ts` CSV) and `labels.csv` beside them in the Sooke
format (`image,box_id,x,y,w,h`, top-left corners **1-based**, in the images' own pixels; an
image with no row has no boat). The camera is a one-camera hub config file (`load_camera`):
its analysis settings, masks and zones are what the core runs with, as the hub would.

Or video clips (a folder of them, or one): frames are decoded with PyAV at a sampling rate
(`ClipSampling`: a rate, every frame, or keyframes only), each timed by its pts x time_base
plus the clip's start (its file name's time, else the container's `creation_time`, else just
after the clip before). A clip frame's name in the labels is `clip.mp4#N`, N its frame number
counted from 1 in presentation order, as MOT counts. A clip's labels are a MOT file
(`frame,id,x,y,w,h[,conf,...]`, frames and corners 1-based, conf 0 = ignore), by default
`<clip stem>.txt` beside it; the Sooke CSV and COCO may name `clip.mp4#N` frames as well.

Any folder may take another label file (`read_label_file`): the Sooke CSV, a COCO detection
JSON (`bbox` 0-based; images by the base name of `file_name`; one category or all) or MOT.
Every kind becomes 0-based whole-pixel (x, y, w, h) boxes; fractional edges widen to the
pixels they touch.

Frames closer in time than `GROUP_GAP_S` to the one before form one group (the Sooke camera
takes three photos 5 s apart each minute; a continuous clip is one long group). The core
sees every frame in time order, luma area-resized to the analysis size, chroma 128, with its
capture time, as ingest feeds a keyframe-only camera. Every frame with a neighbour on both
sides in its group is scored on boxes, as `../shared/data/README.md` says:

    a labelled boat is found  when a detection box overlaps it (positive-area intersection),
    a detection is right      when it overlaps a labelled boat,

in the images' pixels (detection boxes scaled up from the analysis size). The core's
detections are `StepResult.regions` of that frame; a second row keeps only the regions that
are the latest observation of a track the tracker itself calls confirmed. A frame the core
still mutes (its warm-up) is left out for every method, so every method is scored on the same
frames. A third core row runs the same camera with the three tuned knobs
(`TUNED_KNOBS`) at their defaults: it uses no labels at all.

The baselines see the same frames at the same size, with the same masks and, by default, the
same smallest object as the core: a three-frame double difference and a MOG2 fed the group's
frames, each then a 3x3 closing and connected components.

UCSD boats (31 frames, no ground truth): per frame, the core's regions and confirmed tracks
and MOG2's regions, as a qualitative check (one speedboat crosses).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from detectors import CameraSetup, DetectionCore, RegionModel, Verifier, rasterise
from detectors.regions import Regions
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, ZoneConfig, load_config

UCSD_DIR = "ucsd-boats"
LABELS_FILE = "labels.csv"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
CLIP_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".webm"})
# A local file needs no network, but every av.open has a bound (STYLE 11).
CLIP_OPEN_TIMEOUT_S = 30.0
# Sooke names: sooke1_ptz_capture_2019-08-18_13-38-10.jpg
DEFAULT_TIME_PATTERN = "%Y-%m-%d_%H-%M-%S"
# Frames further apart than this are separate moments (Sooke: 5 s inside a group, 45 s or
# more between groups).
GROUP_GAP_S = 20.0
# The analysis knobs an operator tunes per camera; everything else is geometry (masks, zones,
# ground plane) set without labels.
TUNED_KNOBS = ("sensitivity", "diff_threshold", "min_object_px")

I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

_KERNEL_3x3 = np.ones((3, 3), np.uint8)
_DIRECTIVES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}"}
_DIRECTIVES |= {"%S": r"\d{2}", "%f": r"\d{1,6}", "%%": "%"}

# Baselines, deliberately plain: a fixed grey-level threshold for the double difference
# (the data README's naive figures are reproduced with it), OpenCV's MOG2; both then a 3x3
# closing and connected components. "Strict" MOG2 is the one baseline setting picked on the
# Sooke labels (of two tried), to show what a hand-tuned MOG2 reaches.
DIFF_THRESHOLD = 15
STRICT_VAR_THRESHOLD = 64.0


class FootageError(Exception):
    """Footage that cannot be scored: the message names the file and the problem."""


# --- footage -------------------------------------------------------------------------------


class TimePattern:
    """Capture time (UTC, POSIX s) from a file name, by a strftime-style pattern found in it.

    `%Y %m %d %H %M %S %f` are understood; the rest of the pattern is literal text.

    >>> TimePattern().time_of("sooke1_ptz_capture_2019-08-18_13-38-10.jpg")
    1566135490.0
    """

    def __init__(self, pattern: str = DEFAULT_TIME_PATTERN) -> None:
        parts = re.split(r"(%.)", pattern)
        unknown = [p for p in parts[1::2] if p not in _DIRECTIVES]
        if unknown or "%S" not in parts:
            bad = ", ".join(unknown) or "no %S (seconds)"
            raise FootageError(f"time pattern {pattern!r}: not understood: {bad}")
        regex = "".join(_DIRECTIVES[p] if i % 2 else re.escape(p) for i, p in enumerate(parts))
        self._pattern = pattern
        self._regex = re.compile(regex)

    def time_of(self, name: str) -> float:
        """The time in `name`; `FootageError` when the name does not hold one."""
        match = self._regex.search(name)
        if match is None:
            raise FootageError(f"{name}: no time matching the pattern {self._pattern!r}")
        try:
            when = datetime.strptime(match.group(0), self._pattern)
        except ValueError as exc:
            raise FootageError(f"{name}: {exc}") from None
        return when.replace(tzinfo=UTC).timestamp()


def read_times(path: Path) -> dict[str, float]:
    """`image,ts` rows: ts in POSIX seconds or ISO 8601 (UTC unless it says otherwise)."""
    times: dict[str, float] = {}
    for line, row in _csv_rows(path, ("image", "ts")):
        text = row["ts"].strip()
        try:
            times[row["image"]] = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise FootageError(f"{path}:{line}: ts {text!r} is not a time") from None
            times[row["image"]] = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return times


def _csv_rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with a header naming at least `columns`."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise FootageError(f"{path}: no column(s) {', '.join(missing)} in its header")
            for row in reader:
                yield reader.line_num, row
    except OSError as exc:
        raise FootageError(f"{path}: cannot read: {exc.strerror}") from None


@dataclass(frozen=True)
class Labels:
    """Every labelled box: the frame's name and its box (0-based x, y, w, h) per row.

    A frame's name is an image's file name, or `clip.mp4#N` for frame N (1-based, as MOT
    counts) of a clip.
    """

    image_k: npt.NDArray[np.str_]
    xywh_k4: I32

    def __post_init__(self) -> None:
        if self.xywh_k4.shape != (len(self.image_k), 4):
            raise ValueError("xywh_k4 must have shape (k, 4), one row per image name")

    def of(self, image: str) -> I32:
        """The boxes of one image (none if it has no label)."""
        boxes: I32 = self.xywh_k4[self.image_k == image]
        return boxes


def clip_frame_name(clip: str, frame: int) -> str:
    """The name labels give frame `frame` (1-based) of the clip file `clip`."""
    return f"{clip}#{frame}"


def _labels(names: Sequence[str], rows: Sequence[tuple[int, int, int, int]]) -> Labels:
    return Labels(np.array(names, np.str_), np.array(rows, np.int32).reshape(-1, 4))


def read_labels(path: Path) -> Labels:
    """Parse `image,box_id,x,y,w,h` with 1-based top-left corners into 0-based boxes."""
    names: list[str] = []
    rows: list[tuple[int, int, int, int]] = []
    for line, row in _csv_rows(path, ("image", "x", "y", "w", "h")):
        try:
            x, y, w, h = (int(float(row[c])) for c in ("x", "y", "w", "h"))
        except (TypeError, ValueError):
            raise FootageError(f"{path}:{line}: x, y, w, h must be numbers") from None
        if w <= 0 or h <= 0:
            raise FootageError(f"{path}:{line}: a box needs a positive width and height")
        names.append(row["image"])
        rows.append((x - 1, y - 1, w, h))
    return _labels(names, rows)


def _pixel_box(x0: float, y0: float, w: float, h: float) -> tuple[int, int, int, int]:
    """A 0-based box with fractional edges as the whole pixels it touches."""
    left, top = math.floor(x0), math.floor(y0)
    return left, top, math.ceil(x0 + w) - left, math.ceil(y0 + h) - top


def read_mot(path: Path, clip: str) -> Labels:
    """A MOT text file for the clip file named `clip`: `frame,id,x,y,w,h[,conf,...]`.

    Frames and corners are 1-based, as in the MOT Challenge; a row with conf exactly 0 is
    MOT ground truth's "ignore" flag and is left out. No header; blank lines are skipped.
    """
    names: list[str] = []
    rows: list[tuple[int, int, int, int]] = []
    for line, text in enumerate(_text_lines(path), start=1):
        cells = [c.strip() for c in text.split(",")]
        if not text.strip():
            continue
        if len(cells) < 6:
            raise FootageError(f"{path}:{line}: want frame,id,x,y,w,h[,conf,...] (MOT)")
        try:
            frame = int(cells[0])
            x, y, w, h = (float(c) for c in cells[2:6])
            conf = float(cells[6]) if len(cells) > 6 and cells[6] else 1.0
        except ValueError:
            raise FootageError(
                f"{path}:{line}: frame must be an integer, x, y, w, h numbers"
            ) from None
        if frame < 1:
            raise FootageError(f"{path}:{line}: frame {frame}; MOT frames count from 1")
        if not (w > 0 and h > 0 and math.isfinite(x + y + w + h)):
            raise FootageError(f"{path}:{line}: a box needs a positive width and height")
        if conf == 0:
            continue
        names.append(clip_frame_name(clip, frame))
        rows.append(_pixel_box(x - 1, y - 1, w, h))
    return _labels(names, rows)


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FootageError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FootageError(f"{path}: not UTF-8 text") from None


def read_coco(path: Path, category: str | None = None) -> Labels:
    """A COCO detection JSON: `images` by `file_name`, `annotations` with 0-based
    `bbox` [x, y, w, h]; only the category named `category` (default: every category).

    Images are matched by the base name of `file_name`.
    """
    try:
        doc = json.loads("\n".join(_text_lines(path)))
    except json.JSONDecodeError as exc:
        raise FootageError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict) or not {"images", "annotations"} <= doc.keys():
        raise FootageError(f"{path}: not COCO detection JSON (no images and annotations)")
    try:
        files = {int(im["id"]): Path(str(im["file_name"])).name for im in doc["images"]}
        categories = {str(c["name"]): int(c["id"]) for c in doc.get("categories", [])}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FootageError(
            f"{path}: images need id and file_name, categories id and name ({exc!r})"
        ) from None
    wanted = None
    if category is not None:
        if category not in categories:
            known = ", ".join(sorted(categories)) or "none"
            raise FootageError(f"{path}: no category {category!r} (categories: {known})")
        wanted = categories[category]
    names: list[str] = []
    rows: list[tuple[int, int, int, int]] = []
    for k, ann in enumerate(doc["annotations"]):
        try:
            image, cat = int(ann["image_id"]), int(ann.get("category_id", -1))
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise FootageError(
                f"{path}: annotations[{k}]: want image_id and bbox [x, y, w, h]"
            ) from None
        if image not in files:
            raise FootageError(f"{path}: annotations[{k}]: image_id {image} is not in images")
        if not (w > 0 and h > 0 and math.isfinite(x + y + w + h)):
            raise FootageError(f"{path}: annotations[{k}]: a box needs a positive width and height")
        if wanted is None or cat == wanted:
            names.append(files[image])
            rows.append(_pixel_box(x, y, w, h))
    return _labels(names, rows)


def read_label_file(path: Path, category: str | None = None, clip: str | None = None) -> Labels:
    """Labels by the file's kind: `.json` COCO, `.csv` the Sooke CSV, else MOT for `clip`."""
    if not path.is_file():
        raise FootageError(f"{path}: no such labels file")
    if path.suffix.lower() == ".json":
        return read_coco(path, category)
    if path.suffix.lower() == ".csv":
        return read_labels(path)
    if clip is None:
        raise FootageError(
            f"{path}: a MOT file labels one clip; give --footage the clip, or a .csv or .json"
        )
    return read_mot(path, clip)


@dataclass(frozen=True)
class ClipRef:
    """Where a frame sits in a clip: frame number (1-based, as MOT counts), its pts, its time
    in the clip's own clock (pts x time_base, s) and whether it is a keyframe."""

    path: Path
    frame: int
    pts: int
    t: float
    keyframe: bool


@dataclass(frozen=True)
class FootageFrame:
    """One frame: its file, capture time (POSIX s) and labelled boats (0-based x, y, w, h).

    A clip's frame has `clip` set and `path` is `clip.mp4#N`, its name in the labels (and a
    key of `read_lumas` no other frame has).
    """

    path: Path
    ts: float
    xywh_k4: I32
    clip: ClipRef | None = None

    @property
    def xyxy_k4(self) -> npt.NDArray[np.float64]:
        """The labelled boxes as half-open corners, in the image's pixels."""
        return xywh_to_xyxy(self.xywh_k4)


@dataclass(frozen=True)
class FootageGroup:
    """Frames of one moment (each within `GROUP_GAP_S` of the one before), in time order."""

    frames: tuple[FootageFrame, ...]

    @property
    def name(self) -> str:
        """The time of its first frame, like `2019-08-18 13:38:10`; in a clip, its name and
        time in the clip too, like `dock.mp4 @ 12.0 s (2024-05-01 10:00:12)`."""
        first = self.frames[0]
        when = datetime.fromtimestamp(first.ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return (
            when
            if first.clip is None
            else f"{first.clip.path.name} @ {first.clip.t:.1f} s ({when})"
        )

    @property
    def day(self) -> str:
        """The date of its first frame (UTC)."""
        return datetime.fromtimestamp(self.frames[0].ts, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Footage:
    """A folder's frames in groups, the size of its images, labels that matched no image."""

    groups: tuple[FootageGroup, ...]
    image_wh: tuple[int, int]
    unmatched_labels: int = 0

    def by_day(self) -> dict[str, Footage]:
        """The footage split by the day each group starts on (a day is a natural hold-out)."""
        days: dict[str, list[FootageGroup]] = {}
        for group in self.groups:
            days.setdefault(group.day, []).append(group)
        return {d: Footage(tuple(g), self.image_wh) for d, g in days.items()}


@dataclass(frozen=True)
class ClipSampling:
    """Which frames of a clip the core sees: every frame, keyframes only, or `fps` a second
    (the first frame at or after each tick of 1/fps s on the clip's clock).

    >>> ClipSampling.parse("2.5"), ClipSampling.parse("keyframes")   # doctest: +SKIP
    """

    fps: float | None = None
    keyframes: bool = False

    @classmethod
    def parse(cls, text: str) -> ClipSampling:
        """`all`, `keyframes` or a rate in frames per second."""
        if text in ("all", "keyframes"):
            return cls(keyframes=text == "keyframes")
        try:
            fps = float(text)
        except ValueError:
            fps = math.nan
        if not (fps > 0 and math.isfinite(fps)):
            raise FootageError(f"--fps {text!r}: want a rate above 0, 'all' or 'keyframes'")
        return cls(fps=fps)

    def pick(self, refs: Sequence[ClipRef]) -> list[ClipRef]:
        """The sampled frames of `refs` (a clip's frames in presentation order)."""
        if self.keyframes:
            return [r for r in refs if r.keyframe]
        if self.fps is None or not refs:
            return list(refs)
        step, tick, picked = 1.0 / self.fps, refs[0].t, []
        for ref in refs:
            if ref.t >= tick - 1e-6:
                picked.append(ref)
                tick += step * max(1, math.floor((ref.t - tick) / step) + 1)
        return picked


def load_footage(
    folder: Path,
    times: TimePattern | Mapping[str, float] | None = None,
    images: str = "*",
    group_gap_s: float = GROUP_GAP_S,
    *,
    labels: Path | None = None,
    category: str | None = None,
    sampling: ClipSampling = ClipSampling(),
) -> Footage:
    """The images (or video clips) of `folder` matching the glob `images`, timed, grouped and
    labelled; `folder` may also be one clip.

    Images: `times` is a file-name pattern (default: `DEFAULT_TIME_PATTERN`) or a time per
    image name. Clips: see `load_clips`. `labels` is a label file (`read_label_file`; default
    `labels.csv` beside the images, `<clip stem>.txt` (MOT) beside each clip); `category`
    picks one category of a COCO file.
    """
    if folder.is_file() and folder.suffix.lower() in CLIP_SUFFIXES:
        clips = [folder]
    elif folder.is_dir():
        clips = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in CLIP_SUFFIXES and fnmatch(p.name, images)
        )
    else:
        raise FootageError(f"{folder}: not a folder or a video clip")
    paths = (
        [
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and fnmatch(p.name, images)
        ]
        if folder.is_dir()
        else []
    )
    if paths and clips:
        raise FootageError(f"{folder}: holds both images and clips; pick one kind with --images")
    if clips:
        return load_clips(clips, times, group_gap_s, labels, category, sampling)
    if not paths:
        raise FootageError(f"{folder}: no images or clips matching {images!r}")
    if labels is None and not (folder / LABELS_FILE).is_file():
        raise FootageError(f"{folder}: no {LABELS_FILE} (image,box_id,x,y,w,h; 1-based)")
    boxes = read_label_file(labels or folder / LABELS_FILE, category)
    timed = sorted((_time_of(p.name, times), p) for p in paths)
    groups = _grouped([FootageFrame(p, ts, boxes.of(p.name)) for ts, p in timed], group_gap_s)
    names = {p.name for p in folder.iterdir()}
    unmatched = sum(1 for name in boxes.image_k if str(name) not in names)
    return Footage(tuple(groups), image_size(timed[0][1]), unmatched)


def _grouped(frames: Sequence[FootageFrame], group_gap_s: float) -> list[FootageGroup]:
    """Frames in time order cut where the gap to the one before exceeds `group_gap_s`."""
    groups: list[list[FootageFrame]] = []
    for frame in frames:
        if groups and frame.ts - groups[-1][-1].ts <= group_gap_s:
            groups[-1].append(frame)
        else:
            groups.append([frame])
    return [FootageGroup(tuple(g)) for g in groups]


def load_clips(
    clips: Sequence[Path],
    times: TimePattern | Mapping[str, float] | None,
    group_gap_s: float,
    labels: Path | None,
    category: str | None,
    sampling: ClipSampling,
) -> Footage:
    """Video clips, each decoded at `sampling` and timed by its own timestamps.

    A frame's time is the clip's start plus pts x time_base. The start is the time in the
    clip's file name (`times`: a pattern, or a time per clip name), else the container's
    `creation_time`, else the end of the clip before it (in name order) plus a gap, the first
    at 0: the core's clock never runs backwards. Each clip makes its own groups (never one
    with another clip). Labels: `labels`, else `<clip stem>.txt` (MOT) beside each clip.
    """
    if labels is not None and len(clips) > 1 and labels.suffix.lower() not in (".json", ".csv"):
        raise FootageError(
            f"{labels}: a MOT file labels one clip; for a folder of clips put "
            "<clip stem>.txt (MOT) beside each clip"
        )
    shared = read_label_file(labels, category, clips[0].name) if labels is not None else None
    groups: list[FootageGroup] = []
    sizes: set[tuple[int, int]] = set()
    known: set[str] = set()
    unmatched = 0
    end = None
    for clip in clips:
        probe = probe_clip(clip)
        sizes.add(probe.image_wh)
        start = _clip_start(clip, probe, times)
        if start is None:
            start = 0.0 if end is None else end + 2 * group_gap_s
        end = start + (probe.refs[-1].t if probe.refs else 0.0)
        boxes = shared if shared is not None else _clip_labels(clip)
        names = {clip_frame_name(clip.name, r.frame) for r in probe.refs}
        known |= names
        if shared is None:
            unmatched += sum(1 for n in boxes.image_k if str(n) not in names)
        frames = [
            FootageFrame(
                clip.parent / clip_frame_name(clip.name, r.frame),
                start + r.t,
                boxes.of(clip_frame_name(clip.name, r.frame)),
                r,
            )
            for r in sampling.pick(probe.refs)
        ]
        groups += _grouped(frames, group_gap_s)
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise FootageError(f"clips of several sizes ({shown}); evaluate one size at a time")
    if not groups:
        raise FootageError(f"{clips[0]}: no video frames")
    if shared is not None:
        unmatched = sum(1 for n in shared.image_k if str(n) not in known)
    groups.sort(key=lambda g: g.frames[0].ts)
    return Footage(tuple(groups), sizes.pop(), unmatched)


def _clip_labels(clip: Path) -> Labels:
    mot = clip.with_suffix(".txt")
    if not mot.is_file():
        raise FootageError(
            f"{clip}: no labels; put {mot.name} beside it (MOT: frame,id,x,y,w,h,conf; "
            "1-based) or give --labels"
        )
    return read_mot(mot, clip.name)


def _clip_start(
    clip: Path, probe: ClipProbe, times: TimePattern | Mapping[str, float] | None
) -> float | None:
    if isinstance(times, Mapping):
        if clip.name in times:
            return times[clip.name]
    else:
        try:
            return (times or TimePattern()).time_of(clip.name)
        except FootageError:
            pass
    return probe.created


@dataclass(frozen=True)
class ClipProbe:
    """A clip's frames in presentation order (from its packets, nothing decoded), its frame
    size and the container's `creation_time` (POSIX s) if it has a readable one."""

    refs: tuple[ClipRef, ...]
    image_wh: tuple[int, int]
    created: float | None


def probe_clip(path: Path) -> ClipProbe:
    """Demux `path`'s first video stream; `FootageError` when it is no readable video."""
    try:
        with av.open(str(path), timeout=CLIP_OPEN_TIMEOUT_S, metadata_errors="ignore") as box:
            if not box.streams.video:
                raise FootageError(f"{path}: no video stream")
            stream = box.streams.video[0]
            packets = [(p.pts, p.is_keyframe) for p in box.demux(stream) if p.size > 0]
            base = stream.time_base
            wh = (stream.codec_context.width, stream.codec_context.height)
            created = box.metadata.get("creation_time") or stream.metadata.get("creation_time")
    except av.FFmpegError as exc:
        raise FootageError(f"{path}: not a readable video: {exc}") from None
    if any(pts is None for pts, _ in packets) or base is None:
        raise FootageError(
            f"{path}: packets without timestamps; remux it first (ffmpeg -i IN -c copy OUT.mp4)"
        )
    ordered = sorted({int(pts or 0): key for pts, key in packets}.items())
    refs = tuple(
        ClipRef(path, n, pts, float(pts * base), key) for n, (pts, key) in enumerate(ordered, 1)
    )
    return ClipProbe(refs, wh, _iso_time(created))


def _iso_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _time_of(name: str, times: TimePattern | Mapping[str, float] | None) -> float:
    if times is None or isinstance(times, TimePattern):
        return (times or TimePattern()).time_of(name)
    if name not in times:
        raise FootageError(f"{name}: no time for it in the times file")
    return times[name]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FootageError(f"{path}: cannot read the image")
    h, w = image.shape[:2]
    return w, h


def read_luma(path: Path, shape_hw: tuple[int, int], image_wh: tuple[int, int] | None = None) -> U8:
    """A photo as analysis luma: grayscale, area-resized to `shape_hw`.

    With `image_wh`, an image of another size is a `FootageError` (labels are in its pixels).
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FootageError(f"{path}: cannot read the image")
    if image_wh is not None and image.shape[:2] != (image_wh[1], image_wh[0]):
        got = f"{image.shape[1]}x{image.shape[0]}"
        raise FootageError(f"{path}: {got}, not {image_wh[0]}x{image_wh[1]} like the others")
    h, w = shape_hw
    return np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.uint8)


def read_lumas(footage: Footage, shape_hw: tuple[int, int]) -> dict[Path, U8]:
    """Every frame's luma, to run several cores on the same footage without decoding again."""
    return {
        f.path: luma
        for g in footage.groups
        for f, luma in zip(g.frames, group_lumas(g, shape_hw, footage.image_wh), strict=True)
    }


def group_lumas(
    group: FootageGroup,
    shape_hw: tuple[int, int],
    image_wh: tuple[int, int],
    lumas: Mapping[Path, U8] | None = None,
) -> list[U8]:
    """The group's frames as analysis luma, in order: from `lumas` when given, else read,
    each clip decoded once for the group."""
    if lumas is not None:
        return [lumas[f.path] for f in group.frames]
    out: list[U8 | None] = [None] * len(group.frames)
    wanted: dict[Path, dict[int, int]] = {}
    only_keyframes: dict[Path, bool] = {}
    for at, frame in enumerate(group.frames):
        if frame.clip is None:
            out[at] = read_luma(frame.path, shape_hw, image_wh)
        else:
            wanted.setdefault(frame.clip.path, {})[frame.clip.pts] = at
            clip = frame.clip.path
            only_keyframes[clip] = only_keyframes.get(clip, True) and frame.clip.keyframe
    for clip, places in wanted.items():
        keyframes = only_keyframes[clip]
        for pts, luma in decode_clip(clip, set(places), shape_hw, image_wh, keyframes):
            out[places[pts]] = luma
    missing = [group.frames[at].path.name for at, luma in enumerate(out) if luma is None]
    if missing:
        raise FootageError(f"{missing[0]}: the frame could not be decoded")
    return [luma for luma in out if luma is not None]


def decode_clip(
    path: Path,
    pts: set[int],
    shape_hw: tuple[int, int],
    image_wh: tuple[int, int],
    keyframes: bool = False,
) -> Iterator[tuple[int, U8]]:
    """(pts, analysis luma) of the frames of `path` whose pts is in `pts`, in clip order.

    `keyframes` skips decoding the rest (as a keyframe-only camera does); decoding stops
    after the last wanted frame.
    """
    h, w = shape_hw
    last = max(pts, default=-1)
    try:
        with av.open(str(path), timeout=CLIP_OPEN_TIMEOUT_S, metadata_errors="ignore") as box:
            stream = box.streams.video[0]
            stream.thread_type = "AUTO"
            if keyframes:
                stream.codec_context.skip_frame = "NONKEY"
            for frame in box.decode(stream):
                if frame.pts not in pts:
                    continue
                if (frame.width, frame.height) != image_wh:
                    got = f"{frame.width}x{frame.height}"
                    raise FootageError(f"{path}: frames of {got}, not {image_wh[0]}x{image_wh[1]}")
                gray = frame.to_ndarray(format="gray")
                yield (
                    frame.pts,
                    np.asarray(cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA), np.uint8),
                )
                if frame.pts >= last:
                    return
    except av.FFmpegError as exc:
        raise FootageError(f"{path}: cannot decode: {exc}") from None


# --- the camera, from the hub's own config format ---------------------------------------------


def load_camera(path: Path) -> CameraSetup:
    """The one camera of a hub config file, as the core would run it.

    `ConfigError` (every problem of the file) when the hub would refuse it; `FootageError`
    when it does not hold exactly one camera, or the camera has no zone (the core only looks
    inside zones).
    """
    loaded = load_config(path)
    if len(loaded.cameras) != 1:
        raise FootageError(f"{path}: {len(loaded.cameras)} cameras; give a file with exactly one")
    camera = loaded.cameras[0].config
    if not camera.zones:
        raise FootageError(
            f"{path}: camera {camera.id!r} has no zones; the core only looks inside zones"
        )
    return CameraSetup(camera.id, camera.analysis, camera.zones)


def with_knobs(setup: CameraSetup, **knobs: float) -> CameraSetup:
    """The same camera with some of `TUNED_KNOBS` set (e.g. `sensitivity=4.0`)."""
    unknown = set(knobs) - set(TUNED_KNOBS)
    if unknown:
        raise ValueError(f"not a tuned knob: {', '.join(sorted(unknown))}")
    analysis = AnalysisConfig.model_validate({**setup.analysis.model_dump(), **knobs})
    return CameraSetup(setup.camera_id, analysis, setup.zones)


def with_default_knobs(setup: CameraSetup) -> CameraSetup:
    """The same camera with `TUNED_KNOBS` at the hub's defaults: settings that saw no labels."""
    fields = AnalysisConfig.model_fields
    defaults: dict[str, float] = {k: fields[k].default for k in TUNED_KNOBS}
    return with_knobs(setup, **defaults)


def knobs_of(setup: CameraSetup) -> dict[str, float]:
    """The camera's `TUNED_KNOBS`."""
    values: dict[str, float] = {k: getattr(setup.analysis, k) for k in TUNED_KNOBS}
    return values


def without_masks(setup: CameraSetup) -> CameraSetup:
    """The same camera with no mask."""
    analysis = setup.analysis.model_copy(update={"masks": []})
    return CameraSetup(setup.camera_id, analysis, setup.zones)


def ignore_mask(setup: CameraSetup, shape_hw: tuple[int, int]) -> Mask:
    """The camera's masks rasterised at `shape_hw` (true: ignored)."""
    ignore = np.zeros(shape_hw, np.bool_)
    for polygon in setup.analysis.masks:
        ignore |= rasterise(polygon, shape_hw)
    return ignore


# --- scoring --------------------------------------------------------------------------------


def xywh_to_xyxy(xywh_k4: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """(x, y, w, h) to half-open (x1, y1, x2, y2)."""
    xyxy = xywh_k4.astype(np.float64).reshape(-1, 4).copy()
    xyxy[:, 2:] += xyxy[:, :2]
    return xyxy


def to_full(
    xyxy_k4: npt.NDArray[np.integer], shape_hw: tuple[int, int], image_wh: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """Analysis-pixel boxes scaled to the image (label) pixels."""
    sx, sy = image_wh[0] / shape_hw[1], image_wh[1] / shape_hw[0]
    scaled: npt.NDArray[np.float64] = xyxy_k4.astype(np.float64).reshape(-1, 4) * (sx, sy, sx, sy)
    return scaled


@dataclass(frozen=True)
class BoxMatch:
    """One frame scored: labelled boats, how many were found, detections, how many right."""

    truth: int
    found: int
    detections: int
    right: int


def match_boxes(truth_t4: npt.NDArray[np.float64], det_d4: npt.NDArray[np.float64]) -> BoxMatch:
    """Found: a truth box some detection overlaps; right: a detection overlapping some truth."""
    ix = np.minimum(truth_t4[:, None, 2], det_d4[None, :, 2]) - np.maximum(
        truth_t4[:, None, 0], det_d4[None, :, 0]
    )
    iy = np.minimum(truth_t4[:, None, 3], det_d4[None, :, 3]) - np.maximum(
        truth_t4[:, None, 1], det_d4[None, :, 1]
    )
    overlap_td = (ix > 0) & (iy > 0)
    return BoxMatch(
        len(truth_t4),
        int(overlap_td.any(axis=1).sum()),
        len(det_d4),
        int(overlap_td.any(axis=0).sum()),
    )


@dataclass
class FootageScore:
    """One method's box scores over the scored frames."""

    method: str
    frames: int = 0
    truth: int = 0
    found: int = 0
    detections: int = 0
    right: int = 0

    def add(self, match: BoxMatch) -> None:
        """Count one scored frame."""
        self.frames += 1
        self.truth += match.truth
        self.found += match.found
        self.detections += match.detections
        self.right += match.right

    @property
    def recall(self) -> float:
        return self.found / self.truth if self.truth else math.nan

    @property
    def precision(self) -> float:
        return self.right / self.detections if self.detections else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    @property
    def false_per_frame(self) -> float:
        return (self.detections - self.right) / self.frames if self.frames else math.nan

    def merge(self, other: FootageScore) -> None:
        """Add another run's counts of the same method (another camera, another day)."""
        self.frames += other.frames
        self.truth += other.truth
        self.found += other.found
        self.detections += other.detections
        self.right += other.right


def format_footage_table(scores: Sequence[FootageScore]) -> Iterator[str]:
    """The scores as Markdown table rows."""
    yield "| method | frames scored | recall | precision | F1 | false regions/frame |"
    yield "|---|---|---|---|---|---|"
    for s in scores:
        yield (
            f"| {s.method} | {s.frames} | {_fmt(s.recall)} | {_fmt(s.precision, 3)} | "
            f"{_fmt(s.f1, 3)} | {_fmt(s.false_per_frame, 1)} |"
        )


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


# --- baselines ------------------------------------------------------------------------------


def mask_boxes(foreground_hw: Mask, min_px: int, open_first: bool = False) -> I32:
    """Boxes (x1, y1, x2, y2) of the foreground's blobs of at least `min_px` pixels.

    A 3x3 closing joins the pieces of one hull; `open_first` removes single-pixel specks first.
    """
    mask = foreground_hw.astype(np.uint8)
    if open_first:
        mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL_3x3), np.uint8)
    joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _KERNEL_3x3)
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    stats = np.asarray(stats, np.int64)[1:]
    stats = stats[stats[:, cv2.CC_STAT_AREA] >= min_px]
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    return np.stack([x, y, x + w, y + h], axis=1).astype(np.int32).reshape(-1, 4)


def three_frame_foreground(f1: U8, f2: U8, f3: U8, threshold: int = DIFF_THRESHOLD) -> Mask:
    """Double difference: where the middle frame differs from both of its neighbours."""
    both: Mask = (cv2.absdiff(f2, f1) > threshold) & (cv2.absdiff(f3, f2) > threshold)
    return both


def mog2_foreground(frames: Sequence[U8], at: int, var_threshold: float = 16.0) -> Mask:
    """A fresh MOG2 fed `frames` in order; its foreground at frame `at`.

    OpenCV's defaults but for shadow detection, which on water calls nearly every changed pixel
    a shadow (MOG2 then reports nothing). Frames after `at` cannot change its mask.
    """
    mog = cv2.createBackgroundSubtractorMOG2(varThreshold=var_threshold, detectShadows=False)
    fg = [mog.apply(frame) for frame in frames[: at + 1]]
    mask: Mask = np.asarray(fg[at]) == 255
    return mask


# --- the core -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreOutput:
    """One frame through the core: its regions, those on confirmed tracks, whether muted;
    `regions` is the core's own record of them (cells, stillness, contrast)."""

    regions_k4: I32
    confirmed_k4: I32
    muted: bool
    regions: Regions = field(default_factory=Regions.empty)


class CoreCamera:
    """One camera in a `DetectionCore` of its own, fed frame by frame as ingest would.

    Luma is the frame; chroma stays 128 (the footage is judged on brightness alone).

    >>> cam = CoreCamera(setup, (540, 960))                              # doctest: +SKIP
    >>> out = cam.step(luma_hw, ts)
    """

    def __init__(
        self,
        setup: CameraSetup,
        shape_hw: tuple[int, int],
        model: RegionModel | Verifier | None = None,
    ) -> None:
        self._core = DetectionCore([setup], shape_hw, full_rate_budget=1, model=model)
        self._view = BatchView.empty(1, shape_hw)
        self._observations = 0

    @property
    def warmup(self) -> int:
        """Observations the core mutes a new camera for."""
        return self._core.background.params.warmup

    def step(self, luma_hw: U8, ts: float) -> CoreOutput:
        """Feed one frame; what the core found in it."""
        view = self._view
        view.frames_nhw[0] = luma_hw
        view.seq_n[0] += 1
        view.ts_n[0] = ts
        view.fresh_n[0] = True
        result = self._core.step(view, ts)
        self._observations += 1
        tracker, seq = self._core.tracker, int(view.seq_n[0])
        # A track's latest box is the region it took on this step, when it took one.
        confirmed = [
            t.last.xyxy
            for t in tracker.tracks(0)
            if t.matched_now and t.last.seq == seq and tracker.confirmed(t)
        ]
        regions = result.regions.of(0)
        return CoreOutput(
            regions.xyxy_k.astype(np.int32),
            np.array(confirmed, np.int32).reshape(-1, 4),
            self._observations <= self.warmup,
            regions,
        )


def core_outputs(
    footage: Footage,
    setup: CameraSetup,
    shape_hw: tuple[int, int],
    lumas: Mapping[Path, U8] | None = None,
) -> Iterator[tuple[FootageFrame, U8, CoreOutput]]:
    """Every frame of `footage` through one core, in time order, with its luma and output."""
    camera = CoreCamera(setup, shape_hw)
    for group in footage.groups:
        group_hw = group_lumas(group, shape_hw, footage.image_wh, lumas)
        for frame, luma in zip(group.frames, group_hw, strict=True):
            yield frame, luma, camera.step(luma, frame.ts)


# --- a run ----------------------------------------------------------------------------------

CORE_REGIONS = "core: regions"
CORE_CONFIRMED = "core: regions on confirmed tracks"
CORE_DEFAULTS = "core, default analysis settings: regions"
THREE_FRAME = f"three-frame difference (> {DIFF_THRESHOLD})"
MOG2 = "MOG2 per group (OpenCV defaults)"
MOG2_STRICT = f"MOG2 strict (varThreshold {STRICT_VAR_THRESHOLD:g}, 3x3 opening)"
BASELINES = (THREE_FRAME, MOG2, MOG2_STRICT)


@dataclass
class FootageRun:
    """Every method's scores on the same frames, and what was left out and why."""

    scores: list[FootageScore]
    masked: bool
    min_blob_px: int
    warmup_groups: list[str] = field(default_factory=list)
    short_groups: list[str] = field(default_factory=list)

    def score(self, method: str) -> FootageScore:
        """One method's row."""
        return next(s for s in self.scores if s.method == method)

    def merge(self, other: FootageRun) -> None:
        """Add another camera's run of the same methods (scores summed, groups listed)."""
        for mine, theirs in zip(self.scores, other.scores, strict=True):
            mine.merge(theirs)
        self.warmup_groups += other.warmup_groups
        self.short_groups += other.short_groups


@dataclass(frozen=True)
class _Cameras:
    """The camera's core, the default-knob core beside it, and the baselines' ignore mask."""

    core: CoreCamera
    reference: CoreCamera | None
    ignore_hw: Mask


def run_footage(
    footage: Footage,
    setup: CameraSetup,
    shape_hw: tuple[int, int],
    *,
    masked: bool = True,
    min_blob_px: int | None = None,
    compare_defaults: bool = True,
    baselines: bool = True,
    lumas: Mapping[Path, U8] | None = None,
    model: RegionModel | Verifier | None = None,
) -> FootageRun:
    """Score the core (and the baselines) on every scored frame (see the module).

    `masked=False` drops the camera's masks for every method; `min_blob_px` is the
    baselines' smallest blob (default: the core's `min_object_px`, so every method has the
    same size floor); `compare_defaults` also runs the camera with its tuned knobs at their
    defaults; `lumas` are frames already read at `shape_hw` (`read_lumas`); `model` filters
    the regions of the camera's core (not the default-knob one) before tracking.
    """
    if not masked:
        setup = without_masks(setup)
    names = [CORE_REGIONS, CORE_CONFIRMED]
    names += [CORE_DEFAULTS] if compare_defaults else []
    names += list(BASELINES) if baselines else []
    min_px = setup.analysis.min_object_px if min_blob_px is None else min_blob_px
    run = FootageRun([FootageScore(name) for name in names], masked, min_px)
    reference = with_default_knobs(setup) if compare_defaults else None
    cameras = _Cameras(
        CoreCamera(setup, shape_hw, model),
        CoreCamera(reference, shape_hw) if reference is not None else None,
        ignore_mask(setup, shape_hw),
    )
    for group in footage.groups:
        group_hw = group_lumas(group, shape_hw, footage.image_wh, lumas)
        found = _group_detections(cameras, group, group_hw, min_px if baselines else None)
        if len(group.frames) < 3:
            run.short_groups.append(group.name)
        elif len(found) < len(group.frames) - 2:
            run.warmup_groups.append(group.name)
        for at, boxes in found.items():
            truth = group.frames[at].xyxy_k4
            for score, box in zip(run.scores, boxes, strict=True):
                score.add(match_boxes(truth, to_full(box, shape_hw, footage.image_wh)))
    return run


def _group_detections(
    cameras: _Cameras, group: FootageGroup, lumas: Sequence[U8], min_px: int | None
) -> dict[int, list[I32]]:
    """Every method's boxes on each scored frame of the group, in `run_footage`'s order.

    A frame is scored when it has a neighbour on each side and the core does not mute it;
    the cores see every frame either way, in time order. No baselines when `min_px` is None.
    """
    stamps = [f.ts for f in group.frames]
    core = [cameras.core.step(luma, ts) for luma, ts in zip(lumas, stamps, strict=True)]
    reference = (
        [cameras.reference.step(luma, ts) for luma, ts in zip(lumas, stamps, strict=True)]
        if cameras.reference is not None
        else []
    )
    scored = [at for at in range(1, len(lumas) - 1) if not core[at].muted]
    found = {
        at: [core[at].regions_k4, core[at].confirmed_k4]
        + ([reference[at].regions_k4] if reference else [])
        for at in scored
    }
    if min_px is None or not scored:
        return found
    keep = ~cameras.ignore_hw
    mog = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
    strict = cv2.createBackgroundSubtractorMOG2(
        varThreshold=STRICT_VAR_THRESHOLD, detectShadows=False
    )
    for at in range(scored[-1] + 1):
        mog_hw = (np.asarray(mog.apply(lumas[at])) == 255) & keep
        strict_hw = (np.asarray(strict.apply(lumas[at])) == 255) & keep
        if at in found:
            three = three_frame_foreground(lumas[at - 1], lumas[at], lumas[at + 1]) & keep
            found[at] += [
                mask_boxes(three, min_px),
                mask_boxes(mog_hw, min_px),
                mask_boxes(strict_hw, min_px, open_first=True),
            ]
    return found


# --- choosing knobs on labelled footage -----------------------------------------------------

# A coarse grid over the three knobs; it holds the defaults (2.5, 14, 48).
SWEEP_GRID: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("sensitivity", (2.5, 4.0, 6.0)),
    ("diff_threshold", (10, 14, 20)),
    ("min_object_px", (16, 32, 48)),
)


@dataclass(frozen=True)
class SweepPoint:
    """One setting of the knobs and the core's regions score with it."""

    knobs: dict[str, float]
    score: FootageScore


def sweep_knobs(
    footage: Footage,
    setup: CameraSetup,
    shape_hw: tuple[int, int],
    lumas: Mapping[Path, U8] | None = None,
    grid: Sequence[tuple[str, Sequence[float]]] = SWEEP_GRID,
) -> list[SweepPoint]:
    """The core's regions on `footage` for every point of `grid`, best F1 first.

    Ties keep grid order. Choosing knobs this way uses `footage`'s labels: score the chosen
    knobs on other footage (docs/evaluation-protocol.md).
    """
    lumas = read_lumas(footage, shape_hw) if lumas is None else lumas
    points: list[dict[str, float]] = [{}]
    for name, values in grid:
        points = [{**p, name: v} for p in points for v in values]
    results = []
    for knobs in points:
        run = run_footage(
            footage,
            with_knobs(setup, **knobs),
            shape_hw,
            compare_defaults=False,
            baselines=False,
            lumas=lumas,
        )
        results.append(SweepPoint(knobs, run.score(CORE_REGIONS)))
    return sorted(results, key=lambda p: -_or_zero(p.score.f1))


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


# --- UCSD -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameCounts:
    """One clip frame: what the core and MOG2 report (no ground truth to score against)."""

    frame: int
    muted: bool
    core_regions: int
    core_confirmed: int
    mog2_regions: int


def ucsd_frames(folder: Path) -> list[Path]:
    """`frame_N.jpg` in the order of N."""
    frames = [(int(p.stem.rpartition("_")[2]), p) for p in folder.glob("frame_*.jpg")]
    return [p for _, p in sorted(frames)]


def evaluate_ucsd(
    folder: Path,
    shape_hw: tuple[int, int] = (224, 344),
    interval_s: float = 1.0,
    analysis: AnalysisConfig | None = None,
) -> list[FrameCounts]:
    """Per frame, regions and confirmed tracks of the core, and MOG2's regions (one MOG2 for
    the clip, shadows off, blobs of at least the core's `min_object_px`).

    The clip's frame rate is unknown: frames are fed `interval_s` apart, as a keyframe-only
    camera would deliver them.
    """
    config = analysis or AnalysisConfig()
    zone = ZoneConfig(id="water", polygon=[(0.0, 0.12), (1.0, 0.12), (1.0, 1.0), (0.0, 1.0)])
    camera = CoreCamera(CameraSetup("ucsd-boats", config, [zone]), shape_hw)
    mog = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
    counts = []
    for i, path in enumerate(ucsd_frames(folder)):
        luma = read_luma(path, shape_hw)
        out = camera.step(luma, i * interval_s)
        blobs = mask_boxes(mog.apply(luma) == 255, config.min_object_px)
        counts.append(
            FrameCounts(i + 1, out.muted, len(out.regions_k4), len(out.confirmed_k4), len(blobs))
        )
    return counts


def format_ucsd_table(counts: Sequence[FrameCounts]) -> Iterator[str]:
    """Per-frame counts as Markdown table rows."""
    yield "| frame | core regions | core confirmed tracks | MOG2 regions |"
    yield "|---|---|---|---|"
    for c in counts:
        core = "muted (warm-up)" if c.muted else str(c.core_regions)
        confirmed = "-" if c.muted else str(c.core_confirmed)
        yield f"| {c.frame} | {core} | {confirmed} | {c.mog2_regions} |"
