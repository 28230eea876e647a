"""Threshold and rate-of-change rules: one alert per excursion, with an `open` and a `close`.

Rules are fed one sensor's readings in time order (`RuleEngine.feed`); a reading not newer than
the last one fed for its sensor (a redelivery, a late arrival) is skipped, so replays cannot
open an excursion twice. Each rule keeps a tiny state machine, quiet -> excursion -> quiet, and
hysteresis keeps a value hovering at the line from flapping. A sensor that falls silent during
an excursion has it closed by `RuleEngine.expire` (noted "no reading for N s").

Alerts are `riverwatch.types.Alert` with `source="sensor"`, `sensor_id` set, `camera_id` empty,
`rule` the configured rule id, and an `alert_id` derived from the sensor, the rule and the time
the excursion began, so the same excursion always has the same id.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable

from ingest.sensors.reading import Reading
from riverwatch.sensor_config import RateRule, SensorConfig, ThresholdRule
from riverwatch.types import Alert, AlertPhase, Severity

# Bounds the per-rule window so a sensor flooding readings cannot grow memory without limit.
_MAX_WINDOW_POINTS = 100_000


class ThresholdState:
    """Whether one threshold rule is in an excursion.

    >>> s = ThresholdState(ThresholdRule(id="high", above=5.0, hysteresis=0.5))
    >>> [s.step(v) for v in (4.0, 5.1, 5.3, 4.8, 4.4, 5.2)]
    [None, 'open', None, None, 'close', 'open']
    """

    def __init__(self, rule: ThresholdRule) -> None:
        self.rule = rule
        self.active = False

    def reset(self) -> None:
        """Forget the excursion."""
        self.active = False

    def step(self, value: float) -> str | None:
        """`open`, `close` or None for the next value."""
        rule = self.rule
        if not self.active:
            breached = (rule.above is not None and value > rule.above) or (
                rule.below is not None and value < rule.below
            )
            self.active = breached
            return "open" if breached else None
        cleared = (rule.above is None or value <= rule.above - rule.hysteresis) and (
            rule.below is None or value >= rule.below + rule.hysteresis
        )
        self.active = not cleared
        return "close" if cleared else None

    def describe(self, value: float, unit: str) -> str:
        """Where the value stands against the rule, for the alert's note."""
        rule = self.rule
        if rule.above is not None and value > rule.above:
            return f"{value:g} {unit} above {rule.above:g} {unit}"
        if rule.below is not None and value < rule.below:
            return f"{value:g} {unit} below {rule.below:g} {unit}"
        return f"{value:g} {unit} back inside"


class RateState:
    """Whether one rate-of-change rule is in an excursion, over a sliding time window.

    Monotonic deques give the window's minimum and maximum in amortised O(1) per reading.
    """

    def __init__(self, rule: RateRule) -> None:
        self.rule = rule
        self.active = False
        self._mins: deque[tuple[float, float]] = deque(maxlen=_MAX_WINDOW_POINTS)
        self._maxs: deque[tuple[float, float]] = deque(maxlen=_MAX_WINDOW_POINTS)
        self.change = 0.0

    def reset(self) -> None:
        """Forget the excursion and the window (the sensor was silent past it anyway)."""
        self.active = False
        self._mins.clear()
        self._maxs.clear()

    def step(self, ts: float, value: float) -> str | None:
        """`open`, `close` or None for the next reading (readings come in time order)."""
        rise, fall = self._push(ts, value)
        rule = self.rule
        over = max(_excess(rise, rule.rise, 0.0), _excess(fall, rule.fall, 0.0))
        if not self.active:
            self.active = over > 0.0
            self.change = rise if _excess(rise, rule.rise, 0.0) > 0.0 else -fall
            return "open" if self.active else None
        still = max(
            _excess(rise, rule.rise, rule.hysteresis), _excess(fall, rule.fall, rule.hysteresis)
        )
        self.active = still > 0.0
        return None if self.active else "close"

    def _push(self, ts: float, value: float) -> tuple[float, float]:
        horizon = ts - self.rule.window_s
        for window in (self._mins, self._maxs):
            while window and window[0][0] < horizon:
                window.popleft()
        while self._mins and self._mins[-1][1] >= value:
            self._mins.pop()
        while self._maxs and self._maxs[-1][1] <= value:
            self._maxs.pop()
        self._mins.append((ts, value))
        self._maxs.append((ts, value))
        return value - self._mins[0][1], self._maxs[0][1] - value


