"""Configuration of outbound notifications: signed webhooks, field loudspeakers, chat robots.

It hangs off the hub config at top level as `notify:`. Secret fields (webhook URLs and
secrets, speaker URLs, passwords and header values) are `SecretStr` and may hold `${NAME}`
placeholders, filled by `resolve_secrets` from the same lookup as camera URLs (environment,
then the secrets file). Speaker URLs and bodies are templates over `TEMPLATE_FIELDS`.

    notify:
      dead_letter_max: 10000
      webhooks:
        - name: city-ops
          url: https://ops.example.gov/hooks/riverwatch?token=${OPS_HOOK_TOKEN}
          secret: ${OPS_HOOK_SECRET}
          events: [alert.open, alert.close]
          severities: [high, critical]
      speakers:
        - name: jinsha-bridge-horn
          method: PUT
          url: http://${HORN_USER}:${HORN_PASS}@10.20.1.40/ISAPI/Event/triggers/play?clip=3
          auth: digest
          body: '{"clip": 3, "camera": "{camera_name}", "zone": "{zone_id}"}'
          cameras: [jinsha-001, jinsha-002]
          zones: [ban-east]
          rules: [vessel_in_zone, loitering]
          cooldown_s: 300
          deadline_s: 30
      public_url: https://riverwatch.city.gov   # links in chat messages start here
      robots:
        - name: river-team-dingtalk
          kind: dingtalk                       # or wecom, feishu
          url: https://oapi.dingtalk.com/robot/send?access_token=${DINGTALK_TOKEN}
          secret: ${DINGTALK_SECRET}           # DingTalk and Feishu sign; WeCom does not
          groups: [jinsha, heng]

This module depends only on pydantic and `riverwatch.secrets`, so the hub config can import
it without importing the rest of `alerts`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TEMPLATE_FIELD = re.compile(r"\{([a-z_]+)\}")
TEMPLATE_FIELDS = frozenset(
    {"camera_id", "camera_name", "zone_id", "rule", "severity", "alert_id", "group"}
)
MIN_SECRET_CHARS = 16


class _Strict(BaseModel):
    # Inputs stay out of error text: a rejected URL may carry a token.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _check_http(url: SecretStr) -> SecretStr:
    # The message never echoes the URL: it may carry a token.
    if not url.get_secret_value().lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return url


HttpSecret = Annotated[SecretStr, AfterValidator(_check_http)]  # an http(s) URL with a token


class RetryPolicy(_Strict):
    """Timeouts and retries of one target.

    A delivery is tried at most `max_attempts` times; between attempts it waits
    `backoff_base_s * 2**(n-1)` capped at `backoff_max_s`, with jitter (half fixed, half
    random), or what a 429/503 `Retry-After` asks for, if that is at most `max_retry_after_s`.
    """

    timeout_s: float = Field(default=5.0, gt=0, le=60)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_base_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    max_retry_after_s: float = Field(default=300.0, ge=0, le=3600)


class WebhookConfig(_Strict):
    """One signed webhook receiver and the alerts it wants.

    Each filter left unset lets everything through; `events` are `alert.<phase>`
    (`alert.open`, `alert.update`, `alert.evidence`, `alert.close`) or any event a caller
    passes to `Notifier.notify` (e.g. `ticket.escalated`).
    """

    name: str = Field(pattern=_NAME)
    url: HttpSecret
    secret: SecretStr
    events: list[str] | None = None
    rules: list[str] | None = None
    severities: list[str] | None = None
    cameras: list[str] | None = None
    groups: list[str] | None = None
    retry: RetryPolicy = RetryPolicy()
    queue_size: int = Field(default=1000, ge=1, le=100_000)
    workers: int = Field(default=2, ge=1, le=16)


def _default_speaker_retry() -> RetryPolicy:
    # A warning is only worth playing while the boat is still there: short everything.
    return RetryPolicy(timeout_s=3.0, max_attempts=4, backoff_base_s=0.5, backoff_max_s=5.0)


class SpeakerAction(_Strict):
    """An IP loudspeaker near some cameras that plays a recorded warning on a new alert.

    Fires on an alert's `open` message when its camera is in `cameras` and its zone and rule
    pass `zones` and `rules` (unset: any). At most once per `cooldown_s` per speaker, so a
    loitering boat is warned, not nagged. A call not made within `deadline_s` of the alert is
    dropped and counted (`expired`): a warning ten minutes late is useless. `url` and `body`
    are templates over `{camera_id}`, `{camera_name}`, `{zone_id}`, `{rule}`, `{severity}`,
    `{alert_id}` and `{group}`; credentials go in the URL's user info or in `username` and
    `password` (`auth: digest` for Hikvision ISAPI style devices).
    """

    name: str = Field(pattern=_NAME)
    method: Literal["GET", "POST", "PUT"] = "POST"
    url: SecretStr
    body: str | None = Field(default=None, max_length=8192)
    content_type: str = "application/json"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    username: str | None = None
    password: SecretStr | None = None
    auth: Literal["basic", "digest"] = "basic"
    cameras: list[str] = Field(min_length=1)
    zones: list[str] | None = None
    rules: list[str] | None = None
    severities: list[str] | None = None
    cooldown_s: float = Field(default=120.0, ge=0, le=86_400)
    deadline_s: float = Field(default=30.0, gt=0, le=600)
    retry: RetryPolicy = Field(default_factory=_default_speaker_retry)
    queue_size: int = Field(default=16, ge=1, le=1000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        _check_template(url.get_secret_value(), "url")
        return _check_http(url)

    @field_validator("body")
    @classmethod
    def _body_fields(cls, body: str | None) -> str | None:
        if body is not None:
            _check_template(body, "body")
        return body


RobotKind = Literal["wecom", "dingtalk", "feishu"]


class RobotConfig(_Strict):
    """A chat group's robot (WeCom, DingTalk or Feishu) that posts new incidents and
    escalations, with a link to the ticket and to its snapshot.

    `url` is the robot's webhook address as the chat app shows it (its key or access token
    is in it: a secret). `secret` is the signing secret of DingTalk's and Feishu's signed
    robots (timestamp plus secret, HMAC-SHA256, as each documents); WeCom's group robots have
    no signature (the key in the URL is all), so `secret` is refused for them. Filters as for
    webhooks; by default openings and escalations.
    """

    name: str = Field(pattern=_NAME)
    kind: RobotKind
    url: HttpSecret
    secret: SecretStr | None = None
    events: list[str] = Field(default_factory=lambda: ["alert.open", "ticket.escalated"])
    rules: list[str] | None = None
    severities: list[str] | None = None
    cameras: list[str] | None = None
    groups: list[str] | None = None
    retry: RetryPolicy = RetryPolicy()
    queue_size: int = Field(default=1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _secret_fits_kind(self) -> RobotConfig:
        if self.kind == "wecom" and self.secret is not None:
            raise ValueError("secret: WeCom group robots are not signed; leave it out")
        return self


class NotifyConfig(_Strict):
    """Every notification target of the hub (`notify:` in the hub config).

    `public_url` is the hub's address as people reach it (e.g. `https://riverwatch.city.gov`):
    the links in chat messages start with it; robots need it."""

    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=64)
    speakers: list[SpeakerAction] = Field(default_factory=list, max_length=1000)
    robots: list[RobotConfig] = Field(default_factory=list, max_length=64)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$")
    dead_letter_max: int = Field(default=10_000, ge=10, le=1_000_000)

    @model_validator(mode="after")
    def _robots_need_the_address(self) -> NotifyConfig:
        if self.robots and self.public_url is None:
            raise ValueError("public_url: robots link to tickets; set the hub's public address")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = Counter(
            [h.name for h in self.webhooks]
            + [s.name for s in self.speakers]
            + [r.name for r in self.robots]
        )
        dupes = sorted(n for n, k in names.items() if k > 1)
        if dupes:
            raise ValueError(f"target names must be unique: {', '.join(dupes)}")
        return self


def _check_template(text: str, what: str) -> None:
    unknown = sorted(set(_TEMPLATE_FIELD.findall(text)) - TEMPLATE_FIELDS)
    if unknown:
        known = ", ".join(sorted(TEMPLATE_FIELDS))
        raise ValueError(f"{what} names unknown fields {unknown}; known: {known}")


@dataclass(frozen=True)
class ResolvedNotify:
    """`resolve_secrets`' answer: the config with placeholders filled, or the problems.

    `secret_values` are every secret the resolution produced, for the hub's `Redactor`.
    """

    config: NotifyConfig
    problems: list[str]
    secret_values: list[str]
    missing: list[str] = field(default_factory=list)  # unset ${NAME}s, for the config summary


class _Resolver:
    """Fills `${NAME}` placeholders, collecting missing names and the values it used."""

    def __init__(self, lookup: Mapping[str, str]) -> None:
        self._lookup = lookup
        self.problems: list[str] = []
        self.used: list[str] = []
        self.missing: list[str] = []

    def text(self, value: str, where: str) -> str:
        missing: list[str] = []

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._lookup:
                missing.append(name)
                return ""
            self.used.append(self._lookup[name])
            return self._lookup[name]

        out = _PLACEHOLDER.sub(fill, value)
        self.problems += [f"{where}: ${{{name}}} is not set" for name in missing]
        self.missing += missing
        return out

    def secret(self, value: SecretStr, where: str) -> SecretStr:
        filled = self.text(value.get_secret_value(), where)
        self.used.append(filled)
        return SecretStr(filled)


def resolve_secrets(config: NotifyConfig, lookup: Mapping[str, str]) -> ResolvedNotify:
    """Fill `${NAME}` placeholders in every secret field (and speaker usernames).

    Problems name the target and field, never a value. A webhook secret shorter than
    `MIN_SECRET_CHARS` is a problem: an HMAC is only as strong as its key.
    """
    r = _Resolver(lookup)
    hooks = []
    for hook in config.webhooks:
        where = f"notify.webhooks[{hook.name}]"
        secret = r.secret(hook.secret, f"{where}.secret")
        if len(secret.get_secret_value()) < MIN_SECRET_CHARS:
            r.problems.append(f"{where}.secret: shorter than {MIN_SECRET_CHARS} characters")
        url = r.secret(hook.url, f"{where}.url")
        hooks.append(hook.model_copy(update={"url": url, "secret": secret}))
    speakers = []
    for spk in config.speakers:
        where = f"notify.speakers[{spk.name}]"
        update: dict[str, object] = {
            "url": r.secret(spk.url, f"{where}.url"),
            "headers": {k: r.secret(v, f"{where}.headers.{k}") for k, v in spk.headers.items()},
        }
        if spk.password is not None:
            update["password"] = r.secret(spk.password, f"{where}.password")
        if spk.username is not None:
            update["username"] = r.text(spk.username, f"{where}.username")
        speakers.append(spk.model_copy(update=update))
    robots = []
    for robot in config.robots:
        where = f"notify.robots[{robot.name}]"
        update = {"url": r.secret(robot.url, f"{where}.url")}
        if robot.secret is not None:
            update["secret"] = r.secret(robot.secret, f"{where}.secret")
        robots.append(robot.model_copy(update=update))
    resolved = config.model_copy(update={"webhooks": hooks, "speakers": speakers, "robots": robots})
    return ResolvedNotify(resolved, r.problems, [v for v in r.used if v], r.missing)
