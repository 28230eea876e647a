"""Why a sensor reading was refused or could not be kept. One tree for the sensors package:

    SensorError
     ├── ReadingRejected     one reading failed validation; `reason` says why (counted per reason)
     ├── BatchRejected       an all-or-nothing batch held rejected readings; `problems` lists each
     ├── SensorStoreError    the readings database failed or timed out (the reading may be lost)
     └── AlertsNotDurable    the alerts the readings raised could not be spooled to disk, so the
                             readings were not stored (HTTP answers 503: send them again)

Messages are safe to show to an operator or an HTTP client: they never hold broker credentials.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class RejectReason(enum.StrEnum):
    """Why a reading was refused; the label of the reject counters."""

    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    BAD_PAYLOAD = "bad_payload"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_SENSOR = "unknown_sensor"
    WRONG_UNIT = "wrong_unit"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    QUEUE_FULL = "queue_full"


class SensorError(Exception):
    """Base of every sensors failure; `str()` is safe to show."""


class ReadingRejected(SensorError):
    """A reading that will not be stored, with the reason it was refused."""

    def __init__(self, reason: RejectReason, detail: str, sensor_id: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.sensor_id = sensor_id
        where = f"sensor {sensor_id}: " if sensor_id else ""
        super().__init__(f"{where}{reason}: {detail}")


class BatchRejected(SensorError):
    """An all-or-nothing batch in which some readings were refused; nothing was stored."""

    def __init__(self, problems: Sequence[tuple[int, ReadingRejected]]) -> None:
        self.problems = list(problems)
        shown = "; ".join(f"[{i}] {p}" for i, p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} reading(s) rejected: {shown}{more}")


class SensorStoreError(SensorError):
    """The readings database could not be written or read in time."""


class AlertsNotDurable(SensorError):
    """The alerts some readings raised are not on disk; those readings were not stored."""

    def __init__(self, alerts: int, readings: int) -> None:
        self.alerts = alerts
        self.readings = readings
        super().__init__(
            f"{alerts} alert(s) raised by these readings could not be saved to the alert spool;"
            f" the {readings} reading(s) were not stored: send them again later"
        )
