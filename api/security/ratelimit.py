"""Login throttling: failed attempts counted per username and per client address.

After `attempts` failures inside `window_s`, further logins for that username (or from that
address) are refused without checking the password until the oldest failure leaves the
window; the refusal says how long to wait (`Retry-After`). A successful login clears the
username's failures (not the address's, so one good account cannot launder a spray).
Memory is bounded: at most `max_keys` keys per kind, the least recently failed evicted first
and counted.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_T = TypeVar("_T")


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

    async def retry_after(self, username: str, client: str) -> int | None:
        """Seconds to wait before trying again (whole, at least 1), or None if allowed.
        A refusal is counted."""
        now = self._clock()
        waits = {
            "user": self._user.wait_s(username.lower(), now),
            "client": self._client.wait_s(client, now),
        }
        return _refusal(waits, self.refused)

    async def failed(self, username: str, client: str) -> None:
        """Count a failed attempt against both keys."""
        now = self._clock()
        self._user.fail(username.lower(), now)
        self._client.fail(client, now)

    async def succeeded(self, username: str) -> None:
        """A good password clears the username's failures."""
        self._user.clear(username.lower())

    @property
    def evicted(self) -> int:
        """Keys forgotten to keep memory bounded."""
        return self._user.evicted + self._client.evicted


def _refusal(waits: dict[str, float], refused: Counter[str]) -> int | None:
    """The longest wait (whole seconds, at least 1), counted by kind; None if none."""
    kind, wait = max(waits.items(), key=lambda kv: kv[1])
    if wait <= 0:
        return None
    refused[kind] += 1
    return max(1, math.ceil(wait))


class SharedLoginLimiter:
    """The same rules, with the failures kept in Redis: several hubs behind one address
    count one attacker's attempts together (a sorted set of failure times per key, trimmed
    to the window and to `attempts`, expiring with the window).

    While Redis does not answer, the hub's own `LoginLimiter` counts instead (a login must
    not wait for Redis, nor go unthrottled).

    >>> limiter = SharedLoginLimiter(redis, LimitRule(5, 300), LimitRule(30, 300))  # doctest: +SKIP
    """

    def __init__(
        self,
        redis: Redis,
        per_user: LimitRule,
        per_client: LimitRule,
        clock: Callable[[], float] = time.time,
        prefix: str = "riverwatch:login",
    ) -> None:
        self._redis = redis
        self._rules = {"user": per_user, "client": per_client}
        self._clock = clock
        self._prefix = prefix
        self.local = LoginLimiter(per_user, per_client, clock)
        self.refused: Counter[str] = Counter()
        self.redis_errors = 0

    @property
    def evicted(self) -> int:
        """Keys the local stand-in forgot (Redis' keys expire with their window)."""
        return self.local.evicted

    def _keys(self, username: str, client: str) -> dict[str, str]:
        return {
            "user": f"{self._prefix}:user:{username.lower()}",
            "client": f"{self._prefix}:client:{client}",
        }

    async def retry_after(self, username: str, client: str) -> int | None:
        """As `LoginLimiter.retry_after`, over every hub's failures."""
        now, keys = self._clock(), self._keys(username, client)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for kind, key in keys.items():
                    pipe.zremrangebyscore(key, "-inf", now - self._rules[kind].window_s)
                    pipe.zrange(key, 0, -1, withscores=True)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            return await self._locally(exc, self.local.retry_after(username, client))
        waits = {}
        for (kind, _), times in zip(keys.items(), replies[1::2], strict=True):
            rule = self._rules[kind]
            oldest = min((score for _, score in times), default=now)
            waits[kind] = oldest + rule.window_s - now if len(times) >= rule.attempts else 0.0
        return _refusal(waits, self.refused)

    async def failed(self, username: str, client: str) -> None:
        """Count a failed attempt against both keys, for every hub."""
        now, keys = self._clock(), self._keys(username, client)
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for kind, key in keys.items():
                    rule = self._rules[kind]
                    pipe.zadd(key, {member: now})
                    pipe.zremrangebyrank(key, 0, -rule.attempts - 1)
                    pipe.expire(key, max(1, math.ceil(rule.window_s)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            await self._locally(exc, self.local.failed(username, client))

    async def succeeded(self, username: str) -> None:
        """A good password clears the username's failures, for every hub."""
        try:
            await self._redis.delete(self._keys(username, "")["user"])
        except (RedisError, OSError) as exc:
            await self._locally(exc, self.local.succeeded(username))

    async def _locally(self, exc: Exception, step: Awaitable[_T]) -> _T:
        self.redis_errors += 1
        log.warning(
            "login limits: Redis unavailable (%s); counting on this hub", type(exc).__name__
        )
        return await step
