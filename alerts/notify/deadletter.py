"""The durable dead-letter list: webhook deliveries that could not be made.

Kept in one SQLite file, `<data_dir>/notify/dead_letters.sqlite3`, rather than a JSON-lines
file: a re-drive removes single entries and the bound trims the oldest, which SQLite does
atomically in place, where a JSON-lines file would have to be rewritten whole (and a crash
mid-rewrite would lose it). Each operation opens its own short connection in a worker thread
(`asyncio.to_thread`), so the event loop never waits on the disk; operations are rare (only
failures and operator re-drives), so the open costs nothing that matters.

The stored body is the signed JSON payload (alert fields, no secrets); the URL and secret
are never stored, so a re-drive signs again with the target's current secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alerts.notify.errors import DeadLetterStoreError

_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    event TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_target ON dead_letters (target, id);
"""
_COLUMNS = "id, target, delivery_id, event, body, reason, attempts, last_status, created_at"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One delivery given up on: where it was going, what it carried and why it failed."""

    id: int
    target: str
    delivery_id: str
    event: str
    body: bytes
    reason: str
    attempts: int
    last_status: int | None
    created_at: float


class DeadLetterStore:
    """A bounded dead-letter table; the oldest entries go when `max_rows` is exceeded.

    >>> store = DeadLetterStore(tmp / "dead.sqlite3", max_rows=1000)   # doctest: +SKIP
    >>> await store.open()
    >>> await store.add("city-ops", "3f0c", "alert.open", b"{}", "http 500", 6, 500)
    """

    def __init__(self, path: Path, max_rows: int = 10_000, timeout_s: float = 5.0) -> None:
        self._path = path
        self._max_rows = max_rows
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self.evicted = 0

    async def open(self) -> None:
        """Create the directory and table; raises `DeadLetterStoreError` if it cannot."""
        await self._run(self._create)

    async def add(
        self,
        target: str,
        delivery_id: str,
        event: str,
        body: bytes,
        reason: str,
        attempts: int,
        last_status: int | None,
    ) -> None:
        """Record one dead letter, trimming the oldest beyond the bound."""
        row = (target, delivery_id, event, body, reason, attempts, last_status, time.time())
        self.evicted += await self._run(lambda: self._insert(row))

    async def entries(self, target: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first, optionally for one target."""
        return await self._run(lambda: self._select(target, None, limit))

    async def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        """The dead letters with these ids (those that exist)."""
        return await self._run(lambda: self._select(None, list(ids), len(ids)))

    async def remove(self, ids: Sequence[int]) -> None:
        """Forget these dead letters (after a re-drive took them)."""
        await self._run(lambda: self._delete(list(ids)))

    async def count(self) -> int:
        """How many dead letters are kept."""
        return await self._run(self._count)

    async def _run(self, work: Callable[[], _T]) -> _T:
        async with self._lock:
            try:
                return await asyncio.to_thread(work)
            except (sqlite3.Error, OSError) as exc:
                # The path is not secret, but the message is enough to act on.
                raise DeadLetterStoreError(
                    f"dead-letter store {self._path}: {type(exc).__name__}: {exc}"
                ) from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=self._timeout_s)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def _create(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _insert(self, row: tuple[object, ...]) -> int:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO dead_letters (target, delivery_id, event, body, reason, attempts,"
                " last_status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            cur = conn.execute(
                "DELETE FROM dead_letters WHERE id <= "
                "(SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self._max_rows,),
            )
            return cur.rowcount

    def _select(self, target: str | None, ids: list[int] | None, limit: int) -> list[DeadLetter]:
        sql = f"SELECT {_COLUMNS} FROM dead_letters"
        args: list[object] = []
        if target is not None:
            sql += " WHERE target = ?"
            args.append(target)
        elif ids is not None:
            sql += f" WHERE id IN ({','.join('?' * len(ids))})"
            args += ids
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self._connect() as conn:
            return [DeadLetter(*row) for row in conn.execute(sql, args)]

    def _delete(self, ids: list[int]) -> None:
        with self._connect() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(i,) for i in ids])

    def _count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
