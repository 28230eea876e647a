"""Prometheus metrics read from the running hub at scrape time.

Nothing is counted twice: the hub's parts already keep their own counters (ingest health,
publisher, consumer, evidence recorder, notifier, sensors, live feed); a scrape copies them
into metric families. One async step comes first, the queue's stream length, which needs a
Redis round trip with a timeout; the rest is synchronous reads of in-memory figures.

Labels carry camera ids, groups, states, decode modes, notification target names and reject
reasons, all from config or enums: never a URL, a credential or an error text.

    riverwatch_camera_state{camera,group,state}        1 for the camera's state, else 0
    riverwatch_camera_decode_mode{camera,group,mode}   1 for the camera's mode, else 0
    riverwatch_camera_*                                fps, kbps, last frame age, counters
    riverwatch_cameras{state}                          cameras per state
    riverwatch_core_tick_seconds / _ticks_total        the detection core
    riverwatch_alerts_* / riverwatch_alert_*           publisher, spool, queue, consumer
    riverwatch_tickets_*, riverwatch_evidence_*, riverwatch_notify_*, riverwatch_sensor_*
    riverwatch_live_feed_*                             pages on the live alert feed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from api.hubview import HubView
from riverwatch.types import CameraHealth, CameraInfo, CameraState, DecodeMode

if TYPE_CHECKING:
    from alerts import AlertPublisher
    from alerts.consumer import AlertConsumer
    from alerts.evidence import EvidenceRecorder
    from alerts.notify import Notifier
    from alerts.tickets import TicketStore
    from ingest.sensors import SensorHub

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_PROBE_TIMEOUT_S = 2.0
SPOOL_FILE = Path("spool") / "alerts.sqlite3"  # under the data dir, as the incident desk puts it


class IncidentDesk(Protocol):
    """The parts of the hub's incident desk whose own counters the metrics read."""

    consumer: AlertConsumer | None

    @property
    def tickets(self) -> TicketStore: ...

    @property
    def publisher(self) -> AlertPublisher: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def sensors(self) -> SensorHub: ...

    @property
    def recorder(self) -> EvidenceRecorder: ...


@runtime_checkable
class OpsHub(HubView, Protocol):
    """The running `Hub` beyond its `HubView`: the core's tick figures and the incident desk."""

    last_tick_ms: float
    ticks: int

    @property
    def desk(self) -> IncidentDesk:
        """Policy, queue, tickets, evidence and notifications."""
        ...


@runtime_checkable
class StreamLength(Protocol):
    """A publisher that can say how many entries its Redis stream holds (XLEN)."""

    async def stream_length(self) -> int:
        """XLEN of the alert stream."""
        ...


async def render(hub: HubView) -> bytes:
    """The exposition text for one scrape."""
    queue_length = await _queue_length(hub)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub, queue_length))
    ProcessCollector(registry=registry)  # CPU seconds, memory, open files of this process
    return generate_latest(registry)


async def _queue_length(hub: HubView) -> int | None:
    """XLEN of the alert stream, or None when the publisher cannot say or Redis does not answer
    in time (a scrape must not hang on Redis; the gauge is then left out)."""
    if not isinstance(hub, OpsHub):
        return None
    publisher = hub.desk.publisher
    if not isinstance(publisher, StreamLength):
        return None
    try:
        return await asyncio.wait_for(publisher.stream_length(), QUEUE_PROBE_TIMEOUT_S)
    except (TimeoutError, OSError, ConnectionError) as exc:
        log.warning("metrics: alert stream length unavailable: %s", type(exc).__name__)
        return None


class HubCollector(Collector):
    """Turns one hub's figures into metric families; made per scrape, holds no state."""

    def __init__(self, hub: HubView, queue_length: int | None) -> None:
        self._hub = hub
        self._queue_length = queue_length

    def collect(self) -> Iterable[Metric]:
        """Every family, read now."""
        yield from camera_metrics(self._hub.cameras())
        feed = self._hub.feed
        yield _gauge(
            "riverwatch_live_feed_subscribers", "Pages on the live alert feed.", feed.subscribers
        )
        yield _counter(
            "riverwatch_live_feed_dropped",
            "Messages a slow page lost (oldest first).",
            feed.dropped,
        )
        if isinstance(self._hub, OpsHub):
            yield _gauge(
                "riverwatch_core_tick_seconds",
                "Duration of the detection core's last observed tick.",
                self._hub.last_tick_ms / 1000.0,
            )
            yield _counter(
                "riverwatch_core_ticks", "Detection ticks that saw frames.", self._hub.ticks
            )
            yield from desk_metrics(self._hub.desk, self._hub.data_dir, self._queue_length)


