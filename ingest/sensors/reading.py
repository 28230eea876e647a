"""Readings: parsing a payload into a `Reading`, and validating it against the sensor's config.

Payload of one reading (MQTT topic `<prefix>/<sensor_id>`, or one item of the HTTP body, which
also carries `"sensor_id"`):

    {"value": 3.42, "unit": "m", "ts": 1767225600.0}
    {"value": 3.42, "unit": "m", "ts": "2026-01-01T00:00:00Z"}

`value` is a JSON number; `unit` must be the sensor kind's unit (or one with an exact conversion,
e.g. `cm` for a water level, stored converted to `m`); `ts` is epoch seconds (UTC) or ISO-8601
with a UTC offset, and may be left out, in which case the arrival time is used. Other keys are
ignored. A reading is refused, with a `RejectReason`, when its payload is too large or not JSON,
its sensor is unknown, its unit is wrong, its value is not finite or outside the sensor's range,
or its time is more than `max_future_skew_s` ahead of the hub's clock or older than `max_age_s`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ingest.sensors.errors import ReadingRejected, RejectReason
from riverwatch.sensor_config import CONVERSIONS, SensorConfig

_SENSOR_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_MAX_UNIT_LEN = 16


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement: `ts` in epoch seconds (UTC), `value` in `unit`."""

    sensor_id: str
    ts: float
    value: float
    unit: str


def parse_mqtt(topic: str, payload: bytes, prefix: str, max_bytes: int, now: float) -> Reading:
    """The reading in one MQTT message on `<prefix>/<sensor_id>`; raises `ReadingRejected`."""
    sensor_id = topic[len(prefix) + 1 :] if topic.startswith(prefix + "/") else ""
    if not _SENSOR_ID.match(sensor_id):
        raise ReadingRejected(RejectReason.BAD_TOPIC, "topic is not <prefix>/<sensor id>")
    if len(payload) > max_bytes:
        raise ReadingRejected(
            RejectReason.TOO_LARGE, f"{len(payload)} bytes > {max_bytes}", sensor_id
        )
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ReadingRejected(RejectReason.BAD_JSON, "payload is not JSON", sensor_id) from None
    return reading_from_obj(obj, now, sensor_id)


def reading_from_obj(obj: object, now: float, sensor_id: str | None = None) -> Reading:
    """A reading from decoded JSON; `sensor_id` comes from the topic, else from `obj`."""
    if not isinstance(obj, dict):
        raise ReadingRejected(
            RejectReason.BAD_PAYLOAD, "a reading is a JSON object", sensor_id or ""
        )
    if sensor_id is None:
        sensor_id = obj.get("sensor_id")
        if not isinstance(sensor_id, str) or not _SENSOR_ID.match(sensor_id):
            raise ReadingRejected(RejectReason.BAD_PAYLOAD, "sensor_id missing or malformed")
    unit = obj.get("unit")
    if not isinstance(unit, str) or not 0 < len(unit) <= _MAX_UNIT_LEN:
        raise ReadingRejected(
            RejectReason.WRONG_UNIT, "unit missing or not a short string", sensor_id
        )
    ts = parse_ts(obj["ts"], sensor_id) if obj.get("ts") is not None else now
    return Reading(sensor_id, ts, _number(obj.get("value"), sensor_id), unit)


def parse_ts(raw: object, sensor_id: str = "") -> float:
    """Epoch seconds from a JSON number or an ISO-8601 string with a UTC offset."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        try:
            ts = float(raw)
        except OverflowError:
            ts = math.inf
        if not math.isfinite(ts):
            raise ReadingRejected(RejectReason.BAD_TIMESTAMP, "ts is not finite", sensor_id)
        return ts
    if isinstance(raw, str) and len(raw) <= 40:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise ReadingRejected(
                RejectReason.BAD_TIMESTAMP, "ts is not ISO-8601", sensor_id
            ) from None
        if parsed.tzinfo is None:
            # A time without an offset could be any of the site's clocks: refuse, never guess.
            raise ReadingRejected(RejectReason.BAD_TIMESTAMP, "ts needs a UTC offset", sensor_id)
        return parsed.timestamp()
    raise ReadingRejected(RejectReason.BAD_TIMESTAMP, "ts must be a number or a string", sensor_id)


def _number(raw: object, sensor_id: str) -> float:
    # bool is an int to Python but never a measurement.
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        raise ReadingRejected(RejectReason.BAD_PAYLOAD, "value must be a JSON number", sensor_id)
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ReadingRejected(RejectReason.NOT_FINITE, "value is not a finite number", sensor_id)
    return value


class ReadingValidator:
    """Checks a reading against its sensor's config and the clock; returns it in canonical units.

    >>> from riverwatch.sensor_config import SensorConfig
    >>> v = ReadingValidator({"lvl": SensorConfig(id="lvl", kind="water_level")}, 30, 3600,
    ...                      clock=lambda: 1000.0)
    >>> v.validate(Reading("lvl", 990.0, 250.0, "cm"))
    Reading(sensor_id='lvl', ts=990.0, value=2.5, unit='m')
    """

    def __init__(
        self,
        sensors: Mapping[str, SensorConfig],
        max_future_skew_s: float,
        max_age_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._sensors = dict(sensors)
        self._skew = max_future_skew_s
        self._max_age = max_age_s
        self._clock = clock

    def validate(self, reading: Reading) -> Reading:
        """The reading in its sensor's unit; raises `ReadingRejected` with the reason."""
        sid = reading.sensor_id
        sensor = self._sensors.get(sid)
        if sensor is None:
            raise ReadingRejected(RejectReason.UNKNOWN_SENSOR, "no sensor with this id", sid)
        value = self._in_unit(reading, sensor)
        if not math.isfinite(value):
            raise ReadingRejected(RejectReason.NOT_FINITE, "value is not a finite number", sid)
        low, high = sensor.bounds
        if not low <= value <= high:
            raise ReadingRejected(
                RejectReason.OUT_OF_RANGE,
                f"{value:g} {sensor.canonical_unit} outside [{low:g}, {high:g}]",
                sid,
            )
        self._check_time(reading.ts, sid)
        return Reading(sid, reading.ts, value, sensor.canonical_unit)

    def _in_unit(self, reading: Reading, sensor: SensorConfig) -> float:
        unit = sensor.canonical_unit
        if reading.unit == unit:
            return reading.value
        factor = CONVERSIONS.get((reading.unit, unit))
        if factor is None:
            raise ReadingRejected(
                RejectReason.WRONG_UNIT,
                f"a {sensor.kind} sensor reports in {unit}, not {reading.unit[:_MAX_UNIT_LEN]}",
                reading.sensor_id,
            )
        return reading.value * factor

    def _check_time(self, ts: float, sensor_id: str) -> None:
        now = self._clock()
        if ts > now + self._skew:
            raise ReadingRejected(
                RejectReason.FUTURE_TIMESTAMP, f"ts is {ts - now:.0f} s ahead of the hub", sensor_id
            )
        if ts < now - self._max_age:
            raise ReadingRejected(
                RejectReason.STALE_TIMESTAMP, f"ts is {now - ts:.0f} s old", sensor_id
            )
