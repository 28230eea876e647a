"""Real footage through the real detection core, against OpenCV baselines.

    python bench/footage_eval.py --data ../shared/data

Reads the footage where it lies (nothing is copied). Prints, for Sooke, the box scores of the
core and of the baselines on the same middle frames (the data README's scoring), first with
the camera's masks applied to every method, then without masks and with the baselines' naive
blob floor (the setting of the README's baseline figures), each beside the README's targets;
then the per-frame counts on the UCSD speedboat clip, which has no ground truth.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from evaluation.footage import (
    CORE_CONFIRMED,
    CORE_REGIONS,
    MOG2,
    MOG2_STRICT,
    SOOKE_ANALYSIS,
    SOOKE_DIR,
    SOOKE_PRESETS,
    THREE_FRAME,
    UCSD_DIR,
    FootageScore,
    SookeRun,
    evaluate_ucsd,
    format_footage_table,
    format_ucsd_table,
    load_sooke,
    run_sooke,
)


@dataclass(frozen=True)
class Target:
    """A figure the data README gives for a naive baseline (at half resolution)."""

    method: str
    recall: float
    precision: float
    f1: float
    note: str = ""


README_TARGETS = (
    Target(THREE_FRAME, 0.92, 0.012, 0.024, " (about 160 false regions/frame)"),
    Target(MOG2, 0.61, 0.12, 0.20),
)
NAIVE_BLOB_PX = 16  # the blob floor with which the README's three-frame figures reproduce


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_shape(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w)


def describe_setup(run: SookeRun) -> None:
    a = SOOKE_ANALYSIS
    out(
        f"Core configuration (AnalysisConfig of the camera, both presets): sensitivity "
        f"{a.sensitivity}, diff_threshold {a.diff_threshold}, min_object_px {a.min_object_px}, "
        f"max_object_px {a.max_object_px}; core-wide parameters (BackgroundParams, "
        "TrackerParams) at their defaults, as the hub runs them."
    )
    for preset in SOOKE_PRESETS:
        out(
            f"- preset `{preset.name}` ({preset.day}): {len(preset.masks)} masks (timestamp, "
            "logo, sky and far hills down to just above the horizon, foreground shore); "
            "zone: the sea"
        )
    masks = "yes, the same polygons to every method" if run.masked else "no"
    out(f"Masks applied: {masks}. Baselines' smallest blob: {run.min_blob_px} px.")
    left_out = ", ".join(run.warmup_groups) or "none"
    out(
        f"Warm-up: groups left out of scoring for every method (the core mutes a new camera for "
        f"its first observations): {left_out}."
    )
    if run.short_groups:
        out(f"Groups without three frames, not scored: {', '.join(run.short_groups)}.")


def beside_targets(scores: list[FootageScore]) -> None:
    out("| baseline | measured recall / precision / F1 | README recall / precision / F1 |")
    out("|---|---|---|")
    for t in README_TARGETS:
        for s in scores:
            if s.method == t.method:
                out(
                    f"| {s.method} | {s.recall:.2f} / {s.precision:.3f} / {s.f1:.3f} "
                    f"({s.false_per_frame:.0f} false regions/frame) | "
                    f"{t.recall:.2f} / {t.precision:.3f} / {t.f1:.3f}{t.note} |"
                )


def core_verdict(scores: list[FootageScore]) -> None:
    by = {s.method: s for s in scores}
    mog_target = next(t.f1 for t in README_TARGETS if t.method == MOG2)
    regions, confirmed, mog = by[CORE_REGIONS], by[CORE_CONFIRMED], by[MOG2]
    out(
        f"Core F1 {regions.f1:.3f} (regions), {confirmed.f1:.3f} (confirmed tracks); "
        f"MOG2 F1 here {mog.f1:.3f}, the README's MOG2 figure F1 {mog_target:.2f}."
    )


def per_preset(folder: Path, shape_hw: tuple[int, int]) -> list[FootageScore]:
    """The masked run again, one preset at a time (core rows, MOG2 strict)."""
    groups = load_sooke(folder)
    rows = []
    for preset in SOOKE_PRESETS:
        mine = [g for g in groups if g.day == preset.day]
        run = run_sooke(folder, shape_hw, compare_defaults=False, groups=mine)
        rows += [
            replace(s, method=f"{preset.name}: {s.method}")
            for s in run.scores
            if s.method in (CORE_REGIONS, CORE_CONFIRMED, MOG2_STRICT)
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--shape", type=parse_shape, default=(540, 960), help="HxW, 540x960")
    parser.add_argument("--ucsd-interval", type=float, default=1.0, help="s between frames")
    args = parser.parse_args(argv)
    out(f"$ {shlex.join(['python', *sys.argv])}")
    h, w = args.shape
    started = time.perf_counter()

    out(f"\n## Sooke: middle frame of each group, boxes at 1920x1080, analysis at {w}x{h}\n")
    masked = run_sooke(args.data / SOOKE_DIR, args.shape)
    describe_setup(masked)
    out()
    for line in format_footage_table(masked.scores):
        out(line)
    out()
    out(
        "The camera's setting was chosen from a coarse sweep of three global knobs on this "
        "footage (sensitivity, diff_threshold, min_object_px); no per-image thresholds. The "
        "default-settings row (same masks) shows what the sweep added. MOG2 strict is the one "
        "baseline setting picked on these labels (of two tried); the other baselines are "
        "fixed in advance."
    )
    out()
    core_verdict(masked.scores)
    out()
    beside_targets(masked.scores)
    out("\nPer preset (each preset is its own camera, so these are the rows above split):\n")
    for line in format_footage_table(per_preset(args.data / SOOKE_DIR, args.shape)):
        out(line)
    sooke_s = time.perf_counter() - started

    out("\n## Sooke without masks, baselines' blob floor 16 px (the README's naive setting)\n")
    bare = run_sooke(args.data / SOOKE_DIR, args.shape, masked=False, min_blob_px=NAIVE_BLOB_PX)
    for line in format_footage_table(bare.scores):
        out(line)
    out()
    beside_targets(bare.scores)
    bare_s = time.perf_counter() - started - sooke_s

    out(f"\n## UCSD speedboat: no ground truth, frames fed {args.ucsd_interval:g} s apart\n")
    out("Default analysis settings, no masks; one moving boat expected (plus its wake and the")
    out("distant sailboats, which move too).\n")
    counts = evaluate_ucsd(args.data / UCSD_DIR, interval_s=args.ucsd_interval)
    for line in format_ucsd_table(counts):
        out(line)
    total = time.perf_counter() - started
    out(
        f"\nTime: Sooke masked {sooke_s:.1f} s, unmasked {bare_s:.1f} s, "
        f"UCSD {total - sooke_s - bare_s:.1f} s; total {total:.1f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
