"""The FastAPI application; the hub is made in the lifespan and handed on as typed state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from api.routes import alerts, cameras, health, sensors, stats, suppressions, tickets
from ingest.sensors import SensorHub
from riverwatch import __version__
from riverwatch.hubview import HubView


class State(TypedDict):
    """What the lifespan hands to every request (`request.state.hub`)."""

    hub: HubView
    sensors: SensorHub


HubFactory = Callable[[], AbstractAsyncContextManager[HubView]]


def create_app(hub_factory: HubFactory) -> FastAPI:
    """An app whose lifespan runs the hub that `hub_factory` makes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with hub_factory() as hub:
            yield {"hub": hub, "sensors": hub.sensors()}

    app = FastAPI(title="riverwatch", version=__version__, lifespan=lifespan)
    routers = (health, cameras, alerts, tickets, stats, suppressions, sensors)
    for router in (r.router for r in routers):
        app.include_router(router)
    return app
