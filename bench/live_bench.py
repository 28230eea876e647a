"""Live view benchmark: concurrent WebRTC viewers of one camera and of many cameras.

    python bench/live_bench.py --seconds 10 --scenarios 1x1 1x5 1x20 10x2

Starts the RTSP simulator (10 cameras, 640x360, 15 fps, GOP 2 s) and a hub in a child process
(the real `Hub` with `LiveService` and the live router, served by uvicorn), then for each
scenario CAMERASxVIEWERS connects that many aiortc clients (in this process) through the
offer endpoint, lets them decode for a warm-up, and measures over a window:

* hub CPU per viewer stream: the hub process's CPU time over the window (psutil, so other
  work on the machine does not count), minus the same with no viewers, divided by the viewer
  streams. Target: under 1 % of a core per viewer stream.
* hub-to-screen delay, per decoded frame: the moment the client's decoder hands the frame
  out (time.time() in this process) minus the moment the hub's ingest received that frame's
  packet from the camera (the ring's `received_at`, time.time() in the hub). Frames are tied
  to packets exactly: the relay reports each viewer's first keyframe (its pts on the wire and
  the camera's own pts), and the client's frame pts count from that keyframe.
* camera-to-hub delay, separately: a PyAV RTSP reader in this process, on a simulator mount
  of its own that plays the first camera's file through the same pipeline, takes each
  packet's send time from the server's RTCP sender reports (FFmpeg's `start_time_realtime`
  + pts: the server's wall clock when it sent the frame) and subtracts it from the arrival
  time. The hub's own RTSP client is the same FFmpeg demuxer on the same machine, so its leg
  is the same. (The simulator gives a second client of one mount no packets, hence the
  separate mount.)

Glass-to-glass on loopback = camera-to-hub + hub-to-screen (medians and 95th percentiles are
printed for each leg; the sum of the 95th percentiles bounds the total from above). The
client decodes in aiortc (PyAV); a browser adds its own jitter buffer and render delay on top.
Each leg holds about one frame interval (67 ms at 15 fps) that is not transport: aiortc's
jitter buffer closes a frame only when a packet with the next timestamp arrives (browsers
use the RTP marker bit), and on the RTSP side most likely FFmpeg's H.264 parser, which
closes an access unit when the next one starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import psutil
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from fastapi import FastAPI

from api.live import LiveLimits, LiveService
from api.routes import live as live_routes
from api.security.deps import current_user
from api.security.users import Role, User
from hub.runtime import Hub
from riverwatch.config import load_config
from riverwatch.settings import Settings
from simulator.fleet import fleet_config, mounts_for, plan_fleet, write_fleet_config
from simulator.scenes import ensure_scenes
from simulator.server import Mount, RtspSimulator, free_port

CAMERAS = 10
GOP_S = 2
TARGET_CPU_PCT = 1.0
TARGET_DELAY_S = 1.0


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --- the hub child --------------------------------------------------------------------------


def serve(config: Path, port: int) -> None:
    """The hub with live view and bench-only read endpoints (ring timings, viewer starts)."""
    import uvicorn

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with (
            Hub(Settings(), load_config(config)) as hub,
            LiveService(hub.ring, LiveLimits(max_viewers_per_camera=64)) as live,
        ):
            app.state.hub, app.state.live = hub, live
            yield {"live": live}

    app = FastAPI(lifespan=lifespan)
    app.include_router(live_routes.router)
    # Sign-in is not what this bench measures: every request runs as an admin.
    bench_user = User(0, "bench", Role.ADMIN, disabled=False, created_at=time.time())
    app.dependency_overrides[current_user] = lambda: bench_user

    @app.post("/bench/offer/{camera_id}")
    async def offer(camera_id: str, body: live_routes.OfferIn) -> dict[str, Any]:
        viewer = await app.state.live.answer(camera_id, body.sdp)
        return {"sdp": viewer.sdp, "type": "answer", "viewer_id": viewer.id}

    @app.get("/bench/viewers")
    async def viewers() -> dict[str, Any]:
        peers = app.state.live._peers.values()
        return {str(p.id): p.track.stats().first for p in peers}

    @app.get("/bench/ring/{camera_id}")
    async def ring(camera_id: str) -> list[tuple[int | None, float, int]]:
        ring = app.state.hub.ring(camera_id)
        return [(p.pts, p.received_at, len(p.data)) for p in ring.snapshot()]

    @app.get("/bench/ready")
    async def ready() -> bool:
        hub = app.state.hub
        return all(hub.ring(c.camera_id).newest_keyframe()[0] >= 0 for c in hub.cameras())

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- clients ---------------------------------------------------------------------------------


@dataclass
class Client:
    """One aiortc viewer: frames decoded, with their pts (90 kHz from the first) and times."""

    camera_id: str
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    frames: list[tuple[int, float]] = field(default_factory=list)
    viewer_id: int = 0
    task: asyncio.Task[None] | None = None

    async def connect(self, http: httpx.AsyncClient) -> None:
        self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            self.task = asyncio.create_task(self._consume(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        local = self.pc.localDescription
        reply = await http.post(
            f"/bench/offer/{self.camera_id}", json={"sdp": local.sdp, "type": "offer"}
        )
        reply.raise_for_status()
        answer = reply.json()
        self.viewer_id = answer["viewer_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames.append((int(frame.pts or 0), time.time()))

    async def close(self) -> None:
        await self.pc.close()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


# --- camera-to-hub leg -----------------------------------------------------------------------


class SenderClock(threading.Thread):
    """Arrival minus send time (RTCP sender reports) of each packet of one RTSP mount."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = url
        self.delays: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        options = {"rtsp_transport": "tcp", "timeout": "5000000"}
        with av.open(self._url, options=options) as container:
            stream = container.streams.video[0]
            time_base = stream.time_base or Fraction(1, 90_000)
            started = time.time()
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return
                now = time.time()
                origin = container.start_time_realtime
                if packet.pts is None or not origin or now - started < 3:
                    continue  # the first second is the demuxer's probe burst
                self.delays.append(now - (origin / 1e6 + float(packet.pts * time_base)))


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    streams: int
    cores: float
    frames_per_s: float
    delays: list[float]
    unmatched: int
    dropped: int


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def cpu_over(proc: psutil.Process, seconds: float) -> float:
    cpu0, t0 = proc.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = proc.cpu_times(), time.monotonic()
    return (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)


