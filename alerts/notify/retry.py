"""Pure retry policy: what an answer means, how long to wait, what a `Retry-After` asks for."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from riverwatch.backoff import backoff_delay
from riverwatch.notify_config import RetryPolicy


class Verdict(enum.StrEnum):
    """What to do after one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: the verdict, the HTTP status (if any), a secret-free reason and
    the wait a `Retry-After` header asked for."""

    verdict: Verdict
    status: int | None
    reason: str
    retry_after_s: float | None = None


def classify_status(status: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx retried; anything else (3xx, other 4xx) is final.

    A 4xx says the request itself is wrong (bad signature, unknown hook): sending it again
    cannot help. Redirects are not followed, since a redirect could lead a signed body (or
    speaker credentials) somewhere that was never configured.
    """
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 429) or 500 <= status < 600:
        return Verdict.RETRY
    return Verdict.GIVE_UP


def backoff_s(
    attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> float:
    """Wait after failed attempt number `attempt` (1-based): exponential, capped, half jitter.

    Half of the delay is fixed so a retry is never immediate; the random half spreads many
    deliveries that failed together (a receiver restart) so they do not return together.
    """
    return backoff_delay(attempt - 1, policy.backoff_base_s, policy.backoff_max_s, rand=rand)


def parse_retry_after(value: str | None, now_wall: float) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_wall)
