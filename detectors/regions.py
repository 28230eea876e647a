"""Objects from cell masks: connected regions, only for the cameras where something changed.

This is the one place the core loops over cameras in Python, and only over those with active
cells: a quiet river costs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.background import CELL, CellMasks

_CLOSE_3x3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class SizeBand:
    """Object areas a camera accepts, in analysis pixels (a kayak and a dredger differ)."""

    min_px: int
    max_px: int


@dataclass(frozen=True)
class Regions:
    """Regions found in one step, one entry per region (k).

    `xyxy_k` is in analysis pixels; `cells_k` the region's area in cells; `still_k` the share of
    its cells that are new against the long-term background but not moving (an object that
    stopped); `contrast_k` its brightest cell minus its camera's mean (lights at night).
    """

    slot_k: npt.NDArray[np.intp]
    xyxy_k: npt.NDArray[np.int32]
    cells_k: npt.NDArray[np.int32]
    still_k: npt.NDArray[np.float32]
    contrast_k: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        k = len(self.slot_k)
        if self.xyxy_k.shape != (k, 4):
            raise ValueError("xyxy_k must have shape (k, 4)")
        if not (len(self.cells_k) == len(self.still_k) == len(self.contrast_k) == k):
            raise ValueError("every Regions array needs one entry per region")

    def __len__(self) -> int:
        return len(self.slot_k)

    @property
    def area_px_k(self) -> npt.NDArray[np.int32]:
        """Area in analysis pixels."""
        area: npt.NDArray[np.int32] = self.cells_k * CELL * CELL
        return area

    def of(self, slot: int) -> Regions:
        """The regions of one camera."""
        return self.filter(self.slot_k == slot)

    def filter(self, mask_k: npt.NDArray[np.bool_]) -> Regions:
        """Keep the regions where `mask_k` is true."""
        return Regions(
            self.slot_k[mask_k],
            self.xyxy_k[mask_k],
            self.cells_k[mask_k],
            self.still_k[mask_k],
            self.contrast_k[mask_k],
        )

    @classmethod
    def empty(cls) -> Regions:
        """No regions."""
        return cls(
            np.zeros(0, np.intp),
            np.zeros((0, 4), np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
            np.zeros(0, np.float32),
        )


def active_cells(cells: CellMasks, cell_on: float) -> npt.NDArray[np.bool_]:
    """Cells that moved or are newly there, per camera of the step (muted cameras: none)."""
    active: npt.NDArray[np.bool_] = (cells.motion_mhw >= 255 * cell_on) | cells.new_mhw
    active[cells.muted_m] = False
    return active


def extract_regions(
    cells: CellMasks, active_mhw: npt.NDArray[np.bool_], bands: list[SizeBand]
) -> Regions:
    """Connected regions (8-neighbour) of active cells, filtered by each camera's size band."""
    moving_mhw = cells.motion_mhw > 0
    parts: list[Regions] = []
    for j in np.flatnonzero(active_mhw.any(axis=(1, 2))):
        slot = int(cells.slot_m[j])
        found = _camera_regions(
            slot, active_mhw[j], moving_mhw[j], cells.new_mhw[j], cells.luma_mhw[j], bands[slot]
        )
        if len(found):
            parts.append(found)
    if not parts:
        return Regions.empty()
    return Regions(
        np.concatenate([p.slot_k for p in parts]),
        np.concatenate([p.xyxy_k for p in parts]),
        np.concatenate([p.cells_k for p in parts]),
        np.concatenate([p.still_k for p in parts]),
        np.concatenate([p.contrast_k for p in parts]),
    )


def _camera_regions(
    slot: int,
    active_hw: npt.NDArray[np.bool_],
    moving_hw: npt.NDArray[np.bool_],
    new_hw: npt.NDArray[np.bool_],
    luma_hw: npt.NDArray[np.float32],
    band: SizeBand,
) -> Regions:
    # Closing joins the pieces of one object (a dark hull and its bright wake, a boat split by
    # a ripple crest) without growing its outline.
    joined = cv2.morphologyEx(active_hw.view(np.uint8), cv2.MORPH_CLOSE, _CLOSE_3x3)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    if count <= 1:
        return Regions.empty()
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int32)
    keep = (areas * CELL * CELL >= band.min_px) & (areas * CELL * CELL <= band.max_px)
    if not keep.any():
        return Regions.empty()
    ids = np.flatnonzero(keep) + 1
    flat = np.asarray(labels, np.intp).reshape(-1)
    still_cells = np.bincount(flat, (new_hw & ~moving_hw).reshape(-1), minlength=count)
    peak = np.zeros(count, np.float32)
    np.maximum.at(peak, flat, luma_hw.reshape(-1))
    x, y = stats[ids, cv2.CC_STAT_LEFT], stats[ids, cv2.CC_STAT_TOP]
    w, h = stats[ids, cv2.CC_STAT_WIDTH], stats[ids, cv2.CC_STAT_HEIGHT]
    xyxy = (np.stack([x, y, x + w, y + h], axis=1) * CELL).astype(np.int32)
    area = areas[ids - 1]
    return Regions(
        np.full(len(ids), slot, np.intp),
        xyxy,
        area,
        (still_cells[ids] / area).astype(np.float32),
        (peak[ids] - float(luma_hw.mean())).astype(np.float32),
    )
