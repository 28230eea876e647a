"""Authentication, tokens, login throttling, audit and the first admin.

Store tests run on SQLite and on a private PostgreSQL database; the HTTP tests run against a
real hub behind uvicorn whose security clock the test moves (`FakeClock`), and whose first
admin comes from the settings, as `RIVERWATCH_ADMIN_USER`/`_PASSWORD` would give it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts import EmbeddedRedis
from alerts.tickets import default_url, open_engine
from api.security import BootstrapError, Role, Security, SecurityConfig
from api.security.audit import AuditLog, AuditQuery
from api.security.bootstrap import admin_from_settings, ensure_admin, users_add_command
from api.security.errors import BadUsername, LastAdmin, UserExists, WeakPassword
from api.security.passwords import hash_password, verify_password
from api.security.ratelimit import LimitRule, LoginLimiter, SharedLoginLimiter
from api.security.tokens import TokenStore
from api.security.users import UserStore
from hub.cli import schema_refusal
from hub.schema import upgrade
from ingest.sensors.store import SensorStore
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.api_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    PASSWORD,
    ApiServer,
    FakeClock,
    module_rtsp_fixture,
    sign_in_roles,
    start_server,
)
from tests.db_fixtures import PostgresCluster

ADMIN, ADMIN_PASSWORD = "root-admin", "a first admin passphrase"
TTL_S = 3600.0


# ---- passwords and the stores, on SQLite and PostgreSQL -------------------------------------


def test_password_hashes_are_salted_and_verified_in_constant_form() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)
    for broken in ("", "scrypt$1$2", "bcrypt$1$2$3$AAAA$AAAA", "scrypt$x$8$1$AAAA$AAAA"):
        assert not verify_password(PASSWORD, broken)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database at head: SQLite, or a private PostgreSQL one."""
    cluster: PostgresCluster | None = None
    name = ""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        name = await cluster.create_database()
        url = cluster.url(name)
    else:
        url = default_url(tmp_path / "data")
    engine = open_engine(url, timeout_s=10.0)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()
        if cluster is not None:
            await cluster.drop_database(name)


async def test_users_are_created_checked_and_kept_with_an_admin(engine: AsyncEngine) -> None:
    store = UserStore(engine)
    admin = await store.create("chief", PASSWORD, Role.ADMIN)
    li = await store.create("li.wei", PASSWORD, Role.ENFORCEMENT)
    assert (admin.role, li.role, li.disabled) == (Role.ADMIN, Role.ENFORCEMENT, False)
    with pytest.raises(UserExists):
        await store.create("li.wei", PASSWORD, Role.OPERATOR)
    with pytest.raises(WeakPassword, match="12 characters"):
        await store.create("short", "too short", Role.OPERATOR)
    for bad in ("", "../etc", "a b", "x" * 65, "-lead"):
        with pytest.raises(BadUsername):
            await store.create(bad, PASSWORD, Role.OPERATOR)
    assert await store.authenticate("li.wei", PASSWORD) == li
    assert await store.authenticate("li.wei", "wrong password!") is None
    assert await store.authenticate("nobody", PASSWORD) is None
    await store.set_disabled("li.wei", True)
    assert await store.authenticate("li.wei", PASSWORD) is None
    with pytest.raises(LastAdmin):
        await store.set_role("chief", Role.REVIEWER)
    with pytest.raises(LastAdmin):
        await store.set_disabled("chief", True)
    await store.create("deputy", PASSWORD, Role.ADMIN)
    assert (await store.set_role("chief", Role.REVIEWER)).role is Role.REVIEWER
    assert [u.username for u in await store.list_users()] == ["chief", "deputy", "li.wei"]


async def test_tokens_expire_and_are_revoked(engine: AsyncEngine) -> None:
    clock = FakeClock()
    users, tokens = UserStore(engine), TokenStore(engine, TTL_S, clock)
    li = await users.create("li.wei", PASSWORD, Role.ENFORCEMENT)
    first, second = await tokens.issue(li), await tokens.issue(li)
    assert first.token != second.token and len(first.token) >= 40
    session = await tokens.resolve(first.token)
    assert session is not None and session.user == li
    assert session.expires_at == pytest.approx(time.time() + TTL_S, abs=5)
    assert await tokens.resolve(first.token[:-1]) is None and await tokens.resolve("") is None
    assert await tokens.resolve("x" * 5000) is None
    clock.offset_s = TTL_S - 5
    assert await tokens.resolve(first.token) is not None
    clock.offset_s = TTL_S + 1
    assert await tokens.resolve(first.token) is None  # expired
    clock.offset_s = 0
    assert await tokens.revoke(first.token)
    assert await tokens.resolve(first.token) is None and await tokens.resolve(second.token)
    await users.set_disabled("li.wei", True)
    assert await tokens.resolve(second.token) is None  # a disabled user's tokens stop at once
    await users.set_disabled("li.wei", False)
    assert await tokens.revoke_user(li.id)
    assert await tokens.resolve(second.token) is None


