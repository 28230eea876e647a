"""Prometheus metrics read from the running hub at scrape time.

Nothing is counted twice: the hub's parts already keep their own counters (ingest health,
publisher, consumer, evidence recorder, notifier, sensors, live feed, the detection loop, the
task supervisor); a scrape copies them into metric families. They reach the API as one typed
`HubFigures` from `HubView.figures()`, which probes the queue's stream length with a bound (a
Redis that is down or slow leaves that gauge out; the scrape still answers).

Labels carry camera ids, groups, states, decode modes, notification target names and reject
reasons, all from config or enums: never a URL, a credential or an error text.

    riverwatch_camera_state{camera,group,state}        1 for the camera's state, else 0
    riverwatch_camera_decode_mode{camera,group,mode}   1 for the camera's mode, else 0
    riverwatch_camera_*                                fps, kbps, last frame age, counters
    riverwatch_cameras{state}                          cameras per state
    riverwatch_core_tick_seconds / _ticks_total        the detection core
    riverwatch_detect_tick_errors_total                ticks that raised (each skipped)
    riverwatch_detect_last_tick_age_seconds            since the last completed tick
    riverwatch_task_up{task} / _restarts_total / _crashes_total   supervised tasks
    riverwatch_event_loop_lag_seconds / _lag_max_seconds / _late_total   a hub short of CPU
    riverwatch_alerts_* / riverwatch_alert_*           publisher, spool, queue, consumer
    riverwatch_tickets_*, riverwatch_evidence_*, riverwatch_notify_*, riverwatch_sensor_*
    riverwatch_live_feed_*                             pages on the live alert feed
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from api.hubview import ClusterFigures, DetectFigures, HubFigures, HubView
from riverwatch.looplag import LagFigures
from riverwatch.supervise import TaskState, TaskStatus
from riverwatch.types import CameraHealth, CameraInfo, CameraState, DecodeMode

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def render(hub: HubView) -> bytes:
    """The exposition text for one scrape."""
    figures = await hub.figures()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub, figures))
    ProcessCollector(registry=registry)  # CPU seconds, memory, open files of this process
    return generate_latest(registry)


class HubCollector(Collector):
    """Turns one hub's figures into metric families; made per scrape, holds no state."""

    def __init__(self, hub: HubView, figures: HubFigures) -> None:
        self._hub = hub
        self._figures = figures

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
        yield from detect_metrics(self._figures.detect)
        yield from crossing_metrics(self._figures.detect)
        yield from task_metrics(self._figures.tasks)
        yield from loop_metrics(self._figures.loop)
        yield from desk_metrics(self._figures)
        if self._figures.cluster is not None:
            yield from cluster_metrics(self._figures.cluster)


def cluster_metrics(cluster: ClusterFigures) -> Iterator[Metric]:
    """This hub's share of the cluster and its ownership loop's troubles."""
    yield _gauge("riverwatch_cluster_hubs", "Live hubs (heartbeats seen).", len(cluster.hubs))
    yield _gauge(
        "riverwatch_cluster_cameras_held", "Cameras whose lease this hub holds.", cluster.held
    )
    yield _gauge(
        "riverwatch_cluster_cameras_unowned",
        "Cameras nobody holds a lease of (moving, or no hub has room).",
        sum(holder is None for holder in cluster.owners.values()),
    )
    yield _counter(
        "riverwatch_cluster_round_failures",
        "Ownership rounds that failed (Redis unreachable or slow).",
        cluster.round_failures,
    )
    yield _counter(
        "riverwatch_cluster_fences",
        "Times this hub stopped its cameras for want of lease renewals.",
        cluster.fences,
    )
    yield _counter(
        "riverwatch_cluster_handovers", "Cameras this hub handed to another.", cluster.handovers
    )
    yield _counter(
        "riverwatch_cluster_alerts_refused",
        "Incidents this hub's ticket consumer refused: opened by a hub that had lost the camera.",
        cluster.refused,
    )


# ---- the detection loop and the supervised tasks ------------------------------------------


