"""The closed loop's published figures over a period."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.exc import SQLAlchemyError

from alerts.tickets import LoopFigures
from api.deps import HubDep

router = APIRouter(prefix="/api/stats", tags=["stats"])

_DAY = 86_400.0


@router.get("/loop", responses={422: {"description": "the period ends before it starts"}})
async def loop(
    hub: HubDep,
    since: float | None = Query(default=None, ge=0, description="epoch seconds; 30 days back"),
    until: float | None = Query(default=None, ge=0, description="epoch seconds; now"),
) -> LoopFigures:
    """Received, closed, closure rate, SLA compliance, median time to intervention,
    satisfaction and false alarms per camera and per rule, for tickets received in the period."""
    end = until if until is not None else time.time()
    start = since if since is not None else end - 30 * _DAY
    if end <= start:
        raise HTTPException(422, "`until` must be after `since`")
    try:
        return await hub.tickets().figures(start, end)
    except SQLAlchemyError:
        raise HTTPException(503, "the ticket database is unreachable") from None
