"""Three real `riverwatch run` processes share 30 simulated cameras on one Redis and one
PostgreSQL: each camera streams on exactly one hub; `kill -9` of one moves its cameras to the
others; a fourth hub takes about a quarter and the others keep the rest. Half the cameras watch
a boat crossing a no-fishing zone, again and again: every incident any hub raised, before,
across and after the kill and the join, has exactly one ticket, and no incident is doubled.

Everything is real: the GStreamer RTSP simulator, redis-server, PostgreSQL and the hubs as
child processes, read through their own HTTP APIs. Waits are for states, with wide bounds; how
fast the cameras move is a benchmark figure (the lease is shortened here to keep the test
short), not an assertion.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from riverwatch.types import Alert, AlertPhase
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator, free_port
from tests.browser_fixtures import launch_chromium, screenshot_dir
from tests.conftest import eventually
from tests.db_fixtures import PostgresCluster
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    RedisProcess,
    redis_proc_fixture,
)
from tests.test_live import Viewer

CAMERAS = [f"cam-{k:02d}" for k in range(30)]
BAN = "{id: ban, kind: no_fishing, severity: high, polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}"
ADMIN = ("cluster-admin", "cluster-Pa55-word-1")
LEASE_S = 4.0


@pytest.fixture
def fleet(scenes: dict[str, SceneFiles]) -> Iterator[RtspSimulator]:
    """30 cameras on one RTSP server, playing the two test scenes."""
    files = [scenes["river_calm"].video, scenes["river_boat_crossing"].video]
    mounts = [Mount(f"/{cam}", files[k % 2]) for k, cam in enumerate(CAMERAS)]
    with RtspSimulator(mounts) as sim:
        yield sim


def cluster_env(redis_url: str, database_url: str) -> dict[str, str]:
    """The environment of a cluster's hub processes: shared Redis and PostgreSQL, a short
    lease, a small analysis size, the first admin."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "RIVERWATCH_TICKET_DB_URL": database_url,
        "RIVERWATCH_CLUSTER": "true",
        "RIVERWATCH_CLUSTER_LEASE_S": str(LEASE_S),
        "RIVERWATCH_ANALYSIS_WIDTH": "160",
        "RIVERWATCH_ANALYSIS_HEIGHT": "96",
        "RIVERWATCH_ADMIN_USER": ADMIN[0],
        "RIVERWATCH_ADMIN_PASSWORD": ADMIN[1],
    }


class HubProcess:
    """One `riverwatch run` child with the cluster on, and its API."""

    def __init__(self, hub_id: str, config: Path, env: dict[str, str], tmp: Path) -> None:
        self.hub_id = hub_id
        self.port = free_port()
        self._log = (tmp / f"{hub_id}.log").open("w")
        env = {**env, "RIVERWATCH_HUB_ID": hub_id, "RIVERWATCH_DATA_DIR": str(tmp / hub_id)}
        command = [sys.executable, "-m", "hub.cli", "run", "--config", str(config),
                   "--port", str(self.port)]  # fmt: skip
        self.proc = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._headers: dict[str, str] = {}

    def cameras(self) -> list[dict[str, Any]] | None:
        """Its `/api/cameras`, or None while the hub does not answer."""
        base = f"http://127.0.0.1:{self.port}"
        try:
            if not self._headers:
                login = {"username": ADMIN[0], "password": ADMIN[1]}
                reply = httpx.post(f"{base}/api/auth/login", json=login, timeout=5)
                reply.raise_for_status()
                self._headers = {"Authorization": f"Bearer {reply.json()['token']}"}
            reply = httpx.get(f"{base}/api/cameras", headers=self._headers, timeout=5)
            reply.raise_for_status()
        except (httpx.TransportError, httpx.HTTPStatusError):
            return None
        cameras: list[dict[str, Any]] = reply.json()
        return cameras

    def running(self) -> set[str] | None:
        """The cameras streaming on this hub itself (its API shows every hub's)."""
        cameras = self.cameras()
        if cameras is None:
            return None
        return {
            str(c["id"])
            for c in cameras
            if c["state"] == "streaming" and c["hub_id"] == self.hub_id
        }

    def token(self) -> str:
        """Its sign-in token (after `cameras` has signed in)."""
        return self._headers["Authorization"].removeprefix("Bearer ")

    def cluster(self) -> dict[str, Any]:
        """Its `/api/cluster` (after `cameras` has signed in)."""
        base = f"http://127.0.0.1:{self.port}"
        reply = httpx.get(f"{base}/api/cluster", headers=self._headers, timeout=10)
        reply.raise_for_status()
        answer: dict[str, Any] = reply.json()
        return answer

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


def where(hubs: list[HubProcess]) -> dict[str, list[str]] | None:
    """camera -> the hubs it streams on; None while a hub does not answer."""
    placed: dict[str, list[str]] = {c: [] for c in CAMERAS}
    for hub in hubs:
        running = hub.running()
        if running is None:
            return None
        for camera in running:
            placed[camera].append(hub.hub_id)
    return placed


