"""Every route's auth and role rules, table-driven against the running app on a real hub.

Each row of `TABLE` names a route and the roles that may call it (admin always may; `OPEN`
rows need no token) and builds a real request that succeeds for an allowed caller. Every
caller (anonymous and one user per role) sends it: anonymous gets 401 on a guarded route, an
allowed role 2xx, any other role 403. A route the app serves that has no row fails the suite.
The table mirrors the one in `api.security.policy`'s docstring.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.routing import Mount, Route

from alerts.tickets import TicketState
from api.routes.pages import PAGES
from api.security import Role
from tests.api_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    PASSWORD,
    ApiServer,
    api_server_fixture,
    module_rtsp_fixture,
)

S = TicketState
OP, ENF, REV, ADMIN, GW = (Role.OPERATOR, Role.ENFORCEMENT, Role.REVIEWER, Role.ADMIN,
                           Role.SENSOR_GATEWAY)  # fmt: skip
OPEN: frozenset[Role] | None = None  # no token needed
ANY_USER = frozenset(Role)
_ids = itertools.count(1)


@dataclass(frozen=True)
class Call:
    """A concrete request; `own_token` asks for a fresh token of the caller (logout)."""

    method: str
    url: str
    json: Any = None
    data: dict[str, str] | None = None
    own_token: bool = False
    stream: bool = False  # server-sent events: read the status, then hang up


@dataclass(frozen=True)
class Row:
    """A route, who may call it, and how to build a request that an allowed caller wins."""

    method: str
    route: str
    roles: frozenset[Role] | None
    make: Callable[[ApiServer], Call]
    label: str = ""
    expected_ok: frozenset[int] = field(default=frozenset({200}))

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}{' ' + self.label if self.label else ''}"


def get(url: str) -> Callable[[ApiServer], Call]:
    return lambda _: Call("GET", url)


def _window(server: ApiServer) -> Call:
    async def add() -> str:
        now = time.time()
        return (
            server.hub.suppressions().add("calm", now, now + 600, "roles test", "setup").window_id
        )

    return Call("DELETE", f"/api/suppressions/{server.run(add())}")


def _move(start: TicketState, to: TicketState) -> Callable[[ApiServer], Call]:
    def make(server: ApiServer) -> Call:
        data = {"to": to.value}
        if to is S.FEEDBACK:
            data["satisfaction"] = "5"
        return Call("POST", f"/api/tickets/{server.ticket(start)}/transitions", data=data)

    return make


def _evidence(server: ApiServer) -> Call:
    path = server.hub.data_dir / "evidence" / "roles.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
    ticket_id = server.ticket(snapshot="evidence/roles.jpg")
    return Call("GET", f"/api/tickets/{ticket_id}/evidence/snapshot")


def _subscription(_: ApiServer) -> Call:
    point = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).rstrip(b"=").decode()
    auth = base64.urlsafe_b64encode(bytes(16)).rstrip(b"=").decode()
    endpoint = f"https://push.invalid/{next(_ids)}"
    return Call("POST", "/api/push/subscriptions",
                json={"endpoint": endpoint, "keys": {"p256dh": point, "auth": auth}})  # fmt: skip


def _target_user(server: ApiServer) -> str:
    name = f"target-{next(_ids)}"
    server.add_user(name, Role.OPERATOR)
    return name


def _reading(_: ApiServer) -> Call:
    body = {"sensor_id": "jinsha-turbidity-1", "value": 20.0, "unit": "NTU", "ts": time.time()}
    return Call("POST", "/api/sensors/readings", json=body)


TABLE: list[Row] = [
    Row("GET", "/healthz", OPEN, get("/healthz")),
    Row("GET", "/readyz", OPEN, get("/readyz")),
    Row("GET", "/openapi.json", OPEN, get("/openapi.json")),
    Row("GET", "/docs", OPEN, get("/docs")),
    Row("GET", "/docs/oauth2-redirect", OPEN, get("/docs/oauth2-redirect")),
    Row("GET", "/redoc", OPEN, get("/redoc")),
    Row("POST", "/api/auth/login", OPEN,
        lambda _: Call("POST", "/api/auth/login",
                       json={"username": "operator-1", "password": PASSWORD})),
    Row("POST", "/api/auth/logout", ANY_USER,
        lambda _: Call("POST", "/api/auth/logout", own_token=True), expected_ok=frozenset({204})),
    Row("GET", "/api/auth/me", ANY_USER, get("/api/auth/me")),
    Row("GET", "/api/cameras", frozenset({OP, ENF, REV}), get("/api/cameras")),
    Row("GET", "/api/cameras/{camera_id}", frozenset({OP, ENF, REV}), get("/api/cameras/calm")),
    Row("PUT", "/api/cameras/{camera_id}/decode-mode", frozenset({OP}),
        lambda _: Call("PUT", "/api/cameras/calm/decode-mode", json={"mode": "keyframes"})),
    Row("GET", "/api/alerts", frozenset({OP}), get("/api/alerts")),
    Row("POST", "/api/alerts/{alert_id}/ack", frozenset({OP}),
        lambda _: Call("POST", "/api/alerts/3f9c0a1b2c3d4e5f60718293/ack"),
        expected_ok=frozenset({204})),
    Row("GET", "/api/suppressions", frozenset({OP}), get("/api/suppressions")),
    Row("POST", "/api/suppressions", frozenset({OP}),
        lambda _: Call("POST", "/api/suppressions",
                       json={"camera_id": "calm", "end": time.time() + 600, "reason": "test"}),
        expected_ok=frozenset({201})),
    Row("DELETE", "/api/suppressions/{window_id}", frozenset({OP}), _window,
        expected_ok=frozenset({204})),
    Row("GET", "/api/sensors/{sensor_id}/readings", frozenset({OP}),
        get("/api/sensors/jinsha-turbidity-1/readings")),
    Row("POST", "/api/sensors/readings", frozenset({GW}), _reading),
    Row("GET", "/api/sensors", frozenset({OP}), get("/api/sensors")),
    Row("GET", "/api/tickets", frozenset({ENF, REV}), get("/api/tickets")),
    Row("GET", "/api/tickets/{ticket_id}", frozenset({ENF, REV}),
        lambda s: Call("GET", f"/api/tickets/{s.ticket()}")),
    *(
        Row("POST", "/api/tickets/{ticket_id}/transitions", roles, _move(start, to), f"to {to}")
        for start, to, roles in (
            (S.RECEIVED, S.ASSIGNED, frozenset({ENF})),
            (S.ASSIGNED, S.HANDLED, frozenset({ENF})),
            (S.HANDLED, S.FEEDBACK, frozenset({ENF})),
            (S.FEEDBACK, S.VERIFIED, frozenset({REV})),
            (S.RECEIVED, S.FALSE_ALARM, frozenset({REV})),
            (S.ASSIGNED, S.REJECTED, frozenset({REV})),
        )
    ),
    Row("GET", "/api/tickets/{ticket_id}/evidence/{kind}", frozenset({ENF, REV}), _evidence),
    Row("GET", "/api/tickets/{ticket_id}/attachments/{attachment_id}", frozenset({ENF, REV}),
        lambda s: Call("GET", f"/api/tickets/{s.ticket()}/attachments/1"),
        expected_ok=frozenset({404})),  # allowed in, and told there is no such photo
    Row("GET", "/api/stats/loop", frozenset({REV}), get("/api/stats/loop")),
    Row("GET", "/api/audit", frozenset({REV}), get("/api/audit")),
    Row("GET", "/api/users", frozenset(), get("/api/users")),
    Row("POST", "/api/users", frozenset(),
        lambda _: Call("POST", "/api/users", json={"username": f"new-{next(_ids)}",
                                                   "password": PASSWORD, "role": "operator"}),
        expected_ok=frozenset({201})),
    Row("PUT", "/api/users/{username}/role", frozenset(),
        lambda s: Call("PUT", f"/api/users/{_target_user(s)}/role", json={"role": "reviewer"})),
    Row("PUT", "/api/users/{username}/disabled", frozenset(),
        lambda s: Call("PUT", f"/api/users/{_target_user(s)}/disabled", json={"disabled": True})),
    Row("PUT", "/api/users/{username}/password", frozenset(),
        lambda s: Call("PUT", f"/api/users/{_target_user(s)}/password",
                       json={"password": "a brand new passphrase"})),
    Row("POST", "/api/live/{camera_id}/offer", frozenset({OP}),
        lambda _: Call("POST", "/api/live/calm/offer", json={"sdp": "v=0", "type": "offer"}),
        expected_ok=frozenset({422})),  # allowed in, and told the offer is no SDP
    Row("GET", "/api/live/{camera_id}/snapshot.jpg", frozenset({OP}),
        get("/api/live/calm/snapshot.jpg")),
    Row("GET", "/api/live/stats", frozenset({OP}), get("/api/live/stats")),
    Row("GET", "/api/events", frozenset({OP, ENF}),
        lambda _: Call("GET", "/api/events", stream=True)),
    Row("GET", "/api/incidents", frozenset({REV}), get("/api/incidents")),
    Row("GET", "/api/incidents/{incident_id}", frozenset({REV}),
        lambda s: Call("GET", f"/api/incidents/{s.ticket()}")),
    Row("POST", "/api/incidents/{incident_id}/verdict", frozenset({REV}),
        lambda s: Call("POST", f"/api/incidents/{s.ticket()}/verdict",
                       json={"verdict": "confirmed", "note": "seen on the clip"})),
    Row("GET", "/api/labels", frozenset({REV}),
        lambda s: Call("GET", f"/api/labels?ticket={s.ticket()}")),
    Row("POST", "/api/labels", frozenset({REV}),
        lambda s: Call("POST", "/api/labels",
                       json={"ticket_id": s.ticket(), "box_xyxy": [1, 1, 9, 9], "label": "boat"}),
        expected_ok=frozenset({422})),  # allowed in, and told the ticket has no snapshot
    Row("DELETE", "/api/labels/{label_id}", frozenset({REV}),
        lambda _: Call("DELETE", "/api/labels/0123456789abcdef"),
        expected_ok=frozenset({404})),  # allowed in, and told there is no such label
    Row("GET", "/api/labels/counts", frozenset({REV}), get("/api/labels/counts")),
    Row("GET", "/api/verifier", frozenset({REV}), get("/api/verifier")),
    Row("POST", "/api/verifier/train", frozenset({REV}),
        lambda _: Call("POST", "/api/verifier/train"),
        expected_ok=frozenset({422})),  # allowed in, and told there are too few labels
    Row("POST", "/api/verifier/activate", frozenset({REV}),
        lambda _: Call("POST", "/api/verifier/activate", json={"version": "v9999"}),
        expected_ok=frozenset({404})),  # allowed in, and told there is no such version
    Row("GET", "/metrics", frozenset({OP}), get("/metrics")),
    Row("GET", "/", OPEN, get("/"), expected_ok=frozenset({307})),
    *(Row("GET", f"/{page}", OPEN, get(f"/{page}")) for page in PAGES),
    Row("GET", "/static/{path:path}", OPEN, get("/static/css/app.css")),
    Row("GET", "/api/profiles", frozenset({OP, ENF, REV}), get("/api/profiles")),
    Row("POST", "/api/probe", frozenset(),
        lambda _: Call("POST", "/api/probe", json={"url": "file:///dev/null", "seconds": 1})),
    Row("PUT", "/api/profiles/{profile_id}", frozenset({OP}),
        lambda _: Call("PUT", "/api/profiles/night", json={"state": "schedule"})),
    Row("GET", "/api/config", frozenset(), get("/api/config")),
    Row("GET", "/api/config/export", frozenset(), get("/api/config/export")),
    Row("GET", "/api/config/versions", frozenset(), get("/api/config/versions")),
    Row("POST", "/api/config/cameras", frozenset(),
        lambda _: Call("POST", "/api/config/cameras", json={"camera": {"id": "new"}}),
        expected_ok=frozenset({422})),  # allowed in, and told what the camera lacks
    Row("PUT", "/api/config/cameras/{camera_id}", frozenset(),
        lambda _: Call("PUT", "/api/config/cameras/calm",
                       json={"expected_version": 999999, "camera": {"id": "calm"}}),
        expected_ok=frozenset({409})),  # allowed in, and told its copy is old
    Row("DELETE", "/api/config/cameras/{camera_id}", frozenset(),
        lambda _: Call("DELETE", "/api/config/cameras/calm?expected_version=999999"),
        expected_ok=frozenset({409})),
    Row("PUT", "/api/config/groups", frozenset(),
        lambda _: Call("PUT", "/api/config/groups", json={"expected_version": 999999,
                                                          "groups": []}),
        expected_ok=frozenset({409})),
    Row("GET", "/sw.js", OPEN, get("/sw.js")),
    Row("GET", "/manifest.webmanifest", OPEN, get("/manifest.webmanifest")),
    Row("GET", "/api/push/key", frozenset({ENF}), get("/api/push/key")),
    Row("GET", "/api/push/subscriptions", frozenset({ENF}), get("/api/push/subscriptions")),
    Row("POST", "/api/push/subscriptions", frozenset({ENF}), _subscription,
        expected_ok=frozenset({201})),
    Row("DELETE", "/api/push/subscriptions", frozenset({ENF}),
        lambda _: Call("DELETE", "/api/push/subscriptions?endpoint=https://push.invalid/none"),
        expected_ok=frozenset({404})),
    # A signed link: no sign-in, and a wrong signature is refused whoever asks.
    Row("GET", "/share/{alert_id}/{kind}", OPEN,
        get("/share/9f3a0c1d2e4b/snapshot?exp=1&sig=" + "0" * 64), expected_ok=frozenset({403})),
]  # fmt: skip

CALLERS: tuple[Role | None, ...] = (None, *Role)  # None: anonymous


def _mounted(server: ApiServer) -> set[tuple[str, str]]:
    served: set[tuple[str, str]] = set()
    for route in server.app.routes:
        if isinstance(route, Route):
            served |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            served.add(("MOUNT", route.path))
    return served


def test_every_served_route_has_a_row(api_server: ApiServer) -> None:
    rows = {(r.method, r.route) for r in TABLE}
    missing = sorted(_mounted(api_server) - rows)
    assert not missing, f"routes without a row in the role table: {missing}"


def _expected(row: Row, caller: Role | None) -> frozenset[int]:
    if row.roles is None:
        return row.expected_ok
    if caller is None:
        return frozenset({401})
    return row.expected_ok if caller in row.roles | {ADMIN} else frozenset({403})


def _send(server: ApiServer, row: Row, caller: Role | None) -> tuple[int, str]:
    call = row.make(server)
    token = server.token(f"{caller.value}-1") if call.own_token and caller else None
    client = server.client(caller, token) if caller is not None else server.client()
    with client:
        if call.stream:
            with client.stream(call.method, call.url) as streamed:
                return streamed.status_code, ""
        answer = client.request(call.method, call.url, json=call.json, data=call.data)
    return answer.status_code, answer.text[:200]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.name)
def test_role_table(api_server: ApiServer, row: Row) -> None:
    wrong = []
    for caller in CALLERS:
        status, text = _send(api_server, row, caller)
        if status not in _expected(row, caller):
            who = caller.value if caller else "anonymous"
            wrong.append(f"{who}: got {status}, want {sorted(_expected(row, caller))}: {text}")
    assert not wrong, "\n".join(wrong)


def test_a_refused_move_changes_nothing(api_server: ApiServer) -> None:
    ticket_id = api_server.ticket()
    url = f"/api/tickets/{ticket_id}/transitions"
    for caller, to in ((OP, "assigned"), (REV, "assigned"), (ENF, "verified"), (GW, "rejected")):
        with api_server.client(caller) as client:
            assert client.post(url, data={"to": to}).status_code == 403
    with api_server.client(REV) as client:
        detail = client.get(f"/api/tickets/{ticket_id}").json()
    assert detail["ticket"]["state"] == "received" and detail["ticket"]["version"] == 1
    assert [h["to_state"] for h in detail["history"]] == ["received"]


def test_the_actor_is_the_signed_in_user(api_server: ApiServer) -> None:
    ticket_id = api_server.ticket()
    with api_server.client(ENF) as client:
        answer = client.post(
            f"/api/tickets/{ticket_id}/transitions", data={"to": "assigned", "actor": "someone"}
        )
        assert answer.status_code == 200, answer.text
        history = client.get(f"/api/tickets/{ticket_id}").json()["history"]
    assert history[-1]["actor"] == "enforcement-1"


def test_a_token_in_the_query_works_for_get_only(api_server: ApiServer) -> None:
    token = api_server.tokens[OP]
    with api_server.client() as client:
        assert client.get("/api/cameras", params={"token": token}).status_code == 200
        put = client.put(
            "/api/cameras/calm/decode-mode", params={"token": token}, json={"mode": "keyframes"}
        )
        assert put.status_code == 401
