"""Prometheus metrics of the running hub (`GET /metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import HubDep
from api.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE: {
                    "example": 'riverwatch_camera_state{camera="jinsha-001",'
                    'group="jinsha",state="streaming"} 1.0\n'
                }
            },
            "description": "Prometheus text format (open: it carries no secrets)",
        }
    },
)
async def metrics(hub: HubDep) -> Response:
    """Camera health, decode modes, core tick time, alerts, queue, spool, evidence,
    notifications, sensors and live pages, read at scrape time."""
    return Response(await render(hub), media_type=CONTENT_TYPE)