async def test_the_audit_log_filters_newest_first(engine: AsyncEngine) -> None:
    clock = FakeClock()
    log = AuditLog(engine, clock)
    await log.record("li.wei", "enforcement", "ticket.transition", "ticket:1", {"to": "assigned"})
    clock.offset_s = 10
    await log.record("chen", "reviewer", "ticket.transition", "ticket:1", {"to": "verified"})
    await log.record("chen", "reviewer", "auth.logout", "user:chen", client="10.0.0.9")
    await log.record("x", "admin", "big", "t", {"blob": "y" * 10_000})
    entries = await log.entries(AuditQuery(action="ticket.transition"))
    assert [(e.username, e.detail["to"]) for e in entries] == [("chen", "verified"),
                                                               ("li.wei", "assigned")]  # fmt: skip
    assert [e.action for e in await log.entries(AuditQuery(username="chen"))] == [
        "auth.logout", "ticket.transition"
    ]  # fmt: skip
    since = await log.entries(AuditQuery(since=time.time() + 5, target="ticket:1"))
    assert [e.username for e in since] == ["chen"]
    (big,) = await log.entries(AuditQuery(action="big"))
    assert "truncated" in big.detail and len(big.detail["truncated"]) < 4000


# ---- login throttling, as a sequence ---------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def limiters(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[LimitRule, LimitRule, FakeClock], Any]]:
    """Makes the hub's own limiter, or the one a cluster shares in a real Redis."""
    if request.param == "memory":
        yield lambda user, client, clock: LoginLimiter(user, client, clock)
        return
    with EmbeddedRedis(tmp_path / "redis") as server:
        redis = Redis.from_url(server.url)
        try:
            yield lambda user, client, clock: SharedLoginLimiter(redis, user, client, clock)
        finally:
            await redis.aclose()


async def test_login_limiter_sequence(limiters: Callable[..., Any]) -> None:
    clock = FakeClock()
    limiter = limiters(LimitRule(3, 60.0), LimitRule(5, 60.0), clock)
    results: list[int | None] = []
    events: list[tuple[str, str, str]] = [
        ("fail", "li", "a"), ("fail", "Li", "a"), ("check", "li", "a"), ("fail", "li", "b"),
        ("check", "li", "c"), ("check", "wang", "a"), ("ok", "li", ""), ("check", "li", "a"),
        ("fail", "wang", "a"), ("fail", "zhao", "a"), ("fail", "zhou", "a"), ("check", "chen", "a"),
        ("wait", "61", ""), ("check", "chen", "a"),
    ]  # fmt: skip
    for kind, name, client in events:
        if kind == "fail":
            await limiter.failed(name, client)
        elif kind == "ok":
            await limiter.succeeded(name)
        elif kind == "wait":
            clock.offset_s += float(name)
        else:
            results.append(await limiter.retry_after(name, client))
    # li is refused after 3 failures from anywhere (names are compared lower-cased) until a
    # good password clears them; client "a" is refused after its 5th failure, for any name;
    # a minute later everything is allowed again.
    assert results == [None, 60, None, None, 60, None]
    assert limiter.refused == {"user": 1, "client": 1}


