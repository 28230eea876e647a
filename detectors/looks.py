"""Each camera's earlier look: the frame a few seconds back the verifier compares a region with.

A region's short history says what one frame cannot: a hull moves against its water, while a
wave trough or a glint changes no more than the water around it. The verifier measures that
change against a look `min_age_s` to `max_age_s` old, whatever the camera's rate: a keyframe
camera's previous keyframe, a full-rate camera's frame of a few seconds ago, the previous photo
of a still camera taking three photos five seconds apart.

Two looks are kept per camera. When the newer is at least `min_age_s` old, the current frame
replaces the older and becomes the newer; a region is compared with the newer look when it is
old enough, else with the older one, so the look it gets is between `min_age_s` and about
twice that old at any frame rate, and none when the camera was away longer than `max_age_s`
(a new scene, not the same water a moment ago).

Memory: two analysis frames per camera (250 cameras at 320x180: 29 MB), only in a core that
has a verifier. Cost: one frame copy per camera every `min_age_s`.

>>> looks = EarlierLooks(n=2, shape_hw=(180, 320))
>>> earlier = looks.usable([0], ts_n)  # {slot: luma} where a look fits  # doctest: +SKIP
>>> looks.remember(frames_nhw, slot_m, ts_n)                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]

MIN_AGE_S = 3.0
MAX_AGE_S = 30.0


class EarlierLooks:
    """Two earlier looks per camera slot and the times they were taken."""

    def __init__(
        self,
        n: int,
        shape_hw: tuple[int, int],
        min_age_s: float = MIN_AGE_S,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        if not 0 < min_age_s < max_age_s:
            raise ValueError("EarlierLooks: need 0 < min_age_s < max_age_s")
        self._frames_n2hw = np.zeros((n, 2, *shape_hw), np.uint8)
        self._ts_n2 = np.full((n, 2), -np.inf)  # [older, newer]
        self._newer_n = np.zeros(n, np.intp)  # which of the two rows is the newer
        self._min_age_s = min_age_s
        self._max_age_s = max_age_s

    def usable(self, slots: Iterable[int], ts_n: npt.NDArray[np.float64]) -> Mapping[int, U8]:
        """For each of `slots` with a look `min_age_s`..`max_age_s` before its frame at
        `ts_n[slot]`, that look (the newest that is old enough)."""
        out: dict[int, U8] = {}
        for slot in set(slots):
            newer = int(self._newer_n[slot])
            for row in (newer, 1 - newer):
                age = float(ts_n[slot]) - float(self._ts_n2[slot, row])
                if self._min_age_s <= age <= self._max_age_s:
                    out[slot] = self._frames_n2hw[slot, row]
                    break
        return out

    def remember(
        self, frames_nhw: U8, slot_m: npt.NDArray[np.intp], ts_n: npt.NDArray[np.float64]
    ) -> None:
        """Keep the frames of `slot_m` whose newer look is at least `min_age_s` old (or from
        the future: a camera whose clock went back starts over)."""
        newer = self._newer_n[slot_m]
        age = ts_n[slot_m] - self._ts_n2[slot_m, newer]
        due = slot_m[(age >= self._min_age_s) | (age < 0)]
        if not len(due):
            return
        older = 1 - self._newer_n[due]
        self._frames_n2hw[due, older] = frames_nhw[due]
        self._ts_n2[due, older] = ts_n[due]
        self._newer_n[due] = older
