"""Zones rasterised once per camera, at the detector's cell resolution (never per frame)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from riverwatch.config import ZoneConfig


@dataclass(frozen=True)
class ZoneSpec:
    """A zone of the camera in batch row `slot`."""

    slot: int
    camera_id: str
    zone: ZoneConfig


@dataclass(frozen=True)
class ZoneGrid:
    """All zones of all cameras as cell weights: `weights_zc[z, c]` is 1 where cell c is inside.

    `slot_z` maps zone z to its camera's batch row; `cells_z` counts each zone's cells.
    """

    specs: tuple[ZoneSpec, ...]
    slot_z: npt.NDArray[np.intp]
    weights_zc: npt.NDArray[np.float32]
    cells_z: npt.NDArray[np.float32]

    @classmethod
    def build(cls, specs: Sequence[ZoneSpec], shape_hw: tuple[int, int], cell: int) -> ZoneGrid:
        """Rasterise every polygon at cell size."""
        h, w = shape_hw
        ch, cw = h // cell, w // cell
        weights = np.zeros((len(specs), ch * cw), np.float32)
        for z, spec in enumerate(specs):
            cells = rasterise(spec.zone.polygon, (ch, cw))
            weights[z] = cells.reshape(-1)
        cells_z = np.maximum(weights.sum(axis=1), 1.0).astype(np.float32)
        slot_z = np.array([s.slot for s in specs], np.intp)
        return cls(tuple(specs), slot_z, weights, cells_z)


def rasterise(
    polygon: Sequence[tuple[float, float]], shape_hw: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """A boolean mask of a normalised polygon at the given size."""
    h, w = shape_hw
    points = np.array([[x * (w - 1), y * (h - 1)] for x, y in polygon], np.float32)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
    mask: npt.NDArray[np.bool_] = canvas.astype(np.bool_)
    return mask