async def test_hubs_of_a_cluster_count_one_attackers_failures_together(tmp_path: Path) -> None:
    """Three failures on hub A and two on hub B lock the name on both (3 allowed); with Redis
    gone, each hub still counts on its own."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        redis = Redis.from_url(server.url, socket_timeout=1.0)
        rule = LimitRule(4, 60.0)
        a, b = (SharedLoginLimiter(redis, rule, LimitRule(100, 60.0)) for _ in range(2))
        for hub in (a, a, b):
            await hub.failed("li", "10.0.0.7")
        assert await b.retry_after("li", "10.0.0.8") is None
        await a.failed("li", "10.0.0.9")
        assert await b.retry_after("li", "10.0.0.8") is not None  # four, on two hubs
        await b.succeeded("li")
        assert await a.retry_after("li", "10.0.0.7") is None
        server.stop()
        for _ in range(4):
            await a.failed("zhao", "10.0.0.7")
        assert await a.retry_after("zhao", "10.0.0.7") is not None  # counted locally
        assert a.redis_errors >= 5
        await redis.aclose()


async def test_login_limiter_memory_is_bounded() -> None:
    limiter = LoginLimiter(LimitRule(3, 60.0), LimitRule(3, 60.0), max_keys=100)
    for i in range(1000):
        await limiter.failed(f"user-{i}", f"10.0.{i // 250}.{i % 250}")
    assert limiter.evicted == 2 * 900


# ---- over HTTP, on a real hub ----------------------------------------------------------------


@pytest.fixture(scope="module", name="auth_server")
def auth_server_fixture(
    tmp_path_factory: pytest.TempPathFactory, module_rtsp: RtspSimulator
) -> Iterator[ApiServer]:
    """A hub whose first admin comes from the settings; tokens live an hour."""

    def security(clock: FakeClock) -> SecurityConfig:
        return SecurityConfig(
            token_ttl_s=TTL_S, clock=clock, admin_user=ADMIN,
            admin_password=SecretStr(ADMIN_PASSWORD),
            per_user=LimitRule(5, 300.0), per_client=LimitRule(20, 300.0),
        )  # fmt: skip

    server, stop = start_server(tmp_path_factory.mktemp("auth") / "data", module_rtsp, security)
    try:
        sign_in_roles(server)
        yield server
    finally:
        stop()


def test_the_first_admin_from_the_settings_signs_in(auth_server: ApiServer) -> None:
    answer = auth_server.login(ADMIN, ADMIN_PASSWORD)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["username"] == ADMIN and body["role"] == "admin"
    assert body["expires_at"] == pytest.approx(time.time() + TTL_S, abs=30)
    with auth_server.client(token=body["token"]) as client:
        me = client.get("/api/auth/me").json()
    assert me == {"username": ADMIN, "role": "admin", "expires_at": body["expires_at"]}


def test_wrong_credentials_get_one_answer(auth_server: ApiServer) -> None:
    wrong_password = auth_server.login("reviewer-1", "not the password")
    no_such_user = auth_server.login("nobody-at-all", "not the password")
    assert wrong_password.status_code == no_such_user.status_code == 401
    assert wrong_password.json() == no_such_user.json()
    assert wrong_password.headers["www-authenticate"] == "Bearer"
    with auth_server.client() as client:
        bodies: list[Any] = [{}, {"username": "x"}, {"username": "x" * 65, "password": "p"}, []]
        for body in bodies:
            assert client.post("/api/auth/login", json=body).status_code == 422
        garbage = client.get("/api/auth/me", headers={"Authorization": "Bearer nonsense"})
        assert garbage.status_code == 401 and "sign in again" in garbage.json()["detail"]
        basic = client.get("/api/auth/me", headers={"Authorization": "Basic YTpi"})
        assert basic.status_code == 401


def test_a_token_expires_on_the_injected_clock(auth_server: ApiServer) -> None:
    token = auth_server.token("operator-1")
    with auth_server.client(token=token) as client:
        assert client.get("/api/cameras").status_code == 200
        auth_server.clock.offset_s = TTL_S + 1
        try:
            expired = client.get("/api/cameras")
        finally:
            auth_server.clock.offset_s = 0
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_a_query_token_never_reaches_the_access_log(
    auth_server: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    token = auth_server.tokens[Role.OPERATOR]
    with auth_server.client() as client:
        assert client.get("/api/cameras", params={"token": token}).status_code == 200
    deadline = time.monotonic() + 10  # the server thread logs after the answer is sent
    while "/api/cameras?token=" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "/api/cameras?token=*** " in caplog.text and token not in caplog.text


def test_logout_revokes_the_token(auth_server: ApiServer) -> None:
    token = auth_server.token("reviewer-1")
    other = auth_server.token("reviewer-1")
    with auth_server.client(token=token) as client:
        assert client.post("/api/auth/logout").status_code == 204
        assert client.get("/api/auth/me").status_code == 401
        assert client.get("/api/stats/loop", params={"token": token}).status_code == 401
    with auth_server.client(token=other) as client:  # the user's other session stays
        assert client.get("/api/auth/me").status_code == 200


def test_disable_role_change_and_password_reset_end_sessions(auth_server: ApiServer) -> None:
    auth_server.add_user("zhou", Role.OPERATOR)
    with auth_server.client(Role.ADMIN) as admin:
        for change, body in (("role", {"role": "reviewer"}), ("password", {"password": "x" * 12}),
                             ("disabled", {"disabled": True})):  # fmt: skip
            password = PASSWORD if change != "disabled" else "x" * 12
            token = auth_server.token("zhou", password)
            answer = admin.put(f"/api/users/zhou/{change}", json=body)
            assert answer.status_code == 200, answer.text
            with auth_server.client(token=token) as zhou:
                assert zhou.get("/api/auth/me").status_code == 401, change
        assert auth_server.login("zhou", "x" * 12).status_code == 401  # disabled
        me = admin.get("/api/auth/me").json()["username"]
        last = admin.put(f"/api/users/{me}/disabled", json={"disabled": True})
        assert last.status_code == 200  # not the last admin: root-admin exists
        assert admin.get("/api/auth/me").status_code == 401
    with auth_server.client(token=auth_server.token(ADMIN, ADMIN_PASSWORD)) as root:
        assert root.put(f"/api/users/{ADMIN}/disabled", json={"disabled": True}).status_code == 409
        assert root.put(f"/api/users/{me}/disabled", json={"disabled": False}).status_code == 200
        assert root.put(f"/api/users/{ADMIN}/role", json={"role": "operator"}).status_code == 200
        assert root.get("/api/auth/me").status_code == 401  # demoted: sign in again
    auth_server.tokens[Role.ADMIN] = auth_server.token(me)


def test_login_is_rate_limited_per_username_and_per_client(auth_server: ApiServer) -> None:
    auth_server.add_user("wang", Role.ENFORCEMENT)
    auth_server.clock.offset_s += 301  # earlier tests' failures leave the window
    try:
        statuses = [auth_server.login("wang", f"guess number {i}").status_code for i in range(5)]
        refused = auth_server.login("wang", PASSWORD)  # even the right password now waits
        assert statuses == [401] * 5
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 300
        assert auth_server.login("reviewer-1").status_code == 200  # other names still may
        sprayed = [auth_server.login(f"spray-{i}", "guess guess").status_code for i in range(15)]
        assert sprayed == [401] * 15  # 20 failures from this address now
        blocked = auth_server.login("reviewer-1")
        assert blocked.status_code == 429 and "retry-after" in blocked.headers
        auth_server.clock.offset_s += 301  # the window passes
        assert auth_server.login("wang").status_code == 200
    finally:
        auth_server.clock.offset_s += 301  # later tests start with empty windows; tokens: 1 h


def test_every_state_change_is_audited_with_its_user(auth_server: ApiServer) -> None:
    ops, enf = auth_server.client(Role.OPERATOR), auth_server.client(Role.ENFORCEMENT)
    gw, adm = auth_server.client(Role.SENSOR_GATEWAY), auth_server.client(Role.ADMIN)
    ticket_id = auth_server.ticket()
    with ops, enf, gw, adm:
        admin_name = adm.get("/api/auth/me").json()["username"]
        assert ops.put("/api/cameras/calm/decode-mode", json={"mode": "full"}).status_code == 200
        window = ops.post("/api/suppressions", json={"camera_id": "calm", "reason": "works",
                                                     "end": time.time() + 60}).json()  # fmt: skip
        assert ops.delete(f"/api/suppressions/{window['window_id']}").status_code == 204
        moved = enf.post(f"/api/tickets/{ticket_id}/transitions", data={"to": "assigned"})
        assert moved.status_code == 200
        reading = {"sensor_id": "jinsha-turbidity-1", "value": 3.0, "unit": "NTU",
                   "ts": time.time()}  # fmt: skip
        assert gw.post("/api/sensors/readings", json=[reading]).status_code == 200
        created = adm.post("/api/users", json={"username": "audited", "password": PASSWORD,
                                               "role": "operator"})  # fmt: skip
        assert created.status_code == 201
        assert adm.put("/api/users/audited/password", json={"password": "y" * 12}).is_success
    with auth_server.client(Role.REVIEWER) as reviewer:
        log = reviewer.get("/api/audit", params={"limit": 50}).json()
        refused = reviewer.get("/api/audit", params={"since": 10, "until": 5})
    assert refused.status_code == 422
    found = {(e["action"], e["target"]): e for e in log}
    expected: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {
        ("camera.decode_mode", "camera:calm"): ("operator-1", "operator", {"mode": "full"}),
        ("suppression.add", f"suppression:{window['window_id']}"): ("operator-1", "operator", {}),
        ("suppression.end", f"suppression:{window['window_id']}"): ("operator-1", "operator", {}),
        ("ticket.transition", f"ticket:{ticket_id}"): ("enforcement-1", "enforcement",
                                                       {"to": "assigned", "version": 2}),
        ("sensor.readings", "sensors:1"): ("sensor-gateway-1", "sensor-gateway", {"accepted": 1}),
        ("user.create", "user:audited"): (admin_name, "admin", {"role": "operator"}),
        ("user.password_reset", "user:audited"): (admin_name, "admin", {}),
    }  # fmt: skip
    for key, (user, role, detail) in expected.items():
        entry = found.get(key)
        assert entry is not None, f"no audit entry {key}"
        assert (entry["username"], entry["role"], entry["client"]) == (user, role, "127.0.0.1")
        assert detail.items() <= entry["detail"].items(), (key, entry["detail"])
        assert entry["at"] == pytest.approx(auth_server.clock(), abs=60)  # the security clock
    assert all("password" not in str(e["detail"]) for e in log)


def test_evidence_download_cannot_escape_the_data_dir(auth_server: ApiServer) -> None:
    data = auth_server.hub.data_dir.resolve()
    outside = data.parent / "outside.jpg"
    outside.write_bytes(b"secret outside the data dir")
    (data / "evidence").mkdir(exist_ok=True)
    link = data / "evidence" / "link.jpg"
    link.symlink_to(outside)
    sneaky = [
        auth_server.ticket(snapshot="../outside.jpg"),
        auth_server.ticket(snapshot=str(outside)),
        auth_server.ticket(snapshot="evidence/link.jpg"),
        auth_server.ticket(snapshot="evidence/../../outside.jpg", clip="/etc/passwd"),
    ]
    with auth_server.client(Role.REVIEWER) as client:
        for ticket_id in sneaky:
            for kind in ("snapshot", "clip"):
                answer = client.get(f"/api/tickets/{ticket_id}/evidence/{kind}")
                assert answer.status_code == 404 and b"secret" not in answer.content
        for path in ("..%2F..%2Foutside.jpg", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
            answer = client.get(f"/api/tickets/{sneaky[0]}/evidence/{path}")
            assert answer.status_code == 404 and b"secret" not in answer.content


# ---- the first admin and the command line ----------------------------------------------------


def test_admin_settings_refuse_unsafe_values() -> None:
    assert admin_from_settings(None, None) is None
    assert admin_from_settings("chief", SecretStr(PASSWORD)) == ("chief", PASSWORD)
    for user, password, message in (
        ("chief", None, "set together"),
        (None, SecretStr(PASSWORD), "set together"),
        ("chief", SecretStr("admin"), "RIVERWATCH_ADMIN_PASSWORD.*at least 12 characters"),
        ("../x", SecretStr(PASSWORD), "RIVERWATCH_ADMIN_USER"),
    ):
        with pytest.raises(BootstrapError, match=message) as caught:
            admin_from_settings(user, password)
        assert PASSWORD not in str(caught.value)


async def test_hubs_starting_together_make_the_first_admin_once(engine: AsyncEngine) -> None:
    """Several hubs on one database see no admin at the same moment; one creates it, the
    others start anyway (they used to die of UserExists)."""
    stores = [UserStore(engine) for _ in range(4)]
    made = await asyncio.gather(*(ensure_admin(s, "chief", PASSWORD) for s in stores))
    assert sum(user is not None for user in made) == 1
    assert (await stores[0].get("chief")).role is Role.ADMIN


async def test_a_hub_that_looked_before_another_made_the_admin_starts_anyway(
    engine: AsyncEngine,
) -> None:
    """The other interleaving: this hub saw no admin, then another hub's admin committed
    before this hub looked the name up. It is that admin, not a name taken by someone else."""

    class LookedEarly(UserStore):
        async def has_admin(self) -> bool:
            return False  # what it saw a moment before the other hub committed

    await UserStore(engine).create("chief", PASSWORD, Role.ADMIN)
    assert await ensure_admin(LookedEarly(engine), "chief", PASSWORD) is None
    await UserStore(engine).create("officer", PASSWORD, Role.ENFORCEMENT)
    with pytest.raises(BootstrapError, match="exists as enforcement"):
        await ensure_admin(LookedEarly(engine), "officer", PASSWORD)


async def test_the_first_admin_is_made_once(tmp_path: Path) -> None:
    engine = open_engine(default_url(tmp_path), timeout_s=10.0)
    try:
        short = SecurityConfig(admin_user="chief", admin_password=SecretStr("short"))
        with pytest.raises(BootstrapError, match="at least 12"):
            await Security.open(engine, short)
        await upgrade(engine)
        await UserStore(engine).create("chief", PASSWORD, Role.OPERATOR)
        config = SecurityConfig(admin_user="chief", admin_password=SecretStr(PASSWORD))
        with pytest.raises(BootstrapError, match="'chief' exists as operator"):
            await Security.open(engine, config)  # never silently promote an existing user
        config = SecurityConfig(admin_user="boss", admin_password=SecretStr(PASSWORD))
        security = await Security.open(engine, config)
        assert (await security.users.get("boss")).role is Role.ADMIN
        # Started again with another password: an admin exists, so nothing changes.
        again = SecurityConfig(admin_user="boss", admin_password=SecretStr("another passphrase"))
        security = await Security.open(engine, again)
        assert await security.users.authenticate("boss", PASSWORD) is not None
        assert await security.users.authenticate("boss", "another passphrase") is None
    finally:
        await engine.dispose()


async def test_signed_in_requests_do_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """Every API request resolves its token and many read users: on SQLite those reads must
    not queue for the one write lock behind ticket writes (a busy hub answered 503 when they
    did). Another connection holds the write lock; the lookups answer at once."""
    url = default_url(tmp_path)
    engine = open_engine(url, timeout_s=1.0)
    try:
        await upgrade(engine)
        users, tokens = UserStore(engine), TokenStore(engine, TTL_S)
        await users.create("chief", PASSWORD, Role.ADMIN)
        issued = await tokens.issue(await users.get("chief"))
        writer = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # a ticket write in progress, holding the lock
            session = await tokens.resolve(issued.token)
            assert session is not None and session.user.username == "chief"
            assert [u.username for u in await users.list_users()] == ["chief"]
            assert await users.has_admin()
            assert await users.authenticate("chief", PASSWORD) is not None
            assert await SensorStore(engine, timeout_s=1.0).since(0.0) == []  # the sensor page
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    finally:
        await engine.dispose()


def test_users_add_command_reads_the_password_from_stdin(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert schema_refusal(settings) is None  # `users add` brings a new database to head first
    out: list[str] = []
    err: list[str] = []
    code = users_add_command(settings, "chief", "admin", io.StringIO(PASSWORD + "\n"),
                             out.append, err.append)  # fmt: skip
    assert code == 0 and out == ["riverwatch: user 'chief' added with role admin"] and not err
    assert users_add_command(settings, "chief", "admin", io.StringIO(PASSWORD), out.append,
                             err.append) == 2  # fmt: skip
    assert users_add_command(settings, "li", "captain", io.StringIO(PASSWORD), out.append,
                             err.append) == 2  # fmt: skip
    assert users_add_command(settings, "li", "operator", io.StringIO("short\n"), out.append,
                             err.append) == 2  # fmt: skip
    assert err == [
        "riverwatch: a user named 'chief' exists",
        "riverwatch: unknown role 'captain'; roles: operator, enforcement, reviewer, admin, "
        "sensor-gateway",
        "riverwatch: a password needs at least 12 characters",
    ]
    assert all(PASSWORD not in line for line in out + err)
    assert os.path.exists(tmp_path / "data" / "riverwatch.sqlite3")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_users_add_command_asks_twice_at_a_terminal(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert schema_refusal(settings) is None
    err: list[str] = []
    answers = iter([PASSWORD, PASSWORD + "typo"])
    code = users_add_command(settings, "li", "operator", _Terminal(), print, err.append,
                             prompt=lambda _: next(answers))  # fmt: skip
    assert code == 2 and err == ["riverwatch: the two passwords differ"]
    answers = iter([PASSWORD, PASSWORD])
    code = users_add_command(settings, "li", "operator", _Terminal(), err.append, err.append,
                             prompt=lambda _: next(answers))  # fmt: skip
    assert code == 0
