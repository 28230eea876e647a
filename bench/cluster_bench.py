"""Cluster benchmark: how long a dead hub's cameras take to stream on the others.

    python bench/cluster_bench.py --cameras 30 --hubs 3 --kills 10

The simulator's classic fleet, one Redis (the embedded one, shared over its socket), one SQLite
ticket database shared by every hub, and `--hubs` `riverwatch run` processes with the cluster
on and the production lease (`RIVERWATCH_CLUSTER_LEASE_S`, default 10 s). Each round kills one
hub with SIGKILL, times until every camera it ran streams on another hub (read from the
survivors' own APIs every 0.25 s), then starts a fresh hub in its place and waits until the
fleet has settled again. Before the kills, the Redis traffic of the cluster (every hub's
heartbeats, lease renewals, health and everything else the hubs send, from Redis' own
`INFO stats`) is measured over a quiet window. Target (issue 13): failover p95 at most 20 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import redis as redis_sync

from alerts import EmbeddedRedis
from simulator.fleet import fleet_config, fleet_mounts, plan_fleet, write_fleet_config
from simulator.server import RtspSimulator, free_port

TARGET_S = 20.0
ADMIN = ("bench-admin", "bench-Pa55-word-1")


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Hub:
    """One `riverwatch run` child and its API."""

    def __init__(self, hub_id: str, config: Path, env: dict[str, str], root: Path) -> None:
        self.hub_id = hub_id
        self.port = free_port()
        env = {**env, "RIVERWATCH_HUB_ID": hub_id, "RIVERWATCH_DATA_DIR": str(root / hub_id)}
        command = [sys.executable, "-m", "hub.cli", "run", "--config", str(config),
                   "--port", str(self.port)]  # fmt: skip
        self._log = (root / f"{hub_id}.log").open("w")
        self.proc = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._headers: dict[str, str] = {}

    def streaming(self) -> set[str] | None:
        """The cameras streaming here, or None while the hub does not answer."""
        base = f"http://127.0.0.1:{self.port}"
        try:
            if not self._headers:
                login = {"username": ADMIN[0], "password": ADMIN[1]}
                reply = httpx.post(f"{base}/api/auth/login", json=login, timeout=5)
                reply.raise_for_status()
                self._headers = {"Authorization": f"Bearer {reply.json()['token']}"}
            cameras = httpx.get(f"{base}/api/cameras", headers=self._headers, timeout=5).json()
        except (httpx.TransportError, httpx.HTTPStatusError):
            return None
        return {
            str(c["id"])
            for c in cameras
            if c["state"] == "streaming" and c["hub_id"] == self.hub_id  # its own, not others'
        }

    def end(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self._log.close()


def placement(hubs: list[Hub]) -> dict[str, list[str]] | None:
    """camera -> the hubs it streams on, None while a hub does not answer."""
    found: dict[str, list[str]] = {}
    for hub in hubs:
        streaming = hub.streaming()
        if streaming is None:
            return None
        for camera in streaming:
            found.setdefault(camera, []).append(hub.hub_id)
    return found


def settle(hubs: list[Hub], cameras: list[str], limit_s: float) -> dict[str, str]:
    """Wait until every camera streams on exactly one hub; camera -> hub."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = placement(hubs)
        if found is not None and all(len(found.get(c, [])) == 1 for c in cameras):
            return {c: found[c][0] for c in cameras}
        time.sleep(0.25)
    raise SystemExit(f"the fleet did not settle within {limit_s:g} s")


def failover_s(hubs: list[Hub], victim: Hub, orphans: set[str], limit_s: float) -> float:
    """Kill `victim`; seconds until each of its cameras streams on one of `hubs`."""
    killed = time.monotonic()
    victim.end(signal.SIGKILL)
    while time.monotonic() - killed < limit_s:
        found = placement(hubs)
        if found is not None and all(len(found.get(c, [])) == 1 for c in orphans):
            return time.monotonic() - killed
        time.sleep(0.25)
    return float("inf")


