"""The FastAPI application; the hub is made in the lifespan and handed on as typed state.

The lifespan also opens the security services on the hub's database (users, tokens, audit;
the first admin from `SecurityConfig`), so every route can check who is calling.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from alerts.labels import SampleStore
from api.hubview import HubView
from api.live import LiveService
from api.routes import (
    alerts,
    audit,
    auth,
    cameras,
    cluster,
    configuration,
    events,
    health,
    incidents,
    labels,
    live,
    metrics,
    pages,
    probe,
    profiles,
    push,
    sensors,
    share,
    stats,
    suppressions,
    tickets,
    users,
    verifier,
)
from api.security import Security, SecurityConfig
from api.security.logfilter import install_token_filter
from ingest.sensors import SensorHub
from riverwatch import __version__

log = logging.getLogger(__name__)

DESCRIPTION = """The river city's monitoring hub: cameras, alerts, the ticket loop, sensors.

Sign in with `POST /api/auth/login` and send `Authorization: Bearer <token>` on every other
call (GET calls also take `?token=` for video, images and server-sent events). Roles:
operator, enforcement, reviewer, admin, sensor-gateway; see each operation's 403.
"""


class State(TypedDict):
    """What the lifespan hands to every request (`request.state.hub`)."""

    hub: HubView
    sensors: SensorHub
    security: Security
    live: LiveService
    labels: SampleStore


HubFactory = Callable[[], AbstractAsyncContextManager[HubView]]


def create_app(hub_factory: HubFactory, security: SecurityConfig | None = None) -> FastAPI:
    """An app whose lifespan runs the hub that `hub_factory` makes; `security` sets token
    lifetime, login limits and the first admin (defaults: 12 h tokens, no admin)."""
    config = security if security is not None else SecurityConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with hub_factory() as hub:
            opened = await Security.open(hub.engine, config, hub.shared_redis())
            async with LiveService(hub.ring, None, hub.main_ring) as live_service:
                yield {
                    "hub": hub,
                    "sensors": hub.sensors(),
                    "security": opened,
                    "live": live_service,
                    "labels": SampleStore(hub.data_dir / "labels"),
                }

    app = FastAPI(
        title="riverwatch", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    routers = (
        *(health, auth, users, audit, cameras, alerts, tickets, stats, suppressions, sensors),
        *(
            incidents,
            labels,
            verifier,
            live,
            events,
            metrics,
            cluster,
            share,
            push,
            profiles,
            probe,
            configuration,
        ),
        pages,  # last: its page routes must not shadow the API's
    )
    for router in (r.router for r in routers):
        app.include_router(router)
    app.add_exception_handler(SQLAlchemyError, _database_unavailable)
    install_token_filter()  # `?token=` must not reach the access log
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the answers every body-taking operation can give: 400 for a body
    that cannot be parsed, and 503 when the database fails mid-request."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)  # fmt: skip
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                _add_common_answers(operation)
        app.openapi_schema = schema
    return app.openapi_schema


def _add_common_answers(operation: dict[str, Any]) -> None:
    answers = operation.setdefault("responses", {})
    error = {"application/json": {"example": {"detail": "what was wrong"}}}
    if "requestBody" in operation:
        answers.setdefault("400", {"description": "the body cannot be parsed", "content": error})
    answers.setdefault("503", {"description": "a dependency is unavailable", "content": error})


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A database that fails mid-request is an outage to report, not a bug to show as 500.
    log.warning("api: database error on %s %s: %s", request.method, request.url.path,
                type(exc).__name__)  # fmt: skip
    return JSONResponse({"detail": "the database is unavailable; try again"}, status_code=503)
