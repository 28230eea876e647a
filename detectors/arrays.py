"""Small helpers for the batch arrays: OpenCV works on 2-D images, the core on camera stacks."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

_T = TypeVar("_T", bound=np.generic)


def flat(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    """A stack of images (..., h, w) as one tall 2-D image, for a single OpenCV call."""
    return a.reshape(-1, a.shape[-1])


def contiguous_rows(mask: npt.NDArray[np.bool_]) -> slice | npt.NDArray[np.intp]:
    """Where `mask` holds: a slice when that is one contiguous run (indexing with it gives a
    view, which OpenCV can write in place), the indices otherwise."""
    rows = np.flatnonzero(mask)
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def adopt_row(target: object, fresh: object, slot: int) -> None:
    """Start one camera's state again: copy every per-camera array of `fresh` (the same class,
    built for that camera alone) into row `slot` of `target`'s array of the same name.

    Per-camera arrays are the attributes whose first axis counts cameras (one in `fresh`);
    listing them by hand would miss the next one added.
    """
    for name, value in vars(fresh).items():
        mine = getattr(target, name, None)
        if isinstance(value, np.ndarray) and isinstance(mine, np.ndarray) and len(value) == 1:
            if mine.ndim == value.ndim and mine.shape[1:] == value.shape[1:]:
                mine[slot] = value[0]
