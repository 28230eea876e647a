"""The cluster's keys in Redis: hub heartbeats and camera leases with fencing epochs.

    {prefix}:hub:{hub id}        JSON HubInfo, expires after `heartbeat_s` unless beaten again
    {prefix}:lease:{camera id}   "{hub id} {epoch}", expires after `lease_s` unless renewed
    {prefix}:epoch:{camera id}   the camera's fencing epoch: +1 at every acquisition
    {prefix}:taken:{camera id}   epoch -> when it was taken (Redis' clock, ms)

Taking, renewing and releasing a lease are Lua scripts, so each is one atomic step: a lease
is taken only when nobody holds it (after its holder released it or its time ran out), and
only its holder, with the epoch it took it at, can renew or release it. Every acquisition
raises the camera's epoch, and Redis records when each epoch was taken (`taken_at`): a write
tagged with an older epoch, made after that, comes from an owner that had lost the camera.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

_TAKE = """
local held = redis.call('GET', KEYS[1])
if held then
  local mine = ARGV[1] .. ' '
  if string.sub(held, 1, #mine) ~= mine then return false end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(held, #mine + 1))
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
local now = redis.call('TIME')
redis.call('HSET', KEYS[3], epoch, now[1] * 1000 + math.floor(now[2] / 1000))
return epoch
"""
_RENEW = """
local kept = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease and a heartbeat live, and how often a hub renews them.

    A dead hub's cameras are free after at most `lease_s`, and the others notice that it is
    gone after at most `heartbeat_s` plus one `renew_s`. A hub that cannot renew stops its
    cameras `fence_s` after its last renewal, before any lease of its can expire.
    """

    lease_s: float = 10.0
    heartbeat_s: float = 6.0
    renew_s: float = 2.0
    fence_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_s < self.fence_s < self.lease_s:
            raise ValueError("LeaseTiming: 0 < renew_s < fence_s < lease_s")
        if not self.renew_s < self.heartbeat_s:
            raise ValueError("LeaseTiming: renew_s < heartbeat_s")


@dataclass(frozen=True)
class HubInfo:
    """What a hub says of itself in its heartbeat."""

    hub_id: str
    capacity: int | None  # most cameras it takes; None: no cap
    cameras: int  # cameras it holds now
    api: str | None = None  # where its API answers, for the other hubs


class Leases:
    """One hub's handle on the cluster's keys.

    >>> leases = Leases(redis, "hub-a")                                  # doctest: +SKIP
    >>> epoch = await leases.take("cam-1")          # None: someone holds it
    >>> lost = await leases.renew({"cam-1": epoch})  # the cameras no longer ours
    """

    def __init__(
        self,
        redis: Redis,
        hub_id: str,
        timing: LeaseTiming = LeaseTiming(),
        prefix: str = "riverwatch:cluster",
    ) -> None:
        if not hub_id or any(c.isspace() for c in hub_id):
            raise ValueError(f"hub id {hub_id!r}: not empty, no spaces")
        self.hub_id = hub_id
        self.timing = timing
        self._redis = redis
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}:{kind}:{name}"

    def _value(self, epoch: int) -> str:
        return f"{self.hub_id} {epoch}"

    async def beat(self, info: HubInfo) -> None:
        """Say this hub is alive, for `heartbeat_s`."""
        ms = round(self.timing.heartbeat_s * 1000)
        await self._redis.set(self._key("hub", info.hub_id), json.dumps(asdict(info)), px=ms)

    async def hubs(self) -> list[HubInfo]:
        """Every hub whose heartbeat has not run out."""
        # One SCAN call for a keyspace of thousands (leases, epochs, health: about four keys
        # a camera), not one per ten keys.
        match = self._key("hub", "*")
        keys = [key async for key in self._redis.scan_iter(match=match, count=10_000)]
        found = await self._redis.mget(keys) if keys else []
        return [HubInfo(**json.loads(raw)) for raw in found if raw is not None]

    async def leave(self) -> None:
        """Stop saying this hub is alive (a clean shutdown)."""
        await self._redis.delete(self._key("hub", self.hub_id))

    async def take(self, camera_id: str) -> int | None:
        """The camera's lease and its new epoch, or None when another hub holds it. A lease
        this hub still holds in Redis but forgot (a round cut short, a fence while Redis was
        slow) is taken back at its epoch: nobody else held the camera in between."""
        ms = round(self.timing.lease_s * 1000)
        keys = [
            self._key("lease", camera_id),
            self._key("epoch", camera_id),
            self._key("taken", camera_id),
        ]
        epoch = await self._take(keys=keys, args=[self.hub_id, ms])
        return None if epoch is None else int(epoch)

    async def renew(self, held: Mapping[str, int]) -> set[str]:
        """Renew every lease held (one round trip); the cameras whose lease is no longer
        this hub's at its epoch."""
        if not held:
            return set()
        cameras = list(held)
        ms = round(self.timing.lease_s * 1000)
        kept = await self._renew(
            keys=[self._key("lease", c) for c in cameras],
            args=[ms, *(self._value(held[c]) for c in cameras)],
        )
        return {camera for camera, ok in zip(cameras, kept, strict=True) if not int(ok)}

    async def release(self, camera_id: str, epoch: int) -> bool:
        """Give the lease up, if it is still ours at `epoch`."""
        done = await self._release(keys=[self._key("lease", camera_id)], args=[self._value(epoch)])
        return bool(int(done))

    async def holder(self, camera_id: str) -> tuple[str, int] | None:
        """(hub id, epoch) of the camera's lease, or None when nobody holds it."""
        return _parse(await self._redis.get(self._key("lease", camera_id)))

    async def holders(self, cameras: list[str]) -> dict[str, tuple[str, int] | None]:
        """(hub id, epoch) of each camera's lease, None where nobody holds it (one MGET)."""
        raw = await self._redis.mget([self._key("lease", c) for c in cameras]) if cameras else []
        return {camera: _parse(value) for camera, value in zip(cameras, raw, strict=True)}

    async def taken_at(self, camera_id: str, epoch: int) -> float | None:
        """When the camera's lease was taken at `epoch` (POSIX s, Redis' clock), or None."""
        raw = await self._redis.hget(self._key("taken", camera_id), str(epoch))
        return None if raw is None else int(raw) / 1000.0


def _parse(raw: bytes | str | None) -> tuple[str, int] | None:
    """A lease's value, "{hub id} {epoch}", as (hub id, epoch)."""
    if raw is None:
        return None
    hub, _, epoch = (raw.decode() if isinstance(raw, bytes) else raw).partition(" ")
    return hub, int(epoch)
