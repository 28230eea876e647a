"""Publishing alerts into the ticket queue: a Redis stream, written with an idempotent id.

Every alert goes through one Lua script that claims `riverwatch:alert-ids:<alert_id>` with
`SET NX` and only then `XADD`s the alert (bounded with `MAXLEN ~`). A retry after a timeout,
or the same incident published twice, therefore yields one stream entry.

Alerts wait in a bounded in-memory queue while Redis is unreachable and are retried with
backoff, in order. (A durable on-disk spool, so that nothing is lost when the hub itself dies,
is the next step: issue 4.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from riverwatch.types import Alert

log = logging.getLogger(__name__)

ID_KEY_PREFIX = "riverwatch:alert-ids:"
_PUBLISH = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
end
return false
"""


class AlertPublisher:
    """Owns the delivery task; `publish()` never blocks the detector and never raises.

    >>> async with AlertPublisher(redis, "riverwatch:alerts") as publisher:   # doctest: +SKIP
    ...     publisher.publish(alert)
    """

    def __init__(
        self,
        redis: Redis,
        stream: str,
        maxlen: int = 100_000,
        id_ttl_s: int = 7 * 24 * 3600,
        queue_size: int = 10_000,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._maxlen = maxlen
        self._id_ttl_s = id_ttl_s
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._script = redis.register_script(_PUBLISH)
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.duplicates = 0
        self.dropped = 0
        self.failures = 0

    async def __aenter__(self) -> AlertPublisher:
        self._task = asyncio.create_task(self._deliver_forever(), name="alerts:publisher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def publish(self, alert: Alert) -> None:
        """Queue an alert; when the queue is full the oldest is dropped and counted."""
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
            log.error("alerts: queue full, dropped the oldest alert")
        self._queue.put_nowait(alert)

    @property
    def pending(self) -> int:
        """Alerts not yet in Redis."""
        return self._queue.qsize()

    async def close(self, drain_budget_s: float = 5.0) -> None:
        """Deliver what is queued within the budget, then stop the delivery task."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_budget_s)
        if self._queue.qsize():
            log.warning("alerts: %d alerts undelivered at shutdown", self._queue.qsize())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def recent(self, count: int) -> list[tuple[str, Alert]]:
        """The newest `count` alerts in the stream, newest first, with their stream ids."""
        entries = await self._redis.xrevrange(self._stream, count=count)
        out = []
        for entry_id, fields in entries or []:
            if fields is None:
                continue
            decoded = {_text(k): _text(v) for k, v in fields.items()}
            out.append((_text(entry_id), Alert.from_fields(decoded)))
        return out

    async def _deliver_forever(self) -> None:
        attempt = 0
        while True:
            alert = await self._queue.get()
            while True:
                try:
                    await self._deliver(alert)
                    attempt = 0
                    self._queue.task_done()
                    break
                except (RedisError, OSError, TimeoutError) as exc:
                    self.failures += 1
                    attempt += 1
                    delay = min(10.0, 0.2 * 2 ** min(attempt, 6)) * (0.5 + random.random() / 2)
                    log.warning(
                        "alerts: Redis unavailable (%s); retrying in %.1f s",
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)

    async def _deliver(self, alert: Alert) -> None:
        args: list[str | int] = [self._id_ttl_s, self._maxlen]
        for key, value in alert.to_fields().items():
            args += [key, value]
        entry = await self._script(keys=[self._stream, ID_KEY_PREFIX + alert.alert_id], args=args)
        if entry is None:
            self.duplicates += 1
        else:
            self.published += 1
            log.info(
                "alert %s: camera %s zone %s rule %s -> %s",
                alert.alert_id,
                alert.camera_id,
                alert.zone_id,
                alert.rule,
                self._stream,
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