def detect_metrics(detect: DetectFigures) -> Iterator[Metric]:
    """The core's tick figures and the loop's failures."""
    yield _gauge(
        "riverwatch_core_tick_seconds",
        "Duration of the detection core's last observed tick.",
        detect.last_tick_ms / 1000.0,
    )
    yield _counter("riverwatch_core_ticks", "Detection ticks that saw frames.", detect.ticks)
    yield _counter(
        "riverwatch_detect_tick_errors",
        "Detection ticks that raised (each was skipped).",
        detect.tick_errors,
    )
    yield _gauge(
        "riverwatch_detect_tick_errors_in_a_row",
        "Detection ticks failed since the last completed one.",
        detect.errors_in_a_row,
    )
    if detect.last_tick_age_s is not None:
        yield _gauge(
            "riverwatch_detect_last_tick_age_seconds",
            "Seconds since a detection tick last completed (absent before the first).",
            detect.last_tick_age_s,
        )


def crossing_metrics(detect: DetectFigures) -> Iterator[Metric]:
    """Tripwire crossings by camera, line and direction (`increase(...[1h])` per period)."""
    family = CounterMetricFamily(
        "riverwatch_line_crossings",
        "Tracks that crossed a tripwire, by direction, since the hub started.",
        labels=["camera", "line", "direction"],
    )
    for line in detect.crossings:
        family.add_metric([line.camera_id, line.line_id, line.direction], line.count)
    yield family


def loop_metrics(lag: LagFigures) -> Iterator[Metric]:
    """The event loop's lag: a hub short of CPU shows here before anything fails."""
    yield _gauge(
        "riverwatch_event_loop_lag_seconds", "How late the event loop last woke.", lag.last_s
    )
    yield _gauge(
        "riverwatch_event_loop_lag_max_seconds",
        "The event loop's worst lag in the last minute.",
        lag.max_s,
    )
    yield _counter(
        "riverwatch_event_loop_late", "Wake-ups of the event loop over 1 s late.", lag.late
    )


def task_metrics(tasks: tuple[TaskStatus, ...]) -> Iterator[Metric]:
    """Each supervised task: running or not, restarts and crashes."""
    up = GaugeMetricFamily("riverwatch_task_up", "1 while the task runs.", labels=["task"])
    restarts = CounterMetricFamily(
        "riverwatch_task_restarts", "Restarts after a crash.", labels=["task"]
    )
    crashes = CounterMetricFamily("riverwatch_task_crashes", "Times it raised.", labels=["task"])
    for task in tasks:
        up.add_metric([task.name], 1.0 if task.state is TaskState.RUNNING else 0.0)
        restarts.add_metric([task.name], task.restarts)
        crashes.add_metric([task.name], task.crashes)
    yield from (up, restarts, crashes)


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
    yield from _gop_metrics(cameras)


def _gop_metrics(cameras: list[CameraInfo]) -> Iterator[Metric]:
    gop = GaugeMetricFamily(
        "riverwatch_camera_gop_seconds",
        "Keyframe interval measured by arrival: the longest of the last 8 (absent until 3).",
        labels=["camera", "group"],
    )
    warned = GaugeMetricFamily(
        "riverwatch_camera_warnings",
        "Configuration warnings from measured figures (a GOP too long for a zone).",
        labels=["camera", "group"],
    )
    for cam in cameras:
        if cam.health.gop_s is not None:
            gop.add_metric([cam.camera_id, cam.group], cam.health.gop_s)
        warned.add_metric([cam.camera_id, cam.group], float(len(cam.warnings)))
    yield from (gop, warned)


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


def desk_metrics(figures: HubFigures) -> Iterator[Metric]:
    """Everything after the detectors: incidents, publisher, queue, consumer, tickets, evidence,
    notices, sensors."""
    yield from _incident_metrics(figures)
    yield from _queue_metrics(figures)
    yield from _evidence_metrics(figures)
    yield from _notify_metrics(figures)
    yield from _sensor_metrics(figures)


