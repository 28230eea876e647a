"""Objects from cell masks: connected regions, only for the cameras where something changed.

Only the cameras with active cells take part: their masks are labelled together in one image,
so the cost follows the activity, not the number of cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.arrays import flat
from detectors.background import CELL, CellMasks

_CLOSE_3x3 = np.ones((3, 3), np.uint8)
_GAP = 3


@dataclass(frozen=True)
class Regions:
    """Regions found in one step, one entry per region (k).

    `xyxy_k` is in analysis pixels; `cells_k` the region's area in cells; `still_k` the share of
    its cells that are new against the long-term background but not moving (an object that
    stopped); `contrast_k` its brightness minus its camera's mean (on a dark camera its
    brightest cell's, so that small lights stand out).
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


def active_cells(
    cells: CellMasks, cell_on: float, out_mhw: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.bool_]:
    """Cells that moved or are newly there, per camera of the step (blind cameras: none)."""
    m = len(cells.slot_m)
    active = out_mhw[:m] if out_mhw is not None else np.empty(cells.new_mhw.shape, np.bool_)
    as_u8 = active.view(np.uint8)  # 0/1, written by OpenCV in place
    at_least = math.ceil(255 * cell_on)
    cv2.threshold(flat(cells.motion_mhw), at_least - 1, 1, cv2.THRESH_BINARY, dst=flat(as_u8))
    cv2.bitwise_or(flat(as_u8), flat(cells.new_mhw.view(np.uint8)), dst=flat(as_u8))
    active[cells.blind_m] = False
    return active


