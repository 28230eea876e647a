"""Simulated cameras for `riverwatch demo` and `riverwatch simulate`.

The demo prefers the real RTSP server; where GStreamer's RTSP server is not installed it falls
back to the same scene files read as looping `file://` sources, paced at their frame rate.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from simulator.fleet import (
    SimCamera,
    fleet_config,
    fleet_mounts,
    plan_fleet,
    write_fleet_config,
)
from simulator.profiles import CITY_MIX, CLASSIC, PROFILES
from simulator.scenes import SCENES, ensure_scenes
from simulator.server import RtspSimulator, SimulatorUnavailable, find_gst_python

log = logging.getLogger(__name__)


@dataclass
class DemoCameras:
    """Running demo cameras: a hub config for them and the variables its URLs need."""

    config: dict[str, object]
    description: str
    env: dict[str, str] = field(default_factory=dict)


def demo_config_text(config: Mapping[str, object]) -> str:
    """The demo config as YAML."""
    return yaml.safe_dump(dict(config), sort_keys=False)


@contextmanager
def start_demo_cameras(
    data_dir: Path, count: int, profile: str = CITY_MIX
) -> Iterator[DemoCameras]:
    """Simulated cameras over RTSP (with random credentials), or looping files as a fallback.

    Over RTSP they are the city mix: a main stream (mostly H.265 720p with B-frames and
    sound) and an H.264 sub-stream each, a few odd ones among them; each plays its scene of
    the library in turn, so every scene raises its alert as in the classic demo.
    """
    cameras = plan_fleet(count, list(SCENES), profile=profile)
    # Both halves are secrets the log filter masks wherever they appear; a random user name
    # never collides with other words of a log line (a user "demo" masked the data dir's path).
    credentials = (f"viewer-{secrets.token_hex(4)}", secrets.token_urlsafe(12))
    try:
        find_gst_python()
    except SimulatorUnavailable as exc:
        log.warning("demo: %s; playing the scene files directly instead", exc)
        yield _from_files(data_dir, plan_fleet(count, list(SCENES)))
        return
    log.info("demo: encoding or reusing the %s streams under %s (minutes, the first time)",
             profile, data_dir / "scenes")  # fmt: skip
    simulator = RtspSimulator(fleet_mounts(cameras, data_dir / "scenes"), credentials=credentials)
    simulator.start()
    try:
        env = {"RIVERWATCH_SIM_USER": credentials[0], "RIVERWATCH_SIM_PASSWORD": credentials[1]}
        kinds = ", ".join(f"{n} {k}" for k, n in Counter(c.profile for c in cameras).items())
        yield DemoCameras(
            fleet_config(cameras, simulator.port, with_auth=True),
            f"{count} simulated RTSP cameras ({kinds}) on rtsp://127.0.0.1:{simulator.port}",
            env,
        )
    finally:
        simulator.stop()


def _from_files(data_dir: Path, cameras: Sequence[SimCamera]) -> DemoCameras:
    """The classic scenes as looping `file://` sources (no RTSP server here)."""
    files = ensure_scenes(data_dir / "scenes", {c.scene for c in cameras})
    config = fleet_config(cameras, 0, with_auth=False)
    for entry, cam in zip(config["cameras"], cameras, strict=True):  # type: ignore[call-overload]
        entry["url"] = files[cam.scene].video.resolve().as_uri()
    return DemoCameras(config, f"{len(cameras)} cameras from looping files (no RTSP server)")


def serve_simulator(
    data_dir: Path,
    count: int,
    port: int,
    write_config: Path | None,
    out: Callable[[str], None],
    profile: str = CLASSIC,
) -> int:
    """Serve `count` cameras until SIGINT/SIGTERM; optionally write a hub config for them."""
    cameras = plan_fleet(count, profile=profile)
    if profile != CLASSIC:
        out(f"simulator: encoding or reusing the {profile} streams under {data_dir / 'scenes'}")
    mounts = fleet_mounts(cameras, data_dir / "scenes")
    user = os.environ.get("RIVERWATCH_SIM_USER")
    password = os.environ.get("RIVERWATCH_SIM_PASSWORD")
    credentials = (user, password) if user and password else None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with RtspSimulator(mounts, port=port, credentials=credentials) as sim:
        first, last = cameras[0].mount_path, cameras[-1].mount_path
        out(f"simulator: {count} cameras on rtsp://127.0.0.1:{sim.port}{first} ... {last}")
        if profile != CLASSIC:
            out("simulator: each camera also has a sub-stream at /sim-NNN/sub")
            for line in _profile_summary(cameras):
                out(line)
        if write_config is not None:
            write_fleet_config(
                write_config, fleet_config(cameras, sim.port, credentials is not None)
            )
            out(f"simulator: hub config written to {write_config}")
        while not stop.wait(1.0):
            if not sim.running:
                out("simulator: the RTSP server exited")
                return 1
    return 0


def _profile_summary(cameras: Sequence[SimCamera]) -> list[str]:
    """One line per profile in the fleet: how many cameras, and what their streams are."""
    counts = Counter(c.profile for c in cameras)
    lines = []
    for name, n in counts.most_common():
        p = PROFILES[name]
        mains = " then ".join(s.describe() for s in p.main)
        broken = "; constant RTP timestamps" if p.constant_timestamps else ""
        lines.append(f"  {n:4d} x {name:<13} main {mains}; sub {p.sub.describe()}{broken}")
    return lines
