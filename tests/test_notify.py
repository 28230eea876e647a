"""Notifications against real local HTTP receivers: signatures, retries, dead letters, speakers."""

from __future__ import annotations

import base64
import inspect
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alerts.notify import (
    DEAD_LETTER_FILE,
    DeadLetterStoreError,
    Notifier,
    NotifyConfig,
    RetryPolicy,
    SignatureError,
    UnknownTarget,
    resolve_secrets,
    verify,
)
from alerts.notify.retry import Verdict, backoff_s, classify_status, parse_retry_after
from alerts.notify.signing import signed_headers
from riverwatch.types import AlertPhase
from tests.conftest import eventually
from tests.notify_fixtures import Receiver, Reply, closed_port, make_alert

SECRET = "whsec-0123456789abcdef-TOPSECRET"
TOKEN = "tok-SECRET-7f3a9c"
SPEAKER_PASS = "Horn-Pa55-SECRET"
FAST: dict[str, Any] = {
    "timeout_s": 2.0,
    "connect_timeout_s": 1.0,
    "max_attempts": 3,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
}


def hook(base_url: str, name: str = "ops", **extra: Any) -> dict[str, Any]:
    """A webhook entry as it would be written in YAML."""
    retry = {**FAST, **extra.pop("retry", {})}
    entry = {"name": name, "url": f"{base_url}/hook?token={TOKEN}", "secret": SECRET}
    return {**entry, "retry": retry, **extra}


def speaker(base_url: str, **extra: Any) -> dict[str, Any]:
    """A Hikvision-style speaker entry with credentials in the URL."""
    host = base_url.removeprefix("http://")
    entry = {
        "name": "horn",
        "method": "PUT",
        "url": f"http://horn-admin:{SPEAKER_PASS}@{host}/ISAPI/play?clip=3&cam={{camera_id}}"
        "&zone={zone_id}",
        "body": '{"clip": 3, "camera": "{camera_name}", "rule": "{rule}"}',
        "cameras": ["cam-a"],
        "zones": ["ban"],
        "cooldown_s": 0,
        "retry": FAST,
    }
    return {**entry, **extra}


def config(**sections: Any) -> NotifyConfig:
    return NotifyConfig.model_validate(sections)


