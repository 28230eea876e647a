"""Ghosts: what the long-term background remembers but is no longer there.

When a moored boat (or a dredger the camera learned while starting) leaves, its place looks
"new" against the long-term background, exactly like a newly arrived object. The two differ in
where the edges are: an object that arrived brings its outline into the current frame, while a
ghost's outline exists only in the background. A still region whose window has clearly more
edge energy in the long-term background than in the current frame is a ghost: it is dropped,
and the background forgets it (takes the current water there).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.background import CELL, CellMasks
from detectors.regions import Regions

GHOST_RATIO = 1.5  # background edges this many times the frame's edges: a ghost


def edge_energy(window_hw: npt.NDArray[np.float32]) -> float:
    """Sum of absolute neighbour differences (cell level): outlines, not brightness."""
    if window_hw.shape[0] < 2 or window_hw.shape[1] < 2:
        return 0.0
    return float(
        np.abs(np.diff(window_hw, axis=0)).sum() + np.abs(np.diff(window_hw, axis=1)).sum()
    )


def find_ghosts(cells: CellMasks, regions: Regions) -> npt.NDArray[np.bool_]:
    """Which regions are ghosts (only still regions are judged; motion is never a ghost)."""
    ghost = np.zeros(len(regions), np.bool_)
    if not len(regions):
        return ghost
    row_of = {int(slot): j for j, slot in enumerate(cells.slot_m)}
    for k in np.flatnonzero(regions.still_k >= 0.5):
        j = row_of[int(regions.slot_k[k])]
        x1, y1, x2, y2 = (int(v) // CELL for v in regions.xyxy_k[k])
        h, w = cells.luma_mhw.shape[1:]
        ys, xs = slice(max(0, y1 - 1), min(h, y2 + 1)), slice(max(0, x1 - 1), min(w, x2 + 1))
        now = cells.luma_mhw[j, ys, xs]
        before = now - cells.delta_mhw[j, ys, xs]
        ghost[k] = edge_energy(before) > GHOST_RATIO * edge_energy(now) + 1.0
    return ghost
