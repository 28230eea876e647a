"""Reading the ticket queue: a consumer group on the alert stream, at-least-once, with a handler
that must be idempotent (keyed on `message_id`), so the store sees every message exactly once.

One `run_once()` round:

1. `XAUTOCLAIM` entries pending longer than `claim_idle_ms` in the group, whoever holds them:
   a consumer that died holding messages, or a handler that failed here or elsewhere. An entry
   already delivered more than `max_deliveries` times goes to the dead-letter stream instead.
2. `XREADGROUP >` new entries (blocking up to `block_ms`, or not at all in burst mode).
3. For each entry: parse it (a malformed one is dead-lettered at once, with the reason) and
   call the handler (with a timeout); then one `XACK` for the entries whose handler succeeded.
   A failed entry stays pending and comes back through step 1.

Dead-lettering copies the entry's fields plus `dead_reason`, `dead_entry_id`, `dead_group`,
`dead_consumer`, `dead_deliveries` and `dead_at` into `<stream>:dead` and acknowledges the
original, in one MULTI/EXEC. `drain()` runs rounds without blocking until nothing is left,
so tests and batch jobs end deterministically; `run()` loops forever with backoff.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from alerts.errors import MalformedMessage
from riverwatch.backoff import backoff_delay
from riverwatch.supervise import Supervisor
from riverwatch.types import SCHEMA_VERSION, Alert

log = logging.getLogger(__name__)

Handler = Callable[[str, Alert], Awaitable[None]]
"""Called with (stream entry id, alert); must be idempotent on `alert.message_id`."""

_LAST_ERRORS_KEPT = 1000


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """Timing and bounds of a consumer; `block_ms` must stay below the client's socket timeout."""

    block_ms: int = 1000
    batch_size: int = 50
    claim_idle_ms: int = 30_000
    max_deliveries: int = 5
    handler_timeout_s: float = 10.0
    dead_letter_maxlen: int = 100_000
    start_id: str = "0"  # a new group reads what is already in the stream
    retry_base_s: float = 0.2
    retry_max_s: float = 10.0
    forget_idle_ms: int = 3_600_000  # a consumer idle an hour with nothing pending is deleted
    forget_every_s: float = 600.0

    def __post_init__(self) -> None:
        if self.forget_idle_ms <= self.claim_idle_ms:
            raise ValueError("forget_idle_ms must be longer than claim_idle_ms")
        if self.block_ms < 1 or self.batch_size < 1 or self.max_deliveries < 1:
            raise ValueError("block_ms, batch_size and max_deliveries must be positive")
        if self.handler_timeout_s * 1000 >= self.claim_idle_ms:
            # Otherwise a live consumer's slow handler would see its entry claimed under it.
            raise ValueError("handler_timeout_s must be shorter than claim_idle_ms")


