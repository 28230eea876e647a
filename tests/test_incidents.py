"""The incident list, one incident's replay data and reviewers' verdicts, on SQLite and a real
PostgreSQL: filters and pages, the track stored from the queue messages, bad filters refused
with a message, and verdicts changing the published false-alarm figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.labels import SampleStore
from alerts.tickets import TicketState, TicketStore
from api.deps import get_hub, get_samples
from api.routes import incidents
from api.security import Role
from riverwatch.types import Alert, AlertPhase
from tests.api_fixtures import sign_in

T = 3_000_000.0


@dataclass
class Clock:
    now: float = T

    def __call__(self) -> float:
        return self.now


class StoreOnly:
    """The one part of the hub these routes read: its ticket store."""

    def __init__(self, store: TicketStore) -> None:
        self._store = store

    def tickets(self) -> TicketStore:
        return self._store


# name, camera, group, rule, incident started at (offset from T)
INCIDENTS = [
    ("a", "jinsha-1", "jinsha", "vessel_in_zone", 0),
    ("b", "jinsha-1", "jinsha", "dredging", 100),
    ("c", "jinsha-2", "jinsha", "vessel_in_zone", 200),
    ("d", "heng-1", "heng", "vessel_in_zone", 300),
    ("e", "city-1", "city", "crowding", 400),
]


def alert(name: str, camera: str, group: str, rule: str, started: float, **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": name,
        "camera_id": camera,
        "zone_id": "z",
        "rule": rule,
        "severity": "high",
        "started_at": T + started,
        "observed_at": T + started,
        "frame_seq": 1,
        "score": 0.9,
        "box_xyxy": (10, 10, 20, 20),
        "group": group,
    }
    return Alert(**(fields | kw))


@dataclass
class Env:
    app: FastAPI
    store: TicketStore
    client: httpx.AsyncClient


@pytest.fixture
async def env(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Env]:
    """The incidents routes over a store holding INCIDENTS; the clock stays at
    T + 1000 so the figures' period is easy to pick."""
    clock = Clock()
    store = TicketStore(engine, tmp_path / "data", clock=clock)
    for name, camera, group, rule, started in INCIDENTS:
        clock.now = T + started
        await store.apply(alert(name, camera, group, rule, started))
    clock.now = T + 1000
    app = FastAPI()
    app.include_router(incidents.router)
    app.dependency_overrides[get_hub] = lambda: StoreOnly(store)
    # a verdict labels its incident's box for the verifier; a real store in tmp_path
    app.dependency_overrides[get_samples] = lambda: SampleStore(tmp_path / "labels")
    headers = await sign_in(app, engine, Role.REVIEWER, username="zhao.min")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:
        yield Env(app, store, c)


@pytest.fixture
def client(env: Env) -> httpx.AsyncClient:
    return env.client


async def ids_by_name(client: httpx.AsyncClient) -> dict[str, int]:
    items = (await client.get("/api/incidents")).json()["items"]
    return {i["ticket"]["alert_id"]: i["ticket"]["id"] for i in items}


async def names(client: httpx.AsyncClient, params: dict[str, Any]) -> list[str]:
    answer = await client.get("/api/incidents", params=params)
    assert answer.status_code == 200, answer.text
    return [item["ticket"]["alert_id"] for item in answer.json()["items"]]


FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["e", "d", "c", "b", "a"]),  # newest incident first
    ({"camera": "jinsha-1"}, ["b", "a"]),
    ({"group": "jinsha"}, ["c", "b", "a"]),
    ({"rule": "vessel_in_zone"}, ["d", "c", "a"]),
    ({"group": "jinsha", "rule": "vessel_in_zone"}, ["c", "a"]),
    ({"since": T + 100, "until": T + 300}, ["c", "b"]),  # [since, until)
    ({"since": T + 300}, ["e", "d"]),
    ({"until": T + 100}, ["a"]),
    ({"state": "received"}, ["e", "d", "c", "b", "a"]),
    ({"state": "assigned"}, []),
    ({"camera": "nowhere"}, []),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
async def test_filters(
    client: httpx.AsyncClient, params: dict[str, Any], expected: list[str]
) -> None:
    assert await names(client, params) == expected


