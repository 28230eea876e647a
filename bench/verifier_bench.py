"""Cost of the learnt verifier per tick: `python bench/verifier_bench.py`.

At the hub's cadence (25 fresh cameras per 0.2 s tick at 320x180, one camera in ten busy) a
tick carries a few regions; the verifier computes their features (with each camera's earlier
look, as the core hands it: the worst case, every region has one) and scores them. The model is
trained here on generated boxes (training cost is printed too); its cost does not depend on
what it learnt, only on the number of regions. Target: at most 2 ms a tick.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from detectors.regions import Regions
from detectors.verifier import Verifier, region_features


def regions_in(frames: np.ndarray, k: int, rng: np.random.Generator) -> Regions:
    n, h, w = frames.shape
    x0 = rng.integers(0, w - 40, k)
    y0 = rng.integers(0, h - 20, k)
    xyxy = np.stack([x0, y0, x0 + rng.integers(8, 40, k), y0 + rng.integers(4, 20, k)], 1)
    return Regions(
        rng.integers(0, n, k).astype(np.intp),
        xyxy.astype(np.int32),
        rng.integers(3, 40, k).astype(np.int32),
        np.zeros(k, np.float32),
        np.zeros(k, np.float32),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=25, help="fresh cameras per tick")
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--ticks", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = rng.integers(90, 130, (args.cameras, 180, 320)).astype(np.uint8)
    before = rng.integers(90, 130, (args.cameras, 180, 320)).astype(np.uint8)
    earlier = {slot: before[slot] for slot in range(args.cameras)}
    train = regions_in(frames, 1000, rng)
    features = region_features(frames, train, earlier)
    labels = (features[:, 7] < 0).astype(np.int32)  # any split: only the cost is measured
    start = time.perf_counter()
    verifier = Verifier.train(features, labels)
    print(f"training on 1000 regions: {time.perf_counter() - start:.2f} s")  # noqa: T201
    print("| regions per tick | median ms | p95 ms | target ms |")  # noqa: T201
    print("|---|---|---|---|")  # noqa: T201
    for k in args.regions:
        costs = []
        for _ in range(args.ticks):
            regions = regions_in(frames, k, rng)
            start = time.perf_counter()
            verifier.confirm(frames, regions, earlier)
            costs.append((time.perf_counter() - start) * 1000)
        p95 = statistics.quantiles(costs, n=20)[-1]
        print(f"| {k} | {statistics.median(costs):.2f} | {p95:.2f} | 2 |")  # noqa: T201


if __name__ == "__main__":
    main()
