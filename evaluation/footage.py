"""Any footage through the real detection core, scored against OpenCV baselines.

An operator's own footage: a folder of images, their capture times (from the file names by a
pattern, `TimePattern`, or from an `image,ts` CSV) and `labels.csv` beside them in the Sooke
format (`image,box_id,x,y,w,h`, top-left corners **1-based**, in the images' own pixels; an
image with no row has no boat). The camera is a one-camera hub config file (`load_camera`):
its analysis settings, masks and zones are what the core runs with, as the hub would.

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
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

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
    """Every labelled box of `labels.csv`: image name and box (0-based x, y, w, h) per row."""

    image_k: npt.NDArray[np.str_]
    xywh_k4: I32

    def __post_init__(self) -> None:
        if self.xywh_k4.shape != (len(self.image_k), 4):
            raise ValueError("xywh_k4 must have shape (k, 4), one row per image name")

    def of(self, image: str) -> I32:
        """The boxes of one image (none if it has no label)."""
        boxes: I32 = self.xywh_k4[self.image_k == image]
        return boxes


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
    xywh = np.array(rows, np.int32).reshape(-1, 4)
    return Labels(np.array(names, np.str_), xywh)


@dataclass(frozen=True)
class FootageFrame:
    """One image: its file, capture time (POSIX s) and labelled boats (0-based x, y, w, h)."""

    path: Path
    ts: float
    xywh_k4: I32

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
        """The time of its first frame, like `2019-08-18 13:38:10`."""
        return datetime.fromtimestamp(self.frames[0].ts, UTC).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def day(self) -> str:
        """The date of its first frame (UTC)."""
        return self.name[:10]


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


def load_footage(
    folder: Path,
    times: TimePattern | Mapping[str, float] | None = None,
    images: str = "*",
    group_gap_s: float = GROUP_GAP_S,
) -> Footage:
    """The images of `folder` matching the glob `images`, timed, grouped and labelled.

    `times` is a file-name pattern (default: `DEFAULT_TIME_PATTERN`) or a time per image name.
    """
    if not folder.is_dir():
        raise FootageError(f"{folder}: not a folder")
    if not (folder / LABELS_FILE).is_file():
        raise FootageError(f"{folder}: no {LABELS_FILE} (image,box_id,x,y,w,h; 1-based)")
    labels = read_labels(folder / LABELS_FILE)
    paths = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and fnmatch(p.name, images)
    ]
    if not paths:
        raise FootageError(f"{folder}: no images matching {images!r}")
    timed = sorted((_time_of(p.name, times), p) for p in paths)
    groups: list[list[FootageFrame]] = []
    for ts, path in timed:
        frame = FootageFrame(path, ts, labels.of(path.name))
        if groups and ts - groups[-1][-1].ts <= group_gap_s:
            groups[-1].append(frame)
        else:
            groups.append([frame])
    names = {p.name for p in folder.iterdir()}
    unmatched = sum(1 for name in labels.image_k if str(name) not in names)
    return Footage(
        tuple(FootageGroup(tuple(g)) for g in groups), image_size(timed[0][1]), unmatched
    )


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
        f.path: read_luma(f.path, shape_hw, footage.image_wh)
        for g in footage.groups
        for f in g.frames
    }


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
        for frame in group.frames:
            luma = (
                lumas[frame.path]
                if lumas is not None
                else read_luma(frame.path, shape_hw, footage.image_wh)
            )
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
        group_lumas = [
            lumas[f.path] if lumas is not None else read_luma(f.path, shape_hw, footage.image_wh)
            for f in group.frames
        ]
        found = _group_detections(cameras, group, group_lumas, min_px if baselines else None)
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
