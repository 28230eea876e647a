"""`GET /api/alerts`: each message says which step of its incident it is."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from api.deps import get_hub
from api.routes import alerts
from api.security import Role
from api.security.deps import current_user
from api.security.users import User
from riverwatch.types import Alert, AlertPhase

T = 1_767_225_600.0


def message(phase: AlertPhase, revision: int = 0) -> Alert:
    """One incident's message in `phase`."""
    return Alert(
        "a1b2c3d4e5f6a1b2c3d4e5f6", "jinsha-001", "ban", "vessel_in_zone", "high", T,
        T + revision, 10 + revision, 0.9, (10, 10, 40, 30), phase=phase, revision=revision,
    )  # fmt: skip


class QueueOnly:
    """The one part of the hub this route reads: the newest messages in the queue."""

    def __init__(self, entries: list[tuple[str, Alert]]) -> None:
        self._entries = entries

    async def recent_alerts(self, count: int) -> list[tuple[str, Alert]]:
        return self._entries[:count]


async def test_each_alert_message_carries_its_phase() -> None:
    entries = [  # newest first, as the stream answers
        ("3-0", message(AlertPhase.CLOSE, 2)),
        ("2-0", message(AlertPhase.UPDATE, 1)),
        ("1-0", message(AlertPhase.OPEN)),
    ]
    app = FastAPI()
    app.include_router(alerts.router)
    app.dependency_overrides[get_hub] = lambda: QueueOnly(entries)
    app.dependency_overrides[current_user] = lambda: User(1, "op", Role.OPERATOR, False, T)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/api/alerts")
    assert answer.status_code == 200, answer.text
    assert [(a["stream_id"], a["phase"]) for a in answer.json()] == [
        ("3-0", "close"),
        ("2-0", "update"),
        ("1-0", "open"),
    ]
