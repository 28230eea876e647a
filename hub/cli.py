"""The `riverwatch` command and its subcommands (`riverwatch --help` lists them all)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from riverwatch.config import ConfigError, LoadedConfig, load_config, parse_config
from riverwatch.logs import setup_logging
from riverwatch.secrets import Redactor
from riverwatch.settings import Settings, unknown_settings
from riverwatch.sql import open_engine, safe_url

if TYPE_CHECKING:
    from detectors import CameraSetup, Verifier
    from evaluation.footage import Footage

EXIT_BAD_CONFIG = 2


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    for problem in unknown_settings(os.environ):
        _err(f"warning: {problem}")
    return Settings(**overrides)  # type: ignore[arg-type]


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file; list every problem; with `--probe`, probe every stream."""
    settings = _settings(args)
    try:
        loaded = load_config(Path(args.file), secrets_file=settings.secrets_file)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_BAD_CONFIG
    for warning in loaded.warnings:
        _err(f"warning: {warning}")
    groups = sorted({c.config.group for c in loaded.cameras})
    _out(f"{args.file}: ok, {len(loaded.cameras)} cameras in groups {', '.join(groups)}")
    if not args.probe:
        return 0
    from hub.probing import config_targets, run_probes

    return run_probes(config_targets(loaded), loaded.redactor, args, settings, _out, loaded)


def cmd_probe(args: argparse.Namespace) -> int:
    """Connect to streams and report what they really send."""
    from hub.probing import run_probes, url_targets

    targets, redactor = url_targets(args.urls)
    return run_probes(targets, redactor, args, Settings(), _out)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the hub on a config file."""
    settings = _settings(args)
    try:
        loaded = load_config(Path(args.config), secrets_file=settings.secrets_file)
    except ConfigError as exc:
        _err(f"riverwatch: refusing to start.\n{exc}")
        return EXIT_BAD_CONFIG
    from detectors import ModelError, VerifierError
    from hub.runtime import load_region_model

    try:
        load_region_model(loaded, settings.files_root)
    except (ModelError, VerifierError) as exc:
        _err(f"riverwatch: refusing to start.\n{loaded.source}: model: {exc}")
        return EXIT_BAD_CONFIG
    return serve(settings, loaded)


def serve(settings: Settings, loaded: LoadedConfig) -> int:
    """Run the API and the hub until interrupted."""
    import uvicorn

    from api import create_app
    from api.security import BootstrapError, SecurityConfig
    from api.security.bootstrap import admin_from_settings
    from hub.runtime import Hub

    setup_logging(settings.log_level, loaded.redactor, settings.log_format)
    try:
        admin_from_settings(settings.admin_user, settings.admin_password)
    except BootstrapError as exc:
        _err(f"riverwatch: refusing to start: {exc}")
        return EXIT_BAD_CONFIG
    if settings.admin_password is not None:
        loaded.redactor.add(settings.admin_password.get_secret_value())
    refusal = schema_refusal(settings)
    if refusal is not None:
        _err(f"riverwatch: refusing to start: {refusal}")
        return EXIT_BAD_CONFIG
    if settings.metrics_token is not None:
        if len(settings.metrics_token.get_secret_value()) < 24:
            _err("riverwatch: refusing to start: RIVERWATCH_METRICS_TOKEN needs 24+ characters")
            return EXIT_BAD_CONFIG
        loaded.redactor.add(settings.metrics_token.get_secret_value())
    security = SecurityConfig(
        token_ttl_s=settings.token_ttl_s,
        admin_user=settings.admin_user,
        admin_password=settings.admin_password,
        metrics_token=settings.metrics_token,
    )
    app = create_app(lambda: Hub(settings, loaded), security)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    _out(
        f"riverwatch: {len(loaded.cameras)} cameras; API on "
        f"http://{settings.host}:{settings.port} (try /api/cameras and /api/alerts)"
    )
    asyncio.run(server.serve())
    return 0 if server.started else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the hub on simulated cameras with an embedded Redis."""
    from simulator.demo import demo_config_text, start_demo_cameras

    settings = _settings(args)
    redactor = Redactor()
    setup_logging(settings.log_level, redactor, settings.log_format)
    refusal = schema_refusal(settings)  # the demo's users need the tables
    if refusal is not None:
        _err(f"riverwatch: refusing to start: {refusal}")
        return EXIT_BAD_CONFIG
    with start_demo_cameras(settings.data_dir, args.cameras) as cameras:
        _out(f"riverwatch demo: {cameras.description}")
        text = demo_config_text(cameras.config)
        loaded = parse_config(text, "demo", env=cameras.env)
        (settings.data_dir / "demo.yaml").write_text(text, encoding="utf-8")
        people = _demo_people(settings)
        base = f"http://{settings.host}:{settings.port}"
        _out(f"riverwatch demo: sign in at {base}/login as one of (passwords are random, kept")
        _out(f"  in {settings.data_dir / DEMO_PEOPLE}):")
        for name, password in people.items():
            _out(f"    {name:<12} {password}")
        return serve(settings, loaded)


