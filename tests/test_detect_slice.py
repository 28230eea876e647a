"""The thin detection slice: batch frame difference and the zone-activity rule, sequence in/out."""

from __future__ import annotations

import numpy as np

from detectors import FrameDiffDetector, Phase, ZoneActivityRule, ZoneSpec
from ingest import BatchView
from riverwatch.config import ZoneConfig

H, W = 48, 64
LOWER_HALF = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


def zone(min_obs: int = 2) -> ZoneConfig:
    return ZoneConfig(
        id="water", polygon=LOWER_HALF, min_observations=min_obs, min_active_fraction=0.01
    )


def frame_with_box(x: int | None, y: int = 30, noise_seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(noise_seed)
    img = (100 + rng.integers(-5, 6, (H, W))).astype(np.uint8)  # ripple-like noise below threshold
    if x is not None:
        img[y : y + 8, x : x + 12] = 220
    return img


def run(frames_per_tick: list[list[np.ndarray | None]]) -> list[list[tuple[Phase, str]]]:
    """Feed ticks of frames (None: no new frame for that camera); return events per tick."""
    n = len(frames_per_tick[0])
    det = FrameDiffDetector([ZoneSpec(i, f"cam{i}", zone()) for i in range(n)], [25] * n, (H, W))
    rule = ZoneActivityRule(det.grid, quiet_observations=2)
    view = BatchView.empty(n, (H, W))
    out = []
    for t, frames in enumerate(frames_per_tick):
        view.fresh_n[:] = False
        for i, frame in enumerate(frames):
            if frame is not None:
                view.frames_nhw[i] = frame
                view.fresh_n[i] = True
                view.seq_n[i] += 1
                view.ts_n[i] = float(t)
        out.append([(e.phase, e.camera_id) for e in rule.update(det.step(view))])
    return out


def test_still_noisy_water_gives_no_event() -> None:
    ticks = [[frame_with_box(None, noise_seed=t)] for t in range(10)]
    assert run(ticks) == [[] for _ in range(10)]


def test_moving_boat_starts_updates_and_ends_one_event() -> None:
    xs = [None, 2, 14, 26, 38, 50, None, None, None, None]
    events = run([[frame_with_box(x, noise_seed=t)] for t, x in enumerate(xs)])
    flat = [phase for tick in events for phase, _ in tick]
    assert flat.count(Phase.START) == 1 and flat.count(Phase.END) == 1
    assert events[2] == [(Phase.START, "cam0")]  # two active observations in a row


def test_motion_outside_the_zone_is_ignored() -> None:
    xs = [None, 2, 14, 26, 38, None]
    events = run([[frame_with_box(x, y=4, noise_seed=t)] for t, x in enumerate(xs)])
    assert all(tick == [] for tick in events)


def test_cameras_are_independent_and_stale_rows_are_not_compared() -> None:
    boat = [frame_with_box(x) for x in (None, 2, 14, 26)]
    calm = frame_with_box(None)
    ticks: list[list[np.ndarray | None]] = [
        [boat[0], calm],
        [boat[1], None],
        [boat[2], None],
        [boat[3], calm],
    ]
    events = run(ticks)
    assert [e for tick in events for e in tick] == [(Phase.START, "cam0"), (Phase.UPDATE, "cam0")]
