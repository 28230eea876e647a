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
