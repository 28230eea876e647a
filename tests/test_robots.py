"""Chat robots (`alerts/notify/robots.py`) against a real local HTTP receiver that checks each
vendor's signature the way the vendor documents it, and the signed snapshot links they carry
(`riverwatch/share.py`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import ValidationError

from alerts.notify import Notifier, NotifyConfig
from alerts.notify.errors import NotifyError
from riverwatch.share import ShareLinks
from tests.conftest import eventually
from tests.notify_fixtures import Receiver, Reply, make_alert

DING_SECRET = "SEC0123456789abcdef0123456789abcdef"
FEISHU_SECRET = "feishu-signing-secret-0123456789"
PUBLIC = "https://riverwatch.city.example"
SHARE = ShareLinks(b"s" * 32)
FAST = {"timeout_s": 2.0, "connect_timeout_s": 1.0, "max_attempts": 3,
        "backoff_base_s": 0.01, "backoff_max_s": 0.05}  # fmt: skip
NAMES = {"cam-a": "Jinsha bridge east"}


def robots(base: str) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "public_url": PUBLIC,
            "robots": [
                {"name": "ding", "kind": "dingtalk", "secret": DING_SECRET, "retry": FAST,
                 "url": f"{base}/dingtalk/robot/send?access_token=ding-token"},
                {"name": "lark", "kind": "feishu", "secret": FEISHU_SECRET, "retry": FAST,
                 "url": f"{base}/feishu/open-apis/bot/v2/hook/lark-hook"},
                {"name": "wecom", "kind": "wecom", "retry": FAST,
                 "url": f"{base}/wecom/cgi-bin/webhook/send?key=wecom-key"},
            ],
        }
    )  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver(default=Reply(body=b'{"errcode":0,"errmsg":"ok"}')) as rx:
        yield rx


def dingtalk_checks(target: str, secret: str) -> None:
    """DingTalk: `timestamp` (ms, within an hour) and `sign` in the query; sign is
    urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)))."""
    query = parse_qs(urlsplit(target).query)
    stamp, sign = query["timestamp"][0], query["sign"][0]
    assert abs(int(stamp) - time.time() * 1000) < 3600_000
    expected = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert base64.b64decode(sign) == expected
    assert query["access_token"] == ["ding-token"]


def feishu_checks(body: dict[str, Any], secret: str) -> None:
    """Feishu: `timestamp` (s, within an hour) and `sign` in the body; sign is
    base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg=""))."""
    stamp = body["timestamp"]
    assert abs(int(stamp) - time.time()) < 3600
    expected = hmac.new(f"{stamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    assert base64.b64decode(body["sign"]) == expected


def links_in(text: str) -> list[str]:
    return [part.split(")")[0] for part in text.split("](")[1:]]


def assert_links(links: list[str], alert_id: str) -> None:
    ticket, snapshot = links
    assert ticket == f"{PUBLIC}/inbox?alert={alert_id.replace(':', '%3A')}"
    assert snapshot.startswith(f"{PUBLIC}/share/{alert_id}/snapshot?")
    path = snapshot.removeprefix(PUBLIC)
    assert SHARE.check(alert_id, "snapshot", *SHARE.parts(path)) == ""


async def test_each_robot_posts_its_vendors_message_signed_as_documented(
    tmp_path: Path, receiver: Receiver
) -> None:
    alert = make_alert()
    async with Notifier(robots(receiver.url), tmp_path, NAMES, share=SHARE) as notifier:
        notifier.notify(alert)
        await eventually(lambda: len(receiver.requests) == 3, 10, "three robot posts")
        stats = notifier.stats()
    assert all(stats[name].delivered == 1 for name in ("ding", "lark", "wecom"))
    by_vendor = {r.target.split("/")[1]: r for r in receiver.requests}

    ding = by_vendor["dingtalk"]
    dingtalk_checks(ding.target, DING_SECRET)
    message = json.loads(ding.body)
    assert message["msgtype"] == "markdown"
    text = message["markdown"]["text"]
    assert "Jinsha bridge east" in text and "vessel_in_zone" in text and "high" in text
    assert_links(links_in(text), alert.alert_id)

    lark = json.loads(by_vendor["feishu"].body)
    feishu_checks(lark, FEISHU_SECRET)
    post = lark["content"]["post"]["zh_cn"]
    assert lark["msg_type"] == "post" and "Jinsha bridge east" in post["title"]
    anchors = [c["href"] for row in post["content"] for c in row if c["tag"] == "a"]
    assert_links(anchors, alert.alert_id)

    wecom = by_vendor["wecom"]
    assert parse_qs(urlsplit(wecom.target).query) == {"key": ["wecom-key"]}  # no signature
    content = json.loads(wecom.body)["markdown"]["content"]
    assert "Jinsha bridge east" in content
    assert_links(links_in(content), alert.alert_id)


async def test_a_refusal_in_a_200_answer_is_retried_and_signed_afresh(
    tmp_path: Path, receiver: Receiver
) -> None:
    refusal = b'{"errcode":310000,"errmsg":"sign not match"}'
    receiver.script(Reply(body=refusal))
    config = NotifyConfig.model_validate(
        {"public_url": PUBLIC, "robots": [robots(receiver.url).robots[0].model_dump(
            mode="json") | {"url": f"{receiver.url}/dingtalk/robot/send?access_token=ding-token",
                            "secret": DING_SECRET}]}
    )  # fmt: skip
    async with Notifier(config, tmp_path, NAMES, share=SHARE) as notifier:
        notifier.notify(make_alert())
        await eventually(lambda: notifier.stats()["ding"].delivered == 1, 10, "a retry")
        stats = notifier.stats()["ding"]
    assert stats.retried == 1 and len(receiver.requests) == 2
    for request in receiver.requests:
        dingtalk_checks(request.target, DING_SECRET)


async def test_filters_choose_the_alerts_a_robot_posts(tmp_path: Path, receiver: Receiver) -> None:
    config = NotifyConfig.model_validate(
        {"public_url": PUBLIC, "robots": [
            {"name": "wecom", "kind": "wecom", "url": f"{receiver.url}/wecom?key=k",
             "severities": ["critical"], "retry": FAST}]}
    )  # fmt: skip
    async with Notifier(config, tmp_path, NAMES, share=SHARE) as notifier:
        notifier.notify(make_alert(severity="high"))  # filtered out
        notifier.notify(make_alert(alert_id="cam-a:ban:2", severity="critical"))
        notifier.notify(make_alert(alert_id="cam-a:ban:3", severity="critical"), "alert.close")
        await eventually(lambda: notifier.stats()["wecom"].delivered == 1, 10, "one post")
    assert len(receiver.requests) == 1
    assert "cam-a:ban:2" in unquote(json.loads(receiver.requests[0].body)["markdown"]["content"])


def test_robot_config_is_checked_with_clear_messages() -> None:
    with pytest.raises(ValidationError, match="WeCom group robots are not signed"):
        NotifyConfig.model_validate({"public_url": PUBLIC, "robots": [
            {"name": "w", "kind": "wecom", "url": "https://x/y", "secret": "s" * 20}]})  # fmt: skip
    with pytest.raises(ValidationError, match="public_url"):
        NotifyConfig.model_validate(
            {"robots": [{"name": "d", "kind": "dingtalk", "url": "https://x/y"}]}
        )
    with pytest.raises(ValidationError, match="kind"):
        NotifyConfig.model_validate({"public_url": PUBLIC, "robots": [
            {"name": "s", "kind": "slack", "url": "https://x/y"}]})  # fmt: skip


async def test_robots_without_a_share_key_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(NotifyError, match="share key"):
        Notifier(robots("http://127.0.0.1:9"), tmp_path)


def test_share_links_open_only_with_their_signature_and_until_they_expire(
    tmp_path: Path,
) -> None:
    path = SHARE.path("9f3a0c1d2e4b", "snapshot", now=1000.0)
    exp, sig = SHARE.parts(path)
    assert SHARE.check("9f3a0c1d2e4b", "snapshot", exp, sig, now=2000.0) == ""
    assert "expired" in SHARE.check("9f3a0c1d2e4b", "snapshot", exp, sig, now=exp + 1.0)
    assert "signature" in SHARE.check("9f3a0c1d2e4c", "snapshot", exp, sig, now=2000.0)
    assert "signature" in SHARE.check("9f3a0c1d2e4b", "clip", exp, sig, now=2000.0)
    assert "signature" in SHARE.check("9f3a0c1d2e4b", "snapshot", exp + 1, sig, now=2000.0)
    other = ShareLinks(b"t" * 32)
    assert "signature" in other.check("9f3a0c1d2e4b", "snapshot", exp, sig, now=2000.0)
    first, second = ShareLinks.from_file(tmp_path), ShareLinks.from_file(tmp_path)
    link = first.path("ab", "clip")
    assert second.check("ab", "clip", *second.parts(link)) == ""  # one key on one files root
    assert (tmp_path / "share.key").stat().st_mode & 0o777 == 0o600
