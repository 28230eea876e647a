"""The batch background model: short- and long-term backgrounds for every camera at once.

Per camera row, preallocated once, at half the analysis size (2x2 means: a quarter of the
memory traffic, and a boat is still four of them across):

    short_nhw   uint8 fast background: absorbs what stays for a few observations
    thr_nhw     uint8 sensitivity * spread + floor, where spread is the pixel's usual
                |frame - short| (ripples, glint, leaves): its own noise
    long_nhw    float32 cell means of a slow background, updated only where nothing new is

The threshold is learned directly rather than derived from a stored spread: an exponential
mean is linear, so `thr' = (1-b) thr + b (sensitivity * min(diff, thr) + floor)` is exactly
`sensitivity * spread' + floor`, one pass over the pixels instead of three.

One `step` handles every camera with a new frame, in a few whole-batch OpenCV calls when all
are new, or on a gathered copy of just those rows otherwise:

    motion: |frame - short| > thr per pixel, pooled to cells (share of the cell changed)
    new:    |cells(frame) - long| minus a local level (so a drifting cloud shadow or an
            exposure change, smooth over tens of cells, cancels) above a threshold from the
            long-term cell spread, on two observations in a row: what arrived and stayed,
            such as a dredger at work. The level is, per 20-pixel block, the brighter of the
            block's mean and its 3x3 block neighbourhood's median (a dark hull filling a block
            does not cancel itself), and under believed objects the water's mean around them

A camera where most cells change at once (auto-exposure, the day/night IR switch, a bump) is
not watched for motion on that frame: its backgrounds restart from it and it stays muted for
`warmup` observations and `learn_s` seconds: glint, ripples and the shore need learning first.
A new camera's long term settles on the median of its first `young_learns` looks; so does a
camera's that sent nothing for `forget_s` (its water's light has changed since).
Backgrounds learn at most once per `learn_interval_s`, so a camera promoted to full-rate
decoding does not absorb a slow boat ten times faster.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from detectors.arrays import adopt_row, contiguous_rows, flat

CELL = 4
WIDE_BLOCK = 5  # cells (20 px): the local mean that cancels cloud shadows and exposure
_START_SPREAD = 4  # grey levels of noise assumed for a pixel before it has been seen
_BIG_BATCH = 64  # cameras in a step from which learning runs beside the caller
_FEW = 16  # rows learned one by one; more are gathered and learned in one call

_T = TypeVar("_T", bound=np.generic)
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BackgroundParams:
    """Learning rates and thresholds; per-camera sensitivity and floor come separately."""

    short_alpha: float = 0.25
    spread_alpha: float = 0.1
    long_alpha: float = 0.01  # minutes: the water's own look, not what passed over it
    long_absorb_alpha: float = 0.002  # a stayed object fades from the long term in hours
    cell_on: float = 0.3  # share of a cell's pixels that must change for motion
    new_floor: float = 10.0  # grey levels of cell-mean change that can count as "new"
    new_sensitivity: float = 3.0
    global_share: float = 0.45
    warmup: int = 4
    learn_s: float = 60.0  # a camera (re)starting learns its water this long before it speaks
    young_learns: int = 6  # the first learns are a running mean, not an exponential one
    low_contrast: float = 0.07  # std / mean of a camera's cells below this: fog, haze
    low_contrast_floor: float = 0.55  # the floor is scaled by this on such a camera
    stale_s: float = 30.0  # a short-term background this old restarts from the next frame
    # A camera unseen this long learns its water again (long term and noise), unmuted. Chosen
    # on the Sooke garden day's gaps (5, 10, 20, 30, 60 min: F1 0.661, 0.686, 0.674, 0.624,
    # 0.632 against 0.632 without); the slope day only scored.
    forget_s: float = 600.0
    # The neighbourhood a young camera's pixels are also judged against, in pixels of the
    # pixel model (half the analysis size: 31 is 62 analysis pixels). Chosen on the Sooke
    # garden day's label-free F1; the slope day only scored. 0: off.
    near_px: int = 41
    learn_interval_s: float = 1.5


@dataclass(frozen=True)
class CellMasks:
    """One step's result for the cameras in `slot_m` (cell grids, analysis size / 4).

    `motion_mhw` is the share of each cell's pixels that differ from the short-term background
    (0..255); `new_mhw` marks cells that differ from the long-term one; `luma_mhw` is each
    cell's mean brightness; `muted_m` marks cameras whose events must not be read this step
    (warm-up, a global change, or still learning their water); `blind_m` those of them whose
    cells mean nothing at all (warm-up or a global change: objects are not followed there
    either, while a learning camera's are, so that what it sees is not learned as water);
    `delta_mhw` how much brighter (+) or darker (-) each cell is than its
    long-term background; `low_contrast_m` marks cameras in fog or haze. The arrays are the
    model's own buffers: read them before the next step.
    """

    slot_m: npt.NDArray[np.intp]
    motion_mhw: U8
    new_mhw: npt.NDArray[np.bool_]
    luma_mhw: F32
    muted_m: npt.NDArray[np.bool_]
    delta_mhw: F32
    low_contrast_m: npt.NDArray[np.bool_]
    blind_m: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        m = len(self.slot_m)
        if not (len(self.motion_mhw) == len(self.new_mhw) == len(self.luma_mhw) == m):
            raise ValueError("CellMasks arrays need one entry per camera in slot_m")
        if not (len(self.muted_m) == len(self.blind_m) == m):
            raise ValueError("CellMasks.muted_m and blind_m need one entry per camera")


class BackgroundModel:
    """Background state for `n` cameras of one analysis size.

    >>> model = BackgroundModel(n=250, shape_hw=(180, 320))            # doctest: +SKIP
    >>> cells = model.step(view.frames_nhw, np.flatnonzero(view.fresh_n), view.ts_n)
    """

    def __init__(
        self,
        n: int,
        shape_hw: tuple[int, int],
        sensitivity_n: Sequence[float] | None = None,
        floor_n: Sequence[int] | None = None,
        ignore_nhw: npt.NDArray[np.bool_] | None = None,
        params: BackgroundParams | None = None,
    ) -> None:
        h, w = shape_hw
        if h % CELL or w % CELL:
            raise ValueError(f"analysis size {w}x{h} must be a multiple of {CELL}")
        self.params = params or BackgroundParams()
        self.shape_hw = shape_hw
        self.cells_hw = (h // CELL, w // CELL)
        self._n = n
        ph, pw = h // 2, w // 2  # the pixel model runs on 2x2 means: a quarter of the bytes
        self._short = np.zeros((n, ph, pw), np.uint8)
        self._thr = np.zeros((n, ph, pw), np.uint8)
        self._stale_thr: dict[int, U8] = {}  # cameras back from a gap, while young (below)
        self._long = np.zeros((n, *self.cells_hw), np.float32)
        self._long_spread = np.full((n, *self.cells_hw), 2.0, np.float32)
        # A new camera's first looks at its water, kept until it settles on their median.
        self._young_cells = np.zeros((n, self.params.young_learns, *self.cells_hw), np.uint8)
        self._new_before = np.zeros((n, *self.cells_hw), np.bool_)
        self._limit = np.full((n, *self.cells_hw), self.params.new_floor, np.float32)
        self._sens_n = np.asarray(
            sensitivity_n if sensitivity_n is not None else [2.5] * n, np.float64
        )
        self._floor_n = np.asarray(floor_n if floor_n is not None else [14] * n)
        # The usual setting, learned in whole-batch calls; cameras that differ go row by row.
        self._sens0 = float(np.median(self._sens_n))
        self._floor0 = float(np.median(self._floor_n))
        self._observed_n = np.zeros(n, np.int64)
        self._began_n = np.zeros(n, np.float64)
        self._learns_n = np.zeros(n, np.int64)
        self._learned_at_n = np.full(n, -np.inf)
        self._keep_chw = self._keep_cells(ignore_nhw)
        self._keeps_all = bool(self._keep_chw.all())  # no masks: nothing to blank out
        self._scratch = _Scratch(n, shape_hw)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background-learn")
        self._learning: Future[None] | None = None
        self._low_n = np.zeros(n, np.bool_)
        start = self._sens_n * _START_SPREAD + self._floor_n
        self._thr[:] = np.clip(np.rint(start), 0, 255).astype(np.uint8)[:, None, None]

    def restart(self, slot: int, fresh: BackgroundModel) -> None:
        """Start a slot again as `fresh` (a model of that one camera) starts: a new camera,
        or new settings for it, on a row another had."""
        self.settle()
        adopt_row(self, fresh, slot)
        self._stale_thr.pop(slot, None)
        self._keeps_all = bool(self._keep_chw.all())
        fresh.close()

    def close(self) -> None:
        """Let its learning thread go."""
        self._worker.shutdown(wait=True)

    def _keep_cells(self, ignore_nhw: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.bool_]:
        keep = np.ones((self._n, *self.cells_hw), np.bool_)
        if ignore_nhw is not None:
            ch, cw = self.cells_hw
            ignored = ignore_nhw.reshape(self._n, ch, CELL, cw, CELL).any(axis=(2, 4))
            keep &= ~ignored
        return keep

    def step(
        self,
        frames_nhw: U8,
        slot_m: npt.NDArray[np.intp],
        ts_n: npt.NDArray[np.float64],
        hold_nhw: npt.NDArray[np.bool_] | None = None,
    ) -> CellMasks:
        """Compare the cameras in `slot_m` with their backgrounds, then let them learn.

        `hold_nhw` marks cells the long term must not learn this time (where believed objects
        are: a stopped vessel is not water, however still it sits)."""
        self.settle()
        m = len(slot_m)
        # The first m rows, in order (every camera; spare rows for cameras added later sit at
        # the end): views, not gathered copies.
        whole = m > 0 and int(slot_m[-1]) == m - 1
        rows = _Rows(slot_m, whole, self._scratch)
        frames = _halve(rows.take(frames_nhw, "frames"), self._scratch.half[:m])
        short, thr = rows.take(self._short, "short"), rows.take(self._thr, "thr")
        diff, fg = self._scratch.diff[:m], self._scratch.fg[:m]
        _flat_absdiff(frames, short, diff)
        cv2.compare(flat(diff), flat(thr), cv2.CMP_GT, dst=flat(fg))
        self._judge_young_by_their_neighbourhood(diff, thr, fg, slot_m)
        motion = _halve(fg, self._scratch.cells[:m])
        sc = self._scratch
        luma = sc.luma[:m]
        np.copyto(luma, _halve(frames, sc.cells2[:m]), casting="unsafe")
        keep = None if self._keeps_all else rows.take(self._keep_chw, "keep")
        if keep is not None:
            np.multiply(motion, keep, out=motion)
        settled = self._learns_n[slot_m] >= self.params.young_learns
        held = None if hold_nhw is None else hold_nhw[:m] if whole else hold_nhw[slot_m]
        raw_new = self._new_cells(luma, rows, m, held)
        if keep is not None:
            np.logical_and(raw_new, keep, out=raw_new)
        raw_new[~settled] = False
        # What arrived and stays is new on consecutive observations; a ripple crest is not.
        new = np.logical_and(raw_new, rows.take(self._new_before, "new_before"), out=sc.new[:m])
        rows.store(self._new_before, raw_new)
        on = sc.on[:m].view(np.uint8)  # 1 where a cell moved
        at_least = math.ceil(255 * self.params.cell_on)
        cv2.threshold(flat(motion), at_least - 1, 1, cv2.THRESH_BINARY, dst=flat(on))
        moved = cv2.reduce(on.reshape(m, -1), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
        changed_m = moved[:, 0] / on[0].size
        global_m = changed_m > self.params.global_share
        self._observed_n[slot_m] += 1
        starting = (self._observed_n[slot_m] == 1) | global_m
        self._began_n[slot_m[starting]] = ts_n[slot_m[starting]]
        learning = ts_n[slot_m] - self._began_n[slot_m] < self.params.learn_s
        blind = global_m | (self._observed_n[slot_m] <= self.params.warmup)
        muted = blind | learning
        # The long term learns only water: nothing new there, and nothing the tracker believes
        # in. A vessel that stops is otherwise learned as water where the local level hides the
        # inside of its hull, and stops standing out.
        water = sc.water[:m]
        np.logical_not(new if held is None else np.logical_or(new, held, out=water), out=water)
        # Learning only prepares the next step. For a big batch it runs on a worker thread
        # (OpenCV releases the GIL) while the caller reads these masks, and `settle` waits for
        # it; for a few cameras the hand-off would cost more than it saves.
        learn = functools.partial(
            self._learn, frames, diff, rows, slot_m, luma, new, water, ts_n, global_m
        )
        if m >= _BIG_BATCH:
            self._learning = self._worker.submit(learn)
        else:
            learn()
        return CellMasks(
            slot_m.copy(),
            motion,
            new,
            luma,
            muted,
            self._scratch.delta[:m],
            self._low_n[slot_m],
            blind,
        )

    def _judge_young_by_their_neighbourhood(
        self, diff: U8, thr: U8, fg: U8, slot_m: npt.NDArray[np.intp]
    ) -> None:
        """A pixel seen only a few looks (a new camera, one back from `forget_s`, a picture
        that moved) cannot tell calm water from a calm moment, and an hours-old noise is
        another light's and another wind's. While its camera is young, a pixel must also stand
        out from the change around it now: the same formula as its learned threshold, with
        the spread measured across `near_px` of its neighbourhood on this look instead of
        across its history. Rough water is then quiet on its first looks, and a hull on it
        still moves."""
        win = self.params.near_px
        young = np.flatnonzero(self._learns_n[slot_m] < self.params.young_learns)
        if not win or not len(young):
            return
        near = self._scratch.near[0]
        sens_m, floor_m = self._sens_n[slot_m], self._floor_now(slot_m)
        for j in young.tolist():
            cv2.blur(diff[j], (win, win), dst=near)
            cv2.addWeighted(near, float(sens_m[j]), near, 0.0, float(floor_m[j]), dst=near)
            cv2.max(near, thr[j], dst=near)
            cv2.compare(diff[j], near, cv2.CMP_GT, dst=fg[j])

    def settle(self) -> None:
        """Wait until the last step's learning is done (and raise what it raised)."""
        learning, self._learning = self._learning, None
        if learning is not None:
            learning.result()

    def retune(self, slot_k: npt.NDArray[np.intp], sensitivity_k: npt.ArrayLike) -> None:
        """Give these cameras a new noise multiple (self-calibration), taking effect at once:
        the learned threshold is `sensitivity x spread + floor`, so its part above the floor
        is rescaled rather than learned again."""
        self.settle()
        new_k = np.asarray(sensitivity_k, np.float64)
        floor_k = self._floor_now(slot_k)
        for slot, new, floor in zip(slot_k.tolist(), new_k.tolist(), floor_k.tolist(), strict=True):
            ratio = new / float(self._sens_n[slot])
            row = self._thr[slot]
            cv2.addWeighted(row, ratio, row, 0.0, floor * (1.0 - ratio), dst=row)
            self._sens_n[slot] = new

    def forget(
        self, slot_k: npt.NDArray[np.intp], xyxy_k: npt.NDArray[np.int32], cells: CellMasks
    ) -> None:
        """Take the current picture as the long-term background inside these boxes, one per
        camera slot (ghosts: what the background remembers is gone)."""
        self.settle()
        row_of = {int(slot): j for j, slot in enumerate(cells.slot_m)}
        for slot, xyxy in zip(slot_k.tolist(), xyxy_k.tolist(), strict=True):
            x1, y1, x2, y2 = (v // CELL for v in xyxy)
            j = row_of[slot]
            self._long[slot, y1:y2, x1:x2] = cells.luma_mhw[j, y1:y2, x1:x2]
            self._new_before[slot, y1:y2, x1:x2] = False

    def _new_cells(
        self, luma: F32, rows: _Rows, m: int, held_mhw: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_]:
        sc = self._scratch
        long, limit = rows.take(self._long, "long"), rows.take(self._limit, "limit")
        delta = cv2.subtract(flat(luma), flat(long), dst=flat(sc.delta[:m]))
        local = _wide_mean(sc.delta[:m], sc.local[:m])
        if held_mhw is not None:
            # Where a believed object is, the local mean is the water's around it: a hull
            # wider than the block would otherwise cancel itself and be learned as water.
            rows_held = np.flatnonzero(held_mhw.reshape(m, -1).any(axis=1))
            if len(rows_held):
                local[rows_held] = _water_mean(sc.delta[rows_held], held_mhw[rows_held])
        residual = cv2.absdiff(delta, flat(local), dst=flat(sc.residual[:m]))
        new: npt.NDArray[np.bool_] = np.greater(sc.residual[:m], limit, out=sc.raw_new[:m])
        del residual
        return new

    def _learn(
        self,
        frames: U8,
        diff: U8,
        rows: _Rows,
        slot_m: npt.NDArray[np.intp],
        luma: F32,
        new: npt.NDArray[np.bool_],
        water: npt.NDArray[np.bool_],
        ts_n: npt.NDArray[np.float64],
        global_m: npt.NDArray[np.bool_],
    ) -> None:
        p = self.params
        first = self._observed_n[slot_m] == 1
        since = ts_n[slot_m] - self._learned_at_n[slot_m]
        # After a long gap (a reconnect, a camera that sends bursts) the short-term background
        # is a stale picture: start it again from this frame, without learning noise from it.
        stale = ~first & (since > p.stale_s)
        # After a long gap the light and the water have changed: the long term and the noise
        # are learned again, as a new camera's are (an hours-old long term makes the haze line
        # at the horizon look new). Not muted: the short term starts from this frame anyway.
        gone = ~first & (since > p.forget_s)
        restart = first | global_m | gone  # the camera starts over: young again, long term too
        reset = restart | stale  # the short term starts from this frame; no noise learned
        due = reset | (since >= p.learn_interval_s)
        if not due.any():
            return
        self._learned_at_n[slot_m[due]] = ts_n[slot_m[due]]
        short, thr = rows.take(self._short, "short"), rows.take(self._thr, "thr")
        learns = self._learns_n[slot_m]
        learning = due & ~reset
        young = learning & (learns < p.young_learns)
        d = np.flatnonzero(learning & ~young)
        sens_m, floor_m = self._sens_n[slot_m], self._floor_now(slot_m)
        if len(d) == len(due):  # one call each for the whole set (the busy, all-fresh case)
            self._learn_rows(frames, diff, short, thr, sens_m, floor_m)
        elif len(d) > _FEW:
            sub_short, sub_thr = short[d], thr[d]
            self._learn_rows(frames[d], diff[d], sub_short, sub_thr, sens_m[d], floor_m[d])
            short[d], thr[d] = sub_short, sub_thr
        else:
            for j in d:
                self._learn_row(frames[j], diff[j], short[j], thr[j], sens_m[j], floor_m[j])
        self._keep_stale_noise(slot_m, thr, restart, gone & ~global_m)
        for j in np.flatnonzero(young):  # a running mean: a new camera learns its noise fast
            rate = 1.0 / (learns[j] + 1)
            self._learn_row(frames[j], diff[j], short[j], thr[j], sens_m[j], floor_m[j], rate)
            stale_thr = self._stale_thr.get(int(slot_m[j]))
            if stale_thr is not None:  # back from a gap: not more sensitive than hours ago yet
                np.maximum(thr[j], stale_thr, out=thr[j])
                if learns[j] + 1 >= p.young_learns:
                    del self._stale_thr[int(slot_m[j])]
        short[reset] = frames[reset]
        self._learns_n[slot_m[due]] += 1
        self._learns_n[slot_m[restart]] = 1
        rows.put(self._short, short, due)
        rows.put(self._thr, thr, due)
        # Fog comes in over minutes: each camera's contrast is judged every eighth learn, the
        # cameras taking turns.
        judge = due & ((self._learns_n[slot_m] + slot_m) % 8 == 0)
        if judge.any():
            self._judge_contrast(luma[judge], slot_m[judge])
        on = contiguous_rows(due)  # views, not copies, when the due cameras are one block
        self._learn_long(slot_m[on], luma[on], new[on], water[on], restart[on], learns[on])

    def _keep_stale_noise(
        self,
        slot_m: npt.NDArray[np.intp],
        thr: U8,
        restart: npt.NDArray[np.bool_],
        back: npt.NDArray[np.bool_],
    ) -> None:
        """A camera back after `forget_s` learns its noise again from a few looks, and a
        running mean of two or three looks can sit far below what the water does (a calm
        moment, a trough between waves): while it is young, its noise limit stays at least the
        one it had before the gap. A camera that starts over for another reason (new, or a
        moved picture) has no such floor: the old limit was another view's."""
        for j in np.flatnonzero(restart):
            slot = int(slot_m[j])
            if back[j]:
                self._stale_thr[slot] = thr[j].copy()
            else:
                self._stale_thr.pop(slot, None)

    def _learn_rows(
        self,
        frames: U8,
        diff: U8,
        short: U8,
        thr: U8,
        sens_m: npt.NDArray[np.float64],
        floor_m: npt.NDArray[np.float64],
    ) -> None:
        """Learn many rows with the usual setting in one call, then redo the few that differ."""
        odd = np.flatnonzero((sens_m != self._sens0) | (floor_m != self._floor0))
        before = thr[odd].copy()
        clipped = self._learn_row(frames, diff, short, thr, self._sens0, self._floor0)
        b = self.params.spread_alpha
        for j, k in enumerate(odd):
            sens, floor = float(sens_m[k]), float(floor_m[k])
            cv2.addWeighted(clipped[k], b * sens, before[j], 1 - b, b * floor, dst=thr[k])

    def _learn_row(
        self,
        frames: U8,
        diff: U8,
        short: U8,
        thr: U8,
        sensitivity: float,
        floor: float,
        rate: float = 0.0,
    ) -> U8:
        """Move short towards the frame and thr towards sensitivity * |frame - short| + floor;
        returns the clipped difference it learned from."""
        a = max(rate, self.params.short_alpha)
        b = max(rate, self.params.spread_alpha)
        cv2.addWeighted(flat(frames), a, flat(short), 1 - a, 0, dst=flat(short))
        clipped = diff
        if rate == 0.0:  # a passing boat must not teach the pixel that it is noisy
            clipped = self._scratch.clip.reshape(-1)[: diff.size].reshape(diff.shape)
            cv2.min(flat(diff), flat(thr), dst=flat(clipped))
        cv2.addWeighted(flat(clipped), b * sensitivity, flat(thr), 1 - b, b * floor, dst=flat(thr))
        return clipped

    def _floor_now(self, slots: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """Each camera's floor, lowered while it is in fog."""
        low = np.where(self._low_n[slots], self.params.low_contrast_floor, 1.0)
        floor: npt.NDArray[np.float64] = self._floor_n[slots] * low
        return floor

    def _judge_contrast(self, luma: F32, slot_m: npt.NDArray[np.intp]) -> None:
        """Fog or haze: the whole picture's contrast (std / mean of its cells) is low; such a
        camera gets a lower floor, else a faint boat stays under it."""
        mean, std = _row_mean_std(luma.reshape(len(slot_m), -1))
        ratio = std / np.maximum(mean, 1.0)
        low = ratio < self.params.low_contrast
        flips = np.flatnonzero(low != self._low_n[slot_m])
        if not len(flips):
            return
        before = self._floor_now(slot_m[flips])
        self._low_n[slot_m] = low
        shift = self._floor_now(slot_m[flips]) - before
        for slot, step in zip(slot_m[flips].tolist(), shift.tolist(), strict=True):
            row = self._thr[slot]  # the floor is part of the learned threshold: move it
            if step >= 0:
                cv2.add(row, round(step), dst=row)
            else:
                cv2.subtract(row, round(-step), dst=row)

    def _learn_long(
        self,
        slots: npt.NDArray[np.intp],
        luma: F32,
        new: npt.NDArray[np.bool_],
        water: npt.NDArray[np.bool_],
        restart: npt.NDArray[np.bool_],
        learns: npt.NDArray[np.int64],
    ) -> None:
        p = self.params
        young = learns < p.young_learns
        if young.any():  # running means while the camera is new, like the pixel model
            self._learn_long_young(slots[young], luma[young], learns[young])
            old = ~young
            slots, luma, new, water = slots[old], luma[old], new[old], water[old]
            restart = restart[old]
        if not len(slots):
            return
        # slots ascend without repeats: one contiguous block when first to last fills it
        block = len(slots) > _FEW and int(slots[-1]) - int(slots[0]) + 1 == len(slots)
        span = slice(int(slots[0]), int(slots[-1]) + 1) if block else slots
        view = isinstance(span, slice)  # a contiguous block of the batch: work in place
        sc = self._scratch
        k = len(slots)
        long3 = self._long[span] if view else self._long[slots]
        spread3 = self._long_spread[span] if view else self._long_spread[slots]
        limit3 = self._limit[span] if view else self._limit[slots]
        long, spread = flat(long3), flat(spread3)
        luma2 = flat(np.ascontiguousarray(luma))
        new2 = flat(np.ascontiguousarray(new).view(np.uint8))
        old2 = flat(np.ascontiguousarray(water).view(np.uint8))
        dev = flat(sc.dev[:k])
        cv2.absdiff(luma2, long, dst=dev)
        # Clipped at the cell's own limit: what stands out must not teach the cell it is wild.
        cv2.min(dev, flat(limit3), dst=dev)
        cv2.accumulateWeighted(dev, spread, p.spread_alpha, mask=old2)
        cv2.accumulateWeighted(luma2, long, p.long_alpha, mask=old2)
        # What stayed fades in over hours; only rows that have something new take part.
        with_new = np.flatnonzero(new.reshape(k, -1).any(axis=1))
        if len(with_new) == k:
            cv2.accumulateWeighted(luma2, long, p.long_absorb_alpha, mask=new2)
        elif len(with_new):
            absorbing = long3[with_new]
            mask = flat(new[with_new].view(np.uint8))
            cv2.accumulateWeighted(
                flat(luma[with_new]), flat(absorbing), p.long_absorb_alpha, mask=mask
            )
            long3[with_new] = absorbing
        long3[restart] = luma[restart]
        self._young_cells[slots[restart], 0] = luma[restart]
        # limit = max(new_sensitivity * long spread, new_floor), cached per cell
        cv2.addWeighted(spread, p.new_sensitivity, spread, 0.0, 0.0, dst=flat(limit3))
        # (the stubs lack OpenCV's array-and-scalar form)
        cv2.max(flat(limit3), p.new_floor, dst=flat(limit3))  # type: ignore[call-overload]
        if not view:
            self._long[slots] = long3
            self._long_spread[slots] = spread3
            self._limit[slots] = limit3

    def _refresh_limits(self, slots: npt.NDArray[np.intp]) -> None:
        """limit = max(new_sensitivity * long spread, new_floor), cached per cell."""
        p = self.params
        self._limit[slots] = np.maximum(self._long_spread[slots] * p.new_sensitivity, p.new_floor)

    def _learn_long_young(
        self, slots: npt.NDArray[np.intp], luma: F32, learns: npt.NDArray[np.int64]
    ) -> None:
        """Running means while the camera is new; its last young learn settles the long term on
        the median of everything it saw, and the spread on their mean deviation from it: a boat
        passing through a few of those looks is not learned as water."""
        self._young_cells[slots, learns] = luma
        rate = (1.0 / (learns + 1.0)).astype(np.float32)[:, None, None]
        long = self._long[slots]
        first = learns == 0
        long[first] = luma[first]
        # Clipped: a boat arriving while the camera is new must not teach it that the water
        # there is wild (which would hide the boat once it stops).
        dev = np.minimum(np.abs(luma - long), 2 * self.params.new_floor)
        spread = self._long_spread[slots]
        spread[first] = 0.0
        spread += np.where(first[:, None, None], 0.0, rate * (dev - spread)).astype(np.float32)
        long += rate * (luma - long)
        self._long[slots] = long
        self._long_spread[slots] = spread
        settled = slots[learns == self.params.young_learns - 1]
        if len(settled):
            seen = self._young_cells[settled].astype(np.float32)
            median = np.median(seen, axis=1)
            cap = 2 * self.params.new_floor  # as in the running mean: clipped, not dropped
            deviation = np.minimum(np.abs(seen - median[:, None]), cap).mean(axis=1)
            self._long[settled] = median
            self._long_spread[settled] = deviation
        self._refresh_limits(slots)


class _Scratch:
    """Work arrays for a whole batch, allocated once (`frames` at analysis size, the rest at
    the pixel model's half size or at cell size)."""

    def __init__(self, n: int, shape_hw: tuple[int, int]) -> None:
        h, w = shape_hw
        self.frames = np.empty((n, h, w), np.uint8)
        self.half = np.empty((n, h // 2, w // 2), np.uint8)
        self.short = np.empty((n, h // 2, w // 2), np.uint8)
        self.thr = np.empty((n, h // 2, w // 2), np.uint8)
        self.diff = np.empty((n, h // 2, w // 2), np.uint8)
        self.fg = np.empty((n, h // 2, w // 2), np.uint8)
        self.clip = np.empty((n, h // 2, w // 2), np.uint8)
        self.near = np.empty((1, h // 2, w // 2), np.uint8)
        cells = (n, h // CELL, w // CELL)
        self.cells = np.empty(cells, np.uint8)
        self.cells2 = np.empty(cells, np.uint8)
        self.keep = np.empty(cells, np.bool_)
        self.on = np.empty(cells, np.bool_)
        self.new = np.empty(cells, np.bool_)
        self.raw_new = np.empty(cells, np.bool_)
        self.new_before = np.empty(cells, np.bool_)
        self.water = np.empty(cells, np.bool_)
        self.luma = np.empty(cells, np.float32)
        self.long = np.empty(cells, np.float32)
        self.limit = np.empty(cells, np.float32)
        self.delta = np.empty(cells, np.float32)
        self.local = np.empty(cells, np.float32)
        self.residual = np.empty(cells, np.float32)
        self.dev = np.empty(cells, np.float32)

    def buffer(self, name: str) -> npt.NDArray[Any]:
        buf: npt.NDArray[Any] = getattr(self, name)
        return buf


class _Rows:
    """The rows of a batch one step works on: views when they are its first rows in order,
    gathered copies else."""

    def __init__(self, slot_m: npt.NDArray[np.intp], whole: bool, scratch: _Scratch) -> None:
        self._slot_m = slot_m
        self._whole = whole
        self._scratch = scratch
        self._taken: dict[str, npt.NDArray[Any]] = {}

    def take(self, array: npt.NDArray[_T], name: str) -> npt.NDArray[_T]:
        """The rows of `array` (a view of it when they are its first rows)."""
        if self._whole:
            return array[: len(self._slot_m)]
        if name not in self._taken:
            out = self._scratch.buffer(name)[: len(self._slot_m)]
            np.take(array, self._slot_m, axis=0, out=out)
            self._taken[name] = out
        taken: npt.NDArray[_T] = self._taken[name]
        return taken

    def put(self, array: U8, rows: U8, mask_m: npt.NDArray[np.bool_]) -> None:
        if not self._whole:
            array[self._slot_m[mask_m]] = rows[mask_m]

    def store(self, array: npt.NDArray[_T], rows: npt.NDArray[_T]) -> None:
        """Write the step's rows back into `array`."""
        if self._whole:
            np.copyto(array[: len(self._slot_m)], rows)
        else:
            array[self._slot_m] = rows


def _flat_absdiff(a: U8, b: U8, out: U8) -> None:
    cv2.absdiff(flat(a), flat(b), dst=flat(out))


def _row_mean_std(rows_kx: F32) -> tuple[F32, F32]:
    """Each row's mean and standard deviation, in two OpenCV reductions."""
    mean = cv2.reduce(rows_kx, 1, cv2.REDUCE_AVG)[:, 0]
    square = cv2.reduce(cv2.multiply(rows_kx, rows_kx), 1, cv2.REDUCE_AVG)[:, 0]
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def _halve(a_mhw: U8, out_mhw: U8) -> U8:
    """2x2 means of every row at once: an exact 2x linear halving (rows never mix)."""
    m, h, w = a_mhw.shape
    cv2.resize(flat(a_mhw), (w // 2, m * h // 2), dst=flat(out_mhw), interpolation=cv2.INTER_LINEAR)
    return out_mhw


def _wide_mean(a_mhw: F32, out_mhw: F32) -> F32:
    """Each cell's local level over blocks of about 5x5 cells (20 px), per camera: the brighter
    of its block's mean and the median of the 3x3 blocks around it.

    Block means by exact integer-factor area averaging, then spread back to cells; the block
    divides the camera's cell grid, and each camera's block rows are padded with its own edge
    rows for the median, so cameras stacked in one array never mix.
    """
    m, h, w = a_mhw.shape
    bh, bw = _block(h), _block(w)
    blocks = cv2.resize(flat(a_mhw), (w // bw, m * h // bh), interpolation=cv2.INTER_AREA)
    # The median of each block's neighbourhood: a drifting cloud shadow or an exposure change
    # spans it and cancels, while a hull that fills a block or two does not hide itself.
    rows = blocks.reshape(m, h // bh, w // bw)
    padded = np.empty((m, h // bh + 2, w // bw), np.float32)  # each camera's edge rows repeated
    padded[:, 1:-1], padded[:, 0], padded[:, -1] = rows, rows[:, 0], rows[:, -1]
    smooth = cv2.medianBlur(flat(padded), 3).reshape(padded.shape)[:, 1:-1]
    local = np.maximum(smooth, blocks.reshape(smooth.shape))
    cv2.resize(flat(local), (w, m * h), dst=flat(out_mhw), interpolation=cv2.INTER_NEAREST)
    return out_mhw


def _water_mean(delta_khw: F32, held_khw: npt.NDArray[np.bool_]) -> F32:
    """`_wide_mean` over the cells not held, for a few cameras: each block's mean of its water
    cells, or its camera's whole-picture water mean where the block is mostly held."""
    k, h, w = delta_khw.shape
    bh, bw = _block(h), _block(w)
    water = np.logical_not(held_khw).astype(np.float32)
    weighted = delta_khw * water
    size = (w // bw, k * h // bh)
    sums = cv2.resize(flat(weighted), size, interpolation=cv2.INTER_AREA)
    shares = cv2.resize(flat(water), size, interpolation=cv2.INTER_AREA)
    overall_k = weighted.sum(axis=(1, 2)) / np.maximum(water.sum(axis=(1, 2)), 1.0)
    overall = np.repeat(overall_k.astype(np.float32), h // bh)[:, None]
    means = np.where(shares >= 0.2, sums / np.maximum(shares, 1e-6), overall)
    out = cv2.resize(means.astype(np.float32), (w, k * h), interpolation=cv2.INTER_NEAREST)
    return out.reshape(k, h, w).astype(np.float32, copy=False)


def _block(cells: int) -> int:
    """The divisor of `cells` nearest to 5 (a 20-pixel block)."""
    divisors = (d for d in range(2, cells + 1) if cells % d == 0)
    return min(divisors, key=lambda d: abs(d - WIDE_BLOCK))