class Clock:
    """A hand-driven monotonic clock for cooldowns."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rx:
        yield rx


def stat(notifier: Notifier, name: str, field: str) -> int:
    value: int = getattr(notifier.stats()[name], field)
    return value


# --- pure parts ---------------------------------------------------------------------------


def _tamper(case: str, headers: dict[str, str], body: bytes) -> tuple[str, bytes, float]:
    now = time.time()
    if case == "wrong secret":
        return "another-secret-0123456789", body, now
    if case == "tampered body":
        return SECRET, body.replace(b"high", b"low!"), now
    if case == "old timestamp":
        return SECRET, body, now + 301
    if case == "future timestamp":
        return SECRET, body, now - 301
    if case == "missing signature":
        del headers["X-Riverwatch-Signature"]
    if case == "bad timestamp":
        headers["X-Riverwatch-Timestamp"] = "yesterday"
    return SECRET, body, now


@pytest.mark.parametrize(
    ("case", "ok"),
    [
        ("as sent", True),
        ("wrong secret", False),
        ("tampered body", False),
        ("old timestamp", False),
        ("future timestamp", False),
        ("missing signature", False),
        ("bad timestamp", False),
    ],
)
def test_verify_table(case: str, ok: bool) -> None:
    body = b'{"alert":{"severity":"high"},"delivery_id":"d1","event":"alert.open"}'
    headers = signed_headers(SECRET, body, "d1", "alert.open")
    secret, sent_body, now = _tamper(case, headers, body)
    lowered = {k.lower(): v for k, v in headers.items()}  # receivers see any letter case
    if ok:
        verify(secret, lowered, sent_body, tolerance_s=300, now=now)
    else:
        with pytest.raises(SignatureError) as info:
            verify(secret, lowered, sent_body, tolerance_s=300, now=now)
        assert SECRET not in str(info.value)


def test_retry_policy_table() -> None:
    verdicts = {s: classify_status(s) for s in (200, 204, 301, 400, 401, 404, 408, 429, 500, 503)}
    assert verdicts == {
        200: Verdict.DELIVERED,
        204: Verdict.DELIVERED,
        301: Verdict.GIVE_UP,
        400: Verdict.GIVE_UP,
        401: Verdict.GIVE_UP,
        404: Verdict.GIVE_UP,
        408: Verdict.RETRY,
        429: Verdict.RETRY,
        500: Verdict.RETRY,
        503: Verdict.RETRY,
    }
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=10.0)
    lows = [backoff_s(n, policy, rand=lambda: 0.0) for n in range(1, 7)]
    highs = [backoff_s(n, policy, rand=lambda: 1.0) for n in range(1, 7)]
    assert lows == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert highs == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert parse_retry_after("7", 0.0) == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0.0) is None
    assert parse_retry_after(None, 0.0) is None


# --- webhooks -----------------------------------------------------------------------------


async def test_webhook_signed_delivery_verifies_on_the_receiver(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(webhooks=[hook(receiver.url, events=["alert.open", "alert.close"])])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert(phase=AlertPhase.UPDATE))  # filtered out by `events`
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "delivered") == 1, 10, "delivery")
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req.method == "POST" and req.target == f"/hook?token={TOKEN}"
    verify(SECRET, req.headers, req.body)  # what a receiver does, on the raw bytes
    payload = json.loads(req.body)
    assert payload["event"] == req.headers["x-riverwatch-event"] == "alert.open"
    assert payload["delivery_id"] == req.headers["x-riverwatch-delivery"]
    assert payload["alert"] == make_alert().to_fields()
    with pytest.raises(SignatureError):
        verify("not-the-secret-0123456789", req.headers, req.body)
    with pytest.raises(SignatureError):
        verify(SECRET, req.headers, req.body.replace(b"vessel_in_zone", b"vessel_in_zonE"))
    with pytest.raises(SignatureError):
        verify(SECRET, req.headers, req.body, tolerance_s=300, now=time.time() + 3600)


async def test_retries_on_5xx_then_delivers_same_delivery(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script(Reply(500), Reply(503), Reply(drop=True))
    async with Notifier(
        config(webhooks=[hook(receiver.url, retry={"max_attempts": 5})]), tmp_path
    ) as n:
        n.notify(make_alert())
        await eventually(lambda: stat(n, "ops", "delivered") == 1, 10, "delivery")
        stats = n.stats()["ops"]
    assert (stats.retried, stats.dead_lettered) == (3, 0)
    assert len(receiver.requests) == 4
    assert len({r.headers["x-riverwatch-delivery"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    for req in receiver.requests:
        verify(SECRET, req.headers, req.body)


async def test_429_retry_after_is_honoured(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script(Reply(429, {"Retry-After": "1"}))
    async with Notifier(config(webhooks=[hook(receiver.url)]), tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "delivered") == 1, 10, "delivery")
    first, second = receiver.requests
    # The backoff alone would be at most 0.05 s; only the header explains a second's wait.
    assert second.at - first.at >= 0.9


async def test_4xx_is_dead_lettered_without_retry(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(401)
    async with Notifier(config(webhooks=[hook(receiver.url)]), tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 1, 10, "dead letter")
        (letter,) = await notifier.dead_letters()
        assert stat(notifier, "ops", "retried") == 0
    assert len(receiver.requests) == 1
    assert (letter.attempts, letter.last_status, letter.reason) == (1, 401, "http 401")


async def test_dead_letters_survive_restart_and_redrive(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(500)
    cfg = config(webhooks=[hook(receiver.url)])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 1, 10, "dead letter")
        assert stat(notifier, "ops", "retried") == 2
    assert len(receiver.requests) == 3
    original = receiver.requests[0].headers["x-riverwatch-delivery"]

    receiver.default = Reply(200)
    async with Notifier(cfg, tmp_path) as notifier:  # a new process, the same data dir
        (letter,) = await notifier.dead_letters()
        assert (letter.target, letter.delivery_id, letter.event) == ("ops", original, "alert.open")
        assert (letter.attempts, letter.last_status, letter.reason) == (3, 500, "http 500")
        with pytest.raises(UnknownTarget):
            await notifier.redrive(target="nobody")
        assert await notifier.redrive() == 1
        await eventually(lambda: stat(notifier, "ops", "delivered") == 1, 10, "re-drive")
        assert await notifier.dead_letters() == []
    last = receiver.requests[-1]
    assert len(receiver.requests) == 4 and last.headers["x-riverwatch-delivery"] == original
    verify(SECRET, last.headers, last.body)


async def test_hanging_receiver_never_holds_notify_and_nothing_is_lost(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.default = Reply(hang=True)
    cfg = config(webhooks=[hook(receiver.url, workers=1, queue_size=3, retry={"timeout_s": 60})])
    assert not inspect.iscoroutinefunction(Notifier.notify)  # it cannot await the network
    notifier = Notifier(cfg, tmp_path)
    await notifier.start()
    notifier.notify(make_alert("alert-0"))
    await eventually(lambda: receiver.hanging == 1, 10, "the receiver to hold a request")
    for i in range(1, 11):
        notifier.notify(make_alert(f"alert-{i}"))
    # All ten were handled while the one request still hangs: 3 queued, 7 dropped (oldest).
    assert receiver.hanging == 1 and len(receiver.requests) == 1
    stats = notifier.stats()["ops"]
    assert (stats.queued, stats.dropped, stats.delivered) == (3, 7, 0)
    await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 7, 10, "drops kept")
    await notifier.close(drain_budget_s=0.2)  # 1 in flight + 3 queued: dead-lettered too

    async with Notifier(cfg, tmp_path) as again:
        letters = await again.dead_letters()
    ids = sorted(json.loads(letter.body)["alert"]["alert_id"] for letter in letters)
    assert ids == sorted(f"alert-{i}" for i in range(11))
    reasons = sorted({letter.reason.split(" (")[0] for letter in letters})
    assert reasons == ["queue full", "undelivered at shutdown"]


async def test_timeout_fires_and_dead_letters(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(hang=True)
    cfg = config(webhooks=[hook(receiver.url, retry={"timeout_s": 0.3, "max_attempts": 2})])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 1, 10, "dead letter")
        (letter,) = await notifier.dead_letters()
    assert receiver.hanging == 2
    assert (letter.attempts, letter.last_status, letter.reason) == (2, None, "timeout after 0.3 s")


async def test_receiver_down_retries_then_dead_letters(tmp_path: Path) -> None:
    cfg = config(webhooks=[hook(f"http://127.0.0.1:{closed_port()}")])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        assert notifier.stats()["ops"].queued == 1  # accepted without touching the network
        await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 1, 10, "dead letter")
        (letter,) = await notifier.dead_letters()
        assert stat(notifier, "ops", "retried") == 2
    assert letter.attempts == 3 and letter.last_status is None
    assert letter.reason.startswith("ConnectError")


async def test_unwritable_dead_letter_store_is_counted_and_delivery_goes_on(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script(Reply(400))
    async with Notifier(config(webhooks=[hook(receiver.url)]), tmp_path) as notifier:
        db = tmp_path / DEAD_LETTER_FILE
        shutil.rmtree(db.parent)
        db.parent.write_text("not a directory")  # the store breaks under the running notifier
        notifier.notify(make_alert("a-1"))
        await eventually(lambda: stat(notifier, "ops", "lost") == 1, 10, "the lost letter")
        notifier.notify(make_alert("a-2"))
        await eventually(lambda: stat(notifier, "ops", "delivered") == 1, 10, "next delivery")
        with pytest.raises(DeadLetterStoreError):
            await notifier.dead_letters()


# --- speakers -----------------------------------------------------------------------------


async def test_speaker_plays_rendered_call_once_per_cooldown(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = Clock()
    cfg = config(speakers=[speaker(receiver.url, cooldown_s=300, rules=["vessel_in_zone"])])
    names = {"cam-a": 'Jinsha "east" bridge'}
    async with Notifier(cfg, tmp_path, names, clock=clock) as notifier:
        notifier.notify(make_alert("a-1"))
        await eventually(lambda: stat(notifier, "horn", "delivered") == 1, 10, "the warning")
        notifier.notify(make_alert("a-1", phase=AlertPhase.UPDATE))  # not a new incident
        notifier.notify(make_alert("a-2", zone_id="harbour"))  # another zone
        notifier.notify(make_alert("a-3", camera_id="cam-b"))  # another camera
        notifier.notify(make_alert("a-4", rule="dredging"))  # another rule
        clock.t += 10
        notifier.notify(make_alert("a-5"))  # the same boat again, inside the cooldown
        assert stat(notifier, "horn", "cooldown_skipped") == 1
        clock.t += 300
        notifier.notify(make_alert("a-6"))
        await eventually(lambda: stat(notifier, "horn", "delivered") == 2, 10, "second warning")
    assert len(receiver.requests) == 2
    req = receiver.requests[0]
    assert (req.method, req.target) == ("PUT", "/ISAPI/play?clip=3&cam=cam-a&zone=ban")
    expected = base64.b64encode(f"horn-admin:{SPEAKER_PASS}".encode()).decode()
    assert req.headers["authorization"] == f"Basic {expected}"
    body = json.loads(req.body)
    assert body == {"clip": 3, "camera": 'Jinsha "east" bridge', "rule": "vessel_in_zone"}


async def test_speaker_gives_up_at_its_deadline(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(500)
    retry = {**FAST, "max_attempts": 20, "backoff_base_s": 0.1, "backoff_max_s": 0.2}
    cfg = config(speakers=[speaker(receiver.url, deadline_s=1.0, retry=retry)])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "horn", "expired") == 1, 10, "expiry")
        stats = notifier.stats()["horn"]
        assert await notifier.dead_letters() == []  # a late warning is not worth keeping
    assert (stats.delivered, stats.failed, stats.dead_lettered) == (0, 0, 0)
    assert stats.retried >= 1 and len(receiver.requests) == stats.retried + 1


async def test_speaker_hang_is_cut_at_the_deadline(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(hang=True)
    retry = {**FAST, "timeout_s": 60}
    cfg = config(speakers=[speaker(receiver.url, deadline_s=0.5, retry=retry)])
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "horn", "expired") == 1, 10, "expiry")
    assert receiver.hanging == 1


async def test_speaker_4xx_fails_without_retry(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(404)
    async with Notifier(config(speakers=[speaker(receiver.url)]), tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "horn", "failed") == 1, 10, "failure")
        assert stat(notifier, "horn", "expired") == 0
    assert len(receiver.requests) == 1


# --- secrets and config -------------------------------------------------------------------


async def test_secrets_never_reach_logs_errors_or_dead_letters(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.default = Reply(500)
    down = f"http://127.0.0.1:{closed_port()}"
    cfg = config(
        webhooks=[hook(receiver.url), hook(down, name="down")],
        speakers=[speaker(down, headers={"X-Api-Key": "hdr-SECRET-key"})],
    )
    async with Notifier(cfg, tmp_path) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: stat(notifier, "ops", "dead_lettered") == 1, 10, "ops")
        await eventually(lambda: stat(notifier, "down", "dead_lettered") == 1, 10, "down")
        await eventually(lambda: stat(notifier, "horn", "failed") == 1, 10, "horn")
        letters = await notifier.dead_letters()
    shown = caplog.text + repr(cfg) + str(cfg) + repr(letters) + repr(notifier.stats())
    assert "HTTP Request" in caplog.text  # httpx did log its requests, scrubbed
    for secret in (SECRET, TOKEN, SPEAKER_PASS, "hdr-SECRET-key"):
        assert secret not in shown


def test_config_from_yaml_resolves_placeholders_and_reports_every_problem() -> None:
    text = """
    webhooks:
      - name: city-ops
        url: https://ops.example.gov/hooks/rw?token=${OPS_TOKEN}
        secret: ${OPS_SECRET}
        events: [alert.open]
    speakers:
      - name: horn
        url: http://${HORN_USER}:${HORN_PASS}@10.20.1.40/ISAPI/play?cam={camera_id}
        auth: digest
        cameras: [jinsha-001]
    """
    cfg = NotifyConfig.model_validate(yaml.safe_load(text))
    env = {"OPS_TOKEN": "tok-1234", "OPS_SECRET": "s" * 32, "HORN_USER": "admin"}
    resolved = resolve_secrets(cfg, env)
    assert resolved.problems == ["notify.speakers[horn].url: ${HORN_PASS} is not set"]
    url = resolved.config.webhooks[0].url.get_secret_value()
    assert url == "https://ops.example.gov/hooks/rw?token=tok-1234"
    assert "tok-1234" in resolved.secret_values and "s" * 32 in resolved.secret_values
    short = resolve_secrets(cfg, {**env, "OPS_SECRET": "short", "HORN_PASS": "pw-long"})
    assert short.problems == ["notify.webhooks[city-ops].secret: shorter than 16 characters"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"webhooks": [{"name": "a", "url": "https://x", "secret": "s", "colour": 1}]}, "extra"),
        ({"webhooks": [{"name": "a", "url": "ftp://x?token=T0P", "secret": "s"}]}, "http"),
        (
            {"speakers": [{"name": "h", "url": "http://x/{camera}", "cameras": ["c"]}]},
            "unknown fields",
        ),
        ({"speakers": [{"name": "h", "url": "http://x/", "cameras": []}]}, "at least 1"),
        (
            {
                "webhooks": [{"name": "a", "url": "https://x", "secret": "s"}],
                "speakers": [{"name": "a", "url": "http://x/", "cameras": ["c"]}],
            },
            "unique",
        ),
    ],
)
def test_config_refuses_bad_entries(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        NotifyConfig.model_validate(section)
    assert message in str(info.value)
    assert "T0P" not in str(info.value)


async def test_unusable_data_dir_refuses_to_start_with_a_clear_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("a file where the data directory should be")
    notifier = Notifier(config(webhooks=[hook("http://127.0.0.1:9")]), data_dir)
    with pytest.raises(DeadLetterStoreError, match="dead-letter store"):
        await notifier.start()
    notifier.notify(make_alert())  # not running: ignored, never raises
    await notifier.close()