class AlertConsumer:
    """One consumer in a group; `async with` runs it in a task, or call `run_once`/`drain`.

    >>> async def apply(entry_id: str, alert: Alert) -> None: ...  # idempotent on message_id
    >>> consumer = AlertConsumer(redis, "riverwatch:alerts", "tickets", "hub-1", apply)
    >>> await consumer.drain()   # doctest: +SKIP
    """

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        options: ConsumerOptions | None = None,
        dead_letter_stream: str | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._name = consumer
        self._handler = handler
        self._opts = options or ConsumerOptions()
        self.dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        check_block_below_socket_timeout(redis, self._opts.block_ms)
        self._group_ready = False
        self._stopping = False
        self._claim_cursor = "0-0"
        self._idle = IdleConsumers(
            redis, stream, group, consumer, self._opts.forget_idle_ms, self._opts.forget_every_s
        )
        self._last_error: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._supervisor = supervisor or Supervisor()
        self.handled = 0
        self.failures = 0
        self.claimed = 0
        self.trimmed = 0
        self.dead_lettered = 0
        self.dead_reasons: collections.Counter[str] = collections.Counter()

    async def __aenter__(self) -> AlertConsumer:
        self._task = self._supervisor.spawn(f"alerts:consumer:{self._group}", self.run)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop after the current round (bounded by `block_ms` and the handler timeout), then
        cancel if it overruns; an entry being handled stays pending and is reclaimed later."""
        if self._task is None:
            return
        self._stopping = True
        # A round ends within one blocking read plus one batch of handler timeouts; cancelling
        # a blocking read outright has been seen to leave redis-py's reply reader waiting.
        budget = self._opts.block_ms / 1000 + self._opts.handler_timeout_s + 1.0
        done, _ = await asyncio.wait({self._task}, timeout=budget)
        if not done:
            log.warning("alerts consumer %s: round overran %.1f s; cancelling", self._name, budget)
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=budget)
        self._task = None

    async def run(self) -> None:
        """Consume until `close()`; Redis failures back off with jitter and never end the loop."""
        attempt = 0
        while not self._stopping:
            try:
                await self.run_once()
                attempt = 0
            except (RedisError, OSError, TimeoutError) as exc:
                attempt += 1
                base, cap = self._opts.retry_base_s, self._opts.retry_max_s
                delay = backoff_delay(attempt - 1, base, cap)
                log.warning(
                    "alerts consumer %s: Redis unavailable (%s); retry in %.1f s",
                    self._name,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Burst mode: rounds without blocking until one finds nothing; returns entries seen."""
        total = 0
        for _ in range(max_rounds):
            seen = await self.run_once(block=False)
            total += seen
            if seen == 0:
                break
        return total

    async def run_once(self, block: bool = True) -> int:
        """One round (reclaim, read, handle); returns how many entries it looked at."""
        try:
            await self._ensure_group()
            await self._idle.sweep()
            seen = await self._reclaim()
            entries = await self._read(block and seen == 0)
            done = [eid for eid, fields in entries if await self._process(eid, fields, 1)]
            await self._ack(done)
            return seen + len(entries)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis lost the group (restarted without its data)
                self._group_ready = False
            raise

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(
                self._stream, self._group, id=self._opts.start_id, mkstream=True
            )
            log.info("alerts: created consumer group %s on %s", self._group, self._stream)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _read(self, block: bool) -> list[tuple[str, dict[bytes | str, Any]]]:
        reply: Any = await self._redis.xreadgroup(
            self._group,
            self._name,
            {self._stream: ">"},
            count=self._opts.batch_size,
            block=self._opts.block_ms if block else None,
        )
        entries: list[tuple[str, dict[bytes | str, Any]]] = []
        streams = reply.items() if isinstance(reply, dict) else reply or []  # RESP3 or RESP2
        for _stream, stream_entries in streams:
            entries += [(entry_text(eid), fields) for eid, fields in stream_entries]
        return entries

    async def _reclaim(self) -> int:
        reply: list[Any] = await self._redis.xautoclaim(
            self._stream,
            self._group,
            self._name,
            self._opts.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self._opts.batch_size,
        )
        self._claim_cursor = entry_text(reply[0])
        entries = [(entry_text(eid), fields) for eid, fields in reply[1] if eid is not None]
        # Entries trimmed away (MAXLEN) while pending: Redis 7 lists them, 6.2 returns nils.
        gone = len(reply[1]) - len(entries) + (len(reply[2]) if len(reply) > 2 else 0)
        if gone:
            self.trimmed += gone
            log.error(
                "alerts consumer %s: %d pending entries were trimmed unread", self._name, gone
            )
        if not entries:
            return gone
        self.claimed += len(entries)
        counts = await self._delivery_counts([eid for eid, _ in entries])
        done = [
            eid for eid, fields in entries if await self._process(eid, fields, counts.get(eid, 1))
        ]
        await self._ack(done)
        return len(entries) + gone

    async def _ack(self, entry_ids: list[str]) -> None:
        # One XACK per round. Should it be lost (Redis gone), the entries come back through
        # XAUTOCLAIM and the idempotent handler absorbs the repeat.
        if entry_ids:
            await self._redis.xack(self._stream, self._group, *entry_ids)
            self.handled += len(entry_ids)

    async def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(self._stream, self._group, entry_id, entry_id, 1, self._name)
        counts: dict[str, int] = {}
        for rows in await pipe.execute():
            for row in rows:
                counts[entry_text(row["message_id"])] = int(row["times_delivered"])
        return counts

    async def _process(
        self, entry_id: str, fields: dict[bytes | str, Any], deliveries: int
    ) -> bool:
        """Handle one entry; True when it is to be acknowledged (dead letters ack themselves)."""
        if deliveries > self._opts.max_deliveries:
            last = self._last_error.pop(entry_id, "no acknowledgement")
            reason = f"failed {deliveries - 1} deliveries; last: {last}"
            await self._dead_letter(entry_id, fields, "max_deliveries", reason, deliveries)
            return False
        try:
            alert = parse_entry(fields)
        except MalformedMessage as exc:
            await self._dead_letter(entry_id, fields, "malformed", str(exc), deliveries)
            return False
        try:
            await asyncio.wait_for(self._handler(entry_id, alert), self._opts.handler_timeout_s)
        except Exception as exc:  # the handler is foreign code: contain it, retry via reclaim
            self.failures += 1
            self._remember_error(entry_id, f"{type(exc).__name__}: {exc}"[:300])
            log.warning(
                "alerts consumer %s: handler failed on %s (%s), delivery %d of %d",
                self._name,
                alert.message_id,
                type(exc).__name__,
                deliveries,
                self._opts.max_deliveries,
            )
            return False
        self._last_error.pop(entry_id, None)
        return True

    def _remember_error(self, entry_id: str, error: str) -> None:
        self._last_error[entry_id] = error
        while len(self._last_error) > _LAST_ERRORS_KEPT:
            self._last_error.popitem(last=False)

    async def _dead_letter(
        self,
        entry_id: str,
        fields: dict[bytes | str, Any],
        kind: str,
        reason: str,
        deliveries: int,
    ) -> None:
        record: dict[Any, Any] = dict(fields)
        record.update(
            {
                "dead_reason": f"{kind}: {reason}",
                "dead_entry_id": entry_id,
                "dead_group": self._group,
                "dead_consumer": self._name,
                "dead_deliveries": str(deliveries),
                "dead_at": f"{time.time():.3f}",
            }
        )
        pipe = self._redis.pipeline(transaction=True)  # copy and ack together, or neither
        pipe.xadd(
            self.dead_letter_stream,
            record,
            maxlen=self._opts.dead_letter_maxlen,
            approximate=True,
        )
        pipe.xack(self._stream, self._group, entry_id)
        await pipe.execute()
        self.dead_lettered += 1
        self.dead_reasons[kind] += 1
        log.error(
            "alerts consumer %s: entry %s dead-lettered to %s (%s: %s)",
            self._name,
            entry_id,
            self.dead_letter_stream,
            kind,
            reason,
        )