def wait_until_each_streams_once(hubs: list[HubProcess], limit_s: float) -> dict[str, str]:
    """Wait until every camera streams on exactly one of `hubs`; camera -> hub."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for hub in hubs:
            assert hub.proc.poll() is None, f"{hub.hub_id} exited"
        placed = where(hubs)
        if placed is not None and all(len(h) == 1 for h in placed.values()):
            return {c: h[0] for c, h in placed.items()}
        time.sleep(0.5)
    raise AssertionError(f"cameras not each on one hub within {limit_s:g} s: {where(hubs)}")


async def watch(hub: HubProcess, camera: str) -> int:
    """Play `camera` live through `hub` as the wall does (a WebRTC offer; the hub passes it
    to the hub that runs the camera) until 10 frames are decoded; also fetch its snapshot.
    The frames decoded."""
    headers = {"Authorization": f"Bearer {hub.token()}"}
    base = f"http://127.0.0.1:{hub.port}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        shot = await http.get(f"/api/live/{camera}/snapshot.jpg")
        assert shot.status_code == 200 and shot.content[:2] == b"\xff\xd8", shot.text[:200]
        viewer = Viewer()
        try:
            answer = await viewer.connect(http, camera)
            assert answer.status_code == 200, answer.text
            await eventually(lambda: len(viewer.sizes) >= 10, timeout_s=60, what="10 frames")
            return len(viewer.sizes)
        finally:
            await viewer.close()


def wall_badge(hub: HubProcess) -> str:
    """The wall of `hub` in Debian's Chromium: the cluster badge's text once it shows."""
    with launch_chromium() as browser:
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        base = f"http://127.0.0.1:{hub.port}"
        page.goto(f"{base}/login")
        page.fill("#username", ADMIN[0])
        page.fill("#password", ADMIN[1])
        page.click("#submit")
        page.wait_for_url(lambda url: "/login" not in url, timeout=30_000)  # signed in
        page.goto(f"{base}/wall")
        page.wait_for_selector("#cluster:not([hidden])", timeout=30_000)
        page.screenshot(path=str(screenshot_dir() / "wall-hub-gone.png"))
        text = page.inner_text("#cluster")
        context.close()
    return text


def wait_for_wall(hub: HubProcess, want: dict[str, tuple[str, str]], limit_s: float) -> None:
    """Wait until `hub`'s camera list shows (state, hub id) for every camera as `want`."""
    deadline = time.monotonic() + limit_s
    seen: dict[str, tuple[str, str]] = {}
    while time.monotonic() < deadline:
        wall = hub.cameras()
        seen = {c["id"]: (c["state"], c["hub_id"]) for c in wall or []}
        if seen == want:
            return
        time.sleep(0.5)
    raise AssertionError(f"{hub.hub_id}'s wall: {seen}")


def wait_for_join(hubs: list[HubProcess], hub_id: str, limit_s: float) -> dict[str, str]:
    """Wait until the new hub streams some cameras and its join's hand-overs are done."""
    deadline = time.monotonic() + limit_s
    while hub_id not in wait_until_each_streams_once(hubs, limit_s).values():
        assert time.monotonic() < deadline, f"{hub_id} took no camera"
        time.sleep(1)
    time.sleep(3 * LEASE_S)  # the rest of this join's hand-overs
    return wait_until_each_streams_once(hubs, limit_s)


def wait_for_opening(redis_url: str, wanted: Callable[[Alert], bool], what: str) -> None:
    """Wait until the alert stream holds an incident's opening that `wanted` picks."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            for _, fields in client.xrange("riverwatch:alerts"):
                alert = Alert.from_fields(fields)
                if alert.phase is AlertPhase.OPEN and wanted(alert):
                    return
            time.sleep(1)
    finally:
        client.close()
    raise AssertionError(f"no {what} within 180 s")


def incidents_and_tickets(
    hub: HubProcess, redis_url: str
) -> tuple[dict[str, list[Alert]], dict[str, dict[str, Any]]]:
    """Every incident the hubs raised (the opening messages in the alert stream, by alert id)
    and the tickets, once every opening has been handled."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    base = f"http://127.0.0.1:{hub.port}"
    headers = {"Authorization": f"Bearer {hub.token()}"}
    raised: dict[str, list[Alert]] = {}
    tickets: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        raised = {}
        for _, fields in client.xrange("riverwatch:alerts"):
            alert = Alert.from_fields(fields)
            if alert.phase is AlertPhase.OPEN and alert.source == "camera":
                raised.setdefault(alert.alert_id, []).append(alert)
        answer = httpx.get(f"{base}/api/tickets?limit=1000", headers=headers, timeout=10)
        answer.raise_for_status()
        rows = [t for t in answer.json() if t["source"] == "camera"]
        assert len(rows) == len({t["alert_id"] for t in rows}), "an incident with two tickets"
        tickets = {t["alert_id"]: t for t in rows}
        if raised and raised.keys() <= tickets.keys():
            break
        time.sleep(1)
    client.close()
    return raised, tickets


