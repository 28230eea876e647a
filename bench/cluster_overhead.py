"""Coordination overhead of a cluster hub: its ownership loop and health board alone.

    python bench/cluster_overhead.py --cameras 150 --hubs 3 --seconds 60

`--hubs` ownership loops (`hub.cluster.ownership`) and health boards (`hub.cluster.health`),
each with its own Redis connection as a hub has, share `--cameras` cameras on the embedded
Redis with the production lease (10 s: a round every 2 s). Starting a camera is free here, so
what is measured is only what the cluster adds to a hub: heartbeats, lease renewals, the
assignment, publishing its cameras' health and reading everyone's. Printed: this process's
CPU per hub (target: under 2 % of a core per hub, issue 13) and Redis' own CPU and traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import psutil
import redis as redis_sync
from redis.asyncio import Redis

from alerts import EmbeddedRedis
from hub.cluster.health import ClusterHealth
from hub.cluster.leases import Leases, LeaseTiming
from hub.cluster.ownership import Ownership
from riverwatch.types import CameraHealth, CameraState, DecodeMode

TARGET_SHARE = 0.02


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def health(camera_id: str) -> CameraHealth:
    """A streaming camera's figures, as a hub would publish them."""
    return CameraHealth(
        camera_id, CameraState.STREAMING, 120.0, DecodeMode.KEYFRAMES, 15.0, 0.5, 600, 512.0,
        0.4, 0, 0, 0, 0, 640, 360, "h264", None, "first packet", 0, 2.0,
    )  # fmt: skip


async def one_hub(url: str, hub_id: str, cameras: list[str], timing: LeaseTiming) -> None:
    """A hub's coordination: its ownership loop and its health board, until cancelled."""
    redis = Redis.from_url(url, socket_timeout=2.0)
    running: set[str] = set()

    async def stop(camera: str) -> None:
        running.discard(camera)

    owner = Ownership(Leases(redis, hub_id, timing), cameras, running.add, stop)
    board = ClusterHealth(redis, hub_id, ttl_s=timing.heartbeat_s)

    async def share() -> None:
        while True:
            await asyncio.sleep(timing.renew_s)
            await board.publish([health(c) for c in owner.held()])
            await board.read(cameras)

    try:
        await asyncio.gather(owner.run(), share())
    finally:
        await redis.aclose()


async def measure(url: str, args: argparse.Namespace) -> None:
    cameras = [f"cam-{k:03d}" for k in range(args.cameras)]
    lease = args.lease_s
    timing = LeaseTiming(lease, 0.6 * lease, renew_s=0.2 * lease, fence_s=0.5 * lease)
    hubs = [
        asyncio.create_task(one_hub(url, f"hub-{k}", cameras, timing)) for k in range(args.hubs)
    ]
    await asyncio.sleep(3 * lease)  # every camera taken, the rounds steady
    me = psutil.Process()
    client = redis_sync.Redis.from_url(url)
    server = psutil.Process(int(client.info("server")["process_id"]))
    stats0, cpu0, server0 = client.info("stats"), me.cpu_times(), server.cpu_times()
    started = time.monotonic()
    await asyncio.sleep(args.seconds)
    wall = time.monotonic() - started
    stats1, cpu1, server1 = client.info("stats"), me.cpu_times(), server.cpu_times()
    client.close()
    for task in hubs:
        task.cancel()
    await asyncio.gather(*hubs, return_exceptions=True)
    cores = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
    redis_cores = (server1.user + server1.system - server0.user - server0.system) / wall
    commands = (stats1["total_commands_processed"] - stats0["total_commands_processed"]) / wall
    net = sum(stats1[k] - stats0[k] for k in ("total_net_input_bytes", "total_net_output_bytes"))
    per_hub = cores / args.hubs
    out(f"{args.hubs} hubs, {args.cameras} cameras, lease {lease:g} s, {wall:.0f} s window")
    out(f"coordination CPU per hub: {per_hub * 100:.2f} % of a core "
        f"(target < {TARGET_SHARE * 100:g} %) {per_hub < TARGET_SHARE}")  # fmt: skip
    out(f"Redis: {redis_cores * 100:.2f} % of a core; {commands:.0f} commands/s, "
        f"{net / wall / 1000:.1f} kB/s; per camera {commands / args.cameras:.2f} commands/s, "
        f"{net / wall / args.cameras:.0f} B/s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=150)
    parser.add_argument("--hubs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lease-s", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server:
        asyncio.run(measure(server.url, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