# ---- cameras -------------------------------------------------------------------------------

_CAMERA_GAUGES = (
    ("input_fps", "Frames per second arriving from the camera."),
    ("analysed_fps", "Frames per second decoded for analysis."),
    ("kbps", "Incoming video bitrate in kbit/s."),
    ("state_age_s", "Seconds in the current state."),
)
_CAMERA_COUNTERS = (
    ("reconnects", "Reconnections since start."),
    ("stalls", "Stalls detected since start."),
    ("decode_errors", "Decode errors since start."),
    ("dropped_frames", "Frames dropped since start."),
    ("analysed_frames", "Frames handed to the detectors since start."),
    ("no_frame_reopens", "Sessions reopened: packets came but no frame was analysed."),
)
_METRIC_NAME = {"state_age_s": "state_age_seconds"}


def camera_metrics(cameras: list[CameraInfo]) -> Iterator[Metric]:
    """Per-camera health and decode mode, and cameras per state."""
    labels = ["camera", "group"]
    state = GaugeMetricFamily(
        "riverwatch_camera_state", "1 for the camera's ingest state.", labels=[*labels, "state"]
    )
    mode = GaugeMetricFamily(
        "riverwatch_camera_decode_mode", "1 for the camera's decode mode.", labels=[*labels, "mode"]
    )
    age = GaugeMetricFamily(
        "riverwatch_camera_last_frame_age_seconds",
        "Seconds since the last frame (absent before the first).",
        labels=labels,
    )
    gauges = {
        key: GaugeMetricFamily(
            f"riverwatch_camera_{_METRIC_NAME.get(key, key)}", text, labels=labels
        )
        for key, text in _CAMERA_GAUGES
    }
    counters = {
        key: CounterMetricFamily(f"riverwatch_camera_{key}", text, labels=labels)
        for key, text in _CAMERA_COUNTERS
    }
    for cam in cameras:
        ids, h = [cam.camera_id, cam.group], cam.health
        for s in CameraState:
            state.add_metric([*ids, s.value], 1.0 if h.state is s else 0.0)
        for m in DecodeMode:
            mode.add_metric([*ids, m.value], 1.0 if h.decode_mode is m else 0.0)
        if h.last_frame_age_s is not None:
            age.add_metric(ids, h.last_frame_age_s)
        for key, family in gauges.items():
            family.add_metric(ids, float(_health_value(h, key)))
        for key, counter in counters.items():
            counter.add_metric(ids, float(_health_value(h, key)))
    yield from (state, mode, age, *gauges.values(), *counters.values())
    yield _per_state(cameras)


def _health_value(health: CameraHealth, key: str) -> float:
    value: float = getattr(health, key)
    return value


def _per_state(cameras: list[CameraInfo]) -> Metric:
    counts = Counter(c.health.state for c in cameras)
    family = GaugeMetricFamily("riverwatch_cameras", "Cameras in each state.", labels=["state"])
    for s in CameraState:
        family.add_metric([s.value], counts.get(s, 0))
    return family


# ---- alerts, tickets, evidence, notifications, sensors ----------------------------------------


def desk_metrics(desk: IncidentDesk, data_dir: Path, queue_length: int | None) -> Iterator[Metric]:
    """Everything after the detectors: publisher, queue, consumer, tickets, evidence, notices,
    sensors."""
    yield from _publisher_metrics(desk, data_dir, queue_length)
    yield from _consumer_metrics(desk)
    yield from _evidence_metrics(desk)
    yield from _notify_metrics(desk)
    yield from _sensor_metrics(desk)


def _publisher_metrics(
    desk: IncidentDesk, data_dir: Path, queue_length: int | None
) -> Iterator[Metric]:
    pub = desk.publisher
    yield _counter("riverwatch_alerts_spooled", "Alert messages written to the spool.", pub.spooled)
    yield _counter(
        "riverwatch_alerts_published", "Alert messages added to the stream.", pub.published
    )
    yield _counter(
        "riverwatch_alerts_duplicates", "Messages already spooled or published.", pub.duplicates
    )
    yield _counter("riverwatch_alerts_publish_failures", "Failed delivery rounds.", pub.failures)
    yield _counter("riverwatch_alerts_dropped", "Messages given up to stay in bounds.", pub.dropped)
    yield _gauge("riverwatch_alerts_pending", "Messages accepted, not yet in Redis.", pub.pending)
    yield _gauge("riverwatch_alert_spool_durable", "1 if the spool is on disk.", int(pub.durable))
    yield _gauge(
        "riverwatch_alert_spool_bytes",
        "Size of the spool's files (database and write-ahead log).",
        _spool_bytes(data_dir),
    )
    if queue_length is not None:
        yield _gauge(
            "riverwatch_alert_queue_length", "Entries in the ticket queue stream.", queue_length
        )


