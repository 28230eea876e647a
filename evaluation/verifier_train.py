"""Train a region verifier (`detectors.verifier`) from one day of labelled footage.

The camera's detection core (no verifier) runs over every frame, in time order
(`footage.core_outputs`, the same loop and core as `riverwatch evaluate`). Every region of a
frame the core does not mute becomes one training row (`region_features`, with the camera's
earlier look kept as the core keeps it, `detectors.looks`); it is a **vessel**
when its box, scaled to the image's pixels, overlaps a labelled boat by a positive area, and
**other** when it overlaps none. That is the scorer's own rule for a right detection
(`footage.match_boxes`), so the verifier learns exactly what the box score counts: a region
that touches a boat is kept, even when it is only the boat's wake or a piece of its hull.

The threshold `min_score` is chosen by the trainers' one rule (`choose_min_score`): grouped
cross-validation over the whole day, folds of whole groups (frames a few seconds apart see the
same boats; random frames would leak), best region F1 over every row's out-of-fold score. The
model is then trained on the whole day with it.

The held-out score in the manifest comes from a split **by time**: the same rule, run on the
first 70 % of the day's groups alone, gives a model and its threshold; the groups starting at
least `SPLIT_GAP_S` after the last of those are scored with them. Nothing chose anything on
that later part, so its figure says what the rule does on later footage of the same camera.
Nothing here looks at another day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detectors import CameraSetup, Verifier
from detectors.looks import EarlierLooks
from detectors.verifier import (
    DEFAULT_LABELS,
    VESSEL,
    HeldOutScore,
    region_features,
    score_rows,
    train_by_rule,
)
from evaluation.footage import U8, Footage, core_outputs, to_full

TRAIN_SHARE = 0.7
SPLIT_GAP_S = 120.0


@dataclass(frozen=True)
class RegionSet:
    """Training rows: features, label index (into `DEFAULT_LABELS`), capture time and group
    (index of the footage's group, in time order) per row."""

    features_kf: npt.NDArray[np.float32]
    label_k: npt.NDArray[np.int32]
    ts_k: npt.NDArray[np.float64]
    group_k: npt.NDArray[np.int64]
    frames: int

    def take(self, mask_k: npt.NDArray[np.bool_]) -> RegionSet:
        """The rows where `mask_k` is true."""
        frames = len(np.unique(self.ts_k[mask_k]))
        return RegionSet(
            self.features_kf[mask_k],
            self.label_k[mask_k],
            self.ts_k[mask_k],
            self.group_k[mask_k],
            frames,
        )


def collect_regions(
    footage: Footage,
    setup: CameraSetup,
    shape_hw: tuple[int, int],
    lumas: Mapping[Path, U8] | None = None,
) -> RegionSet:
    """Every region the core finds on `footage` (warm-up left out), labelled by overlap."""
    vessel = DEFAULT_LABELS.index(VESSEL)
    group_of = {f.ts: g for g, group in enumerate(footage.groups) for f in group.frames}
    rows, labels, stamps, frames = [], [], [], 0
    looks = EarlierLooks(1, shape_hw)  # as the core with a verifier keeps them
    slot, ts_n = np.zeros(1, np.intp), np.zeros(1)
    for frame, luma, out in core_outputs(footage, setup, shape_hw, lumas):
        ts_n[0] = frame.ts
        earlier = looks.usable([0], ts_n)
        looks.remember(luma[None], slot, ts_n)
        if out.muted:
            continue
        frames += 1
        if not len(out.regions):
            continue
        rows.append(region_features(luma[None], out.regions, earlier))
        det = to_full(out.regions_k4, shape_hw, footage.image_wh)
        truth = frame.xyxy_k4
        ix = np.minimum(truth[:, None, 2], det[None, :, 2]) - np.maximum(
            truth[:, None, 0], det[None, :, 0]
        )
        iy = np.minimum(truth[:, None, 3], det[None, :, 3]) - np.maximum(
            truth[:, None, 1], det[None, :, 1]
        )
        right = np.asarray(((ix > 0) & (iy > 0)).any(axis=0), np.bool_)
        labels.append(np.where(right, vessel, 1 - vessel).astype(np.int32))
        stamps.append(np.full(len(right), frame.ts))
    if not rows:
        empty = np.zeros(0, np.int64)
        return RegionSet(
            np.zeros((0, 0), np.float32), np.zeros(0, np.int32), np.zeros(0), empty, frames
        )
    ts_k = np.concatenate(stamps)
    group_k = np.array([group_of[float(ts)] for ts in ts_k.tolist()], np.int64)
    return RegionSet(np.concatenate(rows), np.concatenate(labels), ts_k, group_k, frames)


def time_split(footage: Footage, share: float = TRAIN_SHARE) -> tuple[float, float]:
    """(end of the training part, start of the scored part) in POSIX s, by group."""
    starts = [g.frames[0].ts for g in footage.groups]
    cut = max(1, min(len(starts) - 1, int(round(len(starts) * share))))
    train_end = footage.groups[cut - 1].frames[-1].ts
    later = [s for s in starts[cut:] if s >= train_end + SPLIT_GAP_S]
    return train_end, (later[0] if later else starts[cut])


def held_out_score(
    verifier: Verifier, rows: RegionSet, min_score: float, split: str
) -> HeldOutScore:
    """Region accuracy, precision, recall and F1 of the vessel label at `min_score`."""
    return score_rows(verifier, rows.features_kf, rows.label_k, min_score, split)


def train_from_footage(
    footage: Footage,
    setup: CameraSetup,
    shape_hw: tuple[int, int],
    lumas: Mapping[Path, U8] | None = None,
) -> Verifier:
    """Collect; choose `min_score` by `choose_min_score` on the whole day and train on all
    of it; the held-out score: the same rule on the earlier part, scored on the later."""
    rows = collect_regions(footage, setup, shape_hw, lumas)
    if len(np.unique(rows.label_k)) < 2:
        raise ValueError(
            f"{len(rows.label_k)} regions on {rows.frames} frames, not both vessels and others: "
            "nothing to learn from (label more boats or check the zones)"
        )
    train_end, test_start = time_split(footage)
    early, late = rows.take(rows.ts_k <= train_end), rows.take(rows.ts_k >= test_start)
    held = None
    if len(np.unique(early.label_k)) == 2 and len(late.label_k):
        first = train_by_rule(early.features_kf, early.label_k, early.group_k, early.frames)
        first_score = first.manifest.min_score
        split = (
            f"train to {_iso(train_end)} (threshold {first_score:.2f} by its own folds), "
            f"scored from {_iso(test_start)}"
        )
        held = held_out_score(first, late, first_score, split)
    final = train_by_rule(rows.features_kf, rows.label_k, rows.group_k, rows.frames)
    return final.with_manifest(held_out=held)


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
