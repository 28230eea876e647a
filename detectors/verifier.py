"""A region verifier learnt from labelled footage: hand-made crop features and a logistic model.

Each region the core finds is described by a short fixed vector (`region_features`, spec
`FEATURE_SPEC`) computed from the camera's analysis luma and the region itself:

- its size and shape: log width, log height, log aspect, log cell area, the share of its box
  its cells fill, the share of still cells, its contrast to the camera's mean;
- its contrast to the local water: the window around the box (the box widened by its own
  larger side on every side, at least 6 pixels) minus the box gives the water's mean and
  spread; the box's mean, 10th and 90th percentile and spread against them, and the share of
  its pixels clearly darker and clearly brighter than that water (hulls darken, glint
  brightens);
- the box against its own ring of water, in the ring's terms, so that they mean the same on a
  calm view and a glinting one: the share of its pixels outside the ring's 2nd..98th
  percentiles (darker, brighter), its darkest and brightest pixel and its median against the
  ring's, and its gradient energy against the ring's (glint on glinting water looks like its
  ring; a hull does not);
- a HOG-like gradient histogram: the window resized to 16x16, Sobel gradients, 6 unsigned
  orientation bins in 2x2 cells, L2-normalised, and the gradient energy against the water's
  spread.
- its short history: how the box changed since the camera's earlier look (a few seconds
  back, `detectors.looks`) against how its ring of water did: the mean absolute change as a
  log ratio, and the mean signed change (box minus ring) in the ring's terms. A hull moves
  against its water; a wave trough or a glint changes as the water around it does. Both 0
  when the camera has no fitting earlier look (a snapshot, a camera just back): "as its
  water", which the model reads only together with the rest.

An L2-regularised logistic regression on the standardised features gives the vessel score (a
probability). It replaced a random forest (`cv2.ml.RTrees`): trained on one Sooke day and
scored on the other (boxes, `riverwatch evaluate --verifier`), the forest on these features
reached F1 0.345 (2019-08-18 -> 2019-09-20) and 0.759 (the reverse), the logistic model 0.583
and 0.833; on the training days' own time split it scored as well or better (region F1 0.79
against 0.75 on 2019-09-20, 0.97 both on 2019-08-18). With a few dozen boats to learn from,
trees split on the training view's own levels; one linear boundary carries over better.

The threshold `min_score` comes from one rule, used by every trainer (footage, the site's
labels): `choose_min_score`, the best region F1 over out-of-fold scores of a grouped
cross-validation by time. It replaced the best F1 on the training rows' later 30 %, which
chose 0.25 and 0.65 on the two Sooke days (0.453 and 0.742 held out); the folds choose 0.45
and 0.40 (0.494 and 0.773). Nested in each training day's own 10 folds (the figure a rule is
chosen by) they score region F1 0.968 against 0.970 on 2019-08-18 and 0.883 against 0.874
on 2019-09-20, and the thresholds they choose there move less (0.20..0.65 against
0.10..0.80 on 2019-09-20).

Labels are a tuple in the manifest (today `("other", "vessel")`; person, vehicle or glint can
be added when labels for them exist; the model scores vessel against all of them) so the stage
never compares a class by position.

A model is a directory: `manifest.json` (format version, created, feature spec, labels,
feature scaling, training counts, held-out score, `min_score`) and `model.xml` (the weights
and bias, written with `cv2.FileStorage`). `Verifier.load` refuses anything else with a
`VerifierLoadError` that names the file and the problem; a model of the earlier forest or
features is refused by its manifest (classifier, feature spec): train it again.

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
from collections.abc import Mapping, Sequence
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
Looks = Mapping[int, npt.NDArray[np.uint8]] | None  # a camera slot's earlier look, if any
FORMAT_VERSION = 1
FEATURE_SPEC = "riverwatch-crop-v3"
CLASSIFIER = "logistic regression (L2, Newton)"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.xml"
VESSEL = "vessel"
DEFAULT_LABELS = ("other", VESSEL)

# The thresholds `choose_min_score` tries on the out-of-fold scores (best region F1 wins).
THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.1, 0.91, 0.05))
# Folds of `choose_min_score`: contiguous blocks of groups in time order (the textbook 10; on
# Sooke, nested in each training day, 10 scored as well as 5 or better: README).
CV_FOLDS = 10

_HOG_SIZE = 16
_HOG_BINS = 6
_MIN_MARGIN = 6
_SHAPE_FEATURES = 7
_WATER_FEATURES = 7
_RING_FEATURES = 6
_HISTORY_FEATURES = 2
N_FEATURES = _SHAPE_FEATURES + _WATER_FEATURES + 4 * _HOG_BINS + 1 + _RING_FEATURES
N_FEATURES += _HISTORY_FEATURES
_L2 = 1.0  # the penalty on the standardised weights (not tuned: the textbook C = 1)
_NEWTON_STEPS = 50


class VerifierError(Exception):
    """Base of every error this module raises on purpose."""


class VerifierLoadError(VerifierError):
    """The model directory, its manifest or its model file is missing, unreadable or wrong."""


class StaleVerifier(VerifierLoadError):
    """A sound model of an older riverwatch (other features or classifier): train it again."""


@dataclass(frozen=True)
class TrainingCounts:
    """How many regions of each label a model was trained on, and over how many frames."""

    frames: int
    per_label: dict[str, int]


@dataclass(frozen=True)
class HeldOutScore:
    """Region scores on labelled rows at one threshold: in a manifest, a first model's (and
    its threshold's, both chosen on the earlier part of the training rows) on the later part,
    split by time; in a `ThresholdChoice`, the out-of-fold rows the threshold was chosen on."""

    split: str
    regions: int
    accuracy: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class ThresholdChoice:
    """A `min_score` chosen by `choose_min_score`, with the out-of-fold score at it (fitted
    by the choice: an honest held-out figure comes from rows the choice never saw)."""

    min_score: float
    out_of_fold: HeldOutScore


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
    classifier: str = CLASSIFIER
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
                raise StaleVerifier(
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
        if manifest.classifier != CLASSIFIER:
            raise StaleVerifier(
                f"{where}: classifier {manifest.classifier!r}, this riverwatch runs "
                f"{CLASSIFIER!r}; train the model again"
            )
        if len(manifest.mean_f) != N_FEATURES or len(manifest.scale_f) != N_FEATURES:
            raise VerifierLoadError(f"{where}: feature scaling is not {N_FEATURES} long")
        if not 0.0 <= manifest.min_score <= 1.0:
            raise VerifierLoadError(f"{where}: min_score {manifest.min_score} not in 0..1")
        return manifest


# --- features ---------------------------------------------------------------------------------

_SOBEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


def region_features(
    frames_nhw: npt.NDArray[np.uint8],
    regions: Regions,
    earlier: Mapping[int, npt.NDArray[np.uint8]] | None = None,
) -> F32:
    """One row of `N_FEATURES` per region (see the module docstring), from analysis luma;
    `earlier` holds each camera slot's earlier look, where it has one (`EarlierLooks.usable`)."""
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
        inside = (slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0))
        inner = np.sort(window[inside], axis=None)  # sorted once: every quantile is a lookup
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
        history = -_RING_FEATURES - _HISTORY_FEATURES
        out[k, _SHAPE_FEATURES + _WATER_FEATURES : history] = _gradients(
            window, float(window.std())
        )
        out[k, history:-_HISTORY_FEATURES] = _against_ring(window, inside, inner)
        then = None if earlier is None else earlier.get(slot)
        if then is not None:
            out[k, -_HISTORY_FEATURES:] = _motion(window, then[wy0:wy1, wx0:wx1], inside)
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
    """The box against the whole window's water (`inner`: the box's pixels, sorted)."""
    n_all, n_in = window.size, inner.size
    s_all, s_in = float(window.sum()), float(inner.sum())
    q_all, q_in = float(np.square(window).sum()), float(np.square(inner).sum())
    n_ring = max(1, n_all - n_in)
    mean_r = (s_all - s_in) / n_ring
    std_r = float(np.sqrt(max(0.0, (q_all - q_in) / n_ring - mean_r * mean_r)))
    scale = std_r + 2.0
    p10, p90 = _quantiles(inner, (0.1, 0.9))
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