def parse_entry(fields: dict[bytes | str, Any]) -> Alert:
    """An `Alert` from raw stream fields; raises `MalformedMessage` naming what is wrong."""
    try:
        text = {entry_text(k): entry_text(v) for k, v in fields.items()}
    except UnicodeDecodeError:
        raise MalformedMessage("fields are not UTF-8") from None
    schema = text.get("schema")
    if schema != SCHEMA_VERSION:
        raise MalformedMessage(f"unsupported schema {schema!r} (expected {SCHEMA_VERSION!r})")
    try:
        alert = Alert.from_fields(text)
    except KeyError as exc:
        raise MalformedMessage(f"missing field {exc.args[0]!r}") from None
    except ValueError as exc:
        raise MalformedMessage(f"bad value: {exc}") from None
    if text.get("message_id") != alert.message_id:
        raise MalformedMessage(
            f"message_id {text.get('message_id')!r} does not match {alert.message_id!r}"
        )
    return alert


def check_block_below_socket_timeout(redis: Redis, block_ms: int) -> None:
    """Refuse a blocking read as long as the client's socket timeout (every read would fail)."""
    timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if timeout is not None and block_ms / 1000 >= float(timeout):
        raise ValueError(
            f"block_ms={block_ms} must be shorter than the Redis socket_timeout ({timeout} s), "
            "or every blocking read would time out"
        )


def entry_text(value: Any) -> str:
    """A Redis reply value (bytes or str) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


class IdleConsumers:
    """Deletes a group's consumers idle for `idle_ms` with nothing pending (a hub that died
    and whose entries were claimed: in Kubernetes each pod has a new name, so they would pile
    up), at most every `every_s`, never `keep` (the caller). A live consumer that was only
    paused is made again by its next read."""

    def __init__(
        self, redis: Redis, stream: str, group: str, keep: str, idle_ms: int, every_s: float
    ) -> None:
        self._redis, self._stream, self._group, self._keep = redis, stream, group, keep
        self._idle_ms, self._every_s = idle_ms, every_s
        self._next = 0.0

    async def sweep(self) -> list[str]:
        """Delete them if it is time; the names deleted."""
        now = time.monotonic()
        if now < self._next:
            return []
        self._next = now + self._every_s
        gone = []
        for raw in await self._redis.xinfo_consumers(self._stream, self._group):
            info = {entry_text(k): v for k, v in raw.items()}
            name = entry_text(info.get("name", ""))
            pending, idle = int(info.get("pending", 0)), int(info.get("idle", 0))
            if name != self._keep and pending == 0 and idle >= self._idle_ms:
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)
                gone.append(name)
        if gone:
            log.info("group %s: forgot idle consumers %s", self._group, gone)
        return gone
