"""One hub as a member of a cluster: its part wired to its ingest and its incident policy.

`ClusterMember` is what `hub.runtime.Hub` holds when `RIVERWATCH_CLUSTER` is on:

- the ownership loop (`ownership.py`, task `hub:ownership`) starts and stops the hub's share
  of the cameras in ingest, and a camera it takes adopts the incidents its last hub had open
  there (`incidents.py`);
- every round (task `hub:cluster-board`) it publishes its cameras' health and open incidents
  and reads everyone's health (`health.py`), for one wall and one ticket per incident;
- it answers the hub's questions: does this hub run a camera (`owns`), at which epoch
  (`holding`), which other hub runs it (`elsewhere`), is an alert a stale owner's (`stale`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from alerts import AlertPolicy
from api.hubview import ClusterFigures, ClusterHub
from hub.cluster.fence import Fence
from hub.cluster.health import ClusterHealth
from hub.cluster.incidents import IncidentBoard
from hub.cluster.leases import Leases, LeaseTiming
from hub.cluster.ownership import Ownership
from riverwatch.settings import Settings
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert, CameraHealth

log = logging.getLogger(__name__)


class Ingest(Protocol):
    """What the member drives of `ingest.IngestSupervisor`."""

    def start_camera(self, camera_id: str) -> bool: ...

    async def stop_camera(self, camera_id: str, reason: str = "stopped") -> bool: ...

    def camera_health(self, camera_id: str) -> CameraHealth: ...


class ClusterMember:
    """This hub's part in the cluster (see the module); `start`, then `leave` on the way out."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        cameras: list[str],
        ingest: Ingest,
        policy: AlertPolicy,
    ) -> None:
        lease = settings.cluster_lease_s
        self.timing = LeaseTiming(lease, 0.6 * lease, renew_s=0.2 * lease, fence_s=0.5 * lease)
        self._settings = settings
        self._cameras = cameras
        self._ingest = ingest
        self._policy = policy
        leases = Leases(redis, settings.node_id, self.timing)
        self.fence = Fence(leases)
        self.owner = Ownership(
            leases,
            cameras,
            self._take,
            self._give_up,
            capacity=settings.hub_capacity,
            api=settings.advertised_url,
        )
        self._health = ClusterHealth(redis, settings.node_id, ttl_s=self.timing.heartbeat_s)
        # An incident's entry outlives a dead hub until a new one has taken the camera and
        # learned it: cooldown, lease and the learning minute.
        hold_s = settings.alert_cooldown_s + lease + settings.learn_s
        self._incidents = IncidentBoard(redis, ttl_s=hold_s)
        self.remote: dict[str, tuple[str, CameraHealth]] = {}  # other hubs' cameras
        self._with_incidents: set[str] = set()  # cameras whose entry this hub wrote
        self._supervisor: Supervisor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def set_cameras(self, cameras: list[str]) -> None:
        """The cluster's cameras after a configuration change (the next round shares them)."""
        self._cameras = cameras
        self.owner.set_cameras(cameras)

    @property
    def hub_id(self) -> str:
        """This hub's id."""
        return self.owner.hub_id

    def start(self, supervisor: Supervisor) -> None:
        """Run the ownership loop and the board's rounds under `supervisor`."""
        self._supervisor = supervisor
        self._tasks = [
            supervisor.spawn("hub:ownership", self.owner.run),
            supervisor.spawn("hub:cluster-board", self._boards),
        ]
        log.info("cluster: %s joins (capacity %s)", self.hub_id, self._settings.hub_capacity)

    async def leave(self) -> None:
        """Stop the loops, hand every camera over and leave (bounded: a lost Redis lets the
        leases expire on their own)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self.owner.hand_over_all(), timeout=self.timing.fence_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("cluster: %s: leases not handed over (%s)", self.hub_id, exc)

    def owns(self, camera_id: str) -> bool:
        """Whether this hub runs the camera now."""
        return self.owner.owns(camera_id)

    def holding(self, camera_id: str) -> tuple[str, int] | None:
        """(hub id, epoch) while this hub holds the camera, else None."""
        epoch = self.owner.epoch(camera_id)
        return None if epoch is None else (self.hub_id, epoch)

    def elsewhere(self, camera_id: str) -> str | None:
        """The API of the other hub that runs the camera now, or None."""
        if self.owns(camera_id) or camera_id not in self.remote:
            return None
        hub_id = self.remote[camera_id][0]
        return next((h.api for h in self.owner.hubs if h.hub_id == hub_id and h.api), None)

    async def stale(self, alert: Alert) -> bool:
        """Whether the alert opens an incident its hub had no right to any more."""
        return await self.fence.stale(alert)

    async def figures(self, timeout_s: float) -> ClusterFigures:
        """The cluster as this hub sees it; who holds each camera read from Redis (empty
        while it does not answer)."""
        owner = self.owner
        try:
            owners = await asyncio.wait_for(owner.owners(), timeout_s)
        except (RedisError, OSError, TimeoutError):
            owners = {}
        hubs = tuple(ClusterHub(h.hub_id, h.capacity, h.cameras, h.api) for h in owner.hubs)
        return ClusterFigures(
            owner.hub_id,
            hubs,
            owners,
            len(owner.held()),
            owner.failures,
            owner.fences,
            owner.moves,
            self.fence.refused,
            dict(owner.gone),
        )

    def _take(self, camera_id: str) -> None:
        self._ingest.start_camera(camera_id)
        if self._supervisor is not None:
            self._supervisor.spawn(
                f"cluster:adopt:{camera_id}", lambda: self._adopt(camera_id), restart=False
            )

    async def _give_up(self, camera_id: str) -> None:
        await self._ingest.stop_camera(camera_id, "another hub's camera now")

    async def _adopt(self, camera_id: str) -> None:
        """Take over the incidents the camera's last hub had open. They stay open through
        this hub's learning minute (the camera cannot speak before), then their cooldown."""
        quiet_since = time.time() + self._settings.learn_s
        for alert in await self._incidents.read(camera_id):
            if self._policy.adopt(alert, quiet_since):
                log.info("cluster: %s: took over incident %s", camera_id, alert.alert_id)

    async def _boards(self) -> None:
        """Every round: publish this hub's cameras' health and open incidents, read the
        others' health. On an error nothing stale is shown: the hub's own copies instead."""
        while True:
            await asyncio.sleep(self.timing.renew_s)
            try:
                held = list(self.owner.held())
                await self._health.publish([self._ingest.camera_health(c) for c in held])
                await self._write_incidents(held)
                self.remote = await self._health.read(self._cameras)
            except BaseException:
                self.remote = {}
                raise

    async def _write_incidents(self, held: list[str]) -> None:
        open_now = {c: self._policy.open_alerts(c) for c in held}
        with_some = {c for c, alerts in open_now.items() if alerts}
        changed = {c: open_now[c] for c in with_some | (self._with_incidents & set(held))}
        await self._incidents.write(changed)
        self._with_incidents = with_some