def _against_ring(window: F32, inside: tuple[slice, slice], inner: F32) -> tuple[float, ...]:
    """The box (`window[inside]`; `inner`: its pixels, sorted) in the terms of the ring of
    water around it: what a view's glint or light does to that water it does to these too,
    so they mean the same on every view."""
    ring_hw = np.ones(window.shape, np.bool_)
    ring_hw[inside] = False
    ring = np.sort(window[ring_hw])
    if not ring.size:  # the box fills the frame: nothing to compare with
        return (0.0,) * _RING_FEATURES
    lo, hi, median_r = _quantiles(ring, (0.02, 0.98, 0.5))
    mean_r, scale = float(ring.mean()), float(ring.std()) + 2.0
    gy, gx = np.gradient(window)
    grad = np.hypot(gx, gy)
    grad_in, grad_ring = float(grad[inside].mean()), float(grad[ring_hw].mean())
    n = inner.size
    return (
        float(np.searchsorted(inner, lo - 2, "left")) / n,  # share darker than the ring's 2 %
        float(n - np.searchsorted(inner, hi + 2, "right")) / n,  # brighter than its 98 %
        (float(inner[0]) - mean_r) / scale,
        (float(inner[-1]) - mean_r) / scale,
        float(np.log((grad_in + 0.5) / (grad_ring + 0.5))),
        (_quantiles(inner, (0.5,))[0] - median_r) / scale,
    )


