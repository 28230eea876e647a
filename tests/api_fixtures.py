"""A real hub behind a real HTTP server for the API tests: the app from `create_app`, its
lifespan starting a `Hub` on a real RTSP camera and the hub's SQLite database, uvicorn serving
it in a thread with its own event loop. Tests talk to it over HTTP with `httpx.Client` and run
set-up coroutines (tickets, users) on the server's loop with `server.run(...)`.

Import `api_server_fixture` and `module_rtsp_fixture` into a test module to register them;
`api_server` is module-scoped, so a test module starts one hub.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.tickets import TicketState
from api import create_app
from api.security import Role, Security, SecurityConfig
from api.security.deps import get_security
from api.security.errors import UserExists
from api.security.ratelimit import LimitRule
from api.security.users import UserStore
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import Alert, AlertPhase
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests.ports import free_port

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
ROLES = tuple(Role)
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
sensors:
  sensors:
    - id: jinsha-turbidity-1
      kind: turbidity
      cameras: [{{camera_id: calm, position: downstream}}]
      thresholds: [{{id: turbid, above: 100, hysteresis: 10, severity: high}}]
profiles:
  - id: night
    name: Night
    when: [{{start: "20:00", end: "06:00"}}]
    overrides: [{{groups: [jinsha], rules: [vessel_in_zone], enabled: false}}]
cameras:
  - id: calm
    name: Calm water
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/calm
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}


@dataclass
class FakeClock:
    """The security services' clock; tests move it forward to age tokens and limits."""

    offset_s: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@dataclass
class ApiServer:
    """The running app: its URL, the hub, the server's loop and the injected clock."""

    base_url: str
    app: FastAPI
    hub: Hub
    loop: asyncio.AbstractEventLoop
    clock: FakeClock
    tokens: dict[Role, str] = field(default_factory=dict)
    _alerts: int = 0

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run a coroutine on the server's loop (where the hub's engine lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def client(self, role: Role | None = None, token: str | None = None) -> httpx.Client:
        """An HTTP client, signed in as `role` (or with `token`), or anonymous."""
        bearer = token if token is not None else self.tokens.get(role) if role else None
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def add_user(self, username: str, role: Role, password: str = PASSWORD) -> None:
        """Create a user directly in the store (as `riverwatch users add` does)."""
        self.run(UserStore(self.hub.engine).create(username, password, role))

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """`POST /api/auth/login`."""
        with self.client() as client:
            return client.post("/api/auth/login", json={"username": username, "password": password})

    def token(self, username: str, password: str = PASSWORD) -> str:
        """A fresh token for `username`."""
        answer = self.login(username, password)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token

    def ticket(
        self, state: TicketState = TicketState.RECEIVED, snapshot: str = "", clip: str = ""
    ) -> int:
        """A new ticket, moved through the loop into `state`; its id."""
        self._alerts += 1
        now = time.time()
        alert = Alert(
            f"calm:ban:vessel_in_zone:{now:.6f}:{self._alerts}", "calm", "ban", "vessel_in_zone",
            "high", now, now, 1, 0.9, (10, 10, 40, 30), phase=AlertPhase.EVIDENCE, group="jinsha",
            snapshot=snapshot, clip=clip,
        )  # fmt: skip
        ticket = self.run(self.hub.tickets().apply(alert))
        assert ticket is not None
        for step in _PATH_TO[state]:
            score = 5 if step is TicketState.FEEDBACK else None
            self.run(self.hub.tickets().transition(ticket.id, step, "setup", "", [], None, score))
        return ticket.id


S = TicketState
_PATH_TO: dict[TicketState, tuple[TicketState, ...]] = {
    S.RECEIVED: (),
    S.ASSIGNED: (S.ASSIGNED,),
    S.HANDLED: (S.ASSIGNED, S.HANDLED),
    S.FEEDBACK: (S.ASSIGNED, S.HANDLED, S.FEEDBACK),
}


async def sign_in(
    app: FastAPI, engine: AsyncEngine, role: Role = Role.ADMIN, username: str = "tester"
) -> dict[str, str]:
    """For tests that drive the app without its lifespan (`httpx.ASGITransport`): open the
    security services on `engine`, hand them to the app, create `username` with `role` and
    return its `Authorization` header."""
    security = await Security.open(engine, SecurityConfig())
    app.dependency_overrides[get_security] = lambda: security
    try:
        user = await security.users.create(username, PASSWORD, role)
    except UserExists:  # a database shared between tests (PostgreSQL) keeps its users
        user = await security.users.get(username)
        assert user.role is role, f"{username} exists with another role"
    issued = await security.tokens.issue(user)
    return {"Authorization": f"Bearer {issued.token}"}


def _serve(server: uvicorn.Server, loops: list[asyncio.AbstractEventLoop]) -> None:
    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    asyncio.run(main())


@pytest.fixture(scope="module", name="module_rtsp")
def module_rtsp_fixture(scenes: dict[str, SceneFiles]) -> Iterator[RtspSimulator]:
    """One real RTSP camera (calm water) for the module's hub."""
    mounts = [Mount("/calm", scenes["river_calm"].video)]
    with RtspSimulator(mounts, credentials=("viewer", "s3cret-Pa55")) as sim:
        yield sim


def start_server(
    data_dir: Path, rtsp: RtspSimulator, security: Callable[[FakeClock], SecurityConfig]
) -> tuple[ApiServer, Callable[[], None]]:
    """Start the app with a real hub; the server and a function that stops it."""
    settings = Settings(
        data_dir=data_dir, open_timeout_s=3, read_timeout_s=2, stall_timeout_s=3,
        backoff_base_s=0.2, backoff_max_s=1.0, tick_interval_s=0.2, learn_s=5,
        analysis_width=160, analysis_height=96,
    )  # fmt: skip
    loaded = parse_config(CONFIG.format(port=rtsp.port), env=ENV)
    hubs: list[Hub] = []

    def factory() -> Hub:
        hubs.append(Hub(settings, loaded))
        return hubs[-1]

    clock = FakeClock()
    app = create_app(factory, security(clock))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []
    thread = threading.Thread(target=_serve, args=(server, loops), name="api-server")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive(), "the API server did not stop"

    return ApiServer(f"http://127.0.0.1:{port}", app, hubs[0], loops[0], clock), stop


def default_security(clock: FakeClock) -> SecurityConfig:
    """Security with the injected clock and the production limits."""
    return SecurityConfig(
        clock=clock, per_user=LimitRule(5, 300.0), per_client=LimitRule(30, 300.0)
    )


@pytest.fixture(scope="module", name="api_server")
def api_server_fixture(
    tmp_path_factory: pytest.TempPathFactory, module_rtsp: RtspSimulator
) -> Iterator[ApiServer]:
    """The app on a real hub, with one signed-in user per role (`server.tokens`)."""
    server, stop = start_server(tmp_path_factory.mktemp("api") / "data", module_rtsp,
                                default_security)  # fmt: skip
    try:
        sign_in_roles(server)
        yield server
    finally:
        stop()


def sign_in_roles(server: ApiServer) -> None:
    """One user per role, `<role>-1`, signed in (`server.tokens[role]`)."""
    for role in ROLES:
        name = f"{role.value}-1"
        server.add_user(name, role)
        server.tokens[role] = server.token(name)
