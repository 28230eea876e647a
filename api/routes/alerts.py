"""Alerts in the ticket queue."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from redis.exceptions import RedisError

from api.deps import HubDep
from api.schemas import AlertOut
from api.security.deps import AUTH_RESPONSES, AuditDep, Operator

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=AUTH_RESPONSES)

ALERT_EXAMPLE = {
    "stream_id": "1767225600123-0", "alert_id": "jinsha-001:ban:vessel_in_zone:1767225590",
    "phase": "open", "camera_id": "jinsha-001", "zone_id": "ban", "rule": "vessel_in_zone",
    "severity": "high",
    "started_at": 1767225590.0, "observed_at": 1767225600.0, "frame_seq": 1520, "score": 0.87,
    "box_xyxy": [112, 60, 168, 92],
}  # fmt: skip


@router.get(
    "",
    summary="Recent alerts",
    responses={
        200: {"content": {"application/json": {"example": [ALERT_EXAMPLE]}}},
        503: {"description": "the ticket queue is unreachable"},
    },
)
async def list_alerts(
    _: Operator, hub: HubDep, limit: int = Query(default=50, ge=1, le=1000)
) -> list[AlertOut]:
    """The newest alert messages, newest first; `phase` says which step of its incident each
    is (open, update, evidence, close)."""
    try:
        entries = await hub.recent_alerts(limit)
    except (RedisError, OSError):
        raise HTTPException(503, "the ticket queue (Redis) is unreachable") from None
    return [AlertOut.of(stream_id, alert) for stream_id, alert in entries]


@router.post(
    "/{alert_id}/ack",
    summary="Acknowledge an alert on the wall",
    status_code=204,
    responses={422: {"description": "not an alert id"}},
)
async def acknowledge(
    alert_id: Annotated[str, Path(pattern=r"^[0-9a-f]{8,64}$")],
    _: Operator,
    audit: AuditDep,
) -> None:
    """Record that the signed-in operator has seen the alert (the wall then stops calling
    attention to it). The acknowledgement is kept in the audit log, with who and when."""
    await audit.record("alert.ack", alert_id)