async def ring_times(http: httpx.AsyncClient, cameras: set[str]) -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {}
    for cam in cameras:
        rows = (await http.get(f"/bench/ring/{cam}")).json()
        found[cam] = {int(p): t for p, t, _ in rows if p is not None}
    return found


async def scenario(
    http: httpx.AsyncClient, proc: psutil.Process, cams: list[str], per_cam: int, seconds: float
) -> Result:
    clients = [Client(cam) for cam in cams for _ in range(per_cam)]
    for client in clients:
        await client.connect(http)
    for _ in range(300):  # at most 60 s for every client's first frame
        if all(c.frames for c in clients):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # warm-up: connection set-up is not the steady state
    marks = [len(c.frames) for c in clients]
    times: dict[str, dict[int, float]] = {}
    cores = 0.0
    slices = 3
    for _ in range(slices):  # the ring keeps 15 s: read its timings every few seconds
        cores += await cpu_over(proc, seconds / slices) / slices
        for cam, rows in (await ring_times(http, set(cams))).items():
            times.setdefault(cam, {}).update(rows)
    starts = (await http.get("/bench/viewers")).json()
    stats = (await http.get("/api/live/stats")).json()
    delays, unmatched, frames = [], 0, 0
    for client, mark in zip(clients, marks, strict=True):
        first = starts.get(str(client.viewer_id))
        window = client.frames[mark:]
        frames += len(window)
        for pts, decoded_at in window:
            received_at = times[client.camera_id].get(first[1] + pts) if first else None
            if received_at is None:
                unmatched += 1
            else:
                delays.append(decoded_at - received_at)
    dropped = sum(t["dropped_packets"] for c in stats["cameras"].values() for t in c["tracks"])
    for client in clients:
        await client.close()
    for _ in range(150):  # the hub closes its side within its close budget
        if not (await http.get("/api/live/stats")).json()["total_viewers"]:
            break
        await asyncio.sleep(0.2)
    name = f"{len(cams)} camera{'s' if len(cams) > 1 else ''} x {per_cam}"
    return Result(name, len(clients), cores, frames / seconds, delays, unmatched, dropped)