DEMO_PEOPLE = "demo-people.json"


def _demo_people(settings: Settings) -> dict[str, str]:
    """One user per role for the demo, with random passwords made on its first run."""
    import json
    import secrets

    from api.security import Role
    from api.security.bootstrap import add_user

    path = settings.data_dir / DEMO_PEOPLE
    if path.exists():
        people: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return people
    people = {r.value: secrets.token_urlsafe(12) for r in (Role.OPERATOR, Role.ENFORCEMENT,
                                                           Role.REVIEWER, Role.ADMIN)}  # fmt: skip
    for name, password in people.items():
        asyncio.run(add_user(settings, name, Role(name), password))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(people), encoding="utf-8")
    return people


def cmd_simulate(args: argparse.Namespace) -> int:
    """Serve simulated cameras over RTSP until interrupted."""
    from simulator.demo import serve_simulator
    from simulator.profiles import profile_names

    if args.profile not in profile_names():
        known = ", ".join(profile_names())
        _err(f"riverwatch: unknown profile {args.profile!r}; profiles: {known}")
        return EXIT_BAD_CONFIG
    settings = _settings(args)
    setup_logging(settings.log_level, Redactor())
    write = Path(args.write_config) if args.write_config else None
    return serve_simulator(
        settings.data_dir, args.cameras, args.port, write, _out, profile=args.profile
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the detection core on the scene library, or on footage with `--footage`."""
    if args.footage:
        return _evaluate_footage(args)
    from evaluation.scene_eval import (
        STRESS_BUDGET,
        by_kind,
        evaluate_scenes,
        format_kinds,
        format_table,
    )
    from simulator.scenes import SCENES, ensure_scenes

    settings = _settings(args)
    names = args.scenes or list(SCENES)
    unknown = sorted(set(names) - set(SCENES))
    if unknown:
        _err(f"riverwatch: unknown scene(s) {', '.join(unknown)}; scenes: {', '.join(SCENES)}")
        return EXIT_BAD_CONFIG
    _out(
        f"rendering or reusing {len(names)} scenes x {args.variants} variants under "
        f"{settings.data_dir / 'scenes'} ..."
    )
    files = [
        f
        for variant in range(args.variants)
        for f in ensure_scenes(settings.data_dir / "scenes", names, variant=variant).values()
    ]
    shape = settings.analysis_shape_hw
    budget = STRESS_BUDGET if args.budget is None else args.budget
    _out(
        f"scene library: {args.loops} loops per scene (those in the camera's first minute, its "
        "learning time, are not scored), "
        f"{args.variants} variant(s) of each (other water, same story), water-only scenes for "
        f"{args.water_hours:g} h each, analysis {shape[1]}x{shape[0]}, {budget} full-rate "
        "decoding slots shared by the cameras"
    )
    scores = evaluate_scenes(files, args.loops, shape, args.water_hours, budget)
    for line in format_table(scores):
        _out(line)
    _out("")
    for line in format_kinds(by_kind(scores), scores):
        _out(line)
    return 0


def _footage_of(args: argparse.Namespace) -> tuple[CameraSetup, Footage, tuple[int, int]]:
    """The camera, the footage and the analysis size that the footage commands share."""
    from evaluation import footage as fe

    setup = fe.load_camera(Path(args.camera))
    times = fe.read_times(Path(args.times)) if args.times else fe.TimePattern(args.time_pattern)
    sampling = (
        fe.ClipSampling.parse(args.fps)
        if args.fps
        else fe.ClipSampling(fps=setup.analysis.detect_fps)
    )
    clip = fe.load_footage(
        Path(args.footage),
        times,
        args.images,
        args.group_gap_s,
        labels=Path(args.labels) if args.labels else None,
        category=args.category,
        sampling=sampling,
    )
    return setup, clip, args.shape or (clip.image_wh[1] // 2, clip.image_wh[0] // 2)


def _evaluate_footage(args: argparse.Namespace) -> int:
    """An operator's footage and camera config: the core's box scores beside the baselines."""
    from detectors import Verifier, VerifierLoadError
    from evaluation import footage as fe

    if not args.camera:
        _err("riverwatch: --footage needs --camera FILE (a one-camera config: masks, zones)")
        return EXIT_BAD_CONFIG
    try:
        setup, clip, shape = _footage_of(args)
        tuned = fe.knobs_of(setup) != fe.knobs_of(fe.with_default_knobs(setup))
        verifier = Verifier.load(Path(args.verifier)) if args.verifier else None
        lumas = fe.read_lumas(clip, shape) if verifier is not None else None
        run = fe.run_footage(clip, setup, shape, compare_defaults=tuned, lumas=lumas)
        if verifier is not None:
            filtered = fe.run_footage(
                clip,
                setup,
                shape,
                compare_defaults=False,
                baselines=False,
                lumas=lumas,
                model=verifier,
            )
            for score in filtered.scores:
                score.method = score.method.replace("core:", "core + verifier:")
            run.scores[2:2] = filtered.scores
    except VerifierLoadError as exc:
        _err(f"riverwatch: bad verifier: {exc}")
        return EXIT_BAD_CONFIG
    except ConfigError as exc:
        _err(f"riverwatch: bad camera file\n{exc}")
        return EXIT_BAD_CONFIG
    except fe.FootageError as exc:
        _err(f"riverwatch: {exc}")
        return EXIT_BAD_CONFIG
    knobs = ", ".join(f"{k} {v:g}" for k, v in fe.knobs_of(setup).items())
    width, height = clip.image_wh
    _out(
        f"footage {args.footage}: {sum(len(g.frames) for g in clip.groups)} images "
        f"{width}x{height} in {len(clip.groups)} groups; camera {setup.camera_id!r} "
        f"({knobs}; {len(setup.analysis.masks)} masks, {len(setup.zones)} zones); "
        f"analysis {shape[1]}x{shape[0]}"
    )
    if run.warmup_groups:
        _out(f"not scored, the core's warm-up: {', '.join(run.warmup_groups)}")
    if run.short_groups:
        _out(f"not scored, fewer than three frames: {len(run.short_groups)} group(s)")
    if clip.unmatched_labels:
        _out(f"label rows naming no image in the folder: {clip.unmatched_labels}")
    if verifier is not None:
        _out(f"verifier {args.verifier}: {_describe(verifier)}")
    for line in fe.format_footage_table(run.scores):
        _out(line)
    return 0


def _describe(verifier: Verifier) -> str:
    m = verifier.manifest
    held = (
        f"held-out (by time) region F1 {m.held_out.f1:.2f}, accuracy {m.held_out.accuracy:.2f} "
        f"on {m.held_out.regions} regions"
        if m.held_out
        else "no held-out score"
    )
    counts = ", ".join(f"{n} {label}" for label, n in m.counts.per_label.items())
    return (
        f"{m.classifier}, labels {'/'.join(m.labels)}, keeps regions scoring vessel >= "
        f"{m.min_score:.2f}; trained {m.created} on {counts} ({m.counts.frames} frames); {held}"
    )


def cmd_verifier_train(args: argparse.Namespace) -> int:
    """Train a region verifier on one day of labelled footage and write the model folder."""
    from evaluation import footage as fe
    from evaluation.verifier_train import train_from_footage

    if args.labels and not args.footage:
        return _train_from_labels(args)
    if not args.footage or not args.camera:
        _err("riverwatch: verifier train needs --labels DIR, or --footage DIR with --camera FILE")
        return EXIT_BAD_CONFIG
    try:
        setup, clip, shape = _footage_of(args)
        verifier = train_from_footage(clip, setup, shape)
        verifier = verifier.with_manifest(
            source={"footage": str(args.footage), "camera": setup.camera_id, "images": args.images}
        )
        verifier.save(Path(args.out))
    except ConfigError as exc:
        _err(f"riverwatch: bad camera file\n{exc}")
        return EXIT_BAD_CONFIG
    except (fe.FootageError, ValueError, OSError) as exc:
        _err(f"riverwatch: cannot train a verifier: {exc}")
        return EXIT_BAD_CONFIG
    _out(f"wrote {args.out}: {_describe(verifier)}")
    return 0


def _train_from_labels(args: argparse.Namespace) -> int:
    """Train from a site's label store (`<data_dir>/labels`) at the analysis size."""
    from api.routes.verifier import labelled_boxes
    from detectors.site_verifier import SiteVerifierError, train_from_boxes

    shape_hw = args.shape or (
        Settings.model_fields["analysis_height"].default,
        Settings.model_fields["analysis_width"].default,
    )
    try:
        trained = train_from_boxes(labelled_boxes(Path(args.labels)), shape_hw)
        verifier = trained.verifier.with_manifest(
            source={**trained.verifier.manifest.source, "labels_dir": str(args.labels)}
        )
        verifier.save(Path(args.out))
    except (SiteVerifierError, ValueError, OSError) as exc:
        _err(f"riverwatch: cannot train a verifier: {exc}")
        return EXIT_BAD_CONFIG
    _out(f"wrote {args.out}: {_describe(verifier)}")
    return 0


def _add_footage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-pattern",
        default="%Y-%m-%d_%H-%M-%S",
        help="capture time in file names, strftime-style, UTC (default %%Y-%%m-%%d_%%H-%%M-%%S)",
    )
    parser.add_argument("--times", help="a CSV of image,ts (POSIX s or ISO 8601) instead")
    parser.add_argument("--images", default="*", help="only images (or clips) matching this glob")
    parser.add_argument(
        "--category", help="with a COCO label file: only this category's boxes (default all)"
    )
    parser.add_argument(
        "--fps",
        help="clips: frames a second the core sees, 'all' or 'keyframes' (default: the camera's "
        "detect_fps); clip start from the name (--time-pattern), else its creation_time, else 0",
    )
    parser.add_argument(
        "--group-gap-s",
        type=float,
        default=20.0,
        help="frames further apart start a new group (default 20)",
    )
    parser.add_argument(
        "--shape", type=_shape, help="analysis size HxW (default: half the images' size)"
    )


