"""The loop each hub runs to own its share of the cameras, and only that.

Every `renew_s`, a hub:
1. beats its heartbeat and renews every lease it holds (one round trip each); a camera whose
   lease is no longer its own (it expired, another hub took it) is stopped at once;
2. reads the live hubs and computes the assignment (`assignment.assign`);
3. hands over the cameras that now belong to another hub: stops them, then releases their
   leases, so that the new owner can take them at its next round;
4. takes the leases of the cameras that are now its own and free, and starts them.

A hub that cannot renew (Redis gone, or a network split) stops every camera `fence_s` after
its last good renewal, before any of its leases can expire: so two hubs never run, nor raise
alerts for, one camera. `owns(camera)` and `epoch(camera)` answer at once, from memory; the
alert path uses them. Shutdown hands every lease over (`hand_over_all`) and leaves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from redis.exceptions import RedisError

from hub.cluster.assignment import assign
from hub.cluster.leases import HubInfo, Leases

log = logging.getLogger(__name__)

GONE_KEPT_S = 600.0  # how long a hub that stopped beating is shown as gone

Start = Callable[[str], object]  # what it returns is not used
Stop = Callable[[str], Awaitable[None]]


class Ownership:
    """One hub's cameras in a cluster.

    `start(camera)` and `stop(camera)` run and stop a camera's ingest; `capacity` is the most
    cameras this hub takes (None: no cap); `api` is where its API answers, for the others.

    >>> owner = Ownership(leases, camera_ids, start, stop)               # doctest: +SKIP
    >>> supervisor.spawn("hub:ownership", owner.run)
    """

    def __init__(
        self,
        leases: Leases,
        cameras: Sequence[str],
        start: Start,
        stop: Stop,
        *,
        capacity: int | None = None,
        api: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases = leases
        self._cameras = list(cameras)
        self._start = start
        self._stop = stop
        self._capacity = capacity
        self._api = api
        self._clock = clock
        self._held: dict[str, int] = {}
        self._renewed_at = clock()
        self.hubs: list[HubInfo] = []  # the live hubs, as last read
        self.gone: dict[str, float] = {}  # hubs whose heartbeat stopped: when it was noticed
        self.failures = 0  # rounds that failed (Redis unreachable or slow)
        self.fences = 0  # times this hub stopped its cameras for want of renewals
        self.moves = 0  # cameras handed over to another hub

    def set_cameras(self, cameras: Sequence[str]) -> None:
        """The cameras to share from the next round (a removed one is handed over there)."""
        self._cameras = list(cameras)

    @property
    def hub_id(self) -> str:
        """This hub's id."""
        return self._leases.hub_id

    def owns(self, camera_id: str) -> bool:
        """Whether this hub holds the camera's lease now."""
        return camera_id in self._held

    def epoch(self, camera_id: str) -> int | None:
        """The fencing epoch this hub holds the camera at, or None."""
        return self._held.get(camera_id)

    def held(self) -> dict[str, int]:
        """The cameras held, with their epochs."""
        return dict(self._held)

    async def owners(self) -> dict[str, tuple[str, int] | None]:
        """Who holds each camera now, from Redis: (hub id, epoch), or None."""
        return await self._leases.holders(self._cameras)

    async def run(self) -> None:
        """Rounds every `renew_s` until cancelled; a failed round is logged and counted."""
        timing = self._leases.timing
        while True:
            try:
                await asyncio.wait_for(self.round(), timeout=timing.renew_s)
            except (RedisError, OSError, TimeoutError) as exc:
                self.failures += 1
                log.warning("cluster: %s: round failed (%s)", self.hub_id, type(exc).__name__)
            await self._fence_if_stale()
            await asyncio.sleep(timing.renew_s)

    async def round(self) -> None:
        """One round: beat, renew, assign, hand over, take."""
        leases = self._leases
        await leases.beat(HubInfo(self.hub_id, self._capacity, len(self._held), self._api))
        lost = await leases.renew(self._held)
        self._renewed_at = self._clock()
        for camera in sorted(lost):
            log.warning("cluster: %s: lost the lease of %s", self.hub_id, camera)
            await self._drop(camera)
        self._notice_gone(await leases.hubs())
        live = {h.hub_id: h.capacity for h in self.hubs}
        live[self.hub_id] = self._capacity
        mine = {c for c, hub in assign(self._cameras, live).items() if hub == self.hub_id}
        for camera in sorted(set(self._held) - mine):
            await self._hand_over(camera)
        for camera in sorted(mine - set(self._held)):
            epoch = await leases.take(camera)
            if epoch is not None:
                self._held[camera] = epoch
                self._start(camera)

    def _notice_gone(self, hubs: list[HubInfo]) -> None:
        """Keep the live hubs; a hub seen before and missing now is gone (for `GONE_KEPT_S`,
        or until it beats again), so that the wall can say so."""
        now, live = time.time(), {h.hub_id for h in hubs}
        for hub in self.hubs:
            if hub.hub_id not in live and hub.hub_id not in self.gone:
                log.warning("cluster: %s: hub %s has gone", self.hub_id, hub.hub_id)
                self.gone[hub.hub_id] = now
        self.gone = {h: t for h, t in self.gone.items() if h not in live and now - t < GONE_KEPT_S}
        self.hubs = hubs

    async def hand_over_all(self) -> None:
        """Stop every camera, release its lease, and leave (a clean shutdown)."""
        for camera in sorted(self._held):
            await self._hand_over(camera)
        await self._leases.leave()

    async def _hand_over(self, camera: str) -> None:
        epoch = self._held.pop(camera)
        await self._stop(camera)
        await self._leases.release(camera, epoch)
        self.moves += 1

    async def _drop(self, camera: str) -> None:
        self._held.pop(camera, None)
        await self._stop(camera)

    async def _fence_if_stale(self) -> None:
        waited = self._clock() - self._renewed_at
        if not self._held or waited < self._leases.timing.fence_s:
            return
        self.fences += 1
        log.error(
            "cluster: %s: no renewal for %.1f s; stopping its %d cameras before their leases "
            "expire",
            self.hub_id,
            waited,
            len(self._held),
        )
        cameras, self._held = sorted(self._held), {}
        for camera in cameras:
            await self._stop(camera)
