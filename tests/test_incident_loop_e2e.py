"""End to end, issue 4's "done when": a boat on a real RTSP camera becomes exactly one ticket
with a playable clip and a snapshot; nobody picks it up, so the one-hour rule (seconds here)
escalates it and a signed webhook says so; the ticket is walked through the whole loop over
the API with a field photo; the published figures count it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
from fastapi import FastAPI

from alerts.notify import verify
from api import create_app
from api.deps import get_hub
from api.routes.sensors import get_sensor_hub
from api.security import Role
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually
from tests.notify_fixtures import Receiver
from tests.push_fixtures import Phone
from tests.test_robots import feishu_checks

SECRET = "a-webhook-secret-of-32-characters"
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
notify:
  webhooks:
    - {{name: ops, url: "{hook}/hook", secret: "${{HOOK_SECRET}}"}}
  public_url: "http://hub"
  robots:
    - {{name: river-team, kind: feishu, url: "{hook}/feishu/hook", secret: "${{LARK_SECRET}}"}}
sensors:
  sensors:
    - id: jinsha-turbidity-1
      kind: turbidity
      cameras: [{{camera_id: boat, position: downstream}}]
      thresholds: [{{id: turbid, above: 100, hysteresis: 10, severity: high}}]
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""
LARK_SECRET = "feishu-robot-secret-0123456789"
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55", "HOOK_SECRET": SECRET,
       "LARK_SECRET": LARK_SECRET}  # fmt: skip
PNG = cv2.imencode(".png", np.full((8, 8, 3), 200, np.uint8))[1].tobytes()

Client = httpx.AsyncClient


async def test_a_boat_becomes_one_ticket_with_evidence_walked_through_the_loop(
    rtsp: RtspSimulator, settings: Settings, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # evidence where every hub of a cluster would mount it
    settings = settings.model_copy(
        update={
            "files_dir": shared,
            "evidence_pre_roll_s": 3.0,
            "evidence_post_roll_s": 3.0,
            "ticket_sla_s": 2.0,
            "ticket_escalation_period_s": 600.0,
            "ticket_scan_period_s": 0.5,
        }
    )
    async with Receiver() as hook:
        loaded = parse_config(CONFIG.format(port=rtsp.port, hook=hook.url), env=ENV)
        async with Hub(settings, loaded) as hub:
            app = create_app(lambda: contextlib.nullcontext(hub))
            app.dependency_overrides[get_hub] = lambda: hub
            app.dependency_overrides[get_sensor_hub] = hub.sensors
            people = await _sign_in_everyone(app, hub)
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
                httpx.AsyncClient(transport=transport, base_url="http://hub") as li,
                httpx.AsyncClient(transport=transport, base_url="http://hub") as chen,
                httpx.AsyncClient(transport=transport, base_url="http://hub") as gateway,
            ):
                for person, who in ((client, "admin"), (li, "li"), (chen, "chen")):
                    person.headers.update(people[who])
                gateway.headers.update(people["gateway"])
                phone = await _li_subscribes_her_phone(li, hook)
                ticket = await _ticket_with_evidence(client)
                await _evidence_plays(li, ticket["id"])
                await _the_chat_group_sees_the_snapshot(hook, transport, ticket)
                await _her_phone_gets_the_ticket(hook, phone, li, ticket)
                await eventually(_escalated(client, ticket["id"]), timeout_s=30, what="escalation")
                await eventually(lambda: _hook_saw(hook, "ticket.escalated"), what="webhook")
                await _walk_the_loop(li, chen, ticket["id"])
                await _turbid_water_raises_a_sensor_ticket(gateway, client)
                tickets = (await client.get("/api/tickets")).json()
                figures = (await chen.get("/api/stats/loop")).json()
    by_source = sorted((t["source"], t["camera_id"] or t["sensor_id"], t["rule"]) for t in tickets)
    assert by_source == [
        ("camera", "boat", "vessel_in_zone"),
        ("sensor", "jinsha-turbidity-1", "turbid"),
    ]
    assert figures["received"] == 2 and figures["closed"] == 1
    assert list(shared.glob("evidence/*/*.jpg")) and list(shared.glob("evidence/*/*.mp4"))
    assert not (settings.data_dir / "evidence").exists()  # nothing under the hub's own dir
    assert figures["closure_rate"] == 0.5 and figures["sla_met"] == 0
    assert figures["satisfaction_rate"] == 1.0 and figures["false_alarms"] == 0
    opened = [r for r in hook.requests if r.headers.get("x-riverwatch-event") == "alert.open"]
    assert len(opened) == 2  # the boat's and the turbid water's
    verify(SECRET, opened[0].headers, opened[0].body)  # raises SignatureError if forged


async def _sign_in_everyone(app: FastAPI, hub: Hub) -> dict[str, dict[str, str]]:
    """An admin to watch, li of the enforcement team, chen the reviewer, a sensor gateway."""
    people = {}
    for who, role in (
        ("admin", Role.ADMIN),
        ("li", Role.ENFORCEMENT),
        ("wang", Role.ENFORCEMENT),
        ("chen", Role.REVIEWER),
        ("gateway", Role.SENSOR_GATEWAY),
    ):
        people[who] = await sign_in(app, hub.engine, role, username=who)
    return people


async def _ticket_with_evidence(client: Client) -> dict[str, Any]:
    async def ready() -> bool:
        answer = (await client.get("/api/tickets")).json()
        return len(answer) == 1 and bool(answer[0]["clip"]) and bool(answer[0]["snapshot"])

    await eventually(ready, timeout_s=90, what="a ticket with its snapshot and clip")
    ticket: dict[str, Any] = (await client.get("/api/tickets")).json()[0]
    assert ticket["state"] == "received" and ticket["severity"] == "high"
    assert len(ticket["clip_sha256"]) == 64 and len(ticket["snapshot_sha256"]) == 64
    return ticket


async def _evidence_plays(client: Client, ticket_id: int) -> None:
    snap = await client.get(f"/api/tickets/{ticket_id}/evidence/snapshot")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (180, 320, 3)  # the camera's own resolution
    clip = await client.get(f"/api/tickets/{ticket_id}/evidence/clip")
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(clip.content)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 15 * 4  # pre- and post-roll of 3 s each at 15 fps, give or take a GOP
    part = await client.get(
        f"/api/tickets/{ticket_id}/evidence/clip", headers={"Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and len(part.content) == 100
    escape = await client.get(f"/api/tickets/{ticket_id}/evidence/..%2F..%2Fetc%2Fpasswd")
    assert escape.status_code == 404


async def _li_subscribes_her_phone(li: Client, hook: Receiver) -> Phone:
    """li turns alerts on for her phone (the keys a browser would make; the push service is
    the local receiver)."""
    phone = Phone.new()
    body = {"endpoint": f"{hook.url}/push/li", "keys": phone.keys(), "groups": ["jinsha"]}
    answer = await li.post("/api/push/subscriptions", json=body)
    assert answer.status_code == 201, answer.text
    return phone


async def _her_phone_gets_the_ticket(
    hook: Receiver, phone: Phone, li: Client, ticket: dict[str, Any]
) -> None:
    """The push for the new ticket reaches the push service, signed with the site's VAPID key;
    her phone decrypts it to the camera, the rule and a link to the ticket."""
    await eventually(lambda: any(r.target == "/push/li" for r in hook.requests), what="push")
    request = next(r for r in hook.requests if r.target == "/push/li")
    key = (await li.get("/api/push/key")).json()["public_key"]
    payload = phone.read(request, key, hook.url)
    assert payload["title"] == "New high: vessel_in_zone at Boat crossing"
    assert payload["url"] == f"/inbox?alert={ticket['alert_id']}"
    assert payload["image"].startswith(f"/share/{ticket['alert_id']}/snapshot?")


async def _the_chat_group_sees_the_snapshot(
    hook: Receiver, transport: httpx.ASGITransport, ticket: dict[str, Any]
) -> None:
    """The Feishu robot posted the incident, signed as Feishu documents; its snapshot link
    opens without signing in, and a forged one does not."""
    await eventually(lambda: any(r.target == "/feishu/hook" for r in hook.requests), what="post")
    post = json.loads(next(r for r in hook.requests if r.target == "/feishu/hook").body)
    feishu_checks(post, LARK_SECRET)
    rows = post["content"]["post"]["zh_cn"]["content"]
    links = [c["href"] for row in rows for c in row if c["tag"] == "a"]
    assert links[0] == f"http://hub/inbox?alert={ticket['alert_id']}"
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as anyone:
        shot = await anyone.get(links[1].removeprefix("http://hub"))
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(shot.content).hexdigest() == ticket["snapshot_sha256"]
        forged = await anyone.get(links[1].removeprefix("http://hub")[:-4] + "0000")
        assert forged.status_code == 403 and "signature" in forged.text


async def _turbid_water_raises_a_sensor_ticket(gateway: Client, client: Client) -> None:
    now = time.time()
    readings = [
        {"sensor_id": "jinsha-turbidity-1", "value": v, "unit": "NTU", "ts": now - 10 + i}
        for i, v in enumerate((20.0, 25.0, 140.0, 150.0))
    ]
    bad = await gateway.post("/api/sensors/readings", json=[{**readings[0], "unit": "mg/L"}])
    assert bad.status_code == 422 and "unit" in bad.text
    good = await gateway.post("/api/sensors/readings", json=readings)
    assert good.status_code == 200, good.text

    async def sensor_ticket() -> bool:
        return any(t["source"] == "sensor" for t in (await client.get("/api/tickets")).json())

    await eventually(sensor_ticket, what="a ticket for the turbidity excursion")


def _escalated(client: Client, ticket_id: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        ticket = (await client.get(f"/api/tickets/{ticket_id}")).json()["ticket"]
        return bool(ticket["escalation_level"] >= 1 and ticket["priority"] > 0)

    return check


def _hook_saw(hook: Receiver, event: str) -> bool:
    return any(r.headers.get("x-riverwatch-event") == event for r in hook.requests)


async def _walk_the_loop(li: Client, chen: Client, ticket_id: int) -> None:
    url = f"/api/tickets/{ticket_id}/transitions"
    version = (await li.get(f"/api/tickets/{ticket_id}")).json()["ticket"]["version"]
    not_hers = await li.post(url, data={"to": "verified"})
    assert not_hers.status_code == 403, not_hers.text  # verifying is the reviewer's move
    illegal = await chen.post(url, data={"to": "verified"})
    assert illegal.status_code == 409, illegal.text  # not from `received`
    nobody = await li.post(url, data={"to": "assigned", "assignee": "nobody"})
    assert nobody.status_code == 422 and "nobody" in nobody.text
    reviewer = await li.post(url, data={"to": "assigned", "assignee": "chen"})
    assert reviewer.status_code == 422  # tickets go to the enforcement team
    assigned = await li.post(
        url, data={"to": "assigned", "assignee": "wang", "expected_version": str(version)}
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == "wang"
    stale = await li.post(url, data={"to": "handled", "expected_version": str(version)})
    assert stale.status_code == 409
    not_a_photo = await li.post(
        url,
        data={"to": "handled"},
        files={"photos": ("boat.png", b"not a png", "image/png")},
    )
    assert not_a_photo.status_code == 415
    handled = await li.post(
        url,
        data={"to": "handled", "note": "boat towed to the pier"},
        files={"photos": ("../../boat.png", PNG, "image/png")},
    )
    assert handled.status_code == 200, handled.text
    no_score = await li.post(url, data={"to": "feedback"})
    assert no_score.status_code == 409 and "satisfaction" in no_score.json()["detail"]
    feedback = {"to": "feedback", "satisfaction": "5", "note": "reporter satisfied"}
    assert (await li.post(url, data=feedback)).status_code == 200
    verified = await chen.post(url, data={"to": "verified"})
    assert verified.status_code == 200, verified.text
    detail = (await chen.get(f"/api/tickets/{ticket_id}")).json()
    moves = [(h["from_state"], h["to_state"], h["actor"]) for h in detail["history"]]
    assert moves[1:] == [
        ("received", "assigned", "li"),
        ("assigned", "handled", "li"),
        ("handled", "feedback", "li"),
        ("feedback", "verified", "chen"),
    ]
    (photo,) = detail["attachments"]
    assert photo["original_name"] == "../../boat.png" and ".." not in photo["path"]
    served = await chen.get(f"/api/tickets/{ticket_id}/attachments/{photo['id']}")
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert detail["ticket"]["state"] == "verified" and detail["ticket"]["closed_at"] > 0
    assert detail["ticket"]["closed_at"] <= time.time()
