"""Login throttling: failed attempts counted per username and per client address.

After `attempts` failures inside `window_s`, further logins for that username (or from that
address) are refused without checking the password until the oldest failure leaves the
window; the refusal says how long to wait (`Retry-After`). A successful login clears the
username's failures (not the address's, so one good account cannot launder a spray).
Memory is bounded: at most `max_keys` keys per kind, the least recently failed evicted first
and counted.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitRule:
    """At most `attempts` failures in `window_s` seconds."""

    attempts: int
    window_s: float


class _Window:
    """Failure times per key, bounded in keys and in times per key."""

    def __init__(self, rule: LimitRule, max_keys: int) -> None:
        self.rule = rule
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.evicted = 0

    def wait_s(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.rule.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < self.rule.attempts:
            return 0.0
        return times[0] + self.rule.window_s - now

    def fail(self, key: str, now: float) -> None:
        times = self._failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self.rule.attempts)
        times.append(now)
        self._failures[key] = times  # most recent last
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
            self.evicted += 1

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginLimiter:
    """Throttle logins per username and per client address.

    >>> limiter = LoginLimiter(LimitRule(5, 300), LimitRule(30, 300))
    >>> limiter.retry_after("li", "10.0.0.7") is None
    True
    """

    def __init__(
        self,
        per_user: LimitRule,
        per_client: LimitRule,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._user = _Window(per_user, max_keys)
        self._client = _Window(per_client, max_keys)
        self._clock = clock
        self.refused: Counter[str] = Counter()  # by "user" / "client"

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds to wait before trying again (whole, at least 1), or None if allowed.
        A refusal is counted."""
        now = self._clock()
        waits = {
            "user": self._user.wait_s(username.lower(), now),
            "client": self._client.wait_s(client, now),
        }
        kind, wait = max(waits.items(), key=lambda kv: kv[1])
        if wait <= 0:
            return None
        self.refused[kind] += 1
        return max(1, math.ceil(wait))

    def failed(self, username: str, client: str) -> None:
        """Count a failed attempt against both keys."""
        now = self._clock()
        self._user.fail(username.lower(), now)
        self._client.fail(client, now)

    def succeeded(self, username: str) -> None:
        """A good password clears the username's failures."""
        self._user.clear(username.lower())

    @property
    def evicted(self) -> int:
        """Keys forgotten to keep memory bounded."""
        return self._user.evicted + self._client.evicted