def redis_traffic(url: str, seconds: float) -> tuple[float, float]:
    """Commands and bytes (in + out) a second that Redis served over `seconds`."""
    client = redis_sync.Redis.from_url(url)
    try:
        keys = ("total_commands_processed", "total_net_input_bytes", "total_net_output_bytes")
        first = client.info("stats")
        time.sleep(seconds)
        last = client.info("stats")
    finally:
        client.close()
    delta = {k: int(last[k]) - int(first[k]) for k in keys}
    return delta[keys[0]] / seconds, (delta[keys[1]] + delta[keys[2]]) / seconds


def hub_cpu_s(hubs: list[Hub]) -> float:
    """CPU seconds the hub processes have used (their children apart)."""
    times = (psutil.Process(hub.proc.pid).cpu_times() for hub in hubs)
    return sum(t.user + t.system for t in times)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(share * len(ranked)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=30)
    parser.add_argument("--hubs", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lease-s", type=float, default=10.0)
    parser.add_argument(
        "--data-dir", type=Path, default=Path.home() / ".cache" / "riverwatch-bench"
    )
    args = parser.parse_args()
    fleet = plan_fleet(args.cameras)
    cameras = [c.camera_id for c in fleet]
    out(f"{args.cameras} cameras, {args.hubs} hubs, lease {args.lease_s:g} s; "
        f"encoding or reusing the scenes ...")  # fmt: skip
    mounts = fleet_mounts(fleet, args.data_dir / "scenes")
    with (
        tempfile.TemporaryDirectory() as tmp,
        RtspSimulator(mounts) as sim,
        EmbeddedRedis(Path(tmp) / "redis") as redis,
    ):
        root = Path(tmp)
        config = root / "hub.yaml"
        write_fleet_config(config, fleet_config(fleet, sim.port, with_auth=False))
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "RIVERWATCH_TICKET_DB_URL": f"sqlite+aiosqlite:///{root / 'tickets.db'}",
            "RIVERWATCH_CLUSTER": "true",
            "RIVERWATCH_CLUSTER_LEASE_S": str(args.lease_s),
            "RIVERWATCH_ADMIN_USER": ADMIN[0],
            "RIVERWATCH_ADMIN_PASSWORD": ADMIN[1],
            "RIVERWATCH_LOG_LEVEL": "WARNING",
        }
        hubs = [Hub(f"hub-{k}", config, env, root) for k in range(args.hubs)]
        try:
            where = settle(hubs, cameras, limit_s=240)
            cpu0, started = hub_cpu_s(hubs), time.monotonic()
            commands, traffic = redis_traffic(redis.url, seconds=20.0)
            cores = (hub_cpu_s(hubs) - cpu0) / (time.monotonic() - started)
            each = len(cameras) / len(hubs)
            out(f"hubs' own CPU, settled: {cores:.2f} cores together, "
                f"{cores / len(hubs):.2f} a hub ({each:.0f} cameras each)")  # fmt: skip
            out(f"Redis, settled, all hubs together: {commands:.0f} commands/s, "
                f"{traffic / 1000:.1f} kB/s; per camera {commands / len(cameras):.2f} "
                f"commands/s, {traffic / len(cameras):.0f} B/s (alerts, tickets and "
                f"notifications included)")  # fmt: skip
            out("| kill | hub | its cameras | failover s (target <= 20) |")
            out("|---|---|---|---|")
            times = []
            for k in range(args.kills):
                victim = hubs.pop(0)
                orphans = {c for c, h in where.items() if h == victim.hub_id}
                seconds = failover_s(hubs, victim, orphans, limit_s=120)
                times.append(seconds)
                out(f"| {k + 1} | {victim.hub_id} | {len(orphans)} | {seconds:.1f} |")
                hubs.append(Hub(f"hub-{args.hubs + k}", config, env, root))
                time.sleep(3 * args.lease_s)  # the newcomer takes its share
                where = settle(hubs, cameras, limit_s=240)
        finally:
            for hub in hubs:
                hub.end(signal.SIGTERM)
    if not times:
        return 0
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    out(f"target: failover p95 <= {TARGET_S:g} s: p50 {p50:.1f} s, p95 {p95:.1f} s, worst "
        f"{max(times):.1f} s over {len(times)} kills {p95 <= TARGET_S}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
