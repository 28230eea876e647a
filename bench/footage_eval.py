"""Real footage through the real detection core, against OpenCV baselines.

    python bench/footage_eval.py --data ../shared/data

Reads the footage where it lies (nothing is copied) through the generic path
(`evaluation.footage`, as `riverwatch evaluate --footage` does), each Sooke day as the camera
of its own config file (configs/footage/sooke-*.yaml: masks and the sea zone, the three tuned
knobs at the hub's defaults). Prints, as docs/evaluation-protocol.md asks:

1. Held out, the headline: per direction (tune on one day, score on the other), the core's
   F1 with default settings (no labels used) and with the knobs a coarse sweep chose on the
   other day; the in-sample figure (swept on the scored day) only as a labelled reference.
   Then the learnt verifier held out: trained on one day's labels (as `riverwatch verifier
   train` does), scored on the other day at default settings (as `riverwatch evaluate
   --verifier` does).
2. The earlier table, for the same settings as before (swept on both days' labels: in-sample,
   a reference), with the baselines, first masked, then unmasked with the README's naive
   blob floor, each beside the data README's targets.
3. The per-frame counts on the UCSD speedboat clip, which has no ground truth.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from detectors import CameraSetup
from evaluation.footage import (
    CORE_CONFIRMED,
    CORE_DEFAULTS,
    CORE_REGIONS,
    MOG2,
    MOG2_STRICT,
    SWEEP_GRID,
    THREE_FRAME,
    UCSD_DIR,
    Footage,
    FootageRun,
    FootageScore,
    SweepPoint,
    evaluate_ucsd,
    format_footage_table,
    format_ucsd_table,
    load_camera,
    load_footage,
    read_lumas,
    run_footage,
    sweep_knobs,
    with_knobs,
)
from evaluation.verifier_train import train_from_footage

SOOKE_DIR = "sooke-boats"
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "footage"
# Each day the PTZ camera sat on one view: the day's camera file.
SOOKE_VIEWS = {"2019-08-18": "sooke-garden.yaml", "2019-09-20": "sooke-slope.yaml"}
# The knobs the earlier table used, chosen by a sweep on BOTH days' labels: in-sample, so a
# reference only, never a headline.
IN_SAMPLE_KNOBS: dict[str, float] = {"sensitivity": 4.0, "diff_threshold": 14, "min_object_px": 32}


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


def sooke(data: Path) -> dict[str, tuple[Footage, CameraSetup]]:
    """Each Sooke day's footage and its camera."""
    days = load_footage(data / SOOKE_DIR).by_day()
    return {day: (days[day], load_camera(CONFIGS / name)) for day, name in SOOKE_VIEWS.items()}


def both_days(
    cameras: dict[str, tuple[Footage, CameraSetup]], shape_hw: tuple[int, int], **kwargs: object
) -> tuple[FootageRun, list[FootageRun]]:
    """The in-sample knobs on every day; the days' runs summed, and each day's."""
    runs = [
        run_footage(footage, with_knobs(setup, **IN_SAMPLE_KNOBS), shape_hw, **kwargs)  # type: ignore[arg-type]
        for footage, setup in cameras.values()
    ]
    total = FootageRun(
        [FootageScore(s.method) for s in runs[0].scores], runs[0].masked, runs[0].min_blob_px
    )
    for run in runs:
        total.merge(run)
    return total, runs


def _knobs(knobs: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in knobs.items())


def held_out(cameras: dict[str, tuple[Footage, CameraSetup]], shape_hw: tuple[int, int]) -> None:
    """Tune on one day, score on the other, both directions (the headline)."""
    lumas = {day: read_lumas(footage, shape_hw) for day, (footage, _) in cameras.items()}
    sweeps: dict[str, list[SweepPoint]] = {
        day: sweep_knobs(footage, setup, shape_hw, lumas[day])
        for day, (footage, setup) in cameras.items()
    }
    out(
        "| tune on → score on | default settings F1 (no labels) | knobs chosen on the tune "
        "day | **held-out F1** (recall / precision) | in-sample reference F1 (swept on the "
        "scored day) |"
    )
    out("|---|---|---|---|---|")
    tables = []
    for tune, score in ((a, b) for a in cameras for b in cameras if a != b):
        footage, setup = cameras[score]
        chosen = sweeps[tune][0].knobs
        run = run_footage(footage, with_knobs(setup, **chosen), shape_hw, lumas=lumas[score])
        core, defaults = run.score(CORE_REGIONS), run.score(CORE_DEFAULTS)
        reference = sweeps[score][0]
        out(
            f"| {tune} → {score} | {defaults.f1:.3f} | {_knobs(chosen)} | **{core.f1:.3f}** "
            f"({core.recall:.2f} / {core.precision:.3f}) | {reference.score.f1:.3f} "
            f"({_knobs(reference.knobs)}) |"
        )
        tables.append((tune, score, chosen, run))
    for tune, score, chosen, run in tables:
        out(f"\nScored on {score}, knobs chosen on {tune} ({_knobs(chosen)}):\n")
        for line in format_footage_table(run.scores):
            out(line)