def _shape(text: str) -> tuple[int, int]:
    height, sep, width = text.partition("x")
    if not sep or not height.isdigit() or not width.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want HxW, e.g. 540x960")
    return int(height), int(width)


def cmd_users_add(args: argparse.Namespace) -> int:
    """Add an API user; the password comes from a prompt (twice) or stdin's first line."""
    from api.security.bootstrap import users_add_command

    settings = _settings(args)
    refusal = schema_refusal(settings)
    if refusal is not None:
        _err(f"riverwatch: {refusal}")
        return EXIT_BAD_CONFIG
    return users_add_command(settings, args.name, args.role, sys.stdin, _out, _err)


def schema_refusal(settings: Settings) -> str | None:
    """None when the hub's database is at this riverwatch's schema (a brand-new one is
    brought there), else why it is not, naming the command to run."""
    from hub.schema import SchemaError, database_url, ensure_schema

    async def check() -> None:
        engine = open_engine(database_url(settings), settings.ticket_db_timeout_s, pool_size=1)
        try:
            await ensure_schema(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except SchemaError as exc:
        return str(exc)
    except (SQLAlchemyError, OSError) as exc:  # driver messages may quote the URL
        return f"the database {safe_url(database_url(settings))} failed: {type(exc).__name__}"
    return None


def cmd_db(args: argparse.Namespace) -> int:
    """`riverwatch db upgrade | current`: migrate the hub's database, or say where it stands."""
    from hub.schema import SchemaError, database_url

    settings = _settings(args)
    url = database_url(settings)
    redactor = Redactor()
    password = make_url(url).password
    if password:
        redactor.add(str(password))
    setup_logging(settings.log_level, redactor, settings.log_format)
    try:
        return asyncio.run(_db(settings, args.db_command))
    except SchemaError as exc:
        _err(f"riverwatch: {exc}")
        return EXIT_BAD_CONFIG
    except (SQLAlchemyError, OSError) as exc:
        _err(f"riverwatch: the database {safe_url(url)} failed: {type(exc).__name__}")
        return 1


async def _db(settings: Settings, what: str) -> int:
    from hub.schema import SchemaState, database_url, status, upgrade

    url = database_url(settings)
    engine = open_engine(url, settings.ticket_db_timeout_s, pool_size=1)
    try:
        if what == "upgrade":
            before, after = await upgrade(engine)
            _out(f"riverwatch: {safe_url(url)}: was {before.describe()}, now {after.describe()}")
            return 0
        found = await status(engine)
        _out(f"{safe_url(url)}: {found.describe()}")
        return 0 if found.state is SchemaState.CURRENT else 1
    finally:
        await engine.dispose()


def _add_probe_options(parser: argparse.ArgumentParser) -> None:
    """The options `probe` and `check-config --probe` share."""
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="read each stream this long at most (default 10; stops sooner after --gops GOPs)",
    )
    parser.add_argument(
        "--gops", type=int, default=3, help="keyframe intervals to measure (default 3)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="per-stream connect and read timeout in seconds (default: the hub's settings)",
    )
    parser.add_argument(
        "--parallel", type=int, default=8, help="streams probed at once (default 8)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    # The description does not list the commands: argparse lists every one below it, with
    # its help, so a new command cannot be left out.
    parser = argparse.ArgumentParser(
        prog="riverwatch", description="riverwatch, the river city's video and sensor hub."
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands")
    run = sub.add_parser("run", help="run the hub on a config file")
    run.add_argument("--config", required=True, help="YAML file (see configs/)")
    run.add_argument("--host", help="API address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="API port (default 8080)")
    run.set_defaults(func=cmd_run)
    demo = sub.add_parser("demo", help="run the hub on simulated cameras, embedded Redis")
    demo.add_argument("--cameras", type=int, default=7, help="simulated cameras (default 7)")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.set_defaults(func=cmd_demo)
    sim = sub.add_parser("simulate", help="serve simulated cameras over RTSP")
    sim.add_argument("--cameras", type=int, default=7)
    sim.add_argument("--port", type=int, default=8554, help="RTSP port (default 8554)")
    sim.add_argument("--write-config", help="write a hub config for these cameras to this file")
    sim.add_argument(
        "--profile",
        default="classic",
        help="kind of camera (default classic: one H.264 640x360 stream each); city-mix: mostly "
        "H.265 main + H.264 sub cameras, a few odd and broken ones; or hd, fullhd, gop4, gop8, "
        "smart, restreamer, codec-switch for every camera",
    )
    sim.set_defaults(func=cmd_simulate)
    evaluate = sub.add_parser(
        "evaluate", help="score the detection core on the scene library and real footage"
    )
    evaluate.add_argument("--loops", type=int, default=6, help="loops per scene (default 6)")
    evaluate.add_argument(
        "--water-hours", type=float, default=1.0, help="hours of each water-only scene"
    )
    evaluate.add_argument("--scenes", nargs="+", help="only these scenes")
    evaluate.add_argument(
        "--variants", type=int, default=1, help="variants of each scene: other water (default 1)"
    )
    evaluate.add_argument(
        "--budget",
        type=int,
        help="full-rate decoding slots the cameras share (default: a stress, 4 for 21 busy ones)",
    )
    evaluate.add_argument(
        "--footage",
        help="a folder of images with labels.csv (image,box_id,x,y,w,h; 1-based), a folder of "
        "video clips each with <clip stem>.txt (MOT), or one clip: score the core on it instead "
        "of the scene library",
    )
    evaluate.add_argument(
        "--labels",
        help="with --footage: the label file (default labels.csv / <clip stem>.txt): .csv the "
        "Sooke CSV, .json COCO detection JSON, else MOT (frame,id,x,y,w,h,conf; 1-based) of one "
        "clip",
    )
    evaluate.add_argument(
        "--camera", help="with --footage: a config file of one camera (masks, zones, analysis)"
    )
    evaluate.add_argument(
        "--verifier",
        help="with --footage: a verifier model folder (riverwatch verifier train); scores the "
        "core with it filtering regions beside the core without it",
    )
    _add_footage_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    verifier = sub.add_parser("verifier", help="a region verifier learnt from labelled footage")
    verifier_sub = verifier.add_subparsers(dest="verifier_command", required=True)
    train = verifier_sub.add_parser(
        "train", help="train on one day's frames and labels.csv, write a model folder"
    )
    train.add_argument(
        "--footage", help="a folder of images with labels.csv, or of video clips, or one clip"
    )
    train.add_argument(
        "--camera", help="with --footage: a config file of one camera (masks, zones, analysis)"
    )
    train.add_argument(
        "--labels",
        help="instead of --footage: a site's label store (<data_dir>/labels, the reviewers' "
        "boxes); analysis size from --shape or the settings' default. With --footage: its "
        "label file, as for evaluate --labels",
    )
    train.add_argument("--out", required=True, help="the model folder to write")
    _add_footage_options(train)
    train.set_defaults(func=cmd_verifier_train)
    users = sub.add_parser("users", help="manage API users (users add NAME --role ROLE)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a user; password from a prompt or stdin")
    add.add_argument("name", help="1-64 letters, digits, '.', '_' or '-'")
    add.add_argument(
        "--role", required=True, help="operator, enforcement, reviewer, admin or sensor-gateway"
    )
    add.set_defaults(func=cmd_users_add)
    db = sub.add_parser("db", help="the hub's database schema (Alembic migrations)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser(
        "upgrade", help="migrate to this riverwatch's schema (adopts a database made before)"
    )
    db_sub.add_parser("current", help="the database's schema revision; exit 1 unless at head")
    db.set_defaults(func=cmd_db)
    check = sub.add_parser("check-config", help="validate a config file, list every problem")
    check.add_argument("file")
    check.add_argument(
        "--probe", action="store_true", help="also probe every camera's url and sub_url"
    )
    _add_probe_options(check)
    check.set_defaults(func=cmd_check_config)
    probe = sub.add_parser(
        "probe", help="connect to streams and report codec, GOP, B-frames, audio, timestamps"
    )
    probe.add_argument("urls", nargs="+", metavar="URL", help="rtsp://, http(s):// or file URL")
    _add_probe_options(probe)
    probe.set_defaults(func=cmd_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `riverwatch` console command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ValidationError as exc:
        # Values are not echoed: REDIS_URL may hold a password.
        lines = [
            f"  - RIVERWATCH_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        _err("riverwatch: bad settings in the environment:\n" + "\n".join(lines))
        return EXIT_BAD_CONFIG
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
