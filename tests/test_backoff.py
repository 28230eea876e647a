"""The one backoff rule every retry loop uses (riverwatch/backoff.py)."""

from __future__ import annotations

import random

import pytest

from riverwatch.backoff import Jitter, attempts_to_reach, backoff_ceiling, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "base_s", "max_s", "ceiling"),
    [
        (0, 1.0, 60.0, 1.0),
        (1, 1.0, 60.0, 2.0),
        (5, 1.0, 60.0, 32.0),
        (6, 1.0, 60.0, 60.0),  # capped
        (10_000, 1.0, 60.0, 60.0),  # days of failures stay finite
        (-3, 1.0, 60.0, 1.0),  # negative counts as the first retry
        (2, 0.5, 5.0, 2.0),
        (4, 0.5, 5.0, 5.0),
    ],
)
def test_ceiling_doubles_and_caps(
    attempt: int, base_s: float, max_s: float, ceiling: float
) -> None:
    assert backoff_ceiling(attempt, base_s, max_s) == ceiling


@pytest.mark.parametrize(
    ("attempt", "jitter", "rand", "delay"),
    [
        (0, Jitter.EQUAL, 0.0, 0.5),
        (0, Jitter.EQUAL, 1.0, 1.0),
        (3, Jitter.EQUAL, 0.0, 4.0),
        (3, Jitter.EQUAL, 0.5, 6.0),
        (10, Jitter.EQUAL, 0.0, 30.0),
        (0, Jitter.FULL, 0.0, 0.0),
        (3, Jitter.FULL, 0.5, 4.0),
        (10, Jitter.FULL, 1.0, 60.0),
    ],
)
def test_delay_with_jitter(attempt: int, jitter: Jitter, rand: float, delay: float) -> None:
    assert backoff_delay(attempt, 1.0, 60.0, jitter=jitter, rand=lambda: rand) == delay


@pytest.mark.parametrize(("jitter", "low_share"), [(Jitter.EQUAL, 0.5), (Jitter.FULL, 0.0)])
def test_jitter_spreads_within_its_band(jitter: Jitter, low_share: float) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(3, 1.0, 60.0, jitter=jitter, rand=rng.random) for _ in range(200)]
    assert 8.0 * low_share <= min(delays) and max(delays) <= 8.0
    assert max(delays) - min(delays) > 8.0 * (1 - low_share) * 0.5  # actually spreads


@pytest.mark.parametrize(
    ("max_s", "base_s", "attempt"), [(60.0, 1.0, 6), (64.0, 1.0, 6), (1.0, 1.0, 0), (5.0, 0.5, 4)]
)
def test_attempts_to_reach_the_cap(max_s: float, base_s: float, attempt: int) -> None:
    assert attempts_to_reach(max_s, base_s) == attempt
    assert backoff_ceiling(attempt, base_s, max_s) == max_s
