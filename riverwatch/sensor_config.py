"""Sensor configuration: the sensors, their rules, their links to cameras, and the MQTT broker.

Every model forbids unknown fields, so a typo in a config file is an error, not a silent default.
A sensor's unit is fixed by its kind (`KIND_UNITS`); a reading in another unit is refused unless
`CONVERSIONS` names an exact conversion (cm and mm to m for water levels).

    sensors:
      mqtt: {host: 10.20.0.5, port: 1883, topic_prefix: riverwatch/sensors,
             username: hub, password: "${MQTT_PASS}"}
      sensors:
        - id: heng-turb-02
          kind: turbidity
          cameras: [{camera_id: heng-007, position: downstream}]
          thresholds: [{id: turbid, above: 400, hysteresis: 50, severity: high}]
          rates: [{id: turbidity_jump, window_s: 600, rise: 80, hysteresis: 20}]
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from riverwatch.types import Severity

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class SensorKind(enum.StrEnum):
    """What a sensor measures; each kind has one unit."""

    WATER_LEVEL = "water_level"
    TURBIDITY = "turbidity"
    NOISE = "noise"
    RAINFALL = "rainfall"
    FLOW = "flow"


KIND_UNITS: dict[SensorKind, str] = {
    SensorKind.WATER_LEVEL: "m",
    SensorKind.TURBIDITY: "NTU",
    SensorKind.NOISE: "dBA",
    SensorKind.RAINFALL: "mm/h",
    SensorKind.FLOW: "m3/s",
}

# Exact conversions into a kind's unit: (from unit, to unit) -> factor. Nothing else is converted.
CONVERSIONS: dict[tuple[str, str], float] = {
    ("cm", "m"): 0.01,
    ("mm", "m"): 0.001,
}

# Physically plausible bounds used when a sensor does not set its own `range`.
DEFAULT_RANGES: dict[SensorKind, tuple[float, float]] = {
    SensorKind.WATER_LEVEL: (-20.0, 200.0),
    SensorKind.TURBIDITY: (0.0, 4000.0),
    SensorKind.NOISE: (0.0, 160.0),
    SensorKind.RAINFALL: (0.0, 500.0),
    SensorKind.FLOW: (0.0, 200_000.0),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdRule(_Strict):
    """An excursion is a value above `above` or below `below` (at least one is set).

    It closes once the value is back inside by `hysteresis` (above - hysteresis, below +
    hysteresis), so a value hovering at the line raises one alert, not one per reading.
    """

    id: str = Field(pattern=_ID)
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(default=0.0, ge=0.0)
    severity: Severity = Severity.MEDIUM

    @model_validator(mode="after")
    def _coherent(self) -> ThresholdRule:
        if self.above is None and self.below is None:
            raise ValueError("a threshold needs `above`, `below` or both")
        if self.above is not None and self.below is not None:
            if self.below + self.hysteresis >= self.above - self.hysteresis:
                raise ValueError("`below` + hysteresis must stay under `above` - hysteresis")
        return self


class RateRule(_Strict):
    """An excursion is a rise of more than `rise` (or a fall of more than `fall`) within `window_s`.

    The change is measured from the lowest (highest, for a fall) value in the window to the
    newest; it closes when that change is back to `rise - hysteresis` or less.
    """

    id: str = Field(pattern=_ID)
    window_s: float = Field(gt=0.0, le=86_400.0)
    rise: float | None = Field(default=None, gt=0.0)
    fall: float | None = Field(default=None, gt=0.0)
    hysteresis: float = Field(default=0.0, ge=0.0)
    severity: Severity = Severity.MEDIUM

    @model_validator(mode="after")
    def _coherent(self) -> RateRule:
        if self.rise is None and self.fall is None:
            raise ValueError("a rate rule needs `rise`, `fall` or both")
        for limit in (self.rise, self.fall):
            if limit is not None and self.hysteresis >= limit:
                raise ValueError("hysteresis must be smaller than `rise` and `fall`")
        return self


class CameraLink(_Strict):
    """A camera this sensor watches the water of; `downstream` means the water passes the camera
    first, so what a dredger stirs up at the camera reaches this sensor."""

    camera_id: str = Field(pattern=_ID)
    position: Literal["downstream", "upstream", "at"] = "downstream"


class SensorConfig(_Strict):
    """One sensor. `unit` may be given for clarity but must be its kind's unit."""

    id: str = Field(pattern=_ID)
    name: str = ""
    kind: SensorKind
    unit: str | None = None
    range: tuple[float, float] | None = None
    group: str = ""
    cameras: list[CameraLink] = Field(default_factory=list, max_length=32)
    thresholds: list[ThresholdRule] = Field(default_factory=list, max_length=16)
    rates: list[RateRule] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _coherent(self) -> SensorConfig:
        if self.unit is not None and self.unit != KIND_UNITS[self.kind]:
            raise ValueError(f"a {self.kind} sensor reports in {KIND_UNITS[self.kind]}")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("range must be [low, high] with low < high")
        rule_ids = [r.id for r in self.thresholds] + [r.id for r in self.rates]
        twice = sorted(i for i, n in Counter(rule_ids).items() if n > 1)
        if twice:
            raise ValueError(f"rule ids used twice: {', '.join(twice)}")
        return self

    @property
    def canonical_unit(self) -> str:
        """The unit readings are stored in."""
        return KIND_UNITS[self.kind]

    @property
    def bounds(self) -> tuple[float, float]:
        """The accepted value range, in the canonical unit."""
        return self.range if self.range is not None else DEFAULT_RANGES[self.kind]


