"""The audit log: who changed what, when, from where.

Every state change made through the API is recorded with the user, the action
(`ticket.transition`, `camera.decode_mode`, `suppression.add`, `user.create`, ...), the target
(`ticket:12`, `camera:jinsha-001`), the time and a small JSON detail. Routes record through
`AuditTrail` (`api.security.deps`), which already knows the user and the client address.
Details are capped in size; secrets are never put in them (callers pass names and ids).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from api.security.tables import audit_log
from riverwatch.sql import reader

MAX_DETAIL_CHARS = 4000
ANONYMOUS = "-"


@dataclass(frozen=True)
class AuditEntry:
    """One recorded change."""

    id: int
    at: float
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    client: str


@dataclass(frozen=True)
class AuditQuery:
    """Filters for reading the log, newest first."""

    limit: int = 100
    username: str | None = None
    action: str | None = None
    target: str | None = None
    since: float | None = None
    until: float | None = None


class AuditLog:
    """Append to and read the audit table."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    async def record(
        self,
        username: str,
        role: str,
        action: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
        client: str = "",
    ) -> None:
        """Append one entry."""
        text = json.dumps(dict(detail or {}), default=str, sort_keys=True)
        if len(text) > MAX_DETAIL_CHARS:
            text = json.dumps({"truncated": text[: MAX_DETAIL_CHARS - 100]})
        values = {"at": self._clock(), "username": username[:64], "role": role[:32],
                  "action": action[:64], "target": target[:200], "detail": text,
                  "client": client[:64]}  # fmt: skip
        async with self._engine.begin() as conn:
            await conn.execute(audit_log.insert().values(**values))

    async def entries(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching `query`, newest first."""
        c = audit_log.c
        conditions = [
            cond
            for cond in (
                c.username == query.username if query.username is not None else None,
                c.action == query.action if query.action is not None else None,
                c.target == query.target if query.target is not None else None,
                c.at >= query.since if query.since is not None else None,
                c.at < query.until if query.until is not None else None,
            )
            if cond is not None
        ]
        select = sa.select(audit_log).where(*conditions).order_by(c.id.desc()).limit(query.limit)
        async with reader(self._engine).connect() as conn:
            rows = (await conn.execute(select)).all()
        return [_entry(r._mapping) for r in rows]


def _entry(row: sa.RowMapping) -> AuditEntry:
    return AuditEntry(
        row["id"], row["at"], row["username"], row["role"], row["action"], row["target"],
        json.loads(row["detail"]), row["client"],
    )  # fmt: skip
