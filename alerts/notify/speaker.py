"""Field loudspeakers: which new alerts play a warning, the cooldown, and the rendered call.

The call is rendered from the speaker's templates only when it is made, so the URL with its
credentials exists only inside that one request. Template values are escaped for where they
land: percent-encoded in the URL, JSON- or XML-escaped in the body (by `content_type`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import httpx

from alerts.notify.delivery import HttpCall, Job, delivery_id_for
from riverwatch.notify_config import RetryPolicy, SpeakerAction
from riverwatch.types import Alert, AlertPhase

_FIELD = re.compile(r"\{([a-z_]+)\}")


class SpeakerChannel:
    """One configured speaker: matches new alerts at its cameras, enforces its cooldown.

    The cooldown starts when a warning is accepted for playing, not when it succeeds: a
    failed call must not turn into a retry storm on the next alert of the same boat.
    """

    def __init__(self, config: SpeakerAction, camera_names: Mapping[str, str]) -> None:
        self._config = config
        self._camera_names = camera_names
        self._cameras = frozenset(config.cameras)
        self._next_allowed = float("-inf")
        self.cooldown_skipped = 0

    @property
    def name(self) -> str:
        """The configured target name."""
        return self._config.name

    @property
    def policy(self) -> RetryPolicy:
        """Timeouts and retries (bounded again by the deadline)."""
        return self._config.retry

    @property
    def durable(self) -> bool:
        """A late warning is useless: speakers are never dead-lettered."""
        return False

    def wants(self, alert: Alert, event: str) -> bool:
        """An `open` message at one of this speaker's cameras that passes its filters."""
        c = self._config
        if alert.phase is not AlertPhase.OPEN or event != f"alert.{AlertPhase.OPEN}":
            return False
        checks = ((c.zones, alert.zone_id), (c.rules, alert.rule), (c.severities, alert.severity))
        in_filters = all(allowed is None or value in allowed for allowed, value in checks)
        return alert.camera_id in self._cameras and in_filters

    def job(self, alert: Alert, event: str, now: float, age_s: float = 0.0) -> Job | None:
        """A job due within the deadline (counted from the alert, `age_s` ago), or None (not
        wanted, or inside the cooldown)."""
        if not self.wants(alert, event):
            return None
        if now < self._next_allowed:
            self.cooldown_skipped += 1
            return None
        deadline = now + self._config.deadline_s - max(0.0, age_s)
        # A warning already too late (read back after a restart) expires; it starts no cooldown.
        if deadline > now:
            self._next_allowed = now + self._config.cooldown_s
        context = {
            "camera_id": alert.camera_id,
            "camera_name": self._camera_names.get(alert.camera_id, alert.camera_id),
            "zone_id": alert.zone_id,
            "rule": alert.rule,
            "severity": alert.severity,
            "alert_id": alert.alert_id,
            "group": alert.group,
        }
        delivery_id = delivery_id_for(self.name, event, alert.message_id)
        return Job(self.name, delivery_id, event, alert.alert_id, b"", now, deadline, context)

    def call(self, job: Job) -> HttpCall:
        """The rendered request, with credentials from the URL or `username`/`password`."""
        c = self._config
        url = render(c.url.get_secret_value(), job.context, _quote)
        escape = _body_escape(c.content_type)
        body = render(c.body, job.context, escape).encode() if c.body is not None else b""
        headers = {k: v.get_secret_value() for k, v in c.headers.items()}
        if body:
            headers.setdefault("Content-Type", c.content_type)
        return HttpCall(c.method, url, headers, body, self._auth())

    def _auth(self) -> httpx.Auth | None:
        c = self._config
        if c.username is None:
            return None  # httpx sends Basic auth from the URL's user info, if any
        password = c.password.get_secret_value() if c.password is not None else ""
        if c.auth == "digest":
            return httpx.DigestAuth(c.username, password)
        return httpx.BasicAuth(c.username, password)


def render(template: str, context: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Replace `{field}` with escaped values; other braces (JSON bodies) are left alone."""
    return _FIELD.sub(
        lambda m: escape(context[m.group(1)]) if m.group(1) in context else m.group(0), template
    )


def _identity(value: str) -> str:
    return value


def _quote(value: str) -> str:
    return quote(value, safe="")


def _json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _body_escape(content_type: str) -> Callable[[str], str]:
    kind = content_type.lower()
    if "json" in kind:
        return _json_escape
    if "xml" in kind:
        return xml_escape
    return _identity
