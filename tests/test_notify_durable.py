"""Notifications that survive a crash: driven from their own consumer group on the alert stream.

The end-to-end test SIGKILLs the real `riverwatch run` process while webhook deliveries are
being retried against a failing receiver, restarts it, and checks that every delivery that
was due reached the receiver under its one delivery id, and that every incident is one ticket.
Alerts come from turbidity readings posted over HTTP (`POST /api/sensors/readings`): they take
the same path as a camera's (desk, spool, stream, consumers) and arrive at once, with no camera
to learn first; the one configured camera points at a closed port and never streams.

A second end-to-end test SIGKILLs the hub right after each HTTP answer to a reading that opens
or closes an excursion, and checks that every such alert reached the stream and the ticket
store exactly once: the answer comes only once the alert is in the spool on disk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from alerts.consumer import parse_entry
from alerts.notify import GROUP, IntakeOptions, Notifier, NotifyConfig, StreamIntake, verify
from alerts.notify.delivery import delivery_id_for, event_for
from ingest.sensors.rules import sensor_alert_id
from riverwatch.sql import SQLITE_FILE
from riverwatch.types import AlertPhase
from simulator.server import free_port
from tests.conftest import eventually
from tests.notify_fixtures import Receiver, Reply, closed_port
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    ROOT,
    RedisProcess,
    make_alert,
    redis_client_fixture,
    redis_proc_fixture,
)

STREAM = "riverwatch:alerts"
SECRET = "whsec-durable-0123456789abcdef"
ADMIN = {"username": "first-admin", "password": "first admin's long passphrase"}
RETRY = {
    "timeout_s": 2.0,
    "connect_timeout_s": 1.0,
    "max_attempts": 20,  # retried (in flight) for ~30 s: the kill comes long before
    "backoff_base_s": 0.2,
    "backoff_max_s": 2.0,
}
EXCURSIONS = 200  # per batch in the SIGKILL-after-answer test
FAST = IntakeOptions(block_ms=200, claim_idle_ms=500, claim_every_s=0.2, drain_budget_s=0.2)

HUB_CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - {{id: quay, name: Quay, group: jinsha, url: "rtsp://127.0.0.1:{camera_port}/none"}}
sensors:
  sensors:
    - id: turb-1
      kind: turbidity
      thresholds: [{{id: turbid, above: 100, hysteresis: 10, severity: high}}]
notify:
  webhooks:
    - name: ops
      url: "http://127.0.0.1:{hook_port}/hook"
      secret: "${{HOOK_SECRET}}"
      workers: 16  # each failing delivery holds a worker while it is retried
      retry: {retry}
"""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rx:
        yield rx


def _hook_config(url: str) -> NotifyConfig:
    hook = {"name": "ops", "url": f"{url}/hook", "secret": SECRET, "retry": RETRY, "workers": 16}
    return NotifyConfig.model_validate({"webhooks": [hook]})


async def _due_delivery_ids(client: Redis) -> dict[str, str]:
    """delivery id -> message id, for every message in the stream (the hook takes them all)."""
    entries: Any = await client.xrange(STREAM)
    due = {}
    for _entry_id, fields in entries:
        alert = parse_entry(fields)
        due[delivery_id_for("ops", event_for(alert), alert.message_id)] = alert.message_id
    return due


async def _group_pending(client: Redis) -> int:
    info: Any = await client.xpending(STREAM, GROUP)
    return int(info["pending"])


