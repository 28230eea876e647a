"""The site's own verifier: trained from the reviewers' labelled boxes, kept in versions,
activated only when it does not score worse than the one running, swapped into the hub live.

Training (`train_from_boxes`) takes boxes on the hub's snapshots (full resolution). Each
snapshot is read as luma and resized to the analysis frame the core sees, its boxes scaled
with it, and the verifier's own `box_features` describe them (boat -> vessel, not boat ->
other). The threshold is chosen by the trainers' one rule (`choose_min_score`: grouped
cross-validation, each snapshot a group, best F1 over the out-of-fold scores) on every box, and
the model is trained on every box with it. The held-out score comes from a split by time:
snapshots ordered by their first label, the first 70 % train a first model, its threshold
chosen by the same rule on those alone; the rest are held out and scored with it, so nothing
was chosen on them.

On disk, under `<data_dir>/verifier/` (`SiteVerifiers.root`)::

    v0001/manifest.json   the verifier's manifest (held-out score, training counts)
    v0001/model.xml       the model (weights and bias)
    v0001/held_out.npz    the held-out rows (features, labels, label times) it was scored on
    v0001/status.json     active, candidate or kept, and why (the comparison with the active one)
    active.json           {"version": "v0001"}, replaced atomically (write, fsync, rename)

    v0001/held_out_model/ the model trained on the earlier labels only (what was scored)

A new version is compared with the active one on the new version's held-out rows: its first
model (which never saw them, at the version's threshold) against the active model at its own
threshold. Rows up to the active model's last label were probably in its training set, so when
there are newer ones only those are compared (`Comparison.rows`). A version scoring worse
(lower F1) is kept but not activated, unless an activation is forced. A version trained for
review (`activate=False`) is a *candidate*: scored and compared, then activated or not by a
reviewer who has read its score.

Every method blocks (files, training): call them from a worker thread.

Exceptions::

    VerifierError                 (detectors.verifier)
    └── SiteVerifierError         anything this module raises on purpose
        ├── NotEnoughLabels       too few boxes, or only one label, to learn from
        ├── UnknownVersion        no such version folder
        ├── WorseModel            activation refused: it scores worse (carries the comparison)
        └── TrainingBusy          another training of this site is running
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from detectors.verifier import (
    DEFAULT_LABELS,
    F32,
    MANIFEST_FILE,
    VESSEL,
    HeldOutScore,
    StaleVerifier,
    SwappableVerifier,
    Verifier,
    VerifierError,
    box_features,
    score_rows,
    train_by_rule,
)
from riverwatch.files import fsync_path

logger = logging.getLogger(__name__)

TRAIN_SHARE = 0.7
MIN_BOXES = 8
ACTIVE_FILE = "active.json"
STATUS_FILE = "status.json"
HELD_OUT_FILE = "held_out.npz"
FIRST_DIR = "held_out_model"
ACTIVE, CANDIDATE, KEPT = "active", "candidate", "kept"  # a version's states
_VERSION = re.compile(r"v(\d{4,9})")


class SiteVerifierError(VerifierError):
    """Base of every error this module raises on purpose."""


class NotEnoughLabels(SiteVerifierError):
    """Too few labelled boxes, or not both labels, to train and score a model."""


class UnknownVersion(SiteVerifierError):
    """No version folder of that name."""


class TrainingBusy(SiteVerifierError):
    """Another training of this site's verifier is running."""


class WorseModel(SiteVerifierError):
    """The version scores worse than the active one on the same held-out rows."""

    def __init__(self, message: str, comparison: Comparison) -> None:
        super().__init__(message)
        self.comparison = comparison


@dataclass(frozen=True)
class LabelledBox:
    """One reviewer's box: the snapshot it is on, the box in its pixels, vessel or not."""

    image: Path
    box_xyxy: tuple[int, int, int, int]
    vessel: bool
    ts: float