_INCIDENT_COUNTERS = (
    ("opened", "Incidents opened (an alert's open message)."),
    ("updates", "Incident updates sent."),
    ("closed", "Incidents closed."),
    ("merged_starts", "Event starts folded into an open incident."),
    ("suppressed", "Event starts an operator's suppression window swallowed."),
    ("profiled", "Event starts an active profile kept from raising an alert."),
    ("adopted", "Incidents taken over from another hub with their camera."),
)


def _incident_metrics(figures: HubFigures) -> Iterator[Metric]:
    stats = figures.incidents
    if stats is None:
        return
    for name, text in _INCIDENT_COUNTERS:
        yield _counter(f"riverwatch_incidents_{name}", text, getattr(stats, name))


_QUEUE_COUNTERS = (
    ("alerts_spooled", "spooled", "Alert messages written to the spool."),
    ("alerts_published", "published", "Alert messages added to the stream."),
    ("alerts_duplicates", "duplicates", "Messages already spooled or published."),
    ("alerts_publish_failures", "publish_failures", "Failed delivery rounds."),
    ("alerts_dropped", "dropped", "Messages given up to stay in bounds."),
    ("alerts_consumed", "consumed", "Queue entries handled."),
    ("alerts_consume_failures", "consume_failures", "Handler failures."),
    ("alerts_reclaimed", "reclaimed", "Entries reclaimed from dead consumers."),
    ("alerts_dead_lettered", "dead_lettered", "Entries dead-lettered."),
    ("tickets_applied", "tickets_applied", "Queue messages applied to tickets."),
    ("tickets_duplicates", "tickets_duplicates", "Queue messages applied before (ignored)."),
)


def _queue_metrics(figures: HubFigures) -> Iterator[Metric]:
    q = figures.queue
    for name, field, text in _QUEUE_COUNTERS:
        yield _counter(f"riverwatch_{name}", text, getattr(q, field))
    yield _gauge("riverwatch_alerts_pending", "Messages accepted, not yet in Redis.", q.pending)
    yield _gauge("riverwatch_alert_spool_durable", "1 if the spool is on disk.", int(q.durable))
    yield _gauge(
        "riverwatch_alert_spool_bytes",
        "Size of the spool's files (database and write-ahead log).",
        q.spool_bytes,
    )
    if q.length is not None:
        yield _gauge(
            "riverwatch_alert_queue_length", "Entries in the ticket queue stream.", q.length
        )


def _evidence_metrics(figures: HubFigures) -> Iterator[Metric]:
    stats = figures.evidence
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
    uploads = figures.uploads
    if uploads is None:
        return
    yield _gauge(
        "riverwatch_evidence_upload_pending",
        "Evidence files on this hub's disk not yet in the shared bucket.",
        uploads.pending,
    )
    for name, text in (
        ("uploaded", "Evidence files uploaded to the shared bucket since start."),
        ("upload_failures", "Upload attempts the object store refused or did not answer."),
        ("fetched", "Evidence files fetched from the bucket for another hub's tickets."),
        ("upload_missing", "Noted evidence files gone from disk before they were sent."),
    ):
        yield _counter(f"riverwatch_evidence_{name}", text, getattr(uploads, _UPLOAD_FIELDS[name]))


_UPLOAD_FIELDS = {
    "uploaded": "uploaded",
    "upload_failures": "failures",
    "fetched": "fetched",
    "upload_missing": "missing",
}


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


def _notify_metrics(figures: HubFigures) -> Iterator[Metric]:
    labels = ["target", "kind"]
    queued = GaugeMetricFamily("riverwatch_notify_queued", "Notices waiting.", labels=labels)
    counters = {
        name: CounterMetricFamily(
            f"riverwatch_notify_{name}", f"Notices {name.replace('_', ' ')}.", labels=labels
        )
        for name in _NOTIFY_COUNTERS
    }
    for target, stats in sorted(figures.notify.items()):
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


def _sensor_metrics(figures: HubFigures) -> Iterator[Metric]:
    stats = figures.sensors
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
