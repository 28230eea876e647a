"""`/api/events` over a real HTTP server (uvicorn) and a real hub on the RTSP simulator: a boat
raises an alert that arrives as an `alert` event with the contract's fields, keep-alive comments
flow while nothing happens, and a client that goes away is removed from the feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alerts.feed import AlertFeed
from api.deps import get_hub
from api.routes import events
from api.security import Role
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import Alert
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually
from tests.sensor_fixtures import sqlite_engine

CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}
KEEPALIVE_S = 0.5


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real uvicorn server on a free loopback port; its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, timeout_s=30, what="uvicorn started")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


class EventReader:
    """Reads one SSE response in a task: events as (name, id, data) and comment lines."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.comments: list[str] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        async for line in self.response.aiter_lines():
            if line.startswith(":"):
                self.comments.append(line)
            elif line == "":
                if "data" in fields:
                    event = (
                        fields.get("event", ""),
                        fields.get("id", ""),
                        json.loads(fields["data"]),
                    )
                    self.events.append(event)
                fields = {}
            else:
                name, _, text = line.partition(":")
                fields[name] = text.removeprefix(" ")

    async def close(self) -> None:
        await self.response.aclose()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.mark.timeout(240)
async def test_alert_events_from_a_real_hub(rtsp: RtspSimulator, settings: Settings) -> None:
    settings = settings.model_copy(update={"evidence_pre_roll_s": 1.0, "evidence_post_roll_s": 1.0})
    loaded = parse_config(CONFIG.format(port=rtsp.port), env=ENV)
    wh = (settings.analysis_width, settings.analysis_height)
    async with Hub(settings, loaded) as hub:
        app = FastAPI()
        app.include_router(events.router)
        app.dependency_overrides[get_hub] = lambda: hub
        # The hub does not yet report its frame size itself (see the report); the settings do.
        app.dependency_overrides[events.get_analysis_wh] = lambda: wh
        app.dependency_overrides[events.get_keepalive_s] = lambda: KEEPALIVE_S
        headers = await sign_in(app, hub.engine, Role.OPERATOR)
        async with (
            serve(app) as url,
            httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client,
        ):
            async with client.stream("GET", "/api/events") as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                reader = EventReader(response)
                await eventually(lambda: hub.feed.subscribers == 1, what="a subscriber")
                await _a_second_client_comes_and_goes(client, hub.feed)
                await eventually(lambda: len(reader.comments) >= 2, what="keep-alive comments")
                await eventually(
                    lambda: any(e[2]["phase"] == "open" for e in reader.events),
                    timeout_s=150,
                    what="the boat's alert on the event stream",
                )
                await reader.close()
            await eventually(lambda: hub.feed.subscribers == 0, what="the client removed")
    assert reader.comments[0] == ": keep-alive"
    name, event_id, data = next(e for e in reader.events if e[2]["phase"] == "open")
    assert name == "alert" and event_id == data["message_id"]
    sent = Alert.from_fields({k: v for k, v in data.items() if isinstance(v, str)})
    assert set(sent.to_fields()) | {"box", "analysis_wh"} == set(data)
    assert sent.camera_id == "boat" and sent.group == "jinsha" and sent.rule == "vessel_in_zone"
    assert data["box"] == list(sent.box_xyxy) and data["analysis_wh"] == list(wh)
    x1, y1, x2, y2 = data["box"]
    assert 0 <= x1 < x2 <= wh[0] and 0 <= y1 < y2 <= wh[1]


async def _a_second_client_comes_and_goes(client: httpx.AsyncClient, feed: AlertFeed) -> None:
    async with client.stream("GET", "/api/events") as second:
        assert second.status_code == 200
        await eventually(lambda: feed.subscribers == 2, what="two subscribers")
    # The response is closed without reading it to the end: the connection drops.
    await eventually(lambda: feed.subscribers == 1, what="the gone client removed")


class FullFeed:
    """A hub whose live feed has no room: only `feed` is read by the route."""

    def __init__(self) -> None:
        self.feed = AlertFeed(max_subscribers=0)


async def test_a_full_feed_is_503_with_a_message(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(events.router)
    app.dependency_overrides[get_hub] = FullFeed
    app.dependency_overrides[events.get_analysis_wh] = lambda: (320, 180)
    transport = httpx.ASGITransport(app=app)
    async with (
        sqlite_engine(tmp_path / "people.db") as people,
        httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
    ):
        client.headers.update(await sign_in(app, people, Role.OPERATOR))
        answer = await client.get("/api/events")
    assert answer.status_code == 503 and "too many" in answer.json()["detail"]


async def test_without_a_frame_size_the_stream_is_refused_not_wrong(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(events.router)
    app.dependency_overrides[get_hub] = FullFeed
    transport = httpx.ASGITransport(app=app)
    async with (
        sqlite_engine(tmp_path / "people.db") as people,
        httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
    ):
        client.headers.update(await sign_in(app, people, Role.OPERATOR))
        answer = await client.get("/api/events")
    assert answer.status_code == 503 and "frame size" in answer.json()["detail"]