def _spool_bytes(data_dir: Path) -> int:
    total = 0
    base = data_dir / SPOOL_FILE
    for path in (base, base.with_name(base.name + "-wal")):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def _consumer_metrics(desk: IncidentDesk) -> Iterator[Metric]:
    consumer = desk.consumer
    if consumer is not None:
        yield _counter("riverwatch_alerts_consumed", "Queue entries handled.", consumer.handled)
        yield _counter("riverwatch_alerts_consume_failures", "Handler failures.", consumer.failures)
        yield _counter(
            "riverwatch_alerts_reclaimed",
            "Entries reclaimed from dead consumers.",
            consumer.claimed,
        )
        yield _counter(
            "riverwatch_alerts_dead_lettered", "Entries dead-lettered.", consumer.dead_lettered
        )
    store = desk.tickets
    yield _counter(
        "riverwatch_tickets_applied", "Queue messages applied to tickets.", store.applied
    )
    yield _counter(
        "riverwatch_tickets_duplicates",
        "Queue messages applied before (ignored).",
        store.duplicates,
    )


def _evidence_metrics(desk: IncidentDesk) -> Iterator[Metric]:
    stats = desk.recorder.stats()
    yield _gauge("riverwatch_evidence_in_flight", "Evidence captures running.", stats.in_flight)
    for name in (
        "snapshots",
        "clips",
        "dropped_snapshots",
        "dropped_clips",
        "failures",
        "storage_errors",
        "callback_errors",
    ):
        text = f"Evidence {name.replace('_', ' ')} since start."
        yield _counter(f"riverwatch_evidence_{name}", text, getattr(stats, name))


_NOTIFY_COUNTERS = (
    "delivered",
    "retried",
    "dead_lettered",
    "dropped",
    "expired",
    "failed",
    "cooldown_skipped",
    "lost",
)


def _notify_metrics(desk: IncidentDesk) -> Iterator[Metric]:
    labels = ["target", "kind"]
    queued = GaugeMetricFamily("riverwatch_notify_queued", "Notices waiting.", labels=labels)
    counters = {
        name: CounterMetricFamily(
            f"riverwatch_notify_{name}", f"Notices {name.replace('_', ' ')}.", labels=labels
        )
        for name in _NOTIFY_COUNTERS
    }
    for target, stats in sorted(desk.notifier.stats().items()):
        ids = [target, stats.kind]
        queued.add_metric(ids, stats.queued)
        for name, family in counters.items():
            family.add_metric(ids, getattr(stats, name))
    yield queued
    yield from counters.values()


_SENSOR_COUNTERS = (
    "accepted",
    "stored",
    "store_errors",
    "lost",
    "late",
    "alerts",
    "publish_errors",
    "purged",
)


def _sensor_metrics(desk: IncidentDesk) -> Iterator[Metric]:
    stats = desk.sensors.stats()
    for name in _SENSOR_COUNTERS:
        text = f"Sensor readings {name.replace('_', ' ')} since start."
        yield _counter(f"riverwatch_sensor_{name}", text, getattr(stats, name))
    rejected = CounterMetricFamily(
        "riverwatch_sensor_rejected", "Readings refused, by reason.", labels=["reason"]
    )
    for reason, count in sorted(stats.rejected.items()):
        rejected.add_metric([reason], count)
    yield rejected
    yield _gauge("riverwatch_sensor_queued", "Readings waiting to be stored.", stats.queued)
    if stats.mqtt is not None:
        yield _gauge(
            "riverwatch_sensor_mqtt_connected",
            "1 if the broker is connected.",
            int(stats.mqtt.connected),
        )
        yield _counter(
            "riverwatch_sensor_mqtt_connects", "Connections to the broker.", stats.mqtt.connects
        )
        yield _counter(
            "riverwatch_sensor_mqtt_connection_errors",
            "Failed connections.",
            stats.mqtt.connection_errors,
        )
        yield _counter("riverwatch_sensor_mqtt_messages", "Messages received.", stats.mqtt.messages)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float(value))


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=float(value))