def _excess(change: float, limit: float | None, hysteresis: float) -> float:
    # A change counts while it is above its limit less the hysteresis (none when opening).
    return 0.0 if limit is None else max(change - (limit - hysteresis), 0.0)


class _SensorRules:
    """Every rule of one sensor and its open excursions' start times."""

    def __init__(self, sensor: SensorConfig) -> None:
        self.sensor = sensor
        self.thresholds = [ThresholdState(r) for r in sensor.thresholds]
        self.rates = [RateState(r) for r in sensor.rates]
        self.started: dict[str, float] = {}
        self.last_ts: float | None = None


class RuleEngine:
    """Every sensor's rules; `feed` returns the alerts a reading opens or closes.

    >>> from riverwatch.sensor_config import SensorConfig
    >>> eng = RuleEngine([SensorConfig(id="lvl", kind="water_level",
    ...                                thresholds=[{"id": "high", "above": 5.0}])])
    >>> [a.phase.value for t, v in [(1, 4.0), (2, 6.0), (3, 7.0), (4, 4.0)]
    ...  for a in eng.feed(Reading("lvl", t, v, "m"))]
    ['open', 'close']
    """

    def __init__(self, sensors: Iterable[SensorConfig]) -> None:
        self._sensors = {s.id: _SensorRules(s) for s in sensors}
        self.skipped_late = 0

    def feed(self, reading: Reading) -> list[Alert]:
        """Alerts opened or closed by this (validated, canonical-unit) reading."""
        rules = self._sensors.get(reading.sensor_id)
        if rules is None:
            return []
        if rules.last_ts is not None and reading.ts <= rules.last_ts:
            self.skipped_late += 1
            return []
        rules.last_ts = reading.ts
        alerts: list[Alert] = []
        unit = rules.sensor.canonical_unit
        back = f"back to {reading.value:g} {unit}"
        for th in rules.thresholds:
            step = th.step(reading.value)
            if step is not None:
                note = th.describe(reading.value, unit) if step == "open" else back
                alerts.append(_alert(rules, th.rule.id, th.rule.severity, step, reading.ts, note))
        for rate in rules.rates:
            step = rate.step(reading.ts, reading.value)
            if step is not None:
                change = f"{rate.change:+g} {unit} within {rate.rule.window_s:g} s"
                note = change if step == "open" else back
                alerts.append(
                    _alert(rules, rate.rule.id, rate.rule.severity, step, reading.ts, note)
                )
        return alerts

    def expire(self, now: float, silence_s: float) -> list[Alert]:
        """Close the excursions of sensors silent for `silence_s`, so no alert stays open forever.

        The rule starts afresh: if the sensor comes back still out of bounds, that is a new
        excursion with a new alert.
        """
        alerts: list[Alert] = []
        for rules in self._sensors.values():
            if not rules.started or rules.last_ts is None or now - rules.last_ts < silence_s:
                continue
            note = f"no reading for {now - rules.last_ts:.0f} s"
            states: list[ThresholdState | RateState] = [*rules.thresholds, *rules.rates]
            for state in states:
                if state.active:
                    state.reset()
                    rule = state.rule
                    alerts.append(_alert(rules, rule.id, rule.severity, "close", now, note))
        return alerts

    def open_excursions(self) -> list[tuple[str, str, float]]:
        """(sensor id, rule id, started at) of every excursion still open."""
        return [
            (sid, rule_id, started)
            for sid, rules in self._sensors.items()
            for rule_id, started in rules.started.items()
        ]


def _alert(
    rules: _SensorRules, rule_id: str, severity: Severity, step: str, at: float, note: str
) -> Alert:
    if step == "open":
        rules.started[rule_id] = at
    started = rules.started.pop(rule_id) if step == "close" else rules.started[rule_id]
    sensor = rules.sensor
    return Alert(
        alert_id=sensor_alert_id(sensor.id, rule_id, started),
        camera_id="",
        zone_id="",
        rule=rule_id,
        severity=severity,
        started_at=started,
        observed_at=at,
        frame_seq=0,
        score=1.0,
        box_xyxy=(0, 0, 0, 0),
        phase=AlertPhase.OPEN if step == "open" else AlertPhase.CLOSE,
        ended_at=at if step == "close" else None,
        source="sensor",
        sensor_id=sensor.id,
        group=sensor.group,
        note=note,
    )


def sensor_alert_id(sensor_id: str, rule_id: str, started_at: float) -> str:
    """The same excursion always maps to the same id (sensor, rule and start)."""
    key = f"sensor|{sensor_id}|{rule_id}|{started_at:.3f}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]
