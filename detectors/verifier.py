"""A region verifier learnt from labelled footage: hand-made crop features and a cv2.ml forest.

Each region the core finds is described by a short fixed vector (`region_features`, spec
`FEATURE_SPEC`) computed from the camera's analysis luma and the region itself:

- its size and shape: log width, log height, log aspect, log cell area, the share of its box
  its cells fill, the share of still cells, its contrast to the camera's mean;
- its contrast to the local water: the window around the box (the box widened by its own
  larger side on every side, at least 6 pixels) minus the box gives the water's mean and
  spread; the box's mean, 10th and 90th percentile and spread against them, and the share of
  its pixels clearly darker and clearly brighter than that water (hulls darken, glint
  brightens);
- a HOG-like gradient histogram: the window resized to 16x16, Sobel gradients, 6 unsigned
  orientation bins in 2x2 cells, L2-normalised, and the gradient energy against the water's
  spread.

A random forest (`cv2.ml.RTrees`, chosen by measurement against `cv2.ml.Boost`, `cv2.ml.SVM`
and LightGBM) scores each class; the vessel score is the share of trees voting vessel. Labels
are a tuple in the manifest (today `("other", "vessel")`; person, vehicle or glint can be added
when labels for them exist) so the stage never compares a class by position.

A model is a directory: `manifest.json` (format version, created, feature spec, labels,
feature scaling, training counts, held-out score, `min_score`) and `model.xml` (the forest as
cv2.ml writes it). `Verifier.load` refuses anything else with a `VerifierLoadError` that names
the file and the problem.

Exceptions::

    VerifierError          anything this module raises on purpose
    └── VerifierLoadError  the directory, manifest or model file is missing or does not fit

Example::

    verifier = Verifier.load(Path("sooke.verifier"))
    regions = verifier.confirm(frames_nhw, regions)   # drops what it calls not-vessel
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detectors.background import CELL
from detectors.regions import Regions

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
FORMAT_VERSION = 1
FEATURE_SPEC = "riverwatch-crop-v1"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.xml"
VESSEL = "vessel"
DEFAULT_LABELS = ("other", VESSEL)

# The thresholds a trainer tries on its held-out part (best region F1 wins).
THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.1, 0.91, 0.05))

_HOG_SIZE = 16
_HOG_BINS = 6
_MIN_MARGIN = 6
_SHAPE_FEATURES = 7
_WATER_FEATURES = 7
N_FEATURES = _SHAPE_FEATURES + _WATER_FEATURES + 4 * _HOG_BINS + 1


class VerifierError(Exception):
    """Base of every error this module raises on purpose."""


class VerifierLoadError(VerifierError):
    """The model directory, its manifest or its model file is missing, unreadable or wrong."""


@dataclass(frozen=True)
class TrainingCounts:
    """How many regions of each label a model was trained on, and over how many frames."""

    frames: int
    per_label: dict[str, int]


@dataclass(frozen=True)
class HeldOutScore:
    """The model's region scores on the later part of its training day (split by time)."""

    split: str
    regions: int
    accuracy: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Manifest:
    """What a model file is: written beside it, read before it is trusted."""

    labels: tuple[str, ...]
    min_score: float
    mean_f: tuple[float, ...]
    scale_f: tuple[float, ...]
    counts: TrainingCounts
    held_out: HeldOutScore | None
    source: dict[str, str] = field(default_factory=dict)
    classifier: str = "cv2.ml.RTrees"
    feature_spec: str = FEATURE_SPEC
    version: int = FORMAT_VERSION
    created: str = ""

    def to_json(self) -> str:
        """The manifest as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        """Parse and check a manifest; `VerifierLoadError` naming `where` on any problem."""
        try:
            raw = json.loads(text)
            version = raw["version"]
            if version != FORMAT_VERSION:
                raise VerifierLoadError(
                    f"{where}: format version {version}, this riverwatch reads {FORMAT_VERSION}"
                )
            if raw["feature_spec"] != FEATURE_SPEC:
                raise VerifierLoadError(
                    f"{where}: feature spec {raw['feature_spec']!r}, this riverwatch computes "
                    f"{FEATURE_SPEC!r}; train the model again"
                )
            held = raw.get("held_out")
            manifest = cls(
                labels=tuple(str(x) for x in raw["labels"]),
                min_score=float(raw["min_score"]),
                mean_f=tuple(float(x) for x in raw["mean_f"]),
                scale_f=tuple(float(x) for x in raw["scale_f"]),
                counts=TrainingCounts(**raw["counts"]),
                held_out=HeldOutScore(**held) if held else None,
                source={str(k): str(v) for k, v in raw.get("source", {}).items()},
                classifier=str(raw["classifier"]),
                feature_spec=str(raw["feature_spec"]),
                version=int(version),
                created=str(raw.get("created", "")),
            )
        except VerifierLoadError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise VerifierLoadError(f"{where}: not a verifier manifest: {exc!r}") from None
        if VESSEL not in manifest.labels or len(set(manifest.labels)) != len(manifest.labels):
            raise VerifierLoadError(
                f"{where}: labels {manifest.labels} must be unique and hold 'vessel'"
            )
        if len(manifest.mean_f) != N_FEATURES or len(manifest.scale_f) != N_FEATURES:
            raise VerifierLoadError(f"{where}: feature scaling is not {N_FEATURES} long")
        if not 0.0 <= manifest.min_score <= 1.0:
            raise VerifierLoadError(f"{where}: min_score {manifest.min_score} not in 0..1")
        return manifest


# --- features ---------------------------------------------------------------------------------

_SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


def region_features(frames_nhw: npt.NDArray[np.uint8], regions: Regions) -> F32:
    """One row of `N_FEATURES` per region (see the module docstring), from analysis luma."""
    out = np.zeros((len(regions), N_FEATURES), np.float32)
    if not len(regions):
        return out
    h_img, w_img = frames_nhw.shape[1:]
    slots = regions.slot_k.tolist()
    boxes = regions.xyxy_k.tolist()
    cells = regions.cells_k.tolist()
    still = regions.still_k.tolist()
    contrast = regions.contrast_k.tolist()
    for k, (slot, (x0, y0, x1, y1)) in enumerate(zip(slots, boxes, strict=True)):
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(w_img, max(x1, x0 + 1)), min(h_img, max(y1, y0 + 1))
        w, h = max(1, x1 - x0), max(1, y1 - y0)
        margin = max(_MIN_MARGIN, w, h)
        wx0, wy0 = max(0, x0 - margin), max(0, y0 - margin)
        wx1, wy1 = min(w_img, x1 + margin), min(h_img, y1 + margin)
        window = frames_nhw[slot, wy0:wy1, wx0:wx1].astype(np.float32)
        inner = window[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
        out[k, :_SHAPE_FEATURES] = (
            np.log(w),
            np.log(h),
            np.log(w / h),
            np.log1p(cells[k]),
            cells[k] * CELL * CELL / (w * h),
            still[k],
            contrast[k] / 32.0,
        )
        out[k, _SHAPE_FEATURES : _SHAPE_FEATURES + _WATER_FEATURES] = _water_contrast(window, inner)
        out[k, _SHAPE_FEATURES + _WATER_FEATURES :] = _gradients(window, float(window.std()))
    return out


def box_features(
    luma_nhw: npt.NDArray[np.uint8], slot_k: Sequence[int], xyxy_k4: Sequence[Sequence[int]]
) -> F32:
    """`region_features` of plain boxes on analysis luma (a labelled box rather than a region
    the core found): each box counts as filled with cells, none still, and its contrast is its
    mean brightness minus its frame's, as the core measures a region's."""
    xyxy = np.asarray(xyxy_k4, np.int32).reshape(-1, 4)
    slots = np.asarray(slot_k, np.intp)
    area = np.maximum(1, xyxy[:, 2] - xyxy[:, 0]) * np.maximum(1, xyxy[:, 3] - xyxy[:, 1])
    frame_mean = luma_nhw.reshape(len(luma_nhw), -1).mean(axis=1)
    contrast = [
        float(luma_nhw[s, y0:y1, x0:x1].mean()) - float(frame_mean[s])
        if x1 > x0 and y1 > y0
        else 0.0
        for s, (x0, y0, x1, y1) in zip(slots.tolist(), xyxy.tolist(), strict=True)
    ]
    regions = Regions(
        slots,
        xyxy,
        np.maximum(1, np.round(area / (CELL * CELL))).astype(np.int32),
        np.zeros(len(slots), np.float32),
        np.array(contrast, np.float32),
    )
    return region_features(luma_nhw, regions)


def _water_contrast(window: F32, inner: F32) -> tuple[float, ...]:
    n_all, n_in = window.size, inner.size
    s_all, s_in = float(window.sum()), float(inner.sum())
    q_all, q_in = float(np.square(window).sum()), float(np.square(inner).sum())
    n_ring = max(1, n_all - n_in)
    mean_r = (s_all - s_in) / n_ring
    std_r = float(np.sqrt(max(0.0, (q_all - q_in) / n_ring - mean_r * mean_r)))
    scale = std_r + 2.0
    p10, p90 = np.percentile(inner, (10, 90))
    dark = float((inner < mean_r - 2 * std_r - 4).mean())
    bright = float((inner > mean_r + 2 * std_r + 4).mean())
    return (
        (s_in / n_in - mean_r) / scale,
        (float(p10) - mean_r) / scale,
        (float(p90) - mean_r) / scale,
        float(inner.std()) / scale,
        dark,
        bright,
        np.log1p(std_r),
    )


def _gradients(window: F32, spread: float) -> F32:
    patch = cv2.resize(window, (_HOG_SIZE, _HOG_SIZE), interpolation=cv2.INTER_AREA)
    gx = cv2.filter2D(patch, cv2.CV_32F, _SOBEL)
    gy = cv2.filter2D(patch, cv2.CV_32F, _SOBEL.T)
    mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    bins = (np.mod(ang, 180.0) * (_HOG_BINS / 180.0)).astype(np.intp) % _HOG_BINS
    half = _HOG_SIZE // 2
    cell = (np.arange(_HOG_SIZE) >= half).astype(np.intp)
    index = (cell[:, None] * 2 + cell[None, :]) * _HOG_BINS + bins
    hist = np.bincount(index.ravel(), weights=mag.ravel(), minlength=4 * _HOG_BINS)
    energy = float(hist.sum())
    hist = hist / (np.linalg.norm(hist) + 1e-3)
    return np.append(hist, np.log1p(energy / (_HOG_SIZE * _HOG_SIZE * (spread + 2.0)))).astype(
        np.float32
    )


# --- the model ----------------------------------------------------------------------------------


def _forest(n_features: int) -> cv2.ml.RTrees:
    forest = cv2.ml.RTrees.create()
    forest.setMaxDepth(12)
    forest.setMinSampleCount(4)
    forest.setActiveVarCount(max(1, int(np.sqrt(n_features))))
    forest.setTermCriteria((cv2.TERM_CRITERIA_MAX_ITER, 100, 0.0))
    return forest


class Verifier:
    """A trained vessel / not-vessel classifier of region crops, with its manifest.

    `confirm` plugs into the core where an ONNX `RegionModel` would: regions whose vessel score
    is under the manifest's `min_score` are dropped before tracking.

    >>> verifier = Verifier.train(features_kf, label_k)  # doctest: +SKIP
    >>> verifier.save(Path("site.verifier")); Verifier.load(Path("site.verifier"))
    """

    def __init__(self, forest: cv2.ml.RTrees, manifest: Manifest) -> None:
        self._forest = forest
        self._manifest = manifest
        self._mean_f = np.array(manifest.mean_f, np.float32)
        self._scale_f = np.array(manifest.scale_f, np.float32)
        self._vessel = manifest.labels.index(VESSEL)

    @property
    def manifest(self) -> Manifest:
        """What this model is and how it was trained."""
        return self._manifest

    @classmethod
    def train(
        cls,
        features_kf: F32,
        label_k: npt.NDArray[np.int32],
        labels: Sequence[str] = DEFAULT_LABELS,
        min_score: float = 0.5,
        frames: int = 0,
    ) -> Verifier:
        """Fit a forest on rows of `region_features` and label indices into `labels`."""
        labels = tuple(labels)
        if features_kf.ndim != 2 or features_kf.shape[1] != N_FEATURES:
            raise ValueError(f"features must have shape (k, {N_FEATURES})")
        if len(np.unique(label_k)) < 2:
            raise VerifierError("training needs regions of at least two labels")
        mean_f = features_kf.mean(axis=0)
        scale_f = features_kf.std(axis=0) + 1e-6
        forest = _forest(N_FEATURES)
        scaled = ((features_kf - mean_f) / scale_f).astype(np.float32)
        forest.train(scaled, cv2.ml.ROW_SAMPLE, label_k.astype(np.int32))
        counts = TrainingCounts(
            frames, {name: int((label_k == i).sum()) for i, name in enumerate(labels)}
        )
        manifest = Manifest(
            labels=labels,
            min_score=min_score,
            mean_f=tuple(float(x) for x in mean_f),
            scale_f=tuple(float(x) for x in scale_f),
            counts=counts,
            held_out=None,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return cls(forest, manifest)

    def with_manifest(self, **changes: Any) -> Verifier:
        """The same forest with some manifest fields changed (threshold, held-out score...)."""
        fields = {**asdict(self._manifest), **changes}
        fields["counts"] = self._manifest.counts
        if isinstance(fields["held_out"], dict):
            fields["held_out"] = HeldOutScore(**fields["held_out"])
        return Verifier(self._forest, Manifest(**fields))

    def vessel_score(self, features_kf: F32) -> F32:
        """Share of the forest's trees voting vessel, per row."""
        if not len(features_kf):
            return np.zeros(0, np.float32)
        scaled = ((features_kf - self._mean_f) / self._scale_f).astype(np.float32)
        votes = np.asarray(self._forest.getVotes(scaled, 0))
        classes = votes[0].tolist()
        counts = votes[1:].astype(np.float32)
        total = counts.sum(axis=1)
        if self._vessel not in classes:
            return np.zeros(len(features_kf), np.float32)
        score: F32 = counts[:, classes.index(self._vessel)] / np.maximum(total, 1.0)
        return score

    def confirm(self, frames_nhw: npt.NDArray[np.uint8], regions: Regions) -> Regions:
        """Keep the regions it scores at least `min_score` vessel (the core's model seam)."""
        if not len(regions):
            return regions
        score = self.vessel_score(region_features(frames_nhw, regions))
        return regions.filter(score >= self._manifest.min_score)

    def save(self, folder: Path) -> None:
        """Write `folder/model.xml` and `folder/manifest.json` (the folder is created)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._forest.save(str(folder / MODEL_FILE))
        (folder / MANIFEST_FILE).write_text(self._manifest.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Verifier:
        """Read a saved model; `VerifierLoadError` naming the file on any problem."""
        if not folder.is_dir():
            raise VerifierLoadError(
                f"verifier {folder}: not a directory (want {MANIFEST_FILE} + {MODEL_FILE})"
            )
        manifest_path, model_path = folder / MANIFEST_FILE, folder / MODEL_FILE
        try:
            text = manifest_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VerifierLoadError(f"verifier {manifest_path}: cannot read it: {exc}") from None
        manifest = Manifest.from_json(text, manifest_path)
        if not model_path.is_file():
            raise VerifierLoadError(f"verifier {model_path}: missing")
        try:
            forest = cv2.ml.RTrees.load(str(model_path))
        except cv2.error as exc:
            raise VerifierLoadError(
                f"verifier {model_path}: OpenCV cannot load it: {exc}"
            ) from None
        if forest is None or not forest.isTrained() or forest.getVarCount() != N_FEATURES:
            raise VerifierLoadError(
                f"verifier {model_path}: not a trained forest on {N_FEATURES} features"
            )
        verifier = cls(forest, manifest)
        try:
            verifier.vessel_score(np.zeros((1, N_FEATURES), np.float32))
        except cv2.error as exc:
            raise VerifierLoadError(f"verifier {model_path}: probe run failed: {exc}") from None
        logger.info(
            "loaded verifier %s: labels %s, min_score %.2f",
            folder,
            manifest.labels,
            manifest.min_score,
        )
        return verifier


def score_rows(
    verifier: Verifier,
    features_kf: F32,
    label_k: npt.NDArray[np.int32],
    min_score: float,
    split: str,
) -> HeldOutScore:
    """Region accuracy, precision, recall and F1 of the vessel label at `min_score` on rows
    labelled with indices into `DEFAULT_LABELS`."""
    score = verifier.vessel_score(features_kf)
    said = score >= min_score
    truth = label_k == DEFAULT_LABELS.index(VESSEL)
    tp = int((said & truth).sum())
    precision = tp / int(said.sum()) if said.any() else 0.0
    recall = tp / int(truth.sum()) if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float((said == truth).mean()) if len(truth) else 0.0
    return HeldOutScore(split, len(truth), accuracy, precision, recall, f1)


class SwappableVerifier(Verifier):
    """The hub's verifier seam when its model can change while it runs: it scores with the
    model it holds now, and `swap` replaces that model in one reference assignment, so a
    detection tick in flight finishes with the model it started with and the next tick uses
    the new one. Empty (no model yet), it keeps every region.

    It is a `Verifier` because that is the type the core's model seam takes; it holds no forest
    of its own and never calls `Verifier.__init__`.

    >>> slot = SwappableVerifier(None)
    >>> slot.swap(Verifier.load(Path("v0002")))  # doctest: +SKIP
    """

    def __init__(self, inner: Verifier | None = None) -> None:
        self._inner = inner

    @property
    def inner(self) -> Verifier | None:
        """The model scoring now (None: every region is kept)."""
        return self._inner

    def swap(self, verifier: Verifier | None) -> Verifier | None:
        """Score with `verifier` from the next call on; the model it replaced."""
        old, self._inner = self._inner, verifier
        return old

    @property
    def manifest(self) -> Manifest:
        """The held model's manifest; `VerifierError` when it holds none."""
        inner = self._inner
        if inner is None:
            raise VerifierError("no verifier is active yet")
        return inner.manifest

    def vessel_score(self, features_kf: F32) -> F32:
        """The held model's scores (all 1: vessel, when it holds none)."""
        inner = self._inner
        if inner is None:
            return np.ones(len(features_kf), np.float32)
        return inner.vessel_score(features_kf)

    def confirm(self, frames_nhw: npt.NDArray[np.uint8], regions: Regions) -> Regions:
        """The held model's `confirm` (read once: one tick, one model); all kept when empty."""
        inner = self._inner
        return regions if inner is None else inner.confirm(frames_nhw, regions)

    def with_manifest(self, **changes: Any) -> Verifier:
        """The held model with manifest changes; `VerifierError` when it holds none."""
        inner = self._inner
        if inner is None:
            raise VerifierError("no verifier is active yet")
        return inner.with_manifest(**changes)

    def save(self, folder: Path) -> None:
        """Save the held model; `VerifierError` when it holds none."""
        inner = self._inner
        if inner is None:
            raise VerifierError("no verifier is active yet")
        inner.save(folder)
