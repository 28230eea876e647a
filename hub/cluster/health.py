"""Camera health across hubs: each hub publishes its own cameras' health to Redis with a TTL,
and reads the others', so that any hub's API and wall show every camera as its owner sees it.

    {prefix}:health:{camera id}   JSON {"hub_id": ..., "health": CameraHealth}, for `ttl_s`

A camera whose owner died shows no published health once its key has run out (about the same
time as its lease): the hubs then show it as their own stopped copy, with the reason, until a
new owner publishes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from redis.asyncio import Redis

from riverwatch.types import CameraHealth, CameraState, DecodeMode


def health_json(hub_id: str, health: CameraHealth) -> str:
    """One camera's published health."""
    return json.dumps({"hub_id": hub_id, "health": dataclasses.asdict(health)})


def parse_health(raw: bytes | str) -> tuple[str, CameraHealth]:
    """(owner hub id, health) from `health_json`; ValueError (or KeyError) if malformed."""
    body = json.loads(raw)
    fields = dict(body["health"])
    fields["state"] = CameraState(fields["state"])
    fields["decode_mode"] = DecodeMode(fields["decode_mode"])
    return str(body["hub_id"]), CameraHealth(**fields)


class ClusterHealth:
    """Publish this hub's cameras' health; read everyone's.

    >>> board = ClusterHealth(redis, "hub-a", ttl_s=6.0)                 # doctest: +SKIP
    >>> await board.publish([ingest.camera_health(c) for c in held])
    >>> seen = await board.read(camera_ids)          # camera -> (hub id, health)
    """

    def __init__(
        self, redis: Redis, hub_id: str, ttl_s: float, prefix: str = "riverwatch:cluster"
    ) -> None:
        self._redis = redis
        self._hub_id = hub_id
        self._ttl_ms = round(ttl_s * 1000)
        self._prefix = prefix

    def _key(self, camera_id: str) -> str:
        return f"{self._prefix}:health:{camera_id}"

    async def publish(self, healths: Sequence[CameraHealth]) -> None:
        """Publish these cameras' health (one round trip)."""
        if not healths:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for health in healths:
                pipe.set(
                    self._key(health.camera_id), health_json(self._hub_id, health), px=self._ttl_ms
                )
            await pipe.execute()

    async def read(self, cameras: Sequence[str]) -> dict[str, tuple[str, CameraHealth]]:
        """The published health of each camera that has one (one MGET); a malformed entry
        is left out."""
        if not cameras:
            return {}
        raw = await self._redis.mget([self._key(c) for c in cameras])
        seen: dict[str, tuple[str, CameraHealth]] = {}
        for camera, value in zip(cameras, raw, strict=True):
            if value is None:
                continue
            try:
                seen[camera] = parse_health(value)
            except (ValueError, KeyError, TypeError):
                continue
        return seen
