"""Publishing alerts into the ticket queue: spool first, then a Redis stream, idempotently.

`publish(alert)` only appends to a bounded in-memory intake and returns: it never blocks the
detection loop and never raises. `await publish_durably(alerts)` takes the same intake but
returns only once the spool file holds them (fsynced), for a caller that must not answer
before an alert would survive a SIGKILL (the sensor readings' HTTP answer). Two tasks then
move the message on:

    publish() ─────────► intake (bounded) ─► writer task ─► spool (SQLite, fsynced) ─► delivery
    publish_durably() ─┘   (FIFO: one order)     └► wakes publish_durably()      task ─► XADD

- The writer task stores whatever has arrived in one spool transaction (one fsync per batch).
  A message is *accepted* once `spooled` counts it: from then on it survives a SIGKILL.
- `publish_durably` returns once its alerts *and every alert taken in before them* are
  written, so a caller's later step (storing the readings that raised them) never overtakes
  an earlier caller's alerts. It raises `SpoolUnavailable` when they are not on disk: the
  spool fell back to memory after a failure, the intake is full (the spool is stalled), the
  write raised, or the publisher is closing. Alerts it accepted are then still delivered
  from memory while the hub runs.
- The delivery task sends the oldest undelivered spool rows, in order, through one Lua script
  per batch: for each message it claims `riverwatch:alert-ids:<message_id>` with `SET NX` and
  only then `XADD`s the fields (bounded with `MAXLEN ~`). A retry after a timeout, a restart
  after a crash between `XADD` and marking the row delivered, or the same message published
  twice therefore yields one stream entry. While Redis is unreachable or restarting it
  retries with exponential backoff and jitter; rows stay in the spool meanwhile.
- On start-up, rows left undelivered by a previous run (a crash, a shutdown while Redis was
  down) are delivered first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from alerts.errors import SpoolUnavailable
from alerts.spool import AlertSpool, SpooledMessage, SpoolLimits
from riverwatch.backoff import backoff_delay
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert

log = logging.getLogger(__name__)

ID_KEY_PREFIX = "riverwatch:alert-ids:"

# KEYS: the stream, then one id key per message. ARGV: id ttl, maxlen, then per message the
# number of field/value strings followed by them. Returns one entry id (or false) per message.
_PUBLISH_BATCH = """
local ttl, maxlen, at = ARGV[1], ARGV[2], 3
local out = {}
for i = 2, #KEYS do
  local n = tonumber(ARGV[at])
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
                               unpack(ARGV, at + 1, at + n))
  else
    out[#out + 1] = false
  end
  at = at + n + 1
end
return out
"""


@dataclass(frozen=True, slots=True)
class _Waiter:
    """A `publish_durably` call: its alerts are intake numbers `first`..`last` (none when
    `last < first`), and it waits until everything up to `last` has been written."""

    first: int
    last: int
    done: asyncio.Future[None]


class NotReplicated(RedisError):
    """Redis took a batch, but fewer replicas than asked acknowledged it in time: it is sent
    again (its message ids make a second copy a no-op)."""


class AlertPublisher:
    """Owns the spool and the delivery task; `publish()` never blocks and never raises.

    >>> async with AlertPublisher(redis, "riverwatch:alerts",
    ...                           spool_path=data_dir / "spool" / "alerts.sqlite3") as pub:
    ...     pub.publish(alert)   # doctest: +SKIP
    ...     await pub.publish_durably([alert])   # on disk when this returns

    Without `spool_path` the spool lives in memory (alerts are then lost if the process dies).
    Counters: `spooled`, `published`, `duplicates`, `failures`, `dropped`, and `pending`.
    """

    def __init__(
        self,
        redis: Redis,
        stream: str,
        maxlen: int = 100_000,
        id_ttl_s: int = 7 * 24 * 3600,
        queue_size: int = 10_000,
        *,
        spool_path: Path | None = None,
        spool_limits: SpoolLimits | None = None,
        batch_size: int = 100,
        retry_base_s: float = 0.2,
        retry_max_s: float = 10.0,
        supervisor: Supervisor | None = None,
        replicas_ack: int = 0,
        replicas_wait_ms: int = 1000,
    ) -> None:
        self._redis = redis
        # With Redis replicated (Sentinel), a batch counts as delivered only once this many of
        # the replicas connected now hold it: a master that dies right after answering then
        # loses nothing (the next master has it, or the batch is sent to it again).
        self._replicas = (replicas_ack, replicas_wait_ms)
        self._stream = stream
        self._maxlen = maxlen
        self._id_ttl_s = id_ttl_s
        self._batch_size = batch_size
        self._retry = (retry_base_s, retry_max_s)
        self._spool = AlertSpool(spool_path, spool_limits)
        # Alerts with their intake number: numbers only grow, so "written up to n" is one int.
        self._intake: collections.deque[tuple[int, Alert]] = collections.deque()
        self._intake_size = queue_size
        self._taken = 0  # intake numbers handed out
        self._settled = 0  # intake numbers below this were written (or failed to be)
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._intake_ready = asyncio.Event()
        self._work = asyncio.Event()
        self._closing = False
        self._writing = False
        self._progress = asyncio.Event()  # set after every spool write and delivery attempt
        self._script = redis.register_script(_PUBLISH_BATCH)
        self._writer: asyncio.Task[None] | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._supervisor = supervisor or Supervisor()
        self._intake_dropped = 0
        self.spooled = 0
        self.published = 0
        self.duplicates = 0
        self.failures = 0

    async def __aenter__(self) -> AlertPublisher:
        await self._spool.open()
        self._writer = self._supervisor.spawn("alerts:spool-writer", self._write_forever)
        self._delivery = self._supervisor.spawn("alerts:publisher", self._deliver_forever)
        self._work.set()  # rows left by a previous run
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def publish(self, alert: Alert) -> None:
        """Accept an alert; if the intake is full (spool stalled) the oldest is dropped, counted."""
        if self._closing:
            self._intake_dropped += 1
            log.error("alerts: publisher closed, dropped alert %s", alert.message_id)
            return
        if len(self._intake) >= self._intake_size:
            number, old = self._intake.popleft()
            self._intake_dropped += 1
            log.error("alerts: intake full (spool stalled), dropped alert %s", old.message_id)
            self._fail_owner_of(number, f"alert {old.message_id} dropped: the spool is stalled")
        self._intake.append((self._taken, alert))
        self._taken += 1
        self._intake_ready.set()

    async def publish_durably(self, alerts: Sequence[Alert]) -> None:
        """Accept alerts and return once they, and every alert accepted before them, are in
        the spool file (fsynced); with no alerts, only wait for the ones before.

        Raises `SpoolUnavailable` (the message says why) when they are not on disk; alerts it
        accepted are then delivered from memory while the hub runs.
        """
        if self._writer is None or self._closing:
            raise SpoolUnavailable("the alert publisher is not running")
        if len(self._intake) + len(alerts) > self._intake_size:
            for alert in alerts:  # still sent, from memory, like any other alert
                self.publish(alert)
            raise SpoolUnavailable(
                f"the alert spool is stalled: {len(self._intake)} alerts wait to be written"
            )
        first = self._taken
        for alert in alerts:
            self.publish(alert)
        last = self._taken - 1
        if last < self._settled:
            return  # nothing of it is still to be written
        waiter = _Waiter(first, last, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        await waiter.done

    @property
    def pending(self) -> int:
        """Alerts accepted but not yet in Redis (in the intake or undelivered in the spool)."""
        return len(self._intake) + self._spool.undelivered

    @property
    def dropped(self) -> int:
        """Alerts given up to stay within bounds (intake full, spool full, or after close)."""
        return self._intake_dropped + self._spool.dropped

    @property
    def durable(self) -> bool:
        """Whether accepted alerts are on disk; False when the spool fell back to memory."""
        return self._spool.durable

    @property
    def spool_error(self) -> str | None:
        """Why the spool is not durable (names the file), or None."""
        return self._spool.error

    async def close(self, drain_budget_s: float = 5.0) -> None:
        """Deliver what is pending within the budget, then stop; undelivered rows stay spooled."""
        if self._writer is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._until_drained(), drain_budget_s)
        self._closing = True
        self._intake_ready.set()
        # The writer stores the intake's last alerts, then returns; one that keeps crashing
        # (restarted by its supervisor) is cancelled after the budget.
        await asyncio.wait({self._writer}, timeout=drain_budget_s)
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
        self._fail_waiters("the alert publisher closed before writing them")
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.gather(self._delivery, return_exceptions=True)
        if self.pending:
            log.warning(
                "alerts: %d alerts undelivered at shutdown, kept in the spool", self.pending
            )
        await self._spool.close()
        self._writer = self._delivery = None

    async def stream_length(self) -> int:
        """Entries in the alert stream (XLEN)."""
        return int(await self._redis.xlen(self._stream))

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

    async def _until_drained(self) -> None:
        while self.pending or self._writing:
            self._progress.clear()
            await self._progress.wait()

    async def _write_forever(self) -> None:
        while True:
            await self._intake_ready.wait()
            self._intake_ready.clear()
            while self._intake:
                batch = list(self._intake)
                self._intake.clear()
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[tuple[int, Alert]]) -> None:
        """Store one batch and settle the `publish_durably` calls it completes."""
        last = batch[-1][0]
        self._writing = True
        try:
            result = await self._spool.put([(a.message_id, a.to_fields()) for _, a in batch])
        except BaseException as exc:
            # The batch is gone from the intake: its waiters must hear of it, not hang.
            self._settle(last, f"the alert spool write failed: {type(exc).__name__}")
            raise
        finally:
            self._writing = False
        self.spooled += result.stored
        self.duplicates += result.ignored  # already spooled: never sent twice
        # An error here means the spool fell back to memory: written, but not to disk.
        self._settle(last, self._spool.error)
        self._work.set()
        self._progress.set()

    def _settle(self, last: int, error: str | None) -> None:
        """Everything up to intake number `last` was written (to disk unless `error`)."""
        self._settled = last + 1
        while self._waiters and self._waiters[0].last <= last:
            waiter = self._waiters.popleft()
            if waiter.done.done():  # its caller was cancelled, or an alert of it dropped
                continue
            if error is not None and waiter.first <= waiter.last:
                waiter.done.set_exception(SpoolUnavailable(error))
            else:
                waiter.done.set_result(None)

    def _fail_owner_of(self, number: int, reason: str) -> None:
        for waiter in self._waiters:
            if waiter.first <= number <= waiter.last and not waiter.done.done():
                waiter.done.set_exception(SpoolUnavailable(reason))

    def _fail_waiters(self, reason: str) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done.done():
                waiter.done.set_exception(SpoolUnavailable(reason))

    async def _deliver_forever(self) -> None:
        attempt = 0
        while True:
            self._work.clear()  # cleared before reading, so a put meanwhile is not missed
            batch = await self._spool.undelivered_messages(self._batch_size)
            if not batch:
                await self._work.wait()
                continue
            try:
                entry_ids = await self._send(batch)
            except (RedisError, OSError, TimeoutError) as exc:
                self.failures += 1
                attempt += 1
                delay = self._backoff(attempt)
                log.warning(
                    "alerts: Redis unavailable (%s); %d alerts wait in the spool, retry in %.1f s",
                    _describe(exc),
                    self.pending,
                    delay,
                )
                self._progress.set()
                await asyncio.sleep(delay)
                continue
            attempt = 0
            await self._spool.mark_delivered([m.seq for m in batch])
            self._count(batch, entry_ids)
            self._progress.set()

    def _backoff(self, attempt: int) -> float:
        base, cap = self._retry
        return backoff_delay(attempt - 1, base, cap)

    async def _send(self, batch: list[SpooledMessage]) -> list[Any]:
        keys = [self._stream] + [ID_KEY_PREFIX + m.message_id for m in batch]
        args: list[str | int] = [self._id_ttl_s, self._maxlen]
        for message in batch:
            args.append(2 * len(message.fields))
            for key, value in message.fields.items():
                args += [key, value]
        result = await self._script(keys=keys, args=args)
        await self._replicated()
        return list(result)

    async def _replicated(self) -> None:
        """Wait until the wanted replicas hold what was written (`WAIT`); NotReplicated if
        they do not within the wait. Only replicas connected now are waited for: a master
        whose replicas are gone (it was just promoted) still takes alerts."""
        wanted, wait_ms = self._replicas
        if not wanted:
            return
        info: dict[str, Any] = await self._redis.info("replication")
        wanted = min(wanted, int(info.get("connected_slaves", 0)))
        if not wanted:
            return
        acked = int(await self._redis.wait(wanted, wait_ms))
        if acked < wanted:
            raise NotReplicated(f"{acked} of {wanted} replicas acknowledged within {wait_ms} ms")

    def _count(self, batch: list[SpooledMessage], entry_ids: list[Any]) -> None:
        for message, entry_id in zip(batch, entry_ids, strict=True):
            if entry_id is None:
                self.duplicates += 1
                continue
            self.published += 1
            fields = message.fields
            log.info(
                "alert %s: camera %s zone %s rule %s -> %s",
                message.message_id,
                fields.get("camera_id", ""),
                fields.get("zone_id", ""),
                fields.get("rule", ""),
                self._stream,
            )


def _describe(exc: BaseException) -> str:
    # A server's error reply says what is wrong (OOM, WRONGTYPE) and carries no secret; a
    # connection error's text may name the host, so only its type is logged.
    if isinstance(exc, ResponseError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