@dataclass(frozen=True)
class Trained:
    """A model trained from labelled boxes, with the held-out rows it was scored on."""

    verifier: Verifier
    first: Verifier | None  # trained on the earlier labels only, at the chosen threshold
    held_features_kf: F32
    held_label_k: npt.NDArray[np.int32]
    held_ts_k: npt.NDArray[np.float64]
    labels_until: float


@dataclass(frozen=True)
class Comparison:
    """The new version against the active one on the same held-out rows (F1 decides)."""

    rows: int
    new: HeldOutScore | None
    active: HeldOutScore | None
    worse: bool
    reason: str


@dataclass(frozen=True)
class VersionInfo:
    """One stored version: its manifest's facts and its status."""

    version: str
    created: str
    held_out: HeldOutScore | None
    per_label: dict[str, int]
    state: str
    reason: str
    comparison: Comparison | None


@dataclass(frozen=True)
class Outcome:
    """What adding or activating a version did."""

    version: str
    activated: bool
    comparison: Comparison
    state: str


# --- training ---------------------------------------------------------------------------------


def train_from_boxes(boxes: Sequence[LabelledBox], shape_hw: tuple[int, int]) -> Trained:
    """Features of every box on its analysis-size snapshot; a first model and its threshold
    from the earlier snapshots, scored on the later ones; the final model and its threshold
    from every box (both thresholds by `choose_min_score`, each snapshot a group)."""
    if len(boxes) < MIN_BOXES or len({b.vessel for b in boxes}) < 2:
        n_boat = sum(b.vessel for b in boxes)
        raise NotEnoughLabels(
            f"{len(boxes)} labelled boxes ({n_boat} boat, {len(boxes) - n_boat} not boat): "
            f"need at least {MIN_BOXES} with both labels"
        )
    features_kf, label_k, ts_k, image_k = _rows(boxes, shape_hw)
    images = sorted(set(image_k.tolist()), key=lambda i: float(ts_k[image_k == i].min()))
    rank = {image: n for n, image in enumerate(images)}
    group_k = np.array([rank[i] for i in image_k.tolist()], np.int64)  # snapshots, time order
    cut = max(1, min(len(images) - 1, int(round(len(images) * TRAIN_SHARE))))
    early_k = group_k < cut
    late_k = ~early_k
    labels_until = float(ts_k.max())
    held, first = None, None
    if len(np.unique(label_k[early_k])) == 2 and late_k.any():
        first = train_by_rule(features_kf[early_k], label_k[early_k], group_k[early_k], cut)
        first_score = first.manifest.min_score
        split = (
            f"labels to {_iso(float(ts_k[early_k].max()))} train (threshold {first_score:.2f} "
            "by their own folds), later ones scored"
        )
        held = score_rows(first, features_kf[late_k], label_k[late_k], first_score, split)
    final = train_by_rule(features_kf, label_k, group_k, len(images)).with_manifest(
        held_out=held,
        source={"labels": str(len(boxes)), "labels_until": repr(labels_until),
                "shape_hw": f"{shape_hw[0]}x{shape_hw[1]}"},
    )  # fmt: skip
    if first is not None:
        first = first.with_manifest(held_out=held)
    return Trained(final, first, features_kf[late_k], label_k[late_k], ts_k[late_k], labels_until)


