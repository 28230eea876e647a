"""Alerts in the ticket queue."""

from fastapi import APIRouter, HTTPException, Query
from redis.exceptions import RedisError

from api.deps import HubDep
from api.schemas import AlertOut

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", responses={503: {"description": "the ticket queue is unreachable"}})
async def list_alerts(hub: HubDep, limit: int = Query(default=50, ge=1, le=1000)) -> list[AlertOut]:
    """The newest alerts, newest first."""
    try:
        entries = await hub.recent_alerts(limit)
    except (RedisError, OSError):
        raise HTTPException(503, "the ticket queue (Redis) is unreachable") from None
    return [AlertOut.of(stream_id, alert) for stream_id, alert in entries]