def one_ticket_each(
    raised: dict[str, list[Alert]],
    tickets: dict[str, dict[str, Any]],
    orphans: set[str],
    killed_at: float,
    victim: str,
) -> None:
    """Every incident raised has its one ticket, none is doubled, and the killed hub's cameras
    raised incidents before the kill and on their new hubs after it."""
    assert raised.keys() == tickets.keys(), "every incident one ticket, and no ticket without one"
    spans: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for t in tickets.values():
        end = t["ended_at"] or t["observed_at"]
        spans.setdefault((t["camera_id"], t["zone_id"], t["rule"]), []).append(
            (t["started_at"], end)
        )
    for key, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, f"{key}: two tickets for one incident ({end} > {start})"
    orphan_raised = [a for alerts in raised.values() for a in alerts if a.camera_id in orphans]
    assert any(a.hub_id == victim and a.started_at < killed_at for a in orphan_raised)
    assert any(a.hub_id != victim and a.started_at > killed_at for a in orphan_raised)


@pytest.mark.timeout(480)
def test_three_hubs_share_thirty_cameras_and_survive_a_kill(
    fleet: RtspSimulator,
    redis_proc: RedisProcess,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
) -> None:
    database = asyncio.run(postgres_cluster.create_database())
    config = tmp_path / "hub.yaml"
    cameras = "\n".join(
        f"  - {{id: {cam}, name: {cam}, group: river, url: 'rtsp://127.0.0.1:{fleet.port}/{cam}'"
        + (f", zones: [{BAN}]}}" if k % 2 else "}")
        for k, cam in enumerate(CAMERAS)
    )
    config.write_text(f"cameras:\n{cameras}\n")
    env = {
        **cluster_env(redis_proc.url, postgres_cluster.url(database)),
        "RIVERWATCH_LOG_LEVEL": "INFO",
        "RIVERWATCH_LEARN_S": "5",  # a camera that moved alerts again soon
        "RIVERWATCH_ALERT_COOLDOWN_S": "3",  # each crossing of the looping scene: an incident
    }
    hubs: list[HubProcess] = []
    try:
        for hub_id in ("hub-a", "hub-b", "hub-c"):
            hubs.append(HubProcess(hub_id, config, env, tmp_path))
        before = wait_until_each_streams_once(hubs, limit_s=180)
        assert {before[c] for c in CAMERAS} == {"hub-a", "hub-b", "hub-c"}
        # Any hub shows every camera as the hub running it sees it (published each round).
        wait_for_wall(hubs[0], {c: ("streaming", h) for c, h in before.items()}, limit_s=30)
        view = hubs[0].cluster()  # and the cluster
        assert sorted(h["hub_id"] for h in view["hubs"]) == ["hub-a", "hub-b", "hub-c"]
        assert {c: o["hub_id"] for c, o in view["cameras"].items()} == before

        of_b = next(c for c in CAMERAS if before[c] == "hub-b")
        assert asyncio.run(watch(hubs[0], of_b)) >= 10  # on hub-a's wall, run by hub-b

        wait_for_opening(redis_proc.url, lambda a: a.hub_id == "hub-b", "hub-b's first incident")
        victim = hubs.pop(1)
        killed_at = time.time()
        victim.kill()
        orphans = {c for c in CAMERAS if before[c] == victim.hub_id}
        after = wait_until_each_streams_once(hubs, limit_s=120)
        assert orphans and all(after[c] in ("hub-a", "hub-c") for c in orphans)
        assert all(after[c] == before[c] for c in CAMERAS if c not in orphans)
        wait_for_wall(hubs[1], {c: ("streaming", h) for c, h in after.items()}, limit_s=30)
        assert asyncio.run(watch(hubs[0], of_b)) >= 10  # the same tile after the camera moved
        view = hubs[1].cluster()
        assert sorted(h["hub_id"] for h in view["hubs"]) == ["hub-a", "hub-c"]  # b is gone
        assert [g["hub_id"] for g in view["gone"]] == ["hub-b"]  # and the wall says so
        assert "hub-b gone" in wall_badge(hubs[0])
        assert view["unowned"] == 0 and all(view["cameras"][c]["epoch"] >= 2 for c in orphans), (
            "taken again: a new fencing epoch"
        )

        hubs.append(HubProcess("hub-d", config, env, tmp_path))
        joined = wait_for_join(hubs, "hub-d", limit_s=120)
        moved = [c for c in CAMERAS if joined[c] != after[c]]
        assert moved and all(joined[c] == "hub-d" for c in moved), "only to the new hub"
        assert 3 <= len(moved) <= 16  # about a third of 30 with three live hubs
        wait_for_opening(
            redis_proc.url,
            lambda a: a.camera_id in orphans and a.started_at > killed_at,
            "an incident of a moved camera on its new hub",
        )
        raised, tickets = incidents_and_tickets(hubs[0], redis_proc.url)
    finally:
        for hub in hubs:
            hub.stop()
        asyncio.run(postgres_cluster.drop_database(database))
    one_ticket_each(raised, tickets, orphans, killed_at, victim.hub_id)
    # Every hub that was stopped cleanly said so; none died of the others.
    logs = {p.stem: p.read_text() for p in tmp_path.glob("hub-*.log")}
    assert "hub: stopped" in logs["hub-a"] and "hub: stopped" in logs["hub-d"]
