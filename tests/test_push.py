"""Web Push (`alerts/notify/push.py`, `api/routes/push.py`) against a local push endpoint: the
request carries a VAPID token the site's key signed for the endpoint's origin, and its body
decrypts with the subscription's keys to the incident; a subscription the push service calls
gone is deleted; the API refuses bad subscriptions with a message."""

from __future__ import annotations

import time
from pathlib import Path

import http_ece
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.notify import Notifier, NotifyConfig
from alerts.notify.push import PushChannel, PushService, PushSubscriptions, Subscription, VapidKey
from api.security import Role
from riverwatch.share import ShareLinks
from tests.api_fixtures import ApiServer, api_server_fixture, module_rtsp_fixture
from tests.conftest import eventually
from tests.notify_fixtures import Receiver, Reply, make_alert
from tests.push_fixtures import Phone

__all__ = ["api_server_fixture", "module_rtsp_fixture"]

SHARE = ShareLinks(b"p" * 32)
CONTACT = "mailto:river-team@city.example"
NAMES = {"cam-a": "Jinsha bridge east"}


def subscription(
    endpoint: str, phone: Phone, groups: tuple[str, ...] = (), number: int = 1
) -> Subscription:
    keys = phone.keys()
    return Subscription(number, "li", endpoint, keys["p256dh"], keys["auth"], groups, time.time())


async def test_a_push_decrypts_on_the_phone_to_the_incident(tmp_path: Path) -> None:
    key = VapidKey.from_file(tmp_path)
    assert VapidKey.from_file(tmp_path).application_server_key == key.application_server_key
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600
    phone, other = Phone.new(), Phone.new()
    channel = PushChannel(key, CONTACT, SHARE, NAMES)
    async with Receiver(default=Reply(201)) as service:
        channel.use([
            subscription(f"{service.url}/push/li", phone, ("jinsha",)),
            subscription(f"{service.url}/push/wang", other, ("heng",), number=2),  # not this group
        ])  # fmt: skip
        async with Notifier(NotifyConfig(), tmp_path, NAMES, push=channel) as notifier:
            alert = make_alert()
            notifier.notify(alert)
            await eventually(lambda: notifier.stats()["push"].delivered == 1, 10, "the push")
        (request,) = service.requests
    assert request.target == "/push/li"
    payload = phone.read(request, key.application_server_key, service.url)
    assert payload["title"] == "New high: vessel_in_zone at Jinsha bridge east"
    assert payload["url"] == "/inbox?alert=cam-a%3Aban%3A1" and payload["tag"] == alert.alert_id
    assert SHARE.check(alert.alert_id, "snapshot", *SHARE.parts(payload["image"])) == ""
    with pytest.raises(http_ece.ECEException):  # another phone's keys cannot read it
        other.read(request, key.application_server_key, service.url)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_a_subscription_the_push_service_calls_gone_is_deleted(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    key = VapidKey.from_file(tmp_path)
    store = PushSubscriptions(engine)
    channel = PushChannel(key, CONTACT, SHARE, NAMES)
    service = PushService(store, key, channel)
    async with Receiver(default=Reply(410)) as push:
        phone = Phone.new()
        keys = phone.keys()
        await store.add("li", f"{push.url}/push/li", keys["p256dh"], keys["auth"], [])
        await service.refresh()
        async with Notifier(NotifyConfig(), tmp_path, NAMES, push=channel) as notifier:
            notifier.notify(make_alert())
            await eventually(lambda: notifier.stats()["push"].failed == 1, 10, "a 410")
        assert len(push.requests) == 1  # gone is final: not retried
    await service.refresh()
    assert await store.all() == []


def test_the_api_subscribes_an_officer_and_refuses_bad_subscriptions(api_server: ApiServer) -> None:
    phone = Phone.new()
    with api_server.client(Role.ENFORCEMENT) as officer:
        key = officer.get("/api/push/key").json()["public_key"]
        assert len(key) == 87  # an uncompressed P-256 point, base64url
        good = {"endpoint": "https://push.example.net/abc", "keys": phone.keys(), "groups": []}
        made = officer.post("/api/push/subscriptions", json=good)
        assert made.status_code == 201, made.text
        assert [s["endpoint"] for s in officer.get("/api/push/subscriptions").json()] == [
            "https://push.example.net/abc"
        ]
        for change, needle in (
            ({"endpoint": "http://push.example.net/abc"}, "https://"),
            ({"keys": {**phone.keys(), "p256dh": "AAAA"}}, "p256dh"),
            ({"keys": {**phone.keys(), "auth": "AAAA"}}, "auth"),
            ({"groups": ["nowhere"]}, "no such group nowhere"),
        ):
            bad = officer.post("/api/push/subscriptions", json={**good, **change})
            assert bad.status_code == 422 and needle in bad.text, bad.text
        gone = officer.delete("/api/push/subscriptions", params={"endpoint": good["endpoint"]})
        assert gone.status_code == 204
        assert officer.get("/api/push/subscriptions").json() == []