class MqttConfig(_Strict):
    """The broker readings arrive through; topics are `<topic_prefix>/<sensor_id>`."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = Field(default="riverwatch/sensors", min_length=1, max_length=200)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field(default="riverwatch-hub", min_length=1, max_length=64)
    qos: int = Field(default=1, ge=0, le=1)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    connect_timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    max_payload_bytes: int = Field(default=4096, ge=64, le=1_048_576)
    backoff_base_s: float = Field(default=0.5, gt=0.0, le=60.0)
    backoff_max_s: float = Field(default=30.0, gt=0.0, le=3600.0)

    @field_validator("topic_prefix")
    @classmethod
    def _plain_prefix(cls, prefix: str) -> str:
        if any(c in prefix for c in "+#\x00") or prefix.startswith("$") or prefix.endswith("/"):
            raise ValueError("topic_prefix: no wildcards, no leading '$', no trailing '/'")
        return prefix


class LinkageConfig(_Strict):
    """How a turbidity rise downstream of a camera raises a dredging alert's confidence.

    A rise below `min_rise_ntu` within `window_s` adds nothing; from there the boost grows
    linearly to `max_boost` (of the room left above the base confidence) at `full_rise_ntu`.
    """

    window_s: float = Field(default=900.0, gt=0.0, le=86_400.0)
    min_rise_ntu: float = Field(default=5.0, gt=0.0)
    full_rise_ntu: float = Field(default=20.0, gt=0.0)
    max_boost: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> LinkageConfig:
        if self.full_rise_ntu < self.min_rise_ntu:
            raise ValueError("full_rise_ntu must be at least min_rise_ntu")
        return self


class SensorsConfig(_Strict):
    """The `sensors:` section: sensors, broker, validation limits, retention and bounds."""

    mqtt: MqttConfig | None = None
    sensors: list[SensorConfig] = Field(default_factory=list, max_length=5000)
    max_future_skew_s: float = Field(default=30.0, ge=0.0, le=3600.0)
    max_age_s: float = Field(default=86_400.0, gt=0.0, le=366 * 86_400.0)
    retention_s: float = Field(default=30 * 86_400.0, gt=0.0)
    retention_interval_s: float = Field(default=600.0, gt=0.0)
    # An excursion whose sensor stops reporting is closed after this long, noted as silent.
    silence_close_s: float = Field(default=3600.0, gt=0.0)
    store_timeout_s: float = Field(default=5.0, gt=0.0, le=120.0)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    http_max_batch: int = Field(default=1000, ge=1, le=100_000)
    linkage: LinkageConfig = LinkageConfig()

    @field_validator("sensors")
    @classmethod
    def _unique_ids(cls, sensors: list[SensorConfig]) -> list[SensorConfig]:
        twice = sorted(i for i, n in Counter(s.id for s in sensors).items() if n > 1)
        if twice:
            raise ValueError(f"sensor ids used twice: {', '.join(twice)}")
        return sensors

    def camera_problems(self, camera_ids: Iterable[str]) -> list[str]:
        """One message per sensor link that names a camera the hub does not have."""
        known = set(camera_ids)
        return [
            f"sensor {s.id}: cameras: unknown camera {link.camera_id}"
            for s in self.sensors
            for link in s.cameras
            if link.camera_id not in known
        ]