def _rows(
    boxes: Sequence[LabelledBox], shape_hw: tuple[int, int]
) -> tuple[F32, npt.NDArray[np.int32], npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    vessel, other = DEFAULT_LABELS.index(VESSEL), 1 - DEFAULT_LABELS.index(VESSEL)
    by_image: dict[Path, list[LabelledBox]] = {}
    for box in boxes:
        by_image.setdefault(box.image, []).append(box)
    h, w = shape_hw
    rows, labels, stamps, images = [], [], [], []
    for index, (path, on_image) in enumerate(by_image.items()):
        luma = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if luma is None:
            logger.warning(
                "verifier: cannot read labelled snapshot %s; its boxes are skipped", path
            )
            continue
        sy, sx = h / luma.shape[0], w / luma.shape[1]
        small = cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)
        xyxy = [
            (int(x0 * sx), int(y0 * sy), max(int(x0 * sx) + 1, int(np.ceil(x1 * sx))),
             max(int(y0 * sy) + 1, int(np.ceil(y1 * sy))))
            for x0, y0, x1, y1 in (b.box_xyxy for b in on_image)
        ]  # fmt: skip
        rows.append(box_features(np.asarray(small, np.uint8)[None], [0] * len(xyxy), xyxy))
        labels += [vessel if b.vessel else other for b in on_image]
        stamps += [b.ts for b in on_image]
        images += [index] * len(on_image)
    if not rows:
        raise NotEnoughLabels("none of the labelled snapshots could be read")
    return (
        np.concatenate(rows),
        np.array(labels, np.int32),
        np.array(stamps, np.float64),
        np.array(images, np.intp),
    )


def compare(first: Verifier | None, rows: _HeldRows, active: Verifier | None) -> Comparison:
    """The new version's first model (trained without the held-out rows, at the version's
    threshold) against `active` (at its own) on the same rows."""
    if first is None or rows.size == 0:
        worse = active is not None
        return Comparison(0, None, None, worse, "the new version has no held-out score")
    split = "held-out labels"
    if active is None:
        ours = score_rows(first, rows.features_kf, rows.label_k, first.manifest.min_score, split)
        return Comparison(rows.size, ours, None, False, "no model was active")
    # Rows up to the active model's last label were probably in its training set.
    newer = rows.ts_k > float(active.manifest.source.get("labels_until", "-inf"))
    pick = newer if newer.any() else np.ones(rows.size, np.bool_)
    if not newer.any():
        split += " (the active model was trained on them too)"
    features_kf, label_k = rows.features_kf[pick], rows.label_k[pick]
    ours = score_rows(first, features_kf, label_k, first.manifest.min_score, split)
    theirs = score_rows(active, features_kf, label_k, active.manifest.min_score, split)
    worse = ours.f1 < theirs.f1
    reason = (
        f"held-out F1 {ours.f1:.2f} against the active model's {theirs.f1:.2f} "
        f"on the same {int(pick.sum())} labelled boxes"
    )
    return Comparison(int(pick.sum()), ours, theirs, worse, ("worse: " if worse else "") + reason)


@dataclass(frozen=True)
class _HeldRows:
    features_kf: F32
    label_k: npt.NDArray[np.int32]
    ts_k: npt.NDArray[np.float64]

    @property
    def size(self) -> int:
        return len(self.label_k)


# --- the versions -----------------------------------------------------------------------------


