"""Prometheus metrics of the running hub (`GET /metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import HubDep
from api.metrics import CONTENT_TYPE, render
from api.security.deps import AUTH_RESPONSES, MetricsAccess

router = APIRouter(tags=["operations"], responses=AUTH_RESPONSES)


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
            "description": "Prometheus text format",
        }
    },
)
async def metrics(_: MetricsAccess, hub: HubDep) -> Response:
    """Camera health, decode modes, core tick time, alerts, queue, spool, evidence,
    notifications, sensors and live pages, read at scrape time. Prometheus sends
    `Authorization: Bearer <RIVERWATCH_METRICS_TOKEN>`; operators and admins may read it too."""
    return Response(await render(hub), media_type=CONTENT_TYPE)
