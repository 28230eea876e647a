"""The durable alert spool: every accepted message is on disk before it goes to Redis.

One SQLite file, by default `<data_dir>/spool/alerts.sqlite3`, one row per message keyed by its
`message_id` (`INSERT OR IGNORE`: the same message twice is stored once). Rows keep their
insertion order (`seq`), are marked delivered once Redis holds them, and delivered rows are
pruned after `keep_delivered_s`.

Why these SQLite settings:

- WAL journal: a commit appends to the log instead of rewriting pages, and readers never
  block the writer.
- `synchronous=FULL`: every commit fsyncs the log, so a committed alert survives not only a
  SIGKILL of the hub (which NORMAL would already survive, the log being in the page cache)
  but a power cut or kernel panic of the box too. The cost is one fsync per commit, and
  commits are grouped (the publisher writes whatever arrived meanwhile in one transaction),
  so it is paid once per batch, not once per alert; see `bench/alerts_bench.py`.
- `locking_mode=EXCLUSIVE`: one hub owns its spool. A second process on the same file gets a
  clear `SpoolUnavailable` instead of two hubs delivering one spool. The kernel drops the
  lock when the owner dies, so a restart after SIGKILL opens it at once.

Bounds: at most `max_rows` rows and `max_bytes` of payload. To make room the spool drops, in
this order, the oldest delivered rows (harmless), then the oldest undelivered `update`
messages (a later revision supersedes them), then the oldest undelivered messages. Every
undelivered drop is counted and logged with its message id; nothing is dropped silently.

All file access happens on one worker thread owned by `AlertSpool`; the event loop only
awaits it. If the file cannot be opened (or later written: disk full, read-only), the spool
logs a clear error naming the file and carries on in memory, so alerts are still delivered
while the hub runs, but `durable` turns False and `fallbacks` counts it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from alerts.errors import SpoolUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
_ROW_OVERHEAD = 64  # bytes per row besides the payload: ids, timestamps, index entries
_PRUNE_EVERY_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    phase TEXT NOT NULL,
    payload TEXT NOT NULL,
    size INTEGER NOT NULL,
    spooled_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS spool_undelivered ON spool (seq) WHERE delivered_at IS NULL;
"""


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    """Bounds of the spool; see the module docstring for the drop order."""

    max_rows: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    keep_delivered_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_bytes < 1024 or self.keep_delivered_s < 0:
            raise ValueError("spool limits: max_rows >= 1, max_bytes >= 1024, keep >= 0")


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """One undelivered message: its order in the spool, its id and its stream fields."""

    seq: int
    message_id: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class PutResult:
    """What one `put` did: new rows, rows already present, and undelivered ids dropped."""

    stored: int
    ignored: int
    dropped: tuple[str, ...]


class SpoolFile:
    """The SQLite spool itself; blocking, and used by one thread only (`AlertSpool`'s)."""

    def __init__(self, conn: sqlite3.Connection, limits: SpoolLimits, where: str) -> None:
        self._conn = conn
        self._limits = limits
        self.where = where
        self._last_prune = 0.0
        rows, size, undelivered = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(*) - COUNT(delivered_at) FROM spool"
        ).fetchone()
        self.rows, self.bytes, self.undelivered = int(rows), int(size), int(undelivered)

    @classmethod
    def open(cls, path: Path | None, limits: SpoolLimits) -> SpoolFile:
        """Open (or create) the spool at `path`, or in memory when `path` is None."""
        where = ":memory:" if path is None else str(path)
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(where, timeout=1.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise SpoolUnavailable(f"cannot open the alert spool {where}: {_reason(exc)}") from exc
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: no shared-memory index
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if path is not None and str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, not at first alert
            conn.executescript(_SCHEMA)  # commits the BEGIN above
            return cls(conn, limits, where)
        except sqlite3.Error as exc:
            conn.close()
            raise SpoolUnavailable(f"cannot open the alert spool {where}: {_reason(exc)}") from exc

    def put(self, messages: Sequence[tuple[str, dict[str, str]]], now: float) -> PutResult:
        """Store messages in one transaction (one fsync), then drop what exceeds the bounds."""
        rows = []
        for message_id, fields in messages:
            payload = json.dumps(fields, separators=(",", ":"))
            size = len(payload.encode()) + _ROW_OVERHEAD
            rows.append((message_id, fields.get("phase", ""), payload, size, now))
        stored = added_bytes = 0
        with self._transaction():
            for row in rows:
                cur = self._conn.execute(
                    "INSERT OR IGNORE INTO spool (message_id, phase, payload, size, spooled_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    row,
                )
                if cur.rowcount == 1:
                    stored += 1
                    added_bytes += row[3]
            dropped = self._make_room(stored, added_bytes)
        self.rows += stored
        self.bytes += added_bytes
        self.undelivered += stored
        return PutResult(stored, len(rows) - stored, dropped)

    def undelivered_messages(self, limit: int) -> list[SpooledMessage]:
        """The oldest undelivered messages, in spool order."""
        cur = self._conn.execute(
            "SELECT seq, message_id, payload FROM spool WHERE delivered_at IS NULL"
            " ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [SpooledMessage(seq, mid, json.loads(payload)) for seq, mid, payload in cur]

    def mark_delivered(self, seqs: Sequence[int], now: float) -> None:
        """Mark rows as in Redis; prune delivered rows older than `keep_delivered_s`."""
        with self._transaction():
            marked = 0
            for seq in seqs:
                cur = self._conn.execute(
                    "UPDATE spool SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                    (now, seq),
                )
                marked += cur.rowcount
            if now - self._last_prune >= _PRUNE_EVERY_S:
                self._delete_delivered_before(now - self._limits.keep_delivered_s)
                self._last_prune = now
        self.undelivered -= marked

    def close(self) -> None:
        """Checkpoint and close the file."""
        self._conn.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _delete_delivered_before(self, cutoff: float) -> None:
        count, size = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool WHERE delivered_at < ?",
            (cutoff,),
        ).fetchone()
        if count:
            self._conn.execute("DELETE FROM spool WHERE delivered_at < ?", (cutoff,))
            self.rows -= int(count)
            self.bytes -= int(size)

    def _make_room(self, added_rows: int, added_bytes: int) -> tuple[str, ...]:
        rows, size = self.rows + added_rows, self.bytes + added_bytes
        limits = self._limits
        if rows <= limits.max_rows and size <= limits.max_bytes:
            return ()
        # Delivered first, then superseded updates, then the oldest: see the module docstring.
        cur = self._conn.execute(
            "SELECT seq, message_id, size, delivered_at IS NULL FROM spool"
            " ORDER BY delivered_at IS NULL, phase != 'update', seq"
        )
        victims: list[int] = []
        dropped: list[str] = []
        freed_rows = freed_bytes = 0
        for seq, message_id, row_size, undelivered in cur:
            if rows - freed_rows <= limits.max_rows and size - freed_bytes <= limits.max_bytes:
                break
            victims.append(seq)
            freed_rows += 1
            freed_bytes += row_size
            if undelivered:
                dropped.append(message_id)
        cur.close()
        self._conn.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in victims])
        self.rows -= freed_rows
        self.bytes -= freed_bytes
        self.undelivered -= len(dropped)
        return tuple(dropped)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


