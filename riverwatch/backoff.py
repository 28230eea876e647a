"""How long to wait before retrying: one exponential backoff for every retry loop.

Pure functions, no clock and no sleeping, so every caller (camera reconnects, the MQTT
subscriber, the alert publisher and consumer, webhook retries, the task supervisor) waits by
the same rule and each is table-tested once here.

    >>> backoff_delay(0, base_s=1.0, max_s=60.0, rand=lambda: 1.0)
    1.0
    >>> backoff_delay(3, base_s=1.0, max_s=60.0, rand=lambda: 0.0)
    4.0
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

# 2**30 times any sensible base is far beyond any cap; the bound keeps the float finite for a
# loop that has failed for days.
_MAX_DOUBLINGS = 30


class Jitter(enum.StrEnum):
    """How much of the delay is random.

    EQUAL waits between half the ceiling and the ceiling: the fixed half keeps a flapping peer
    from being hammered, the random half spreads many clients that failed at the same moment.
    FULL waits anywhere from zero to the ceiling: the widest spread, for loops where an
    immediate retry is harmless.
    """

    EQUAL = "equal"
    FULL = "full"


def backoff_ceiling(attempt: int, base_s: float, max_s: float) -> float:
    """The longest wait for `attempt`: `base_s * 2**attempt`, capped at `max_s`.

    `attempt` counts the failures before this one, from 0: the first retry waits up to
    `base_s`. Negative attempts count as 0.
    """
    return min(max_s, base_s * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS))


def backoff_delay(
    attempt: int,
    base_s: float,
    max_s: float,
    *,
    jitter: Jitter = Jitter.EQUAL,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (0-based), with `jitter`.

    `rand` returns a float in [0, 1); tests pass a constant, a camera passes its own seeded
    `random.Random().random`.
    """
    ceiling = backoff_ceiling(attempt, base_s, max_s)
    if jitter is Jitter.FULL:
        return rand() * ceiling
    return ceiling / 2 + rand() * ceiling / 2


def attempts_to_reach(max_s: float, base_s: float) -> int:
    """The first attempt whose ceiling is `max_s` (the attempt that waits longest)."""
    attempt = 0
    while base_s * 2.0**attempt < max_s and attempt < _MAX_DOUBLINGS:
        attempt += 1
    return attempt
