"""Cameras shared across hubs: the assignment (pure), then hubs' ownership loops on a real Redis.

The hubs here are `Ownership` loops in one process, each with its own Redis connection, whose
`start`/`stop` record which cameras run where (a hub process's ingest is not needed to test
who runs what). A crash is a cancelled loop that hands nothing over, as `kill -9` would leave
it; a lost Redis is the real server killed. Short lease timings keep the test quick; every
wait is for a state, with generous bounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from alerts import AlertPolicy
from hub.cluster.assignment import assign
from hub.cluster.fence import Fence
from hub.cluster.incidents import IncidentBoard
from hub.cluster.leases import Leases, LeaseTiming
from hub.cluster.ownership import Ownership
from riverwatch.events import Phase
from riverwatch.types import Alert, AlertPhase
from tests.conftest import eventually
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    RedisProcess,
    make_alert,
    redis_proc_fixture,
)
from tests.test_alert_policy import event

CAMERAS = [f"cam-{k:02d}" for k in range(30)]
FAST = LeaseTiming(lease_s=3.0, heartbeat_s=1.5, renew_s=0.3, fence_s=1.5)


# ---- the assignment ----------------------------------------------------------------------


def test_every_camera_has_one_owner_and_a_new_hub_takes_only_its_share() -> None:
    cameras = [f"cam-{k:03d}" for k in range(400)]
    three = assign(cameras, dict.fromkeys(["a", "b", "c"]))
    assert sorted(three) == cameras
    assert all(80 <= list(three.values()).count(h) <= 180 for h in "abc")
    four = assign(cameras, dict.fromkeys(["a", "b", "c", "d"]))
    moved = [c for c in cameras if three[c] != four[c]]
    assert all(four[c] == "d" for c in moved), "a join moves cameras only to the new hub"
    assert 60 <= len(moved) <= 140  # about a quarter
    two = assign(cameras, dict.fromkeys(["a", "c"]))
    assert all(two[c] == three[c] for c in cameras if three[c] != "b"), "only b's cameras move"


def test_capacity_caps_a_hub_and_what_fits_nowhere_is_left_out() -> None:
    cameras = [f"cam-{k:02d}" for k in range(30)]
    owners = assign(cameras, {"small": 5, "big": None})
    assert list(owners.values()).count("small") == 5 and len(owners) == 30
    capped = assign(cameras, {"a": 10, "b": 10})
    assert len(capped) == 20 and list(capped.values()).count("a") == 10


# ---- ownership on a real Redis ------------------------------------------------------------


@dataclass
class FakeHub:
    """One hub's ownership loop; `running` is what its ingest would run."""

    owner: Ownership
    redis: Redis
    task: asyncio.Task[None] | None = None
    running: set[str] = field(default_factory=set)