async def test_unsettled_entries_stay_pending_and_are_sent_again_after_a_restart(
    redis_client: Redis, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.default = Reply(503)
    cfg = _hook_config(receiver.url)
    alerts = [make_alert(i) for i in range(5)]
    async with Notifier(cfg, tmp_path) as notifier:
        intake = StreamIntake(redis_client, STREAM, GROUP, "notify-a", notifier, FAST)
        async with intake:
            for alert in alerts:
                await redis_client.xadd(STREAM, alert.to_fields())  # type: ignore[arg-type]

            def all_tried() -> bool:
                return len({r.headers["x-riverwatch-delivery"] for r in receiver.requests}) == 5

            await eventually(all_tried, 20, "every delivery tried")
            in_flight, acked_before = intake.in_flight, intake.acked
        pending_after_stop = await _group_pending(redis_client)
    async with Notifier(cfg, tmp_path) as idle:  # no intake: only looks at the dead letters
        letters_after_stop = await idle.dead_letters()
    failed_requests = len(receiver.requests)

    receiver.default = Reply(200)
    async with Notifier(cfg, tmp_path) as notifier:  # the next start, the same consumer name
        intake = StreamIntake(redis_client, STREAM, GROUP, "notify-a", notifier, FAST)
        async with intake:

            async def settled() -> bool:
                return intake.acked == 5 and await _group_pending(redis_client) == 0

            await eventually(settled, 20, "the pending entries delivered and acknowledged")
            recovered, delivered = intake.recovered, notifier.stats()["ops"].delivered
    due = await _due_delivery_ids(redis_client)
    accepted = receiver.requests[failed_requests:]
    assert (in_flight, acked_before, pending_after_stop) == (5, 0, 5)
    assert letters_after_stop == []  # left to the stream, not dead-lettered
    assert (recovered, delivered) == (5, 5)
    assert sorted(r.headers["x-riverwatch-delivery"] for r in accepted) == sorted(due)
    for request in accepted:
        verify(SECRET, request.headers, request.body)


async def test_entries_of_a_consumer_that_never_returns_are_claimed(
    redis_client: Redis, receiver: Receiver, tmp_path: Path
) -> None:
    cfg = _hook_config(receiver.url)
    await redis_client.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
    for i in range(3):
        await redis_client.xadd(STREAM, make_alert(i).to_fields())  # type: ignore[arg-type]
    # A hub on another host read them and died before delivering anything.
    await redis_client.xreadgroup(GROUP, "notify-gone", {STREAM: ">"}, count=10)
    async with Notifier(cfg, tmp_path) as notifier:
        intake = StreamIntake(redis_client, STREAM, GROUP, "notify-b", notifier, FAST)
        async with intake:

            async def settled() -> bool:
                return intake.acked == 3 and await _group_pending(redis_client) == 0

            await eventually(settled, 20, "the dead consumer's entries delivered")
            claimed, recovered = intake.claimed, intake.recovered
    due = await _due_delivery_ids(redis_client)
    assert (claimed, recovered) == (3, 0)
    assert sorted(r.headers["x-riverwatch-delivery"] for r in receiver.requests) == sorted(due)


# --- the real hub, SIGKILLed ----------------------------------------------------------------


class ReadingClock:
    """Reading times one second apart, from a minute ago: always newer than the last (the
    rules skip a reading that is not), never in the future, across both hub processes."""

    def __init__(self) -> None:
        self._ts = time.time() - 60

    def next(self) -> float:
        self._ts += 1.0
        return self._ts


class HubProcess:
    """`riverwatch run` as a child process, with its log in a file."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._args = ["-m", "hub.cli", "run", "--config", str(config), "--port", str(self.port)]
        self._env = env
        self._log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log.open("a") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self._args, cwd=ROOT, env=self._env, stdout=log, stderr=log
            )

    async def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)

    async def sign_in(self, client: httpx.AsyncClient) -> dict[str, str]:
        """Poll until the API answers a login (bounded); returns the admin's auth header."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.returncode is None, "the hub exited"
            try:
                answer = await client.post(f"{self.base}/api/auth/login", json=ADMIN)
                if answer.status_code == 200:
                    return {"Authorization": f"Bearer {answer.json()['token']}"}
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError("the hub did not answer a login within 120 s")

    async def post_readings(
        self, client: httpx.AsyncClient, auth: dict[str, str], readings: list[tuple[float, float]]
    ) -> None:
        """Turbidity readings, (ts, NTU), in one batch; asserts the hub answered 200."""
        body = [{"sensor_id": "turb-1", "value": v, "unit": "NTU", "ts": ts} for ts, v in readings]
        answer = await client.post(f"{self.base}/api/sensors/readings", json=body, headers=auth)
        assert answer.status_code == 200, answer.text

    async def post_excursions(
        self, client: httpx.AsyncClient, auth: dict[str, str], clock: ReadingClock, n: int
    ) -> None:
        """n turbidity excursions (150 NTU, then back to 50): each opens and closes an alert."""
        readings = [
            {"sensor_id": "turb-1", "value": v, "unit": "NTU", "ts": clock.next()}
            for v in [150.0, 50.0] * n
        ]
        answer = await client.post(f"{self.base}/api/sensors/readings", json=readings, headers=auth)
        assert answer.status_code == 200, answer.text


@pytest.mark.timeout(300)
async def test_hub_sigkilled_with_deliveries_in_flight_delivers_every_one_after_restart(
    redis_proc: RedisProcess, redis_client: Redis, receiver: Receiver, tmp_path: Path
) -> None:
    config = tmp_path / "hub.yaml"
    retry = "{" + ", ".join(f"{k}: {v}" for k, v in RETRY.items()) + "}"
    config.write_text(
        HUB_CONFIG.format(camera_port=closed_port(), hook_port=receiver.port, retry=retry)
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_proc.url,
        "HOOK_SECRET": SECRET,
        "RIVERWATCH_DATA_DIR": str(tmp_path / "data"),
        "RIVERWATCH_ADMIN_USER": ADMIN["username"],
        "RIVERWATCH_ADMIN_PASSWORD": ADMIN["password"],
    }
    log = tmp_path / "hub.log"
    receiver.default = Reply(503)  # every delivery fails and is retried: in flight at the kill
    clock = ReadingClock()
    async with httpx.AsyncClient(timeout=10) as client:
        first = HubProcess(config, env, log)
        await first.start()
        auth = await first.sign_in(client)
        await first.post_excursions(client, auth, clock, 6)

        async def all_tried() -> bool:
            due = await _due_delivery_ids(redis_client)
            tried = {r.headers["x-riverwatch-delivery"] for r in receiver.requests}
            return len(due) == 12 and tried == set(due)

        await eventually(all_tried, 60, "all 12 deliveries tried at least once")
        await first.post_excursions(client, auth, clock, 2)  # and a few more, killed mid-way
        killed = await first.signal(signal.SIGKILL)
        pending_at_kill = await _group_pending(redis_client)
        failed_requests = len(receiver.requests)
        receiver.default = Reply(200)

        second = HubProcess(config, env, log)
        await second.start()
        auth = await second.sign_in(client)
        await second.post_excursions(client, auth, clock, 1)  # the restarted hub goes on notifying

        async def all_settled() -> bool:
            due = await _due_delivery_ids(redis_client)
            accepted = {
                r.headers["x-riverwatch-delivery"] for r in receiver.requests[failed_requests:]
            }
            return set(due) <= accepted and await _group_pending(redis_client) == 0

        await eventually(all_settled, 90, "every due delivery accepted after the restart")
        tickets: list[dict[str, Any]] = []

        async def every_open_applied() -> bool:
            nonlocal tickets
            answer = await client.get(f"{second.base}/api/tickets?limit=1000", headers=auth)
            tickets = answer.json()
            return len(tickets) >= len(await _opened_alert_ids(redis_client))

        await eventually(every_open_applied, 60, "a ticket for every opened incident")
        stopped = await second.signal(signal.SIGTERM)
    due = await _due_delivery_ids(redis_client)
    opened = await _opened_alert_ids(redis_client)
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.requests:
        bodies[request.headers["x-riverwatch-delivery"]].add(request.body)
    hub_log = log.read_text()
    assert killed == -signal.SIGKILL and stopped in (0, -signal.SIGTERM), hub_log
    assert pending_at_kill >= 1  # deliveries really were in flight when the hub died
    # 6 excursions before the kill, 2 answered just before it, 1 after: the HTTP answer waits
    # for the spool's fsync, so the 2 are there too.
    assert len(due) == 18 and set(bodies) == set(due)  # nothing due missing, nothing else sent
    assert all(len(sent) == 1 for sent in bodies.values())  # a repeat is the same delivery
    for request in receiver.requests[failed_requests:]:
        verify(SECRET, request.headers, request.body)
    assert sorted(t["alert_id"] for t in tickets) == sorted(opened)  # one ticket per incident
    assert SECRET not in hub_log


async def _opened_alert_ids(client: Redis) -> list[str]:
    entries: Any = await client.xrange(STREAM)
    alerts = [parse_entry(fields) for _, fields in entries]
    return [a.alert_id for a in alerts if a.phase is AlertPhase.OPEN]


def _hub_env(redis_url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "HOOK_SECRET": SECRET,
        "RIVERWATCH_DATA_DIR": str(data_dir),
        "RIVERWATCH_ADMIN_USER": ADMIN["username"],
        "RIVERWATCH_ADMIN_PASSWORD": ADMIN["password"],
    }


@pytest.mark.timeout(300)
async def test_hub_sigkilled_right_after_answering_a_reading_keeps_its_alert_once(
    redis_proc: RedisProcess, redis_client: Redis, receiver: Receiver, tmp_path: Path
) -> None:
    config = tmp_path / "hub.yaml"
    retry = "{" + ", ".join(f"{k}: {v}" for k, v in RETRY.items()) + "}"
    config.write_text(
        HUB_CONFIG.format(camera_port=closed_port(), hook_port=receiver.port, retry=retry)
    )
    env, log = _hub_env(redis_proc.url, tmp_path / "data"), tmp_path / "hub.log"
    ts = iter(time.time() - 1800 + i for i in range(1000))  # past, within the warm horizon
    # Each batch ends inside an excursion; the restarted hub replays stored readings silently.
    # The first is killed the moment the hub answers. The second the moment its readings are
    # in the database, before any answer: the gateway sends it again to the restarted hub,
    # which must neither lose its alerts (stored readings are skipped) nor double them. Large
    # batches make the spool write long enough for a kill to land inside it.
    batches = [[(next(ts), v) for v in [150.0, 50.0] * EXCURSIONS + [150.0]] for _ in (1, 2)]
    batches.append([(next(ts), 50.0)])
    kills: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        hub = HubProcess(config, env, log)
        await hub.start()
        await hub.post_readings(client, await hub.sign_in(client), batches[0])
        kills.append(await hub.signal(signal.SIGKILL))

        hub = HubProcess(config, env, log)
        await hub.start()
        auth = await hub.sign_in(client)
        posting = asyncio.create_task(hub.post_readings(client, auth, batches[1]))
        await _until_stored(tmp_path / "data", batches[1][-1][0], posting)
        kills.append(await hub.signal(signal.SIGKILL))
        await asyncio.gather(posting, return_exceptions=True)  # answered or not: sent again

        for batch in batches[1:]:
            hub = HubProcess(config, env, log)
            await hub.start()
            await hub.post_readings(client, await hub.sign_in(client), batch)
            kills.append(await hub.signal(signal.SIGKILL))
        last = HubProcess(config, env, log)  # delivers what the killed ones spooled
        await last.start()
        auth = await last.sign_in(client)
        values = [reading for batch in batches for reading in batch]
        opened = [
            sensor_alert_id("turb-1", "turbid", ts)
            for (ts, v), (_, before) in zip(values, [(0.0, 50.0), *values], strict=False)
            if v > 100 and before < 100
        ]
        expected = [f"{alert_id}:{phase}:0" for alert_id in opened for phase in ("open", "close")]
        stream: list[str] = []
        tickets: list[dict[str, Any]] = []

        async def all_arrived() -> bool:
            nonlocal stream, tickets
            stream = [parse_entry(f).message_id for _, f in await redis_client.xrange(STREAM)]
            answer = await client.get(f"{last.base}/api/tickets?limit=1000", headers=auth)
            tickets = answer.json()
            return len(stream) >= len(expected) and len(tickets) >= len(opened)

        await eventually(all_arrived, 120, "every alert in the stream and the ticket store")
        stopped = await last.signal(signal.SIGTERM)
    hub_log = log.read_text()
    assert kills == [-signal.SIGKILL] * 4 and stopped in (0, -signal.SIGTERM), hub_log
    assert stream == expected, hub_log  # each once, in order
    assert sorted(t["alert_id"] for t in tickets) == sorted(opened)


async def _until_stored(data_dir: Path, ts: float, posting: asyncio.Task[None]) -> None:
    """Return the moment the hub's database holds the reading at `ts` (its batch's last)."""
    conn = sqlite3.connect(f"file:{data_dir / SQLITE_FILE}?mode=ro", uri=True, timeout=0)
    try:
        while not posting.done():
            try:
                row = conn.execute("SELECT 1 FROM sensor_readings WHERE ts = ?", (ts,)).fetchone()
            except sqlite3.OperationalError:  # the hub holds the write lock: look again
                row = None
            if row is not None:
                return
            await asyncio.sleep(0.001)
    finally:
        conn.close()
    await posting  # answered before we saw it: the answer's own assertion speaks
