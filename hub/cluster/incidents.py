"""Open incidents that move with their camera: one ticket per incident across a failover.

Each hub writes, every round, the latest message of every incident open on the cameras it
runs (`AlertPolicy.open_alerts`) to Redis:

    {prefix}:incidents:{camera id}   hash: alert id -> the alert's stream fields (JSON)

for as long as the cooldown plus a lease, so that the entry outlives a dead hub long enough
for the next one to read it. A hub that takes a camera adopts them (`AlertPolicy.adopt`): a
track that starts there continues the same incident, the same `alert_id` and so the same
ticket, instead of opening a second one; if none does, the incident closes on the new hub
after its cooldown, where the dead hub would never have closed it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis

from riverwatch.types import Alert


class IncidentBoard:
    """Write this hub's open incidents per camera; read a camera's when taking it.

    >>> board = IncidentBoard(redis, ttl_s=70.0)                          # doctest: +SKIP
    >>> await board.write({"cam-1": policy.open_alerts("cam-1")})
    >>> for alert in await board.read("cam-1"): policy.adopt(alert, quiet_since)
    """

    def __init__(self, redis: Redis, ttl_s: float, prefix: str = "riverwatch:cluster") -> None:
        self._redis = redis
        self._ttl_ms = round(ttl_s * 1000)
        self._prefix = prefix

    def _key(self, camera_id: str) -> str:
        return f"{self._prefix}:incidents:{camera_id}"

    async def write(self, open_by_camera: Mapping[str, Sequence[Alert]]) -> None:
        """Replace each camera's entry with its incidents open now (none: the entry goes)."""
        if not open_by_camera:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for camera, alerts in open_by_camera.items():
                key = self._key(camera)
                pipe.delete(key)
                if alerts:
                    pipe.hset(key, mapping={a.alert_id: json.dumps(a.to_fields()) for a in alerts})
                    pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def read(self, camera_id: str) -> list[Alert]:
        """The incidents the camera's last hub had open (a malformed entry is left out)."""
        raw = await self._redis.hgetall(self._key(camera_id))
        alerts = []
        for value in raw.values():
            try:
                alerts.append(Alert.from_fields(json.loads(value)))
            except (ValueError, KeyError, TypeError):
                continue
        return alerts