class RegionFinder:
    """Labels the busy cameras' active cells together; buffers sized for every camera, once.

    The busy cameras' masks are stacked into one image, `_GAP` empty rows apart (a 3x3 closing
    cannot bridge three rows), so one closing and one labelling serve them all. On cameras that
    watch water (`water_n`), a daytime region with no cell at least `dark_delta` darker than
    that cell's long-term background is dropped: glint, foam and wakes only ever brighten the
    water; a hull, its waterline or its shadow darkens some of it.
    """

    def __init__(
        self,
        n: int,
        cells_hw: tuple[int, int],
        min_px_n: npt.NDArray[np.int64],
        max_px_n: npt.NDArray[np.int64],
        night_luma: float,
        water_n: npt.NDArray[np.bool_] | None = None,
        dark_delta: float = 12.0,
        horizon_n: npt.NDArray[np.float64] | None = None,
        horizon_scale_n: npt.NDArray[np.float64] | None = None,
    ) -> None:
        h, w = cells_hw
        # No calibration: horizon at the top, no shrinking (scale 1 everywhere).
        self._horizon_n = horizon_n if horizon_n is not None else np.zeros(n)
        self._horizon_scale_n = horizon_scale_n if horizon_scale_n is not None else np.ones(n)
        self._water_n = water_n if water_n is not None else np.zeros(n, np.bool_)
        self._dark_delta = dark_delta
        self._stride = h + _GAP
        self._canvas = np.zeros((n * self._stride, w), np.uint8)
        self._joined = np.zeros_like(self._canvas)
        self._labels = np.zeros((n * self._stride, w), np.int32)
        self._min_px_n, self._max_px_n = min_px_n, max_px_n
        self._night_luma = night_luma

    def find(self, cells: CellMasks, active_mhw: npt.NDArray[np.bool_]) -> Regions:
        """Connected regions (8-neighbour) of active cells, within each camera's size band."""
        busy = np.flatnonzero(active_mhw.any(axis=(1, 2)))
        if not len(busy):
            return Regions.empty()
        b, (h, w) = len(busy), active_mhw.shape[1:]
        stride = self._stride
        canvas = self._canvas[: b * stride].reshape(b, stride, w)
        canvas[:, :h] = active_mhw[busy]
        joined, labels = self._joined[: b * stride], self._labels[: b * stride]
        cv2.morphologyEx(canvas.reshape(b * stride, w), cv2.MORPH_CLOSE, _CLOSE_3x3, dst=joined)
        count, _, stats, _ = cv2.connectedComponentsWithStats(
            joined, labels=labels, connectivity=8, ltype=cv2.CV_32S
        )
        stats = np.asarray(stats, np.int64)[1:]
        row = stats[:, cv2.CC_STAT_TOP] // stride
        slot = cells.slot_m[busy[row]]
        area = stats[:, cv2.CC_STAT_AREA]
        # In fog a boat shows less of itself above the threshold: a smaller least size. With
        # a ground plane, the band shrinks towards the horizon (far boats look small).
        bottom = stats[:, cv2.CC_STAT_TOP] - row * stride + stats[:, cv2.CC_STAT_HEIGHT]
        far = self._area_factor(slot, bottom / h)
        least = self._min_px_n[slot] * far * np.where(cells.low_contrast_m[busy[row]], 2 / 3, 1.0)
        most = self._max_px_n[slot] * far
        keep = (area * CELL * CELL >= least) & (area * CELL * CELL <= most)
        if not keep.any():
            return Regions.empty()
        return self._describe(cells, busy, labels, int(count), stats, row, slot, keep)

    def _area_factor(
        self, slot: npt.NDArray[np.intp], bottom: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Per region: its camera's ground-plane area factor at its waterline (1 if none)."""
        horizon, scale = self._horizon_n[slot], self._horizon_scale_n[slot]
        along = np.clip((bottom - horizon) / np.maximum(1.0 - horizon, 1e-6), 0.0, 1.0)
        linear = scale + (1.0 - scale) * along
        factor: npt.NDArray[np.float64] = linear * linear
        return factor

    def _describe(
        self,
        cells: CellMasks,
        busy: npt.NDArray[np.intp],
        labels: npt.NDArray[np.int32],
        count: int,
        stats: npt.NDArray[np.int64],
        row: npt.NDArray[np.int64],
        slot: npt.NDArray[np.intp],
        keep: npt.NDArray[np.bool_],
    ) -> Regions:
        h, w = cells.new_mhw.shape[1:]
        stride = self._stride
        ids = np.flatnonzero(keep) + 1
        stats, row, slot = stats[keep], row[keep], slot[keep]
        area = stats[:, cv2.CC_STAT_AREA]
        # Per-region sums over the labelled cells only (a few percent of the canvas).
        at = np.flatnonzero(labels)
        label_at = labels.reshape(-1)[at]
        cam, y, x = at // (stride * w), (at // w) % stride, at % w
        src = busy[cam]
        still = cells.new_mhw[src, y, x] & (cells.motion_mhw[src, y, x] == 0)
        luma = cells.luma_mhw[src, y, x]
        still_k = np.bincount(label_at, still, minlength=count)[ids] / area
        darkest = np.full(count, np.inf)
        np.minimum.at(darkest, label_at, cells.delta_mhw[src, y, x])
        mean_k = np.bincount(label_at, luma, minlength=count)[ids] / area
        camera_mean_b = cells.luma_mhw[busy].mean(axis=(1, 2))
        contrast_k = mean_k - camera_mean_b[row]
        for k in np.flatnonzero(camera_mean_b[row] < self._night_luma):  # lights: brightest
            mine = label_at == ids[k]
            contrast_k[k] = float(luma[mine].max()) - camera_mean_b[row[k]]
        # On water by day a vessel darkens something (hull, waterline, shadow); sun glint,
        # foam and wakes only brighten. At night bright regions are lights: kept.
        day = camera_mean_b[row] >= self._night_luma
        dark_part = darkest[ids] <= -self._dark_delta
        moving = still_k < 0.5  # what stopped is judged by the long-term model instead
        believable = ~(day & self._water_n[slot] & moving & ~dark_part)
        x0, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP] - row * stride
        xyxy = np.stack(
            [x0, top, x0 + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]],
            axis=1,
        )
        del h
        return Regions(
            slot.astype(np.intp),
            (xyxy * CELL).astype(np.int32),
            area.astype(np.int32),
            still_k.astype(np.float32),
            contrast_k.astype(np.float32),
        ).filter(believable)
