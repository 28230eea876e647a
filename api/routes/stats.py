"""The closed loop's published figures over a period."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy.exc import SQLAlchemyError

from alerts.tickets import LoopFigures
from api.deps import HubDep
from api.security.deps import AUTH_RESPONSES, Reviewer

router = APIRouter(prefix="/api/stats", tags=["stats"], responses=AUTH_RESPONSES)

_DAY = 86_400.0


_FIGURES_EXAMPLE = {
    "since": 1764633600.0, "until": 1767225600.0, "received": 412, "closed": 405,
    "closure_rate": 0.983, "sla_met": 398, "sla_due": 410, "sla_compliance": 0.971,
    "interventions": 390,
    "median_time_to_intervention_s": 1260.0, "feedback_count": 380, "satisfied": 366,
    "satisfaction_rate": 0.963, "satisfaction_mean": 4.6, "false_alarms": 21,
    "false_alarm_rate": 0.051,
    "per_camera": [{"key": "jinsha-001", "received": 40, "closed": 40, "false_alarms": 3,
                    "false_alarm_rate": 0.075}],
    "per_rule": [{"key": "vessel_in_zone", "received": 300, "closed": 296, "false_alarms": 15,
                  "false_alarm_rate": 0.05}],
}  # fmt: skip


@router.get(
    "/loop",
    summary="The closed loop's figures",
    responses={
        200: {"content": {"application/json": {"example": _FIGURES_EXAMPLE}}},
        422: {"description": "the period ends before it starts"},
        503: {"description": "the ticket database is unreachable"},
    },
)
async def loop(
    _: Reviewer,
    hub: HubDep,
    since: float | None = Query(default=None, ge=0, le=1e11, description="epoch s; 30 days back"),
    until: float | None = Query(default=None, ge=0, le=1e11, description="epoch s; now"),
) -> LoopFigures:
    """Received, closed, closure rate, SLA compliance, median time to intervention,
    satisfaction and false alarms per camera and per rule, for tickets received in the period.
    SLA compliance is `sla_met / sla_due` over the tickets answered or overdue by `until`;
    it is null while none is due yet."""
    end = until if until is not None else time.time()
    start = since if since is not None else end - 30 * _DAY
    if end <= start:
        raise HTTPException(422, "`until` must be after `since`")
    try:
        return await hub.tickets().figures(start, end)
    except SQLAlchemyError:
        raise HTTPException(503, "the ticket database is unreachable") from None
