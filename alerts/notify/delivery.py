"""What moves between the dispatcher and its channels: jobs, HTTP calls and counters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from riverwatch.notify_config import RetryPolicy
from riverwatch.types import Alert

# Fixed namespace: the same (target, event, message) always yields the same delivery id,
# across retries, re-drives and hub restarts, so receivers can drop duplicates.
_DELIVERY_NS = uuid.UUID("0f5d3a4e-7c1b-5e0a-9b8e-6a2f1c9d4e70")


def delivery_id_for(target: str, event: str, message_id: str) -> str:
    """The stable id of one message's delivery to one target."""
    return str(uuid.uuid5(_DELIVERY_NS, f"{target}\n{event}\n{message_id}"))


class Filters(Protocol):
    """A target's alert filters (webhooks, robots): each unset lets everything through."""

    @property
    def events(self) -> list[str] | None: ...
    @property
    def rules(self) -> list[str] | None: ...
    @property
    def severities(self) -> list[str] | None: ...
    @property
    def cameras(self) -> list[str] | None: ...
    @property
    def groups(self) -> list[str] | None: ...


def passes(filters: Filters, alert: Alert, event: str) -> bool:
    """Whether every filter of a target lets this alert's `event` through."""
    checks = (
        (filters.events, event),
        (filters.rules, alert.rule),
        (filters.severities, alert.severity),
        (filters.cameras, alert.camera_id),
        (filters.groups, alert.group),
    )
    return all(allowed is None or value in allowed for allowed, value in checks)


class TargetConfig(Filters, Protocol):
    """A configured target with filters: its name and retry policy too."""

    @property
    def name(self) -> str: ...
    @property
    def retry(self) -> RetryPolicy: ...


class FilteredChannel:
    """What webhooks and robots share: the configured name, retry policy and filters."""

    def __init__(self, config: TargetConfig) -> None:
        self._target = config

    @property
    def name(self) -> str:
        """The configured target name."""
        return self._target.name

    @property
    def policy(self) -> RetryPolicy:
        """Timeouts and retries."""
        return self._target.retry

    def wants(self, alert: Alert, event: str) -> bool:
        """Whether every configured filter lets this alert through."""
        return passes(self._target, alert, event)


def event_for(alert: Alert) -> str:
    """The default event name of an alert message: `alert.<phase>`."""
    return f"alert.{alert.phase}"


@dataclass(eq=False, slots=True)
class Job:
    """One delivery in flight: what to send and how far it got.

    `deadline` (on the dispatcher's clock) is set for speakers only; `body` is the signed
    payload of a webhook and empty for a speaker, whose call is rendered from `context`.
    `on_settled` is set for jobs read from the alert stream: it is called once, when the job
    is delivered, dead-lettered or (speakers) given up on, so the stream entry can be acked;
    such a job still unsettled at shutdown stays pending in the stream for the next start.
    """

    target: str
    delivery_id: str
    event: str
    alert_id: str
    body: bytes
    enqueued_at: float
    deadline: float | None = None
    context: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    last_status: int | None = None
    reason: str = ""
    on_settled: Callable[[], None] | None = None

    def settle(self) -> None:
        """Report the job finished to whoever is waiting for it (once)."""
        hook, self.on_settled = self.on_settled, None
        if hook is not None:
            hook()


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One rendered request; holds secrets, so it is never logged or kept."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    auth: httpx.Auth | None = None


class Channel(Protocol):
    """A kind of target (webhook, speaker): which alerts it takes and how it calls out."""

    @property
    def name(self) -> str:
        """The configured target name."""

    @property
    def policy(self) -> RetryPolicy:
        """Timeouts and retries."""

    @property
    def durable(self) -> bool:
        """Whether a delivery given up on goes to the dead-letter list."""

    def job(self, alert: Alert, event: str, now: float, age_s: float = 0.0) -> Job | None:
        """A job for this alert, or None when the target does not want it.

        `age_s` is how long ago the alert was observed (a message read back after a restart):
        a speaker's deadline counts from the alert, not from when it was read.
        """

    def call(self, job: Job) -> HttpCall:
        """The request for one attempt (signed afresh, rendered from the template)."""


@dataclass(slots=True)
class TargetStats:
    """Counters of one target since the notifier started.

    `dropped`: refused because the target's queue was full (a webhook's dropped deliveries
    still go to the dead-letter list); `expired`: a speaker call past its deadline (or
    pending at shutdown); `failed`: a speaker call given up on before its deadline (4xx,
    attempts used up); `cooldown_skipped`: speaker alerts inside the cooldown; `lost`:
    dead letters that could not be written.
    """

    kind: str
    queued: int = 0
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    expired: int = 0
    failed: int = 0
    cooldown_skipped: int = 0
    lost: int = 0