async def run(api: str, hub_pid: int, sim_url: str, args: argparse.Namespace) -> None:
    proc = psutil.Process(hub_pid)
    sender = SenderClock(sim_url)
    sender.start()
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        for i in range(240):  # the hub starts and every camera sends a keyframe
            try:
                reply = await http.get("/bench/ready")
                if reply.status_code == 200 and reply.json():
                    break
            except httpx.TransportError as exc:
                if i % 20 == 19:
                    out(f"waiting for the hub: {type(exc).__name__}")
            await asyncio.sleep(0.5)
        else:
            raise SystemExit("the hub did not get a keyframe from every camera in 120 s")
        await asyncio.sleep(3)
        baseline = await cpu_over(proc, args.seconds)
        rows = (await http.get("/bench/ring/sim-001")).json()
        span = rows[-1][1] - rows[0][1]
        out(f"camera sim-001 bitrate: {sum(r[2] for r in rows) * 8 / span / 1000:.0f} kbps")
        results = []
        for spec in args.scenarios:
            n_cams, per_cam = (int(x) for x in spec.split("x"))
            cams = [f"sim-{i + 1:03d}" for i in range(n_cams)]
            results.append(await scenario(http, proc, cams, per_cam, args.seconds))
    sender.stop.set()
    report(baseline, results, sender.delays, args.seconds)


def report(baseline: float, results: list[Result], sim_leg: list[float], seconds: float) -> None:
    out(
        f"machine: {psutil.cpu_count()} cores; {CAMERAS} cameras 640x360 15 fps GOP {GOP_S} s; "
        f"window {seconds:g} s"
    )
    out(f"hub CPU with no viewers (ingest + detection): {baseline * 100:.1f} % of a core")
    out(
        "| viewers | streams | hub CPU over baseline | per viewer stream (target < "
        f"{TARGET_CPU_PCT:g} %) | frames/s decoded (all clients) | hub->decoded p50 / p95 "
        f"/ max ms | unmatched | dropped packets |"
    )
    out("|---|---|---|---|---|---|---|---|")
    for r in results:
        extra = (r.cores - baseline) * 100
        out(
            f"| {r.scenario} | {r.streams} | {extra:.1f} % | {extra / r.streams:.2f} % | "
            f"{r.frames_per_s:.0f} | {pct(r.delays, 0.5) * 1000:.0f} / "
            f"{pct(r.delays, 0.95) * 1000:.0f} / {max(r.delays, default=float('nan')) * 1000:.0f}"
            f" | {r.unmatched} | {r.dropped} |"
        )
    hub_leg = [d for r in results for d in r.delays]
    out(
        f"camera->hub (RTSP, RTCP sender reports): p50 {pct(sim_leg, 0.5) * 1000:.1f} ms, "
        f"p95 {pct(sim_leg, 0.95) * 1000:.1f} ms over {len(sim_leg)} packets"
    )
    total_p50 = pct(sim_leg, 0.5) + pct(hub_leg, 0.5)
    total_p95 = pct(sim_leg, 0.95) + pct(hub_leg, 0.95)
    out(
        f"glass-to-glass (camera->hub + hub->decoded), all scenarios: p50 {total_p50 * 1000:.0f}"
        f" ms, p95 bound {total_p95 * 1000:.0f} ms (target < {TARGET_DELAY_S * 1000:.0f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--scenarios", nargs="+", default=["1x1", "1x5", "1x20", "10x2"])
    parser.add_argument(
        "--data-dir", type=Path, default=Path.home() / ".cache" / "riverwatch-bench"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    fleet = plan_fleet(CAMERAS, ["river_calm", "river_boat_crossing"])
    files = ensure_scenes(args.data_dir / "scenes", {c.scene for c in fleet}, gop_seconds=GOP_S)
    # The camera-to-hub leg is timed on a mount of its own (see the module docstring).
    clock = Mount("/clock", files[fleet[0].scene].video)
    mounts = [*mounts_for(fleet, files), clock]
    with RtspSimulator(mounts) as sim, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hub.yaml"
        write_fleet_config(config, fleet_config(fleet, sim.port, with_auth=False))
        port = free_port()
        env = {
            **os.environ,
            "RIVERWATCH_DATA_DIR": str(Path(tmp) / "data"),
            "RIVERWATCH_LOG_LEVEL": "WARNING",
            "RIVERWATCH_FULL_RATE_BUDGET": "0",  # keyframe-only analysis: a steady baseline
        }
        command = [sys.executable, __file__, "--serve", str(config), "--port", str(port)]
        hub = subprocess.Popen(command, env=env)
        try:
            asyncio.run(run(f"http://127.0.0.1:{port}", hub.pid, sim.url(clock.path), args))
        finally:
            hub.terminate()
            hub.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
