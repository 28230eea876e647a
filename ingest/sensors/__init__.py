"""Sensors: readings over MQTT and HTTP, validated, stored with retention, rules raise alerts.

Public surface: `SensorHub` (the one path every reading takes), `SensorsConfig` and its parts,
`Reading`, `reading_from_obj`/`parse_ts` (for the HTTP route), `SensorStats`, `PublishDurably`
(the publishing seam), the `SensorError` tree with `RejectReason`, and the readings table's
`metadata` (for the hub's migrations). The MQTT payload format is documented in
`ingest.sensors.mqtt`.
"""

from ingest.sensors.errors import (
    AlertsNotDurable,
    BatchRejected,
    ReadingRejected,
    RejectReason,
    SensorError,
    SensorStoreError,
)
from ingest.sensors.hub import IngestReport, PublishDurably, SensorHub, SensorStats
from ingest.sensors.reading import Reading, parse_ts, reading_from_obj
from ingest.sensors.store import metadata
from riverwatch.sensor_config import (
    KIND_UNITS,
    CameraLink,
    LinkageConfig,
    MqttConfig,
    RateRule,
    SensorConfig,
    SensorKind,
    SensorsConfig,
    ThresholdRule,
)

__all__ = [
    "KIND_UNITS",
    "AlertsNotDurable",
    "BatchRejected",
    "CameraLink",
    "IngestReport",
    "LinkageConfig",
    "MqttConfig",
    "PublishDurably",
    "RateRule",
    "Reading",
    "ReadingRejected",
    "RejectReason",
    "SensorConfig",
    "SensorError",
    "SensorHub",
    "SensorKind",
    "SensorStats",
    "SensorStoreError",
    "SensorsConfig",
    "ThresholdRule",
    "parse_ts",
    "metadata",
    "reading_from_obj",
]
