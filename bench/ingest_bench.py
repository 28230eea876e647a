"""Ingest benchmark: N simulated RTSP cameras into one hub, keyframe-only, then 25 at full rate.

    python bench/ingest_bench.py --cameras 25 100 250 --seconds 60

For each N it starts the simulator (GStreamer RTSP server, 640x360, 15 fps, GOP 2 s), runs
`riverwatch run` on the matching config in a child process, waits until the cameras stream,
and measures over the window: the hub's CPU (its own process, not the embedded Redis), peak
RSS, analysed frames per second per camera (from each camera's frame counter), cameras
streaming and reconnects. Then it switches 25 cameras to full rate at 5 fps and measures again.
Targets (issue 2, 250 cameras, keyframe-only): <= 0.6 cores, <= 1.5 GB RSS, every camera
analysed at least once per GOP (>= 0.5 frames/s), all streaming.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from simulator.fleet import fleet_config, mounts_for, plan_fleet, write_fleet_config
from simulator.scenes import ensure_scenes
from simulator.server import RtspSimulator, free_port

GOP_S = 2
TARGET_CORES, TARGET_RSS_MB, TARGET_FPS = 0.6, 1500, 1.0 / GOP_S


@dataclass
class Window:
    """Figures measured over one window."""

    cores: float
    peak_rss_mb: float
    sim_cores: float
    fps_min: float
    fps_mean: float
    streaming: int
    reconnects: int
    lag_max_s: float = 0.0  # the event loop's worst lag in the window's last minute
    late: int = 0  # wake-ups of the event loop over 1 s late during the window


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


ADMIN = ("bench", secrets.token_urlsafe(18))
_HEADERS: dict[str, str] = {}


def hub_env(data_dir: Path) -> dict[str, str]:
    """The environment of a benchmarked `riverwatch run`: its data dir, quiet logs, the bench's
    admin, and attention off (busy cameras would be promoted on their own; a bench measures
    the modes as set)."""
    return {
        **os.environ,
        "RIVERWATCH_DATA_DIR": str(data_dir),
        "RIVERWATCH_LOG_LEVEL": "WARNING",
        "RIVERWATCH_FULL_RATE_BUDGET": "0",
        "RIVERWATCH_ADMIN_USER": ADMIN[0],
        "RIVERWATCH_ADMIN_PASSWORD": ADMIN[1],
    }


def log_in(api: str) -> None:
    """Sign in as the admin the bench gave the hub through its environment."""
    answer = httpx.post(
        f"{api}/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
    )
    answer.raise_for_status()
    _HEADERS["Authorization"] = f"Bearer {answer.json()['token']}"


def cameras(api: str, attempts: int = 5) -> list[dict[str, object]]:
    """Every camera; a 503 (the hub says a dependency is busy) is asked again, counted."""
    if not _HEADERS:
        log_in(api)
    for _ in range(attempts - 1):
        reply = httpx.get(f"{api}/api/cameras", headers=_HEADERS, timeout=30)
        if reply.status_code != 503:
            break
        BUSY[0] += 1
        time.sleep(1)
    else:
        reply = httpx.get(f"{api}/api/cameras", headers=_HEADERS, timeout=30)
    reply.raise_for_status()
    answer: list[dict[str, object]] = reply.json()
    return answer


BUSY = [0]  # 503 answers the bench asked again


def loop_figures(api: str) -> tuple[float, int]:
    """The hub's event-loop lag from /metrics: the worst in the last minute, and the count
    of wake-ups over 1 s late."""
    text = httpx.get(f"{api}/metrics", headers=_HEADERS, timeout=30).text
    found = {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name in ("riverwatch_event_loop_lag_max_seconds", "riverwatch_event_loop_late_total")
    }
    return found.get("riverwatch_event_loop_lag_max_seconds", float("nan")), int(
        found.get("riverwatch_event_loop_late_total", 0)
    )


def frames_by_camera(api: str) -> dict[str, int]:
    return {str(c["id"]): int(c["health"]["analysed_frames"]) for c in cameras(api)}  # type: ignore[index]


def wait_streaming(api: str, n: int, hub: subprocess.Popen[bytes], limit_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if hub.poll() is not None:
            raise SystemExit("the hub exited")
        try:
            if sum(c["state"] == "streaming" for c in cameras(api)) == n:
                return time.monotonic() - start
        except (httpx.TransportError, httpx.HTTPStatusError):
            pass
        time.sleep(1)
    return float("nan")


def measure(
    api: str,
    hub: psutil.Process,
    sim: psutil.Process,
    seconds: float,
    subset: list[str] | None = None,
) -> Window:
    frames0, t0 = frames_by_camera(api), time.monotonic()
    _, late0 = loop_figures(api)
    cpu0, sim0 = hub.cpu_times(), sim.cpu_times()
    peak = 0.0
    while time.monotonic() - t0 < seconds:
        peak = max(peak, hub.memory_info().rss / 2**20)
        time.sleep(1)
    cpu1, sim1, t1 = hub.cpu_times(), sim.cpu_times(), time.monotonic()
    frames1 = frames_by_camera(api)
    lag_max_s, late1 = loop_figures(api)
    wall = t1 - t0
    ids = subset or list(frames1)
    fps = [(frames1[i] - frames0[i]) / wall for i in ids]
    now = cameras(api)
    return Window(
        cores=(cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall,
        peak_rss_mb=peak,
        sim_cores=(sim1.user + sim1.system - sim0.user - sim0.system) / wall,
        fps_min=min(fps),
        fps_mean=sum(fps) / len(fps),
        streaming=sum(c["state"] == "streaming" for c in now),
        reconnects=sum(int(c["health"]["reconnects"]) for c in now),  # type: ignore[index]
        lag_max_s=lag_max_s,
        late=late1 - late0,
    )


def run_one(n: int, seconds: float, promote: int, data_dir: Path) -> tuple[Window, Window, float]:
    _HEADERS.clear()  # a new hub, a new admin token
    fleet = plan_fleet(n)
    files = ensure_scenes(data_dir / "scenes", {c.scene for c in fleet}, gop_seconds=GOP_S)
    with RtspSimulator(mounts_for(fleet, files)) as sim, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hub.yaml"
        write_fleet_config(config, fleet_config(fleet, sim.port, with_auth=False))
        port = free_port()
        env = hub_env(Path(tmp) / "data")
        hub = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.cli",
                "run",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            env=env,
        )
        api = f"http://127.0.0.1:{port}"
        try:
            ready_s = wait_streaming(api, n, hub, limit_s=120)
            proc = psutil.Process(hub.pid)
            sim_proc = psutil.Process(sim.pid)
            time.sleep(5)
            keyframes = measure(api, proc, sim_proc, seconds)
            promoted = [c.camera_id for c in fleet[:promote]]
            for cam in promoted:
                httpx.put(
                    f"{api}/api/cameras/{cam}/decode-mode",
                    json={"mode": "full"},
                    headers=_HEADERS,
                    timeout=30,
                )
            time.sleep(GOP_S + 3)
            full = measure(api, proc, sim_proc, seconds, subset=promoted)
        finally:
            hub.terminate()
            hub.wait(timeout=60)
    return keyframes, full, ready_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, nargs="+", default=[25, 100, 250])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--promote", type=int, default=25)
    parser.add_argument(
        "--data-dir", type=Path, default=Path.home() / ".cache" / "riverwatch-bench"
    )
    args = parser.parse_args()
    out(
        f"machine: {psutil.cpu_count()} cores; window {args.seconds:g} s; "
        f"640x360 15 fps GOP {GOP_S} s"
    )
    out(
        "| cameras | mode | hub cores | peak RSS MB | analysed fps/cam min (mean) | streaming "
        "| reconnects | simulator cores |"
    )
    out("|---|---|---|---|---|---|---|---|")
    for n in args.cameras:
        key, full, ready_s = run_one(n, args.seconds, min(args.promote, n), args.data_dir)
        out(
            f"| {n} | keyframes | {key.cores:.2f} | {key.peak_rss_mb:.0f} | {key.fps_min:.2f} "
            f"({key.fps_mean:.2f}) | {key.streaming}/{n} | {key.reconnects} | {key.sim_cores:.2f} |"
        )
        out(
            f"| {n} | keyframes + {min(args.promote, n)} full @5 fps | {full.cores:.2f} | "
            f"{full.peak_rss_mb:.0f} | {full.fps_min:.2f} ({full.fps_mean:.2f}) of promoted | "
            f"{full.streaming}/{n} | {full.reconnects} | {full.sim_cores:.2f} |"
        )
        if n == 250:
            ok = (
                key.cores <= TARGET_CORES,
                key.peak_rss_mb <= TARGET_RSS_MB,
                key.fps_min >= TARGET_FPS * 0.9,
                key.streaming == n,
            )
            out(
                f"targets at 250: cores {key.cores:.2f} <= {TARGET_CORES} {ok[0]}; RSS "
                f"{key.peak_rss_mb:.0f} <= {TARGET_RSS_MB} MB {ok[1]}; min fps {key.fps_min:.2f}"
                f" >= {TARGET_FPS} {ok[2]}; streaming {key.streaming}/250 {ok[3]}; "
                f"all streaming after {ready_s:.0f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
