"""The analysis batch: one preallocated uint8 array that every camera writes its latest frame into.

Each camera owns one row (`slot`) of `frames_nhw`, written by that camera's ingest thread only.
The detector copies the whole batch out in one `np.copyto` (about a millisecond for 250 cameras)
and learns which rows are new from their sequence numbers. A frame written twice before the
detector looked is counted as dropped for that camera (when the detector reads the next).

There is no lock. The detector runs on the event loop, and a lock shared with 250 ingest
threads made it wait for whichever writer held the lock to get the GIL back from the others
(measured: a starved loop, Redis timeouts and a busy database under 250 cameras). Each row
is a sequence lock instead: its writer makes the row's version odd, writes, makes it even
again. The reader notes every version before and after its copy; a row whose version moved or
was odd was torn, and is neither fresh nor consumed this time: the next read takes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass
class BatchView:
    """The detector's own copy of the batch, refreshed in place by `FrameBatch.read_into`.

    `fresh_n` marks the rows that changed since the previous read; `seq_n` and `ts_n` are each
    row's frame sequence number (per camera, from 1) and wall-clock capture time. `chroma_n2hw`
    holds each frame's U and V planes at cell resolution (a quarter of the analysis size; 128
    where the source has no colour), enough to see water turn brown without colour frames.
    """

    frames_nhw: npt.NDArray[np.uint8]
    chroma_n2hw: npt.NDArray[np.uint8]
    seq_n: npt.NDArray[np.int64]
    ts_n: npt.NDArray[np.float64]
    fresh_n: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls, n: int, shape_hw: tuple[int, int]) -> BatchView:
        """A zeroed view for `n` cameras."""
        return cls(
            frames_nhw=np.zeros((n, *shape_hw), np.uint8),
            chroma_n2hw=np.full((n, 2, *chroma_shape(shape_hw)), 128, np.uint8),
            seq_n=np.zeros(n, np.int64),
            ts_n=np.zeros(n, np.float64),
            fresh_n=np.zeros(n, np.bool_),
        )


CHROMA_CELL = 4


def chroma_shape(shape_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the chroma planes kept for an analysis size."""
    return (shape_hw[0] // CHROMA_CELL, shape_hw[1] // CHROMA_CELL)


class FrameBatch:
    """Shared, preallocated analysis frames for all cameras.

    >>> batch = FrameBatch(["a", "b"], (180, 320))
    >>> batch.write(batch.slot("b"), np.full((180, 320), 7, np.uint8), ts=1.0)
    >>> view = BatchView.empty(2, (180, 320)); batch.read_into(view); view.fresh_n.tolist()
    [False, True]
    """

    def __init__(
        self, camera_ids: Sequence[str], shape_hw: tuple[int, int], spare: int = 0
    ) -> None:
        n = len(camera_ids) + spare
        self._slots = {cam: i for i, cam in enumerate(camera_ids)}
        self._camera_ids: list[str | None] = [*camera_ids, *([None] * spare)]
        self._shape_hw = shape_hw
        self._version_n = np.zeros(n, np.int64)  # odd while the row's writer is writing
        self._frames_nhw = np.zeros((n, *shape_hw), np.uint8)
        self._chroma_n2hw = np.full((n, 2, *chroma_shape(shape_hw)), 128, np.uint8)
        self._seq_n = np.zeros(n, np.int64)
        self._ts_n = np.zeros(n, np.float64)
        self._read_seq_n = np.zeros(n, np.int64)
        self._dropped_n = np.zeros(n, np.int64)

    @property
    def shape_hw(self) -> tuple[int, int]:
        """(height, width) of one analysis frame."""
        return self._shape_hw

    @property
    def camera_ids(self) -> list[str | None]:
        """Camera id of each row (None: a spare row, for a camera added while running)."""
        return list(self._camera_ids)

    @property
    def rows(self) -> int:
        """How many rows there are, spare ones included."""
        return len(self._camera_ids)

    def slot(self, camera_id: str) -> int:
        """The row a camera writes to."""
        return self._slots[camera_id]

    def claim(self, camera_id: str) -> int:
        """Give a camera added while running a free row; ValueError when none is left (the
        hub restarts with more room). Its counters start again; its writer starts after."""
        if camera_id in self._slots:
            return self._slots[camera_id]
        try:
            slot = self._camera_ids.index(None)
        except ValueError:
            raise ValueError(f"no free batch row for camera {camera_id!r}") from None
        self._seq_n[slot] = self._read_seq_n[slot] = self._dropped_n[slot] = 0
        self._version_n[slot] = 0
        self._slots[camera_id] = slot
        self._camera_ids[slot] = camera_id
        return slot

    def release(self, camera_id: str) -> int | None:
        """Free a removed camera's row (its writer has stopped); the row it had, or None."""
        slot = self._slots.pop(camera_id, None)
        if slot is not None:
            self._camera_ids[slot] = None
        return slot

    def write(
        self,
        slot: int,
        frame_hw: npt.NDArray[np.uint8],
        ts: float,
        chroma_2hw: npt.NDArray[np.uint8] | None = None,
    ) -> None:
        """Store a camera's newest analysis frame (already at the analysis size); called by the
        camera's own ingest thread only (one writer a row)."""
        self._version_n[slot] += 1
        self._frames_nhw[slot] = frame_hw
        if chroma_2hw is None:
            self._chroma_n2hw[slot] = 128
        else:
            self._chroma_n2hw[slot] = chroma_2hw
        self._ts_n[slot] = ts
        self._seq_n[slot] += 1
        self._version_n[slot] += 1

    def read_into(self, view: BatchView) -> None:
        """Copy the batch into `view` and mark which rows are new since the last read; a row
        being written meanwhile is not marked, and is read again next time."""
        before_n = self._version_n.copy()
        seq_n = self._seq_n.copy()
        ts_n = self._ts_n.copy()
        np.copyto(view.frames_nhw, self._frames_nhw)
        np.copyto(view.chroma_n2hw, self._chroma_n2hw)
        whole_n = (self._version_n == before_n) & (before_n % 2 == 0)
        np.copyto(view.seq_n, seq_n, where=whole_n)
        np.copyto(view.ts_n, ts_n, where=whole_n)
        np.not_equal(seq_n, self._read_seq_n, out=view.fresh_n)
        view.fresh_n &= whole_n
        # Frames written between two that were read were never seen (counted here, by the one
        # reader, so that no race with a writer can count one twice).
        self._dropped_n += np.where(view.fresh_n, seq_n - self._read_seq_n - 1, 0)
        np.copyto(self._read_seq_n, seq_n, where=view.fresh_n)

    def dropped(self, slot: int) -> int:
        """Frames this camera wrote that the detector never saw."""
        return int(self._dropped_n[slot])
