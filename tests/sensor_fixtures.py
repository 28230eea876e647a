"""Helpers for the sensor tests: a real Mosquitto broker, a settable clock, a publisher."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.schema import upgrade
from ingest.sensors import SensorsConfig
from riverwatch.types import Alert
from simulator.server import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
PREFIX = "rw-test/sensors"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: tests run on their own clock


class Mosquitto:
    """A real Mosquitto broker on a fixed local port; can be stopped and started again."""

    def __init__(
        self, workdir: Path, port: int | None = None, users: dict[str, str] | None = None
    ) -> None:
        self.port = port or free_port()
        self._dir = workdir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        conf = [f"listener {self.port} 127.0.0.1", "persistence false"]
        conf += self._auth(users) if users else ["allow_anonymous true"]
        if os.geteuid() == 0:
            conf.append("user root")  # otherwise it drops to a `mosquitto` user that may not exist
        self._conf = self._dir / "mosquitto.conf"
        self._conf.write_text("\n".join(conf) + "\n")

    def _auth(self, users: dict[str, str]) -> list[str]:
        passwords = self._dir / "passwords"
        for user, password in users.items():
            create = [] if passwords.exists() else ["-c"]
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwords), user, password],
                check=True,
                capture_output=True,
                timeout=30,
            )
        passwords.chmod(0o600)
        return ["allow_anonymous false", f"password_file {passwords}"]

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        log = (self._dir / "mosquitto.log").open("ab")
        with log:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self._conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self._dir / 'mosquitto.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s) and reap it."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Clock:
    """A clock the test moves by hand (time is an input of validation and retention)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class AlertSink:
    """Collects the alerts a hub publishes (the real callback seam, no mock)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def __call__(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)

    def phases(self) -> list[tuple[str, str, str]]:
        """(sensor, rule, phase) in publish order."""
        return [(a.sensor_id, a.rule, a.phase.value) for a in self.alerts]


def sensors_config(mqtt_port: int | None = None, **overrides: Any) -> SensorsConfig:
    """The sensors the tests use: a water level, two turbidity sensors, a noise meter."""
    raw: dict[str, Any] = {
        "sensors": [
            {
                "id": "lvl-1",
                "kind": "water_level",
                "range": [-5, 30],
                "thresholds": [{"id": "level_high", "above": 5.0, "hysteresis": 0.5}],
                "rates": [{"id": "level_jump", "window_s": 600, "rise": 1.0, "hysteresis": 0.2}],
            },
            {
                "id": "turb-down",
                "kind": "turbidity",
                "cameras": [{"camera_id": "cam-1", "position": "downstream"}],
            },
            {
                "id": "turb-up",
                "kind": "turbidity",
                "cameras": [{"camera_id": "cam-2", "position": "upstream"}],
            },
            {"id": "noise-1", "kind": "noise", "thresholds": [{"id": "loud", "above": 85}]},
        ],
        "max_future_skew_s": 30,
        "max_age_s": 7 * 86_400,
        "retention_s": 86_400,
    }
    if mqtt_port is not None:
        raw["mqtt"] = {
            "port": mqtt_port,
            "topic_prefix": PREFIX,
            "client_id": f"rw-test-{mqtt_port}",
            "max_payload_bytes": 1024,
            "backoff_base_s": 0.1,
            "backoff_max_s": 0.5,
            "connect_timeout_s": 3,
            "keepalive_s": 5,
        }
    raw.update(overrides)
    return SensorsConfig.model_validate(raw)


@asynccontextmanager
async def sqlite_engine(path: Path) -> AsyncIterator[AsyncEngine]:
    """An async SQLite engine on a file with the hub's schema, disposed at the end."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


async def publish(port: int, messages: Sequence[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish (topic suffix, payload) pairs under the test prefix, in order, then disconnect."""
    async with aiomqtt.Client("127.0.0.1", port, timeout=5) as client:
        for suffix, payload in messages:
            await client.publish(f"{PREFIX}/{suffix}", payload, qos=qos)


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(*args: str) -> None:
    # PostgreSQL refuses to run as root: every cluster command runs as the `postgres` user.
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}")


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A private PostgreSQL 15 cluster on a free port; yields its asyncpg URL."""
    root = Path(tempfile.mkdtemp(prefix="rw-sensors-pg-"))
    try:
        os.chmod(root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, sockets = root / "data", root / "sock"
        _as_postgres("mkdir", "-p", str(sockets))
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                     "--no-locale", "--no-sync")  # fmt: skip
        port = free_port()
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"),
                     "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        finally:
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