class AlertSpool:
    """The spool seen from the event loop: every file operation runs on one worker thread.

    >>> spool = AlertSpool(data_dir / "spool" / "alerts.sqlite3")   # doctest: +SKIP
    >>> await spool.open()                  # never raises: falls back to memory, loudly
    >>> await spool.put([(alert.message_id, alert.to_fields())])
    """

    def __init__(self, path: Path | None, limits: SpoolLimits | None = None) -> None:
        self._path = path
        self._limits = limits or SpoolLimits()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-spool")
        self._file: SpoolFile | None = None
        self.error: str | None = None
        self.fallbacks = 0
        self.dropped = 0

    @property
    def durable(self) -> bool:
        """Whether messages are on disk (False in memory, by choice or after a failure)."""
        return self._file is not None and self._file.where != ":memory:"

    @property
    def undelivered(self) -> int:
        """Rows not yet in Redis."""
        return 0 if self._file is None else self._file.undelivered

    async def open(self) -> None:
        """Open the file; on failure log why, count it and use an in-memory spool instead."""
        try:
            self._file = await self._run(SpoolFile.open, self._path, self._limits)
        except SpoolUnavailable as exc:
            self._degrade(str(exc))
            self._file = await self._run(SpoolFile.open, None, self._limits)
            return
        if self._path is None:
            log.warning("alerts: spool in memory only; alerts are lost if the hub dies")
        elif self._file.undelivered:
            log.info("alerts: %d undelivered alerts resumed from the spool", self._file.undelivered)

    async def put(self, messages: Sequence[tuple[str, dict[str, str]]]) -> PutResult:
        """Store messages (one transaction); on a write failure move to memory and retry."""
        try:
            result = await self._run(self._require().put, messages, time.time())
        except sqlite3.Error as exc:
            await self._fall_back_to_memory(exc)
            result = await self._run(self._require().put, messages, time.time())
        if result.dropped:
            self.dropped += len(result.dropped)
            log.error(
                "alerts: spool full, dropped %d undelivered alerts (oldest first): %s",
                len(result.dropped),
                ", ".join(result.dropped[:10]),
            )
        return result

    async def undelivered_messages(self, limit: int) -> list[SpooledMessage]:
        """The oldest undelivered messages, in order."""
        return await self._run(self._require().undelivered_messages, limit)

    async def mark_delivered(self, seqs: Sequence[int]) -> None:
        """Mark rows delivered; a failure to record it only means a later duplicate (deduped)."""
        try:
            await self._run(self._require().mark_delivered, seqs, time.time())
        except sqlite3.Error as exc:
            await self._fall_back_to_memory(exc)

    async def close(self) -> None:
        """Close the file and stop the worker thread."""
        if self._file is not None:
            if not self.durable and self._file.undelivered:
                log.error(
                    "alerts: %d undelivered alerts lost at shutdown (spool in memory)",
                    self._file.undelivered,
                )
            await self._run(self._file.close)
            self._file = None
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _require(self) -> SpoolFile:
        if self._file is None:
            raise RuntimeError("AlertSpool used before open() or after close()")
        return self._file

    def _degrade(self, reason: str) -> None:
        self.error = reason
        self.fallbacks += 1
        log.error(
            "alerts: %s; alerts now wait IN MEMORY ONLY and are lost if the hub dies "
            "(fix the spool location and restart)",
            reason,
        )

    async def _fall_back_to_memory(self, exc: sqlite3.Error) -> None:
        broken = self._require()
        self._degrade(f"cannot write the alert spool {broken.where}: {_reason(exc)}")
        memory = await self._run(SpoolFile.open, None, self._limits)
        # Carry the undelivered rows over, if the broken file can still be read.
        try:
            carried = await self._run(broken.undelivered_messages, self._limits.max_rows)
        except sqlite3.Error:
            carried = []
        if carried:
            await self._run(memory.put, [(m.message_id, m.fields) for m in carried], time.time())
        await self._run(broken.close)
        self._file = memory

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(func, *args))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename or 'path'})" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
