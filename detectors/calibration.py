"""Self-calibration without labels: each camera holds its own water's false regions under a budget.

A region that never becomes a confirmed track is, on water, glint, a ripple or foam: nobody
has to label it. Per camera, a slow controller watches how many such regions its tracks end
with per observation (an exponential mean over about `memory` observations) and turns the
camera's effective sensitivity (the multiple of each pixel's own noise a change must exceed)
up while that rate is over `budget`, and back down towards the configured value while it is
under `quiet` x `budget`:

    rate' = rate + (unconfirmed - rate) / memory
    gain' = gain * raise_step   if rate' > budget
            gain / relax_step   if rate' < quiet * budget       (never below 1)
    gain  <= max_gain

Only the noise multiple moves; the floor and the size band stay as configured. A pixel's
threshold is `sensitivity x its noise + floor`, so a higher multiple raises the bar only where
the water itself is noisy (glint, chop), and a boat on quiet water meets the same threshold as
before; `max_gain` bounds how far it rises where it is noisy. Regions that end near a confirmed
track (within its box grown by its own size on every side) are not counted: a boat's wake and
spray are not the water's noise, and a boat must not tune itself away. Cameras that do not watch
water (`water_n`) keep their setting. The state is one row per camera slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.regions import Regions
from detectors.tracker import Track, Tracker

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CalibrationParams:
    """The controller's budget and speeds (per observation, so keyframe and full-rate cameras
    adapt over the same number of looks)."""

    # Chosen on the simulator's scene library only: around real boats (wakes, fog, a dredger
    # at work) its busy water shows 0.2-0.4 unconfirmed regions per look, so the budget sits
    # above that; a faster controller or a lower budget made its decode-budget stress late.
    budget: float = 0.5  # unconfirmed regions per look a camera's water may show
    quiet: float = 0.5  # under this share of the budget the water is quiet: relax
    memory: float = 100.0  # looks the rate is averaged over
    raise_step: float = 1.01  # per look over budget
    relax_step: float = 1.002  # per quiet look: five times slower than it rises
    max_gain: float = 1.2  # the scene library: at 1.4 x (sensitivity 3.5) its glint alerts
    levels: int = 16  # gain steps per doubling handed to the background (few retunes)

    def __post_init__(self) -> None:
        if not (self.budget > 0 and 0 <= self.quiet < 1 and self.memory >= 1):
            raise ValueError("CalibrationParams: budget > 0, 0 <= quiet < 1, memory >= 1")
        if not (self.raise_step >= 1 and self.relax_step >= 1 and self.max_gain >= 1):
            raise ValueError("CalibrationParams: steps and max_gain must be at least 1")


@dataclass(frozen=True)
class Retune:
    """Cameras whose effective sensitivity changed this step, and the new values."""

    slot_k: npt.NDArray[np.intp]
    sensitivity_k: F64

    def __len__(self) -> int:
        return len(self.slot_k)


class SelfCalibration:
    """Per-camera effective sensitivity, from each camera's own unconfirmed regions.

    >>> calibration = SelfCalibration(sensitivity_n, water_n)           # doctest: +SKIP
    >>> retune = calibration.observe(slot_m, tracker, ended)
    >>> background.retune(retune.slot_k, retune.sensitivity_k)
    """

    def __init__(
        self,
        sensitivity_n: npt.ArrayLike,
        water_n: npt.NDArray[np.bool_],
        params: CalibrationParams | None = None,
    ) -> None:
        self.params = params or CalibrationParams()
        self._configured_n = np.asarray(sensitivity_n, np.float64)
        n = len(self._configured_n)
        self._water_n = np.asarray(water_n, np.bool_)
        self._rate_n = np.zeros(n)
        self._gain_n = np.ones(n)
        self._level_n = np.zeros(n, np.int64)  # the quantised gain the background was given
        self._unconfirmed_n = np.zeros(n)

    @property
    def gain_n(self) -> F64:
        """Each camera's multiplier on its configured sensitivity (1 = as configured)."""
        return self._gain_n.copy()

    @property
    def rate_n(self) -> F64:
        """Each camera's recent unconfirmed regions per observation."""
        return self._rate_n.copy()

    def sensitivity(self, slot: int) -> float:
        """The effective sensitivity the background uses for a camera."""
        return float(self._configured_n[slot] * self._quantised(self._level_n[slot : slot + 1])[0])

    def observe(
        self,
        slot_m: npt.NDArray[np.intp],
        tracker: Tracker,
        ended: Iterable[Track],
        dropped: Regions | None = None,
    ) -> Retune:
        """One observation of the cameras in `slot_m` (the tracks that just ended included).

        `dropped` are this look's regions the core's model stage refused before tracking: they
        count as unconfirmed too, so a camera's sensitivity settles where it would without the
        model (the model learnt from that core's regions, and must see the same ones)."""
        p = self.params
        unconfirmed = self._unconfirmed_n
        boats: dict[int, list[tuple[int, int, int, int]]] = {}

        def count(slot: int, xyxy: tuple[int, int, int, int], hits: int) -> None:
            if slot not in boats:
                boats[slot] = [t.last.xyxy for t in tracker.tracks(slot) if tracker.confirmed(t)]
            if not _near(xyxy, boats[slot]):
                unconfirmed[slot] += hits

        for track in ended:
            if self._water_n[track.slot] and not tracker.confirmed(track):
                count(track.slot, track.last.xyxy, track.hits)
        if dropped is not None:
            for slot, xyxy in zip(dropped.slot_k.tolist(), dropped.xyxy_k.tolist(), strict=True):
                if self._water_n[slot]:
                    count(slot, (xyxy[0], xyxy[1], xyxy[2], xyxy[3]), 1)
        slots = slot_m[self._water_n[slot_m]]
        if not len(slots):
            unconfirmed[slot_m] = 0.0
            return Retune(np.zeros(0, np.intp), np.zeros(0))
        rate = self._rate_n[slots] + (unconfirmed[slots] - self._rate_n[slots]) / p.memory
        unconfirmed[slot_m] = 0.0
        self._rate_n[slots] = rate
        gain = self._gain_n[slots]
        gain = np.where(rate > p.budget, gain * p.raise_step, gain)
        gain = np.where(rate < p.quiet * p.budget, gain / p.relax_step, gain)
        self._gain_n[slots] = np.clip(gain, 1.0, p.max_gain)
        level = np.floor(np.log2(self._gain_n[slots]) * p.levels + 1e-9).astype(np.int64)
        changed = level != self._level_n[slots]
        self._level_n[slots] = level
        moved = slots[changed]
        return Retune(
            moved.astype(np.intp), self._configured_n[moved] * self._quantised(level[changed])
        )

    def _quantised(self, level: npt.NDArray[np.int64]) -> F64:
        out: F64 = np.exp2(level / self.params.levels)
        return np.minimum(out, self.params.max_gain)


def _near(xyxy: tuple[int, int, int, int], boats: list[tuple[int, int, int, int]]) -> bool:
    """Whether a box's centre lies within a confirmed track's box grown by its own size on
    every side (its wake and spray, which are not the water's noise)."""
    cx, cy = (xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2
    for x1, y1, x2, y2 in boats:
        w, h = x2 - x1, y2 - y1
        if x1 - w <= cx <= x2 + w and y1 - h <= cy <= y2 + h:
            return True
    return False
