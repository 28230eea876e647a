"""What a configuration change costs the detection loop: the tick that applies it, for N cameras.

    python bench/reconfigure_bench.py --cameras 250 --changes 20

A core of N river cameras (a zone and a tripwire each, 50 spare rows as the hub keeps), every
camera fresh every tick on rendered scenes. Timed: ordinary ticks, and ticks that first apply a
change of one camera's zones (the editor's usual change: zones and tripwires rebuilt for every
camera, open events carried) or a new camera on a spare row (its row started again). Printed:
the median extra time of a tick that applies a change, against the target.

Target: a change costs at most one tick interval (200 ms) on the loop's worker thread, so the
zones swap in at the next tick without the detection loop falling behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from detectors import CameraSetup, DetectionCore
from detectors.background import BackgroundParams
from evaluation.scene_eval import Clip, evaluation_zone, load_clip
from riverwatch.batch import BatchView
from riverwatch.config import AnalysisConfig, TripwireConfig, ZoneConfig
from simulator.scenes import ensure_scenes

TARGET_MS = 200.0
WIRE = TripwireConfig(id="gate", line=[(0.5, 0.1), (0.5, 0.9)])


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=250)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument(
        "--data-dir", type=Path, default=Path.home() / ".cache" / "riverwatch-bench"
    )
    args = parser.parse_args()
    shape = (180, 320)
    files = ensure_scenes(args.data_dir / "scenes")
    clip: Clip = load_clip(files["river_boat_crossing"], shape)
    n, spare = args.cameras, max(16, args.cameras // 5)
    zone = evaluation_zone(clip.kind)
    setups = [CameraSetup(f"cam-{i:03d}", AnalysisConfig(), [zone], [WIRE]) for i in range(n)]
    core = DetectionCore(setups, shape, 25, background=BackgroundParams(learn_s=0.0), spare=spare)
    view = BatchView.empty(n + spare, shape)
    tick = 0

    def step(fresh_rows: int) -> float:
        nonlocal tick
        for i in range(fresh_rows):
            index = (tick * clip.gop + i * 7) % clip.frames
            view.frames_nhw[i], view.chroma_n2hw[i] = clip.luma_fhw[index], clip.chroma_f2hw[index]
        view.seq_n[:fresh_rows] += 1
        view.ts_n[:fresh_rows] = tick * 0.2
        view.fresh_n[:] = False
        view.fresh_n[:fresh_rows] = True
        started = time.perf_counter()
        core.step(view, tick * 0.2)
        tick += 1
        return (time.perf_counter() - started) * 1000

    for _ in range(12):  # warm up
        step(n)
    plain, rezone, added = [], [], []
    moved = zone.model_copy(update={"severity": zone.severity})
    for k in range(args.changes):
        plain.append(step(n))
        other = ZoneConfig.model_validate({**moved.model_dump(), "id": f"ban-{k}"})
        core.reconfigure({k % n: CameraSetup(f"cam-{k % n:03d}", AnalysisConfig(), [other])})
        rezone.append(step(n))
        slot = n + k % spare
        core.reconfigure({slot: CameraSetup(f"new-{k}", AnalysisConfig(), [zone], [WIRE])})
        added.append(step(n))
        core.reconfigure({slot: None})
        step(n)
    base = float(np.median(plain))
    out(f"{n} cameras + {spare} spare rows at {shape[1]}x{shape[0]}, {args.changes} changes each")
    out("| tick | median ms | extra over a plain tick ms |")
    out("|---|---|---|")
    out(f"| plain | {base:.1f} | |")
    for label, times in (("one camera's zones changed", rezone), ("a camera added", added)):
        median = float(np.median(times))
        out(f"| {label} | {median:.1f} | {median - base:.1f} |")
    worst = max(float(np.median(rezone)), float(np.median(added))) - base
    verdict = "meets" if worst <= TARGET_MS else "misses"
    out(f"target <= {TARGET_MS:g} ms extra for a change: {worst:.1f} ms {verdict} it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
