"""The batch frame difference: every camera's newest frame against its previous one, at once.

A deliberately plain first core: absolute difference, a per-camera threshold, pooling into
cells, and per-zone active-cell fractions as one matrix product. A cell counts as active only
when at least half its pixels changed, which removes most single-pixel speckle from ripples
and sensor noise. Issue 3 replaces this with a background model; the interface stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.zones import ZoneGrid, ZoneSpec
from ingest import BatchView

CELL = 4


@dataclass(frozen=True)
class ZoneActivity:
    """Per-zone result of one tick. `observed_z` marks zones whose camera had a new frame."""

    observed_z: npt.NDArray[np.bool_]
    fraction_z: npt.NDArray[np.float32]
    seq_z: npt.NDArray[np.int64]
    ts_z: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.observed_z)
        if not len(self.fraction_z) == len(self.seq_z) == len(self.ts_z) == n:
            raise ValueError("every ZoneActivity array needs one entry per zone")


class FrameDiffDetector:
    """Motion per zone for a whole batch; all state preallocated.

    >>> det = FrameDiffDetector(zone_specs, thresholds_n, (180, 320))   # doctest: +SKIP
    >>> activity = det.step(view)        # view: ingest.BatchView refreshed this tick
    """

    def __init__(
        self, zones: Sequence[ZoneSpec], thresholds_n: Sequence[int], shape_hw: tuple[int, int]
    ) -> None:
        n = len(thresholds_n)
        h, w = shape_hw
        self.grid = ZoneGrid.build(zones, shape_hw, CELL)
        self._ch, self._cw = h // CELL, w // CELL
        self._prev_nhw = np.zeros((n, h, w), np.uint8)
        self._diff_nhw = np.zeros((n, h, w), np.uint8)
        self._motion_nhw = np.zeros((n, h, w), np.uint8)
        self._has_prev_n = np.zeros(n, np.bool_)
        self._thresholds_n = np.asarray(thresholds_n, np.uint8)[:, None, None]

    def step(self, view: BatchView) -> ZoneActivity:
        """Compare fresh rows with their previous frame and return zone activity."""
        n, h, w = view.frames_nhw.shape
        compared_n = view.fresh_n & self._has_prev_n
        cv2.absdiff(
            view.frames_nhw.reshape(n * h, w),
            self._prev_nhw.reshape(n * h, w),
            dst=self._diff_nhw.reshape(n * h, w),
        )
        np.greater(self._diff_nhw, self._thresholds_n, out=self._motion_nhw, casting="unsafe")
        np.copyto(self._prev_nhw, view.frames_nhw, where=view.fresh_n[:, None, None])
        self._has_prev_n |= view.fresh_n
        active_nc = self._active_cells(n)
        grid = self.grid
        observed_z = compared_n[grid.slot_z]
        hits_z = np.einsum("zc,zc->z", active_nc[grid.slot_z], grid.weights_zc)
        fraction_z = np.where(observed_z, hits_z / grid.cells_z, 0.0).astype(np.float32)
        return ZoneActivity(
            observed_z, fraction_z, view.seq_n[grid.slot_z].copy(), view.ts_n[grid.slot_z].copy()
        )

    def _active_cells(self, n: int) -> npt.NDArray[np.float32]:
        ch, cw = self._ch, self._cw
        motion = self._motion_nhw[:, : ch * CELL, : cw * CELL]
        counts = motion.reshape(n, ch, CELL, cw, CELL).sum(axis=(2, 4), dtype=np.uint16)
        active: npt.NDArray[np.float32] = (
            (counts >= CELL * CELL // 2).reshape(n, -1).astype(np.float32)
        )
        return active

    def motion_box(self, zone_index: int) -> tuple[int, int, int, int]:
        """The bounding box (x1, y1, x2, y2, analysis pixels) of motion inside a zone."""
        spec = self.grid.specs[zone_index]
        inside = self._motion_nhw[spec.slot].astype(np.bool_) & self.grid.masks_zhw[zone_index]
        ys, xs = np.nonzero(inside)
        if len(xs) == 0:
            return (0, 0, 0, 0)
        return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
