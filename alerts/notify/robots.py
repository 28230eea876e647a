"""Chat robots: a new incident or an escalation posted to a WeCom, DingTalk or Feishu group.

Each message names the camera, the zone, the rule and the severity, and carries two links:
the ticket in the hub's inbox (people sign in there) and the snapshot, through a signed link
that opens without signing in for a week (`riverwatch.share`). The body is rendered once per
job; what each vendor signs is made afresh on every attempt, since their timestamps must be
within an hour of the call:

- **DingTalk** (custom robot, "加签"): `timestamp` in milliseconds; the signature is
  HMAC-SHA256 with the secret as key over `timestamp + "\\n" + secret`, Base64, then
  URL-encoded; both go in the query of the robot's URL. Markdown message.
- **Feishu** (custom bot, signature check): `timestamp` in seconds; the signature is
  HMAC-SHA256 with `timestamp + "\\n" + secret` as the key over an empty message, Base64; both
  go in the JSON body beside the message. Post (rich text) message.
- **WeCom** (group robot): no signature; the key in the URL is the credential. Markdown
  message.

All three answer HTTP 200 with an error code in the body when they refuse a message (a bad
signature, a rate limit); the answer is read (at most `_ANSWER_MAX` bytes) and a non-zero code
is a failure, retried like a 5xx: a robot that said no must not be counted as delivered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote_plus

from alerts.notify.delivery import FilteredChannel, HttpCall, Job, delivery_id_for
from riverwatch.notify_config import RobotConfig
from riverwatch.share import ShareLinks
from riverwatch.types import Alert

ANSWER_MAX = 4096
_JSON = {"content-type": "application/json; charset=utf-8"}
_TITLES = {"ticket.escalated": "Escalated"}


class RobotChannel(FilteredChannel):
    """One configured robot: filters alerts into messages; signs each attempt."""

    def __init__(
        self,
        config: RobotConfig,
        public_url: str,
        share: ShareLinks,
        camera_names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(config)
        self._config = config
        self._base = public_url.rstrip("/")
        self._share = share
        self._names = camera_names or {}

    @property
    def durable(self) -> bool:
        """A message given up on is counted, not dead-lettered: the ticket holds the facts."""
        return False

    def job(self, alert: Alert, event: str, now: float, age_s: float = 0.0) -> Job | None:
        """The vendor's message for this alert, or None when a filter refuses it."""
        if not self.wants(alert, event):
            return None
        lines = self._lines(alert, event)
        message = _RENDER[self._config.kind](lines)
        delivery_id = delivery_id_for(self.name, event, alert.message_id)
        body = json.dumps(message, ensure_ascii=False).encode()
        return Job(self.name, delivery_id, event, alert.alert_id, body, now)

    def call(self, job: Job) -> HttpCall:
        """POST the message, signed now where the vendor signs."""
        url, body = self._config.url.get_secret_value(), job.body
        secret = self._config.secret.get_secret_value() if self._config.secret else None
        if secret is not None and self._config.kind == "dingtalk":
            stamp, sign = dingtalk_sign(secret, int(time.time() * 1000))
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={quote_plus(sign)}"
        elif secret is not None and self._config.kind == "feishu":
            stamp, sign = feishu_sign(secret, int(time.time()))
            body = json.dumps(
                {"timestamp": str(stamp), "sign": sign, **json.loads(body)}, ensure_ascii=False
            ).encode()
        return HttpCall("POST", url, dict(_JSON), body)

    @staticmethod
    def refusal(answer: bytes) -> str | None:
        """The vendor's refusal in a 200 answer (`errcode` or `code` not 0), or None."""
        try:
            parsed = json.loads(answer)
        except ValueError:
            return None  # not JSON: the status decides
        if not isinstance(parsed, dict):
            return None
        code = parsed.get("errcode", parsed.get("code", 0))
        if code in (0, "0", None):
            return None
        text = str(parsed.get("errmsg", parsed.get("msg", "")))[:200]
        return f"refused: code {code} {text}".strip()

    def _lines(self, alert: Alert, event: str) -> _Lines:
        camera = self._names.get(alert.camera_id, alert.camera_id)
        when = datetime.fromtimestamp(alert.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        title = f"{_TITLES.get(event, 'New')} {alert.severity}: {alert.rule} at {camera}"
        ticket = f"{self._base}/inbox?alert={quote_plus(alert.alert_id)}"
        snapshot = self._base + self._share.path(alert.alert_id, "snapshot")
        facts = [
            f"Camera: {camera} ({alert.camera_id})",
            f"Zone: {alert.zone_id or '-'}",
            f"Rule: {alert.rule}",
            f"Severity: {alert.severity}",
            f"Since: {when}",
        ]
        return _Lines(title, facts, ticket, snapshot)


class _Lines:
    """What every vendor's message says."""

    def __init__(self, title: str, facts: list[str], ticket: str, snapshot: str) -> None:
        self.title, self.facts, self.ticket, self.snapshot = title, facts, ticket, snapshot


def _markdown(lines: _Lines) -> str:
    facts = "\n".join(f"> {fact}" for fact in lines.facts)
    return (
        f"### {lines.title}\n{facts}\n\n"
        f"[Open the ticket]({lines.ticket}) · [Snapshot]({lines.snapshot})"
    )


def _dingtalk(lines: _Lines) -> dict[str, object]:
    return {"msgtype": "markdown", "markdown": {"title": lines.title, "text": _markdown(lines)}}


def _wecom(lines: _Lines) -> dict[str, object]:
    return {"msgtype": "markdown", "markdown": {"content": _markdown(lines)}}


def _feishu(lines: _Lines) -> dict[str, object]:
    rows: list[list[dict[str, str]]] = [[{"tag": "text", "text": fact}] for fact in lines.facts]
    rows.append(
        [
            {"tag": "a", "text": "Open the ticket", "href": lines.ticket},
            {"tag": "text", "text": " · "},
            {"tag": "a", "text": "Snapshot", "href": lines.snapshot},
        ]
    )
    post = {"zh_cn": {"title": lines.title, "content": rows}}
    return {"msg_type": "post", "content": {"post": post}}


_RENDER = {"dingtalk": _dingtalk, "wecom": _wecom, "feishu": _feishu}


def dingtalk_sign(secret: str, timestamp_ms: int) -> tuple[int, str]:
    """DingTalk's signature: HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"), Base64
    (the caller URL-encodes it into the query)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return timestamp_ms, base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> tuple[int, str]:
    """Feishu's signature: HMAC-SHA256 keyed with f"{timestamp}\\n{secret}" over an empty
    message, Base64."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return timestamp_s, base64.b64encode(digest).decode()