def held_out_verifier(
    cameras: dict[str, tuple[Footage, CameraSetup]], shape_hw: tuple[int, int]
) -> None:
    """Train the verifier on one day, score the core with it on the other, both directions."""
    lumas = {day: read_lumas(footage, shape_hw) for day, (footage, _) in cameras.items()}
    out(
        "| train on → score on | threshold (chosen on the train day) | core F1 (false "
        "regions/frame) | **core + verifier F1** (false regions/frame) | recall, without → with |"
    )
    out("|---|---|---|---|---|")
    for train, score in ((a, b) for a in cameras for b in cameras if a != b):
        verifier = train_from_footage(*cameras[train], shape_hw, lumas[train])
        footage, setup = cameras[score]
        plain = run_footage(footage, setup, shape_hw, baselines=False, lumas=lumas[score])
        checked = run_footage(
            footage, setup, shape_hw, baselines=False, lumas=lumas[score], model=verifier
        )
        core, with_v = plain.score(CORE_REGIONS), checked.score(CORE_REGIONS)
        out(
            f"| {train} → {score} | {verifier.manifest.min_score:.2f} | {core.f1:.3f} "
            f"({core.false_per_frame:.1f}) | **{with_v.f1:.3f}** ({with_v.false_per_frame:.1f}) "
            f"| {core.recall:.2f} → {with_v.recall:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--shape", type=parse_shape, default=(540, 960), help="HxW, 540x960")
    parser.add_argument("--ucsd-interval", type=float, default=1.0, help="s between frames")
    args = parser.parse_args(argv)
    out(f"$ {shlex.join(['python', *sys.argv])}")
    h, w = args.shape
    started = time.perf_counter()
    cameras = sooke(args.data)

    out(f"\n## Sooke held out: tune on one day, score on the other (analysis {w}x{h})\n")
    out(
        "Each day is its own camera (configs/footage/). Sweep: core regions F1 over "
        f"{_knobs_grid()} on the tune day's labels only. The default-settings column uses no "
        "labels. The in-sample column is a reference, not a result."
    )
    out()
    held_out(cameras, args.shape)
    out("\n## Sooke held out, with the learnt verifier: train on one day, score on the other\n")
    out(
        "Default settings; the verifier's threshold is chosen by grouped cross-validation over "
        "the train day."
    )
    out()
    held_out_verifier(cameras, args.shape)
    held_s = time.perf_counter() - started

    out("\n## Sooke, the earlier table: in-sample knobs (swept on both days' labels)\n")
    masked, per_day = both_days(cameras, args.shape)
    out(
        f"Knobs: {_knobs(IN_SAMPLE_KNOBS)} (in-sample: a reference); masks from the camera "
        f"files applied to every method; baselines' smallest blob {masked.min_blob_px} px."
    )
    out(f"Warm-up, not scored for any method: {', '.join(masked.warmup_groups) or 'none'}.")
    if masked.short_groups:
        out(f"Groups without three frames, not scored: {', '.join(masked.short_groups)}.")
    out()
    for line in format_footage_table(masked.scores):
        out(line)
    out()
    core_verdict(masked.scores)
    out()
    beside_targets(masked.scores)
    out("\nPer day (each day is its own camera, so these are the rows above split):\n")
    rows = [
        replace(s, method=f"{day}: {s.method}")
        for day, run in zip(cameras, per_day, strict=True)
        for s in run.scores
        if s.method in (CORE_REGIONS, CORE_CONFIRMED, MOG2_STRICT)
    ]
    for line in format_footage_table(rows):
        out(line)
    sooke_s = time.perf_counter() - started - held_s

    out("\n## Sooke without masks, baselines' blob floor 16 px (the README's naive setting)\n")
    bare, _ = both_days(cameras, args.shape, masked=False, min_blob_px=NAIVE_BLOB_PX)
    for line in format_footage_table(bare.scores):
        out(line)
    out()
    beside_targets(bare.scores)
    bare_s = time.perf_counter() - started - held_s - sooke_s

    out(f"\n## UCSD speedboat: no ground truth, frames fed {args.ucsd_interval:g} s apart\n")
    out("Default analysis settings, no masks; one moving boat expected (plus its wake and the")
    out("distant sailboats, which move too).\n")
    counts = evaluate_ucsd(args.data / UCSD_DIR, interval_s=args.ucsd_interval)
    for line in format_ucsd_table(counts):
        out(line)
    total = time.perf_counter() - started
    out(
        f"\nTime: held out {held_s:.1f} s, Sooke masked {sooke_s:.1f} s, unmasked {bare_s:.1f} s, "
        f"UCSD {total - held_s - sooke_s - bare_s:.1f} s; total {total:.1f} s."
    )
    return 0


def _knobs_grid() -> str:
    return "; ".join(f"{name} {'/'.join(f'{v:g}' for v in values)}" for name, values in SWEEP_GRID)


if __name__ == "__main__":
    raise SystemExit(main())