class Cluster:
    """Hubs on one Redis; each camera start and stop is recorded, with double runs caught."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.hubs: dict[str, FakeHub] = {}
        self.double_runs: list[tuple[str, str, str]] = []  # (camera, hub, the other hub)

    def add(self, hub_id: str, capacity: int | None = None) -> FakeHub:
        redis = Redis.from_url(self._url, socket_timeout=0.5, socket_connect_timeout=0.5)
        running: set[str] = set()

        def start(camera: str) -> None:
            for other_id, other in self.hubs.items():
                if other_id != hub_id and camera in other.running:
                    self.double_runs.append((camera, hub_id, other_id))
            running.add(camera)

        async def stop(camera: str) -> None:
            running.discard(camera)

        owner = Ownership(Leases(redis, hub_id, FAST), CAMERAS, start, stop, capacity=capacity)
        hub = FakeHub(owner, redis, running=running)
        hub.task = asyncio.create_task(owner.run())
        self.hubs[hub_id] = hub
        return hub

    async def crash(self, hub_id: str) -> None:
        """Like kill -9: the loop ends, nothing is handed over, its leases stay until they
        expire; what it ran is gone with it."""
        hub = self.hubs.pop(hub_id)
        assert hub.task is not None
        hub.task.cancel()
        await asyncio.gather(hub.task, return_exceptions=True)
        await hub.redis.aclose()

    def placement(self) -> dict[str, list[str]]:
        where: dict[str, list[str]] = {c: [] for c in CAMERAS}
        for hub_id, hub in self.hubs.items():
            for camera in hub.running:
                where[camera].append(hub_id)
        return where

    def settled(self) -> bool:
        """Every camera runs on exactly one hub."""
        return all(len(hubs) == 1 for hubs in self.placement().values())

    async def close(self) -> None:
        for hub_id in list(self.hubs):
            await self.crash(hub_id)


async def three_settled(cluster: Cluster) -> dict[str, str]:
    """Start hub-a, hub-b and hub-c; once every camera runs on the hub the assignment gives it,
    camera -> hub. (Every camera on one hub is not enough: hub-a alone, or hub-a and hub-b
    before hub-c is seen, are settled too, and their cameras have still to move.)"""
    hub_ids = ("hub-a", "hub-b", "hub-c")
    for hub_id in hub_ids:
        cluster.add(hub_id)
    target = {c: [hub] for c, hub in assign(CAMERAS, dict.fromkeys(hub_ids)).items()}
    await eventually(lambda: cluster.placement() == target, timeout_s=30, what="the 3-hub share")
    return {c: hubs[0] for c, hubs in cluster.placement().items()}


@pytest.fixture
async def cluster(redis_proc: RedisProcess) -> AsyncIterator[Cluster]:
    group = Cluster(redis_proc.url)
    try:
        yield group
    finally:
        await group.close()


async def test_three_hubs_share_the_cameras_and_a_dead_hubs_move_to_the_others(
    cluster: Cluster,
) -> None:
    before = await three_settled(cluster)
    assert all(len(h.running) >= 4 for h in cluster.hubs.values()), "each hub takes a share"
    epochs = {c: cluster.hubs[before[c]].owner.epoch(c) for c in CAMERAS}

    await cluster.crash("hub-b")
    orphans = [c for c in CAMERAS if before[c] == "hub-b"]
    await eventually(cluster.settled, timeout_s=30, what="hub-b's cameras on the others")
    assert all(set(h.owner.gone) == {"hub-b"} for h in cluster.hubs.values()), "b is gone"
    after = {c: hubs[0] for c, hubs in cluster.placement().items()}
    assert all(after[c] == before[c] for c in CAMERAS if c not in orphans), "others stay put"
    for camera in orphans:  # taken again: a new epoch fences whatever hub-b had in flight
        new_epoch = cluster.hubs[after[camera]].owner.epoch(camera)
        assert new_epoch is not None and epochs[camera] is not None
        assert new_epoch > epochs[camera]
    assert cluster.double_runs == []


async def test_a_fourth_hub_takes_about_a_quarter_and_the_others_keep_theirs(
    cluster: Cluster,
) -> None:
    before = await three_settled(cluster)
    cluster.add("hub-d")
    await eventually(
        lambda: cluster.settled() and len(cluster.hubs["hub-d"].running) > 0,
        timeout_s=30,
        what="hub-d took its share",
    )
    after = {c: hubs[0] for c, hubs in cluster.placement().items()}
    moved = [c for c in CAMERAS if after[c] != before[c]]
    assert all(after[c] == "hub-d" for c in moved), "cameras move only to the new hub"
    assert 3 <= len(moved) <= 14  # about a quarter of 30
    assert cluster.double_runs == [], "a camera moves by hand-over: stopped, then taken"


async def test_a_hub_that_loses_redis_stops_its_cameras_before_its_leases_expire(
    cluster: Cluster, redis_proc: RedisProcess
) -> None:
    hub = cluster.add("hub-a")
    await eventually(lambda: len(hub.running) == len(CAMERAS), timeout_s=30, what="all taken")
    redis_proc.kill()
    await eventually(lambda: not hub.running, timeout_s=30, what="the hub fenced itself")
    assert hub.owner.fences == 1 and not any(hub.owner.owns(c) for c in CAMERAS)
    redis_proc.start()  # its leases may still be there: it takes them back at their epochs
    await eventually(lambda: len(hub.running) == len(CAMERAS), timeout_s=30, what="back")


async def test_shutdown_hands_the_cameras_over_at_once(cluster: Cluster) -> None:
    a, b = cluster.add("hub-a"), cluster.add("hub-b")
    await eventually(cluster.settled, timeout_s=30, what="every camera on one hub")
    assert a.task is not None
    a.task.cancel()
    await asyncio.gather(a.task, return_exceptions=True)
    had = sorted(a.running)
    await a.owner.hand_over_all()  # released: hub-b need not wait for the leases to expire
    assert not a.running
    probe = Leases(b.redis, "probe", FAST)
    holders = [await probe.holder(camera) for camera in had]
    assert all(h is None or h[0] == "hub-b" for h in holders), "hub-a's leases are gone"
    cluster.hubs.pop("hub-a")
    await a.redis.aclose()
    await eventually(lambda: len(b.running) == len(CAMERAS), timeout_s=30, what="b has all")
    assert a.owner.moves > 0 and cluster.double_runs == []


async def test_a_stale_owners_new_incident_is_refused_and_its_earlier_ones_are_not(
    redis_proc: RedisProcess,
) -> None:
    """hub-a held cam-1 at epoch 1 and paused past its lease; hub-b took it (epoch 2). An
    incident hub-a opens afterwards is refused; one it saw before, delivered late, and the
    updates of its incidents are not. The alert fields carry the stamp through the stream."""
    redis = Redis.from_url(redis_proc.url)
    try:
        a, b = Leases(redis, "hub-a", FAST), Leases(redis, "hub-b", FAST)
        first = await a.take("cam-1")
        assert first == 1 and await b.take("cam-1") is None
        fence = Fence(b)

        def alert(observed_at: float, phase: AlertPhase = AlertPhase.OPEN) -> Alert:
            base = dataclasses.replace(make_alert(1, phase), camera_id="cam-1")
            stamped = dataclasses.replace(base, observed_at=observed_at, hub_id="hub-a", epoch=1)
            return Alert.from_fields(stamped.to_fields())  # as the consumer reads it

        assert not await fence.stale(alert(observed_at=1e10))  # nobody took it since
        assert await a.release("cam-1", 1)
        assert await b.take("cam-1") == 2
        taken = await b.taken_at("cam-1", 2)
        assert taken is not None
        assert await fence.stale(alert(taken + 30.0))  # opened after hub-b took the camera
        assert not await fence.stale(alert(taken - 30.0))  # seen while it held it
        assert not await fence.stale(alert(taken + 30.0, AlertPhase.UPDATE))  # its incident's
        unstamped = dataclasses.replace(alert(taken + 30.0), epoch=0)  # a hub on its own
        assert not await fence.stale(unstamped)
        assert fence.refused == 1
    finally:
        await redis.aclose()


async def test_a_camera_taken_over_continues_its_open_incident_as_one_ticket(
    redis_proc: RedisProcess,
) -> None:
    """Hub A has a boat incident open on cam-1 and dies; hub B takes cam-1 and adopts it: the
    boat seen again on hub B continues the same alert id (so the same ticket); an incident
    nobody sees again closes on hub B after its cooldown."""
    redis = Redis.from_url(redis_proc.url)
    try:
        board = IncidentBoard(redis, ttl_s=60.0)
        a, b = AlertPolicy(cooldown_s=30.0), AlertPolicy(cooldown_s=30.0)
        (opened,) = a.on_event(event(Phase.START, 10.0, camera="cam-1"))
        a.on_event(event(Phase.START, 11.0, track=2, zone="quay", camera="cam-1"))
        await board.write({"cam-1": a.open_alerts("cam-1")})
        # hub A dies here; hub B takes cam-1 and reads what A had open
        adopted = [alert for alert in await board.read("cam-1") if b.adopt(alert, 40.0)]
        assert sorted(x.zone_id for x in adopted) == ["ban", "quay"]
        (continued,) = b.on_event(event(Phase.START, 45.0, track=7, camera="cam-1"))
        assert continued.alert_id == opened.alert_id and continued.phase is AlertPhase.UPDATE
        assert continued.revision > opened.revision
        (closed,) = b.due(71.0)  # "quay": quiet since B took it, its cooldown over
        assert closed.zone_id == "quay" and closed.phase is AlertPhase.CLOSE
        await board.write({"cam-1": b.open_alerts("cam-1")})
        assert [x.alert_id for x in await board.read("cam-1")] == [opened.alert_id]
        await board.write({"cam-1": []})  # nothing open: the entry goes
        assert await board.read("cam-1") == []
    finally:
        await redis.aclose()