async def test_pages_and_totals(client: httpx.AsyncClient) -> None:
    pages = [await names(client, {"limit": 2, "offset": o}) for o in (0, 2, 4, 6)]
    assert pages == [["e", "d"], ["c", "b"], ["a"], []]
    page = (await client.get("/api/incidents", params={"group": "jinsha", "limit": 1})).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 0)
    item = page["items"][0]
    assert item["evidence"] == {"snapshot": None, "clip": None, "preroll": None}
    assert item["verdict"] is None


BAD: list[tuple[dict[str, Any], str]] = [
    ({"since": T + 10, "until": T + 10}, "until"),
    ({"since": T + 10, "until": T}, "until"),
    ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"),
    ({"offset": -1}, "offset"),
    ({"state": "lost"}, "state"),
    ({"since": -5}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"camera": ""}, "camera"),
    ({"rule": "x" * 101}, "rule"),
]


@pytest.mark.parametrize(("params", "named"), BAD)
async def test_bad_filters_are_422_with_a_message(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    answer = await client.get("/api/incidents", params=params)
    assert answer.status_code == 422
    assert named in answer.text


async def test_detail_has_the_track_over_time_transitions_and_evidence(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = Clock()
    store = TicketStore(engine, tmp_path / "data", clock=clock, track_limit=6)
    track1 = tuple((T + i, 10 + i, 10, 20 + i, 20) for i in range(3))
    track2 = tuple((T + i, 10 + i, 10, 20 + i, 20) for i in range(1, 5))  # overlaps track1
    opened = alert("boat", "jinsha-1", "jinsha", "vessel_in_zone", 0, track=track1)
    update = alert("boat", "jinsha-1", "jinsha", "vessel_in_zone", 0, observed_at=T + 4,
                   phase=AlertPhase.UPDATE, revision=1, track=track2)  # fmt: skip
    evidence = alert("boat", "jinsha-1", "jinsha", "vessel_in_zone", 0, phase=AlertPhase.EVIDENCE,
                     snapshot="evidence/boat.jpg", clip="evidence/boat.mp4")  # fmt: skip
    for message in (opened, update, update, evidence):  # the update is redelivered
        await store.apply(message)
    ticket = await store.get_by_alert("boat")
    assert ticket is not None
    assert [(p.at, p.box_xyxy) for p in await store.track(ticket.id)] == [
        (T + i, (10 + i, 10, 20 + i, 20)) for i in range(5)
    ]
    clock.now = T + 10
    await store.transition(ticket.id, TicketState.ASSIGNED, "li.wei", "on my way")
    # Later messages push the track past the bound: the oldest points go.
    later = tuple((T + 5 + i, 1, 1, 2, 2) for i in range(3))
    await store.apply(alert("boat", "jinsha-1", "jinsha", "vessel_in_zone", 0, observed_at=T + 8,
                            phase=AlertPhase.UPDATE, revision=2, track=later))  # fmt: skip
    kept = [p.at for p in await store.track(ticket.id)]
    assert kept == [T + i for i in range(2, 8)]

    app = FastAPI()
    app.include_router(incidents.router)
    app.dependency_overrides[get_hub] = lambda: StoreOnly(store)
    headers = await sign_in(app, engine, Role.REVIEWER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=headers
    ) as client:
        detail = (await client.get(f"/api/incidents/{ticket.id}")).json()
        missing = await client.get("/api/incidents/999")
        huge = await client.get(f"/api/incidents/{2**40}")
        word = await client.get("/api/incidents/boat")
    assert [p["at"] for p in detail["track"]] == kept
    assert detail["track"][-1]["box"] == [1, 1, 2, 2]
    moves = [(t["from_state"], t["to_state"], t["actor"]) for t in detail["transitions"]]
    assert moves == [(None, "received", "riverwatch"), ("received", "assigned", "li.wei")]
    assert detail["evidence"] == {
        "snapshot": f"/api/tickets/{ticket.id}/evidence/snapshot",
        "clip": f"/api/tickets/{ticket.id}/evidence/clip",
        "preroll": None,
    }
    assert detail["verdict"] is None and detail["verdicts"] == [] and detail["attachments"] == []
    assert detail["analysis_wh"] is None  # this hub does not say its frame size
    assert missing.status_code == 404 and "no incident 999" in missing.text
    assert huge.status_code == 422 and word.status_code == 422


async def false_alarms(store: TicketStore, until: float = T + 5000) -> tuple[int, dict[str, int]]:
    figures = await store.figures(T, until)
    return figures.false_alarms, {g.key: g.false_alarms for g in figures.per_camera}


async def verdict(
    client: httpx.AsyncClient, ticket_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/api/incidents/{ticket_id}/verdict", json=body)


async def test_verdicts_change_the_false_alarm_figures(env: Env) -> None:
    client = env.client
    ids = await ids_by_name(client)
    assert await false_alarms(env.store) == (
        0,
        {"city-1": 0, "heng-1": 0, "jinsha-1": 0, "jinsha-2": 0},
    )

    given = await verdict(client, ids["a"], {"verdict": "false_alarm", "note": "a swan"})
    assert given.status_code == 200, given.text
    assert given.json() == {"verdict": "false_alarm", "actor": "zhao.min", "at": T + 1000,
                            "note": "a swan"}  # fmt: skip
    assert (await false_alarms(env.store))[0] == 1
    assert (await false_alarms(env.store))[1]["jinsha-1"] == 1
    # A verdict counts for the periods that end after it was given, not before.
    assert (await false_alarms(env.store, until=T + 1000))[0] == 0

    # The reviewer changes their mind: the figure follows, the history keeps both.
    assert (await verdict(client, ids["a"], {"verdict": "confirmed"})).status_code == 200
    assert (await false_alarms(env.store))[0] == 0
    detail = (await client.get(f"/api/incidents/{ids['a']}")).json()
    assert [v["verdict"] for v in detail["verdicts"]] == ["false_alarm", "confirmed"]
    assert detail["verdict"]["verdict"] == "confirmed" and detail["ticket"]["state"] == "received"

    # The list shows each incident's current verdict.
    listed = (await client.get("/api/incidents", params={"camera": "jinsha-1"})).json()["items"]
    assert [
        (i["ticket"]["alert_id"], i["verdict"] and i["verdict"]["verdict"]) for i in listed
    ] == [
        ("b", None),
        ("a", "confirmed"),
    ]


async def test_false_alarm_state_counts_unless_a_reviewer_confirmed(env: Env) -> None:
    client = env.client
    ids = await ids_by_name(client)
    for name in ("d", "e"):
        await env.store.transition(ids[name], TicketState.FALSE_ALARM, "li.wei", "nothing there")
    assert (await false_alarms(env.store))[0] == 2  # moved to false_alarm, no verdict
    await verdict(client, ids["e"], {"verdict": "confirmed", "note": "a real crowd"})
    await verdict(client, ids["c"], {"verdict": "false_alarm"})
    total, per_camera = await false_alarms(env.store)
    assert total == 2 and per_camera == {"city-1": 0, "heng-1": 1, "jinsha-1": 0, "jinsha-2": 1}


VERDICT_BAD: list[tuple[Any, int, str]] = [
    ({"verdict": "maybe"}, 422, "verdict"),
    ({"note": "no verdict"}, 422, "verdict"),
    ({"verdict": "confirmed", "note": "x" * 4001}, 422, "note"),
    ({"verdict": "confirmed", "actor": "someone else"}, 422, "actor"),  # who is not the body's
    ("confirmed", 422, "dict"),
]


@pytest.mark.parametrize(("body", "status", "named"), VERDICT_BAD)
async def test_bad_verdicts_are_refused_with_a_message(
    client: httpx.AsyncClient, body: Any, status: int, named: str
) -> None:
    first = (await client.get("/api/incidents", params={"limit": 1})).json()["items"][0]
    answer = await verdict(client, first["ticket"]["id"], body)
    assert answer.status_code == status and named in answer.text


async def test_a_verdict_needs_an_incident(client: httpx.AsyncClient) -> None:
    # Who may give one (signed in, reviewer) is the auth layer's, tested in test_api_roles.
    missing = await verdict(client, 999, {"verdict": "confirmed"})
    assert missing.status_code == 404 and "999" in missing.text