def _motion(
    window: F32, then: npt.NDArray[np.uint8], inside: tuple[slice, slice]
) -> tuple[float, float]:
    """The box's change since the earlier look against its ring's: the mean absolute change
    as a log ratio, and the mean signed change (box minus ring) in the ring's absolute change."""
    change = window - then.astype(np.float32)
    size = np.abs(change)
    ring_hw = np.ones(window.shape, np.bool_)
    ring_hw[inside] = False
    if ring_hw.any():
        ring_size, ring_sign = float(size[ring_hw].mean()), float(change[ring_hw].mean())
    else:
        ring_size, ring_sign = 0.0, 0.0
    return (
        float(np.log((float(size[inside].mean()) + 1.0) / (ring_size + 1.0))),
        (float(change[inside].mean()) - ring_sign) / (ring_size + 1.0),
    )


def _quantiles(sorted_x: F32, q: Sequence[float]) -> list[float]:
    """`np.quantile(sorted_x, q)` (linear interpolation) of values already sorted."""
    last = sorted_x.size - 1
    out = []
    for share in q:
        at = share * last
        i = int(at)
        j = min(i + 1, last)
        out.append(float(sorted_x[i]) + (float(sorted_x[j]) - float(sorted_x[i])) * (at - i))
    return out


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


@dataclass(frozen=True)
class _Logistic:
    """P(vessel) = sigmoid(scaled features . weights + bias), fitted by Newton's method with an
    L2 penalty on the weights (not the bias): a few dozen small solves, exact, no learning rate,
    and the same answer on every run."""

    weights_f: npt.NDArray[np.float64]
    bias: float

    @classmethod
    def fit(cls, scaled_kf: F32, vessel_k: npt.NDArray[np.bool_]) -> _Logistic:
        """The penalised maximum-likelihood weights for rows `scaled_kf` (vessel or not)."""
        k, f = scaled_kf.shape
        x = np.hstack([scaled_kf.astype(np.float64), np.ones((k, 1))])
        y = vessel_k.astype(np.float64)
        penalty = np.full(f + 1, 1.0 / _L2)
        penalty[-1] = 0.0
        w = np.zeros(f + 1)
        for _ in range(_NEWTON_STEPS):
            p = _sigmoid(x @ w)
            gradient = x.T @ (p - y) + penalty * w
            hessian = (x * (p * (1.0 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if float(np.abs(step).max()) < 1e-6:
                break
        return cls(w[:-1], float(w[-1]))

    def score(self, scaled_kf: F32) -> F32:
        """P(vessel) per row."""
        return _sigmoid(scaled_kf.astype(np.float64) @ self.weights_f + self.bias).astype(
            np.float32
        )

    def save(self, path: Path) -> None:
        """The weights and bias as an OpenCV XML file."""
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
        storage.write("weights", self.weights_f.reshape(1, -1))
        storage.write("bias", self.bias)
        storage.release()

    @classmethod
    def load(cls, path: Path) -> _Logistic:
        """Read `save`'s file; `VerifierLoadError` naming it if it is not one."""
        try:
            storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
            weights, bias = storage.getNode("weights"), storage.getNode("bias")
            if not storage.isOpened() or weights.empty() or bias.empty():
                raise VerifierLoadError(f"verifier {path}: no weights and bias in it")
            weights_f = np.asarray(weights.mat(), np.float64).reshape(-1)
            model = cls(weights_f, float(bias.real()))
        except (cv2.error, SystemError) as exc:  # SystemError: OpenCV's parser on garbage
            raise VerifierLoadError(f"verifier {path}: OpenCV cannot read it: {exc}") from None
        if len(weights_f) != N_FEATURES or not np.isfinite(weights_f).all():
            raise VerifierLoadError(f"verifier {path}: not {N_FEATURES} finite weights")
        return model


def _sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


class Verifier:
    """A trained vessel / not-vessel classifier of region crops, with its manifest.

    `confirm` plugs into the core where an ONNX `RegionModel` would: regions whose vessel score
    is under the manifest's `min_score` are dropped before tracking.

    >>> verifier = Verifier.train(features_kf, label_k)  # doctest: +SKIP
    >>> verifier.save(Path("site.verifier")); Verifier.load(Path("site.verifier"))
    """

    def __init__(self, model: _Logistic, manifest: Manifest) -> None:
        self._model = model
        self._manifest = manifest
        self._mean_f = np.array(manifest.mean_f, np.float32)
        self._scale_f = np.array(manifest.scale_f, np.float32)

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
        """Fit the model on rows of `region_features` and label indices into `labels`."""
        labels = tuple(labels)
        if features_kf.ndim != 2 or features_kf.shape[1] != N_FEATURES:
            raise ValueError(f"features must have shape (k, {N_FEATURES})")
        if len(np.unique(label_k)) < 2:
            raise VerifierError("training needs regions of at least two labels")
        mean_f = features_kf.mean(axis=0)
        spread_f = features_kf.std(axis=0)
        # A column that never varies (the history of boxes labelled on snapshots) gets no
        # weight: scaled by 1, not blown up where it does vary later.
        scale_f = np.where(spread_f > 1e-6, spread_f, 1.0)
        scaled = ((features_kf - mean_f) / scale_f).astype(np.float32)
        model = _Logistic.fit(scaled, label_k == labels.index(VESSEL))
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
        return cls(model, manifest)

    def with_manifest(self, **changes: Any) -> Verifier:
        """The same model with some manifest fields changed (threshold, held-out score...)."""
        fields = {**asdict(self._manifest), **changes}
        fields["counts"] = self._manifest.counts
        if isinstance(fields["held_out"], dict):
            fields["held_out"] = HeldOutScore(**fields["held_out"])
        return Verifier(self._model, Manifest(**fields))

    def vessel_score(self, features_kf: F32) -> F32:
        """The model's probability of vessel, per row."""
        if not len(features_kf):
            return np.zeros(0, np.float32)
        scaled = ((features_kf - self._mean_f) / self._scale_f).astype(np.float32)
        return self._model.score(scaled)

    def judge(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> npt.NDArray[np.bool_]:
        """True for the regions it scores at least `min_score` vessel (the core's model seam);
        `earlier`: the cameras' earlier looks (`detectors.looks`), where they have one."""
        if not len(regions):
            return np.zeros(0, np.bool_)
        score = self.vessel_score(region_features(frames_nhw, regions, earlier))
        return np.asarray(score >= self._manifest.min_score, np.bool_)

    def confirm(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> Regions:
        """The regions `judge` keeps."""
        return regions.filter(self.judge(frames_nhw, regions, earlier))

    def save(self, folder: Path) -> None:
        """Write `folder/model.xml` and `folder/manifest.json` (the folder is created)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(folder / MODEL_FILE)
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
        verifier = cls(_Logistic.load(model_path), manifest)
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
    return _scored(verifier.vessel_score(features_kf), label_k, min_score, split)


def choose_min_score(
    features_kf: F32,
    label_k: npt.NDArray[np.int32],
    group_k: npt.NDArray[np.int64],
    folds: int = CV_FOLDS,
) -> ThresholdChoice | None:
    """The threshold rule of every trainer: grouped cross-validation over the training rows.

    `group_k` numbers each row's group (a Sooke minute, a snapshot: rows that see the same
    moment) in time order. The groups are cut into `folds` contiguous blocks; each block is
    scored by a model trained on the other blocks, so every row gets an out-of-fold vessel
    score from a model that never saw its moment. The threshold is the one of `THRESHOLDS`
    with the best region F1 over all out-of-fold rows (ties: the one nearest 0.5). It uses
    every row once, where a single later-part split used 30 % of them and swung with a few
    regions. None when no fold could be scored (one group, or no fold's complement with both
    labels): the caller keeps 0.5.

    >>> choice = choose_min_score(features_kf, label_k, group_k)  # doctest: +SKIP
    >>> final = Verifier.train(features_kf, label_k, min_score=choice.min_score)
    """
    order = np.unique(group_k)
    score_k = np.full(len(label_k), np.nan, np.float32)
    for block in np.array_split(order, max(1, min(folds, len(order)))):
        test = np.isin(group_k, block)
        if test.all() or len(np.unique(label_k[~test])) < 2:
            continue
        model = Verifier.train(features_kf[~test], label_k[~test])
        score_k[test] = model.vessel_score(features_kf[test])
    seen = ~np.isnan(score_k)
    if not seen.any():
        return None
    split = f"out of fold, {min(folds, len(order))} time blocks of {len(order)} groups"
    scores = [_scored(score_k[seen], label_k[seen], t, split) for t in THRESHOLDS]
    best = max(range(len(scores)), key=lambda i: (scores[i].f1, -abs(THRESHOLDS[i] - 0.5)))
    return ThresholdChoice(THRESHOLDS[best], scores[best])


def train_by_rule(
    features_kf: F32, label_k: npt.NDArray[np.int32], group_k: npt.NDArray[np.int64], frames: int
) -> Verifier:
    """Every trainer's verifier: trained on all the rows, at the threshold `choose_min_score`
    picks on them (0.5 when no fold could be scored)."""
    chosen = choose_min_score(features_kf, label_k, group_k)
    min_score = 0.5 if chosen is None else chosen.min_score
    return Verifier.train(features_kf, label_k, min_score=min_score, frames=frames)


def _scored(
    score_k: F32, label_k: npt.NDArray[np.int32], min_score: float, split: str
) -> HeldOutScore:
    said = score_k >= min_score
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

    It is a `Verifier` because that is the type the core's model seam takes; it holds no model
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

    def judge(
        self, frames_nhw: npt.NDArray[np.uint8], regions: Regions, earlier: Looks = None
    ) -> npt.NDArray[np.bool_]:
        """The held model's `judge` (read once: one tick, one model); all kept when empty."""
        inner = self._inner
        if inner is None:
            return np.ones(len(regions), np.bool_)
        return inner.judge(frames_nhw, regions, earlier)

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