class SiteVerifiers:
    """The site's verifier versions under `root`, which one is active, and the hub's live
    holder (None when the hub's config does not run the site verifier).

    >>> site = SiteVerifiers(data_dir / "verifier", holder)  # doctest: +SKIP
    >>> outcome = site.add(train_from_boxes(boxes, (180, 320)))
    >>> outcome.activated, outcome.comparison.reason
    """

    def __init__(self, root: Path, holder: SwappableVerifier | None = None) -> None:
        self._root = root
        self._holder = holder
        self._lock = threading.Lock()  # one change at a time: versions and the pointer
        self._training = threading.Lock()
        self.problem: str | None = None  # why the active version is not running (stale)
        self._running: str | None = None  # the version in the live holder

    @property
    def root(self) -> Path:
        """Where the versions live."""
        return self._root

    @property
    def holder(self) -> SwappableVerifier | None:
        """The hub's live verifier seam, or None."""
        return self._holder

    def swap_in(self, model: Verifier | None, version: str | None = None) -> None:
        """Put `model` (the folder `version`) in the live holder (at start-up: the active
        version)."""
        if self._holder is not None:
            self._holder.swap(model)
            self._running = version

    def follow(self) -> str | None:
        """Run the active version if it is not the one running: on a files root the hubs
        share, another hub trained and activated it. The version swapped in, or None. A
        version that cannot be loaded is left (`problem` says why; the model running stays)."""
        if self._holder is None:
            return None
        with self._lock:
            version = self.active_version()
            if version is None or version == self._running:
                return None
            try:
                model = Verifier.load(self._root / version)
            except VerifierError as exc:
                problem = f"the active version {version} is not run: {exc}"
                if problem != self.problem:
                    logger.warning("verifier: %s", problem)
                self.problem = problem
                return None
            self._holder.swap(model)
            self._running, self.problem = version, None
        logger.info("verifier: %s is active (activated on another hub)", version)
        return version

    @property
    def live(self) -> bool:
        """Whether activating swaps the hub's running verifier."""
        return self._holder is not None

    def train(
        self, boxes: Sequence[LabelledBox], shape_hw: tuple[int, int], activate: bool = True
    ) -> Outcome:
        """Train from `boxes` and `add` the model; `TrainingBusy` if one is running."""
        if not self._training.acquire(blocking=False):
            raise TrainingBusy("a training of the site verifier is already running")
        try:
            return self.add(train_from_boxes(boxes, shape_hw), activate)
        finally:
            self._training.release()

    def active_version(self) -> str | None:
        """The active version's name, or None."""
        try:
            raw = json.loads((self._root / ACTIVE_FILE).read_text(encoding="utf-8"))
            version = str(raw["version"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise SiteVerifierError(f"{self._root / ACTIVE_FILE}: unreadable: {exc}") from None
        return version if _VERSION.fullmatch(version) else None

    def load_active(self) -> Verifier | None:
        """The active model (`VerifierLoadError` if its folder is broken), or None."""
        version = self.active_version()
        return None if version is None else Verifier.load(self._root / version)

    def versions(self) -> list[VersionInfo]:
        """Every version, oldest first."""
        active = self.active_version()
        out = []
        for folder in self._folders():
            try:
                manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
                status = _read_status(folder)
            except (OSError, ValueError) as exc:
                logger.warning("verifier: skipping unreadable version %s: %s", folder, exc)
                continue
            held = manifest.get("held_out")
            comparison = status.get("comparison")
            out.append(
                VersionInfo(
                    version=folder.name,
                    created=str(manifest.get("created", "")),
                    held_out=HeldOutScore(**held) if held else None,
                    per_label=dict(manifest.get("counts", {}).get("per_label", {})),
                    state=ACTIVE if folder.name == active else str(status.get("state", KEPT)),
                    reason=str(status.get("reason", "")),
                    comparison=_comparison(comparison) if isinstance(comparison, dict) else None,
                )
            )
        return out

    def add(self, trained: Trained, activate: bool = True) -> Outcome:
        """Store `trained` as the next version; activate it unless it scores worse, or, with
        `activate` False, keep it as a candidate for a reviewer to read and activate."""
        with self._lock:
            folder = self._next_folder()
            partial = folder.with_name(f".{folder.name}.part")
            shutil.rmtree(partial, ignore_errors=True)
            trained.verifier.save(partial)
            if trained.first is not None:
                trained.first.save(partial / FIRST_DIR)
            np.savez(
                partial / HELD_OUT_FILE,
                features_kf=trained.held_features_kf,
                label_k=trained.held_label_k,
                ts_k=trained.held_ts_k,
            )
            partial.replace(folder)
            fsync_path(self._root)
            rows = _HeldRows(trained.held_features_kf, trained.held_label_k, trained.held_ts_k)
            comparison = compare(trained.first, rows, self._active_model())
            if not activate:
                _write_status(folder, CANDIDATE, "awaiting review: " + comparison.reason,
                              comparison)  # fmt: skip
                return Outcome(folder.name, False, comparison, CANDIDATE)
            if comparison.worse:
                _write_status(folder, KEPT, "kept, not activated: " + comparison.reason,
                              comparison)  # fmt: skip
                return Outcome(folder.name, False, comparison, KEPT)
            self._activate(folder, Verifier.load(folder), comparison)
            return Outcome(folder.name, True, comparison, ACTIVE)

    def activate(self, version: str, force: bool = False) -> Outcome:
        """Make `version` active (and live); `WorseModel` if it scores worse, unless `force`."""
        with self._lock:
            folder = self._root / version
            if not _VERSION.fullmatch(version) or not (folder / MANIFEST_FILE).is_file():
                raise UnknownVersion(f"no verifier version {version!r}")
            candidate = Verifier.load(folder)
            active_now = self.active_version()
            if active_now == version:
                comparison = Comparison(0, candidate.manifest.held_out, None, False,
                                        "already active")  # fmt: skip
                return Outcome(version, True, comparison, ACTIVE)
            comparison = compare(_first(folder), _read_rows(folder), self._active_model())
            if comparison.worse and not force:
                raise WorseModel(
                    f"{version} scores worse than the active {active_now}: {comparison.reason}; "
                    "send force to activate it anyway",
                    comparison,
                )
            self._activate(folder, candidate, comparison, forced=comparison.worse)
            return Outcome(version, True, comparison, ACTIVE)

    def _activate(
        self, folder: Path, model: Verifier, comparison: Comparison, forced: bool = False
    ) -> None:
        previous = self.active_version()
        _write_atomic(self._root / ACTIVE_FILE, json.dumps({"version": folder.name}) + "\n")
        why = ("forced over a better model: " if forced else "activated: ") + comparison.reason
        _write_status(folder, ACTIVE, why, comparison)
        if previous is not None and previous != folder.name and (self._root / previous).is_dir():
            _write_status(self._root / previous, KEPT, f"replaced by {folder.name}", None)
        if self._holder is not None:
            self._holder.swap(model)
            self._running = folder.name
        self.problem = None
        logger.info("verifier: %s is active (%s)", folder.name, why)

    def _active_model(self) -> Verifier | None:
        if self._holder is not None and self._holder.inner is not None:
            return self._holder.inner
        try:
            return self.load_active()
        except StaleVerifier:
            return None  # an older riverwatch's model: any new version beats running none

    def _folders(self) -> list[Path]:
        if not self._root.is_dir():
            return []
        found = [p for p in self._root.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name)]
        return sorted(found, key=lambda p: int(p.name[1:]))

    def _next_folder(self) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        folders = self._folders()
        n = int(folders[-1].name[1:]) + 1 if folders else 1
        return self._root / f"v{n:04d}"


def _first(folder: Path) -> Verifier | None:
    if not (folder / FIRST_DIR).is_dir():
        return None
    return Verifier.load(folder / FIRST_DIR)


def _read_rows(folder: Path) -> _HeldRows:
    try:
        with np.load(folder / HELD_OUT_FILE) as data:
            return _HeldRows(
                data["features_kf"].astype(np.float32),
                data["label_k"].astype(np.int32),
                data["ts_k"].astype(np.float64),
            )
    except (OSError, KeyError, ValueError):
        return _HeldRows(np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0))


def _read_status(folder: Path) -> dict[str, object]:
    try:
        raw = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return raw if isinstance(raw, dict) else {}


def _write_status(folder: Path, state: str, reason: str, comparison: Comparison | None) -> None:
    old = _read_status(folder).get("comparison")
    body = {"state": state, "reason": reason,
            "comparison": asdict(comparison) if comparison is not None else old}  # fmt: skip
    _write_atomic(folder / STATUS_FILE, json.dumps(body, indent=2) + "\n")


def _comparison(raw: dict[str, object]) -> Comparison:
    def held(value: object) -> HeldOutScore | None:
        return HeldOutScore(**value) if isinstance(value, dict) else None

    return Comparison(int(str(raw.get("rows", 0))), held(raw.get("new")), held(raw.get("active")),
                      bool(raw.get("worse")), str(raw.get("reason", "")))  # fmt: skip


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.part")
    with partial.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(path)
    fsync_path(path.parent)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
