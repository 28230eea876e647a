"""A real hub behind a real uvicorn server in a thread, for driving pages with a real browser.

The hub runs on the RTSP simulator in its own event loop thread (uvicorn's `serve()` does not
touch signals off the main thread); the test thread drives headless Chromium with Playwright's
sync API and talks to the server over HTTP like any client. Users of each role are created
with the security service's own user store before the server accepts connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

from api import create_app
from api.app import State
from api.live import LiveService
from api.routes import events, incidents, live, pages
from api.security import Role, Security, SecurityConfig, User
from api.security.deps import Reviewer
from hub.runtime import Hub
from riverwatch.config import LoadedConfig
from riverwatch.settings import Settings

T = TypeVar("T")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    # The wall beeps on an alert without a click first; a real operator clicks "Sound on".
    "--autoplay-policy=no-user-gesture-required",
]

PASSWORD = "a long test passphrase 42"
ROLES = {
    "olga": Role.OPERATOR,
    "li.wei": Role.ENFORCEMENT,
    "zhao.min": Role.REVIEWER,
    "gateway": Role.SENSOR_GATEWAY,
    "chief": Role.ADMIN,
}


def build_app(hub: Hub, live_service: LiveService, settings: Settings) -> FastAPI:
    """`api.create_app` plus whatever of the live, events, incidents and pages wiring
    `api/app.py` does not do yet, through the routers' own dependency seams."""
    app = create_app(lambda: contextlib.nullcontext(hub))
    paths = {getattr(route, "path", "") for route in app.routes}
    for module, probe in (
        (incidents, "/api/incidents"),
        (events, "/api/events"),
        (live, "/api/live/stats"),
        (pages, "/login"),
    ):
        if probe not in paths:
            app.include_router(module.router)
    if "live" not in State.__annotations__:
        app.dependency_overrides[live.get_live] = lambda: live_service
    if not isinstance(hub, events.FramedHub):
        wh = (settings.analysis_width, settings.analysis_height)
        app.dependency_overrides[events.get_analysis_wh] = lambda: wh
    if hasattr(incidents, "get_actor"):
        # The verdict's actor is the signed-in reviewer (the router reads request.state).
        app.dependency_overrides[incidents.get_actor] = _reviewer_name
    return app


async def _reviewer_name(user: Reviewer) -> str:
    return user.username


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class ServedHub:
    """The running server: its URL, the hub, and a way to run coroutines on its loop."""

    base_url: str
    hub: Hub
    loop: asyncio.AbstractEventLoop
    users: dict[str, User] = field(default_factory=dict)
    started_at: float = 0.0

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run `coro` on the hub's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def token(self, username: str) -> str:
        """A bearer token for `username`, by the login endpoint like any client."""
        answer = httpx.post(
            self.base_url + "/api/auth/login",
            json={"username": username, "password": PASSWORD},
            timeout=10,
        )
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token

    def get(self, path: str, username: str) -> Any:
        """GET `path` as `username` and return the JSON answer."""
        answer = httpx.get(
            self.base_url + path,
            headers={"Authorization": "Bearer " + self.token(username)},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()


class HubServer:
    """`with HubServer(settings, loaded) as served:` a hub and the app on a free port."""

    def __init__(self, settings: Settings, loaded: LoadedConfig) -> None:
        self._settings = settings
        self._loaded = loaded
        self._ready: Future[ServedHub] = Future()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._thread_main, name="hub-server", daemon=True)

    def __enter__(self) -> ServedHub:
        self._thread.start()
        return self._ready.result(timeout=90)

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=60)
        if self._thread.is_alive():
            raise RuntimeError("the hub server did not stop within 60 s")

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # the test thread must hear why start-up failed
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    async def _main(self) -> None:
        sock = _free_socket()
        port = sock.getsockname()[1]
        async with Hub(self._settings, self._loaded) as hub:
            security = await Security.open(hub.engine, SecurityConfig())
            users = {n: await security.users.create(n, PASSWORD, r) for n, r in ROLES.items()}
            async with LiveService(hub.ring, None, hub.main_ring) as live_service:
                app = build_app(hub, live_service, self._settings)
                config = uvicorn.Config(
                    app, log_level="warning", ws="none", lifespan="on", timeout_graceful_shutdown=5
                )
                self._server = uvicorn.Server(config)
                serving = asyncio.create_task(self._server.serve(sockets=[sock]))
                for _ in range(1200):  # a minute at most
                    if self._server.started or serving.done():
                        break
                    await asyncio.sleep(0.05)
                if serving.done():
                    await serving  # raises why it could not start
                served = ServedHub(
                    f"http://127.0.0.1:{port}", hub, asyncio.get_running_loop(), users, time.time()
                )
                self._ready.set_result(served)
                await serving


def screenshot_dir() -> Path:
    """Where the browser tests leave their screenshots (ignored by git)."""
    path = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
