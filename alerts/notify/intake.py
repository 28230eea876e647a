"""Notifications driven by the alert stream: a consumer group of their own, so a crashed hub
loses no webhook or loudspeaker delivery.

    riverwatch:alerts ─ XREADGROUP (group riverwatch-notify) ─► Notifier.submit ─► targets
           ▲                                                           │ every job settled
           └────────────────────────── XACK ◄──────────────────────────┘

Why the stream rather than an outbox of our own: every alert message already goes through the
spool (durable across Redis outages) to the stream (durable across hub crashes), and the ticket
store reads it the same way (`alerts.consumer`); a second group costs one read per message and
no second write path that could disagree with the first.

An entry is acknowledged only when every target's job for it is settled: delivered,
dead-lettered, or a speaker call given up on. Until then it is pending in the group. After a
crash the next start first reads this consumer's own pending entries back (`XREADGROUP 0`:
at once, no idle time to wait out); entries of a consumer that never comes back (another host
name) are taken with `XAUTOCLAIM` once idle for `claim_idle_ms`. A delivery id derives from
the message id and the target, so a delivery repeated after a crash carries the id it had
before and the receiver can drop it.

At most `window` entries are in flight; a full window stops reading until jobs settle (each
target's bounded queue drops its oldest job to the dead-letter list, so it cannot stall for
long). A new group starts at the end of the stream (`$`): a first start must not replay a
whole retained stream of stale alerts to every receiver. The group is created before the hub
publishes anything, so no alert of this hub falls before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from alerts.consumer import (
    IdleConsumers,
    check_block_below_socket_timeout,
    entry_text,
    parse_entry,
)
from alerts.errors import MalformedMessage
from alerts.notify.dispatcher import Notifier
from alerts.notify.errors import NotifyError
from alerts.notify.retry import backoff_s
from riverwatch.notify_config import RetryPolicy
from riverwatch.supervise import Supervisor

log = logging.getLogger(__name__)

GROUP = "riverwatch-notify"
"""The notifications' consumer group on the alert stream (the tickets have their own)."""

Entries = list[tuple[str, dict[Any, Any] | None]]


@dataclass(frozen=True, slots=True)
class IntakeOptions:
    """Timing and bounds of the intake; `block_ms` must stay below the client's socket timeout.

    `claim_idle_ms` must be longer than a hub restart takes, or a live hub could take the
    entries of one that is only restarting (harmless: the same delivery ids, sent twice).
    """

    block_ms: int = 1000
    batch_size: int = 100
    window: int = 1000
    claim_idle_ms: int = 60_000
    claim_every_s: float = 15.0
    drain_budget_s: float = 5.0
    retry_base_s: float = 0.2
    retry_max_s: float = 10.0
    forget_idle_ms: int = 3_600_000  # a consumer idle an hour with nothing pending is deleted
    forget_every_s: float = 600.0

    def __post_init__(self) -> None:
        if min(self.block_ms, self.batch_size, self.window, self.claim_idle_ms) < 1:
            raise ValueError("block_ms, batch_size, window and claim_idle_ms must be positive")
        if self.forget_idle_ms <= self.claim_idle_ms:
            raise ValueError("forget_idle_ms must be longer than claim_idle_ms")


class StreamIntake:
    """Feeds a `Notifier` from its own consumer group on the alert stream; `async with` runs it.

    >>> async with Notifier(config, data_dir) as notifier:  # doctest: +SKIP
    ...     async with StreamIntake(redis, "riverwatch:alerts", "riverwatch-notify",
    ...                             "notify-hub-1", notifier):
    ...         ...  # alerts published to the stream reach the webhooks and speakers

    Counters: `read`, `recovered` (own pending entries read back at start), `claimed`
    (taken from another consumer), `acked`, `malformed`, `trimmed`; `in_flight` entries.
    """

    def __init__(
        self,
        redis: Redis,
        stream: str,
        group: str,
        consumer: str,
        notifier: Notifier,
        options: IntakeOptions | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._redis = redis
        self._stream = stream
        self._group = group
        self._name = consumer
        self._notifier = notifier
        self._opts = options or IntakeOptions()
        self._supervisor = supervisor or Supervisor()
        check_block_below_socket_timeout(redis, self._opts.block_ms)
        self._backoff = RetryPolicy(
            backoff_base_s=self._opts.retry_base_s, backoff_max_s=self._opts.retry_max_s
        )
        self._inflight: dict[str, int] = {}  # entry id -> jobs not yet settled
        self._settled: list[str] = []  # entry ids to acknowledge
        self._wake = asyncio.Event()
        self._group_ready = False
        self._recovering = True
        self._own_cursor = "0-0"
        self._claim_cursor = "0-0"
        self._idle = IdleConsumers(
            redis, stream, group, consumer, self._opts.forget_idle_ms, self._opts.forget_every_s
        )
        self._next_claim = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.read = self.recovered = self.claimed = self.acked = 0
        self.malformed = self.trimmed = 0

    @property
    def in_flight(self) -> int:
        """Entries read whose jobs are not all settled."""
        return len(self._inflight)

    async def __aenter__(self) -> StreamIntake:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Create the group (if Redis answers; else the loop retries) and start reading."""
        try:
            await self._ensure_group()
        except (RedisError, OSError, TimeoutError) as exc:
            log.error("notify intake: Redis unavailable at start (%s)", type(exc).__name__)
        self._task = self._supervisor.spawn(f"notify:intake:{self._group}", self.run)

    async def close(self) -> None:
        """Stop reading, give in-flight jobs `drain_budget_s` to settle, acknowledge them.

        Entries still unsettled stay pending in the group; the next start delivers them again.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        # A round ends within one blocking read; cancelling a blocking read outright has been
        # seen to leave redis-py's reply reader waiting (see alerts.consumer).
        budget = self._opts.block_ms / 1000 + 2.0
        done, _ = await asyncio.wait({self._task}, timeout=budget)
        if not done:
            log.warning("notify intake: round overran %.1f s; cancelling", budget)
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=budget)
        self._task = None
        await self._drain(self._opts.drain_budget_s)
        try:
            await self._flush_acks()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("notify intake: final XACK failed (%s)", type(exc).__name__)
        if self._inflight:
            log.warning(
                "notify intake: %d entries left pending for the next start", len(self._inflight)
            )

    async def run(self) -> None:
        """Read until `close()`; Redis failures back off with jitter and never end the loop."""
        attempt = 0
        while not self._stopping:
            try:
                await self.run_once()
                attempt = 0
            except (RedisError, OSError, TimeoutError) as exc:
                attempt += 1
                delay = backoff_s(attempt, self._backoff)
                log.warning(
                    "notify intake: Redis unavailable (%s); retry in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def run_once(self, block: bool = True) -> int:
        """One round: acknowledge what settled, then take entries while the window has room.

        Own pending entries come first (after a restart), then stale ones of other consumers
        (now and then), then new ones. Returns how many entries were taken.
        """
        try:
            await self._ensure_group()
            await self._idle.sweep()
            await self._flush_acks()
            room = min(self._opts.window - len(self._inflight), self._opts.batch_size)
            if room <= 0:
                await self._wait_for_room()
                return 0
            entries = await self._take_own(room) if self._recovering else []
            if not entries and time.monotonic() >= self._next_claim:
                entries = await self._claim(room)
            if not entries:
                entries = await self._read(room, block)
            for entry_id, fields in entries:
                self._submit(entry_id, fields)
            await self._flush_acks()
            return len(entries)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis lost the group (restarted without its data)
                self._group_ready = False
            raise

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="$", mkstream=True)
            log.info("notify intake: created consumer group %s on %s", self._group, self._stream)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _take_own(self, room: int) -> Entries:
        """This consumer's pending entries (read before a crash, never acknowledged)."""
        entries = await self._read_group(self._own_cursor, room, None)
        if not entries:
            self._recovering = False
            return []
        self._own_cursor = entries[-1][0]
        fresh = [(eid, fields) for eid, fields in entries if eid not in self._inflight]
        self.recovered += len(fresh)
        if fresh:
            log.info("notify intake: %d pending deliveries read back", len(fresh))
        return fresh

    async def _claim(self, room: int) -> Entries:
        """Entries idle in another consumer's hands (one that died and did not come back)."""
        reply: list[Any] = await self._redis.xautoclaim(
            self._stream,
            self._group,
            self._name,
            self._opts.claim_idle_ms,
            start_id=self._claim_cursor,
            count=room,
        )
        self._claim_cursor = entry_text(reply[0])
        if self._claim_cursor == "0-0":  # scanned the whole list: rest a while
            self._next_claim = time.monotonic() + self._opts.claim_every_s
        # Our own slow deliveries come back too (their idle time only grew): skip them.
        entries: Entries = [
            (entry_text(eid), fields)
            for eid, fields in reply[1]
            if eid is not None and entry_text(eid) not in self._inflight
        ]
        # Entries trimmed away (MAXLEN) while pending: Redis 7 lists them, 6.2 returns nils.
        self._count_trimmed(sum(1 for eid, _ in reply[1] if eid is None))
        self._count_trimmed(len(reply[2]) if len(reply) > 2 else 0)
        self.claimed += len(entries)
        return entries

    async def _read(self, room: int, block: bool) -> Entries:
        return await self._read_group(">", room, self._opts.block_ms if block else None)

    async def _read_group(self, from_id: str, count: int, block: int | None) -> Entries:
        reply: Any = await self._redis.xreadgroup(
            self._group, self._name, {self._stream: from_id}, count=count, block=block
        )
        streams = reply.items() if isinstance(reply, dict) else reply or []  # RESP3 or RESP2
        entries: Entries = []
        for _stream, stream_entries in streams:
            entries += [(entry_text(eid), fields) for eid, fields in stream_entries]
        self.read += len(entries)
        return entries

    def _submit(self, entry_id: str, fields: dict[Any, Any] | None) -> None:
        """Hand one entry's alert to the notifier; acknowledge at once what needs no call."""
        if not fields:  # deleted or trimmed while pending: nothing left to send
            self._count_trimmed(1)
            self._settled.append(entry_id)
            return
        try:
            alert = parse_entry(fields)
        except MalformedMessage as exc:
            # The ticket consumer dead-letters it in its own group; nothing here can send it.
            self.malformed += 1
            log.warning("notify intake: entry %s skipped: %s", entry_id, exc)
            self._settled.append(entry_id)
            return
        age_s = max(0.0, time.time() - alert.observed_at)
        try:
            made = self._notifier.submit(
                alert, functools.partial(self._settle, entry_id), age_s=age_s
            )
        except NotifyError:
            return  # shutting down: the entry stays pending for the next start
        if made:
            self._inflight[entry_id] = made
        else:
            self._settled.append(entry_id)

    def _settle(self, entry_id: str) -> None:
        """One job of an entry is settled; the last one makes the entry ready to acknowledge."""
        left = self._inflight.get(entry_id, 0) - 1
        if left > 0:
            self._inflight[entry_id] = left
            return
        self._inflight.pop(entry_id, None)
        self._settled.append(entry_id)
        self._wake.set()

    async def _flush_acks(self) -> None:
        if not self._settled:
            return
        ids, self._settled = self._settled, []
        try:
            await self._redis.xack(self._stream, self._group, *ids)
        except BaseException:
            self._settled = ids + self._settled  # tried again next round (or read back later)
            raise
        self.acked += len(ids)

    async def _wait_for_room(self) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._opts.block_ms / 1000)

    async def _drain(self, budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        while self._inflight and (left := deadline - time.monotonic()) > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)

    def _count_trimmed(self, count: int) -> None:
        if count:
            self.trimmed += count
            log.error("notify intake: %d pending entries were trimmed unsent", count)
