"""The sensor hub: every reading, from MQTT or HTTP, takes one path.

    MQTT message ─ parse ─► submit() ─► bounded queue ─► writer ─┐
    HTTP request ─ parse ───────────────────────────────────────┴► ingest_many()
        ─► validate (unit, range, time) ─► rules ─► await publish(alerts) ─► store ─► answer
                                             └─► linkage (turbidity near cameras)

Rejected readings are counted by reason. The order is what keeps an alert from being lost:

- `publish` returns only once the alerts (and every alert published before them) are in the
  alert spool on disk, and only then is the reading stored and the HTTP request answered (an
  MQTT reading's processing ends there too). A stored reading is replayed *silently* into the
  rules at start, so it must never exist without its alerts being durable: a SIGKILL between
  storing and spooling would otherwise leave an excursion that no restart ever raises.
- A SIGKILL before the spool write leaves neither alert nor reading; the gateway had no
  answer and sends again, the restarted hub raises the same alert (its id comes from the
  sensor, the rule and the reading's time). A SIGKILL between the spool write and the store
  leaves the alert spooled; the resent reading raises it again under the same message id,
  which the spool and the stream keep once.
- If the alerts cannot be made durable (`AlertsNotDurable`, HTTP 503) the readings are not
  stored, so a resend to a restarted hub raises them again; the publisher still delivers
  them from memory meanwhile.

Rules run even when the store fails, since an alert matters more than a stored row; store
failures are counted and, on HTTP, answered with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.sensors.errors import (
    AlertsNotDurable,
    BatchRejected,
    ReadingRejected,
    RejectReason,
    SensorStoreError,
)
from ingest.sensors.linkage import Linkage
from ingest.sensors.mqtt import MqttStatus, MqttSubscriber
from ingest.sensors.reading import Reading, ReadingValidator
from ingest.sensors.rules import RuleEngine
from ingest.sensors.store import SensorStore
from riverwatch.sensor_config import SensorConfig, SensorsConfig
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert

log = logging.getLogger(__name__)

# Readings replayed into the rules at start so an excursion open before a restart stays open.
_WARM_MAX_ROWS = 100_000
_WARM_MIN_S = 3600.0

PublishDurably = Callable[[Sequence[Alert]], Awaitable[None]]
"""Publishes alerts, in order, and returns once they and every alert published before them are
on disk (raising if they cannot be): the composition root passes the alert publisher's."""


@dataclass(frozen=True, slots=True)
class SensorStats:
    """A point-in-time copy of the hub's sensor figures."""

    accepted: int
    rejected: dict[str, int]
    stored: int
    store_errors: int
    lost: int
    late: int
    alerts: int
    publish_errors: int
    purged: int
    queued: int
    mqtt: MqttStatus | None


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What became of a batch: accepted readings (canonical units) and refused ones by index."""

    accepted: list[Reading]
    rejected: list[tuple[int, ReadingRejected]]


class SensorHub:
    """Validates, evaluates and stores sensor readings and raises alerts through `publish`.

    >>> # async with SensorHub(config, engine, publisher.publish_durably) as sensors:
    >>> #     await sensors.ingest(Reading("heng-turb-02", time.time(), 37.5, "NTU"))
    >>> #     sensors.dredging_confidence("heng-007", time.time(), base=0.6)
    """

    def __init__(
        self,
        config: SensorsConfig,
        engine: AsyncEngine,
        publish: PublishDurably,
        clock: Callable[[], float] = time.time,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.config = config
        self._supervisor = supervisor or Supervisor()
        self._sensors: dict[str, SensorConfig] = {s.id: s for s in config.sensors}
        self._publish = publish
        self._clock = clock
        self._store = SensorStore(engine, config.store_timeout_s)
        self._validator = ReadingValidator(
            self._sensors, config.max_future_skew_s, config.max_age_s, clock
        )
        self._rules = RuleEngine(config.sensors)
        self._linkage = Linkage(config.sensors, config.linkage)
        self._queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize=config.queue_size)
        self._mqtt = (
            MqttSubscriber(config.mqtt, self.submit, self.count_reject, clock)
            if config.mqtt is not None
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._mqtt_task: asyncio.Task[None] | None = None
        self._rejected: Counter[str] = Counter()
        self._n = Counter[str]()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Restore rule state from recent readings (the table is the hub's migrations'),
        start the tasks."""
        await self._warm()
        self._tasks = [
            self._supervisor.spawn("sensors:writer", self._write_forever),
            self._supervisor.spawn("sensors:retention", self._purge_forever),
            self._supervisor.spawn("sensors:silence", self._expire_forever),
        ]
        if self._mqtt is not None:
            self._mqtt_task = self._supervisor.spawn("sensors:mqtt", self._mqtt.run)

    async def close(self, drain_budget_s: float = 5.0) -> None:
        """Stop intake, store what is queued within the budget, then cancel the rest."""
        if self._mqtt_task is not None:
            await _cancel(self._mqtt_task)
            self._mqtt_task = None
        try:
            await asyncio.wait_for(self._queue.join(), drain_budget_s)
        except TimeoutError:
            log.warning("sensors: %d queued readings dropped at shutdown", self._queue.qsize())
        for task in self._tasks:
            await _cancel(task)
        self._tasks = []

    def now(self) -> float:
        """The hub's clock (epoch seconds)."""
        return self._clock()

    def sensors(self) -> list[SensorConfig]:
        """Every configured sensor, in config order."""
        return list(self._sensors.values())

    def knows(self, sensor_id: str) -> bool:
        """Whether the sensor is configured."""
        return sensor_id in self._sensors

    def unit_of(self, sensor_id: str) -> str:
        """The unit a configured sensor's readings are stored in."""
        return self._sensors[sensor_id].canonical_unit

    async def mqtt_ready(self) -> None:
        """Return once the MQTT subscription is live (at once when there is no broker)."""
        if self._mqtt is not None:
            await self._mqtt.wait_subscribed()

    def submit(self, reading: Reading) -> bool:
        """Queue a reading for the writer without waiting; a full queue drops it (counted)."""
        try:
            self._queue.put_nowait(reading)
        except asyncio.QueueFull:
            self.count_reject(ReadingRejected(RejectReason.QUEUE_FULL, "sensor queue full"))
            return False
        return True

    def count_reject(self, rejected: ReadingRejected) -> None:
        """Count a refused reading by its reason."""
        self._rejected[rejected.reason.value] += 1
        log.debug("sensor reading rejected: %s", rejected)

    async def ingest(self, reading: Reading) -> Reading:
        """Validate, store and evaluate one reading; raises `ReadingRejected` if refused."""
        report = await self.ingest_many([reading], all_or_nothing=False)
        if report.rejected:
            raise report.rejected[0][1]
        return report.accepted[0]

    async def ingest_many(
        self, readings: Sequence[Reading], *, all_or_nothing: bool = True
    ) -> IngestReport:
        """Validate every reading, evaluate the valid ones, make their alerts durable, store them.

        With `all_or_nothing`, one refused reading refuses the batch (`BatchRejected`), so an
        HTTP client can fix and resend it whole. Raises `AlertsNotDurable` (nothing stored) if
        the alerts cannot be spooled, `SensorStoreError` if the store fails.
        """
        accepted: list[Reading] = []
        rejected: list[tuple[int, ReadingRejected]] = []
        for index, reading in enumerate(readings):
            try:
                accepted.append(self._validator.validate(reading))
            except ReadingRejected as exc:
                self.count_reject(exc)
                rejected.append((index, exc))
        if rejected and all_or_nothing:
            raise BatchRejected(rejected)
        await self._commit(accepted)
        return IngestReport(accepted, rejected)

    async def recent(self, sensor_id: str, since: float, limit: int = 1000) -> list[Reading]:
        """Stored readings of one sensor from `since`, oldest first."""
        return await self._store.recent(sensor_id, since, limit)

    async def purge_expired(self) -> int:
        """Delete readings older than the retention; returns how many went."""
        purged = await self._store.purge(self._clock() - self.config.retention_s)
        self._n["purged"] += purged
        return purged

    def dredging_confidence(self, camera_id: str, at: float, base: float) -> float:
        """A dredging alert's confidence, raised by a recent turbidity rise downstream."""
        return self._linkage.dredging_confidence(camera_id, at, base)

    def stats(self) -> SensorStats:
        """Counters since start."""
        n = self._n
        return SensorStats(
            accepted=n["accepted"],
            rejected=dict(self._rejected),
            stored=n["stored"],
            store_errors=n["store_errors"],
            lost=n["lost"],
            late=self._rules.skipped_late,
            alerts=n["alerts"],
            publish_errors=n["publish_errors"],
            purged=n["purged"],
            queued=self._queue.qsize(),
            mqtt=self._mqtt.status() if self._mqtt is not None else None,
        )

    async def _commit(self, readings: list[Reading]) -> None:
        self._n["accepted"] += len(readings)
        # Alerts on disk before their readings: see the module docstring for why this order.
        # Called with no alerts too, so this batch is not stored ahead of an earlier batch's
        # alerts still being written.
        alerts = self._evaluate(readings)
        try:
            await self._publish_durably(alerts, len(readings))
        except AlertsNotDurable:
            self._n["lost"] += len(readings)
            raise
        try:
            await self._store.insert(readings, received_at=self._clock())
            self._n["stored"] += len(readings)
        except SensorStoreError:
            self._n["store_errors"] += 1
            self._n["lost"] += len(readings)
            raise

    def _evaluate(self, readings: list[Reading]) -> list[Alert]:
        alerts: list[Alert] = []
        for reading in sorted(readings, key=lambda r: r.ts):
            self._linkage.observe(reading)
            alerts.extend(self._rules.feed(reading))
        return alerts

    async def _publish_durably(self, alerts: list[Alert], readings: int = 0) -> None:
        """Publish and wait for the spool; any failure of it becomes `AlertsNotDurable`."""
        self._n["alerts"] += len(alerts)
        try:
            await self._publish(alerts)
        except Exception as exc:
            # The publisher is another package's code: whatever it raises, the caller gets one
            # sensors error (503 over HTTP), never a bare 500.
            self._n["publish_errors"] += 1
            ids = ", ".join(f"{a.sensor_id}:{a.message_id}" for a in alerts[:10])
            log.error("sensors: alerts not on disk (%s): %s", ids, exc)
            raise AlertsNotDurable(len(alerts), readings) from exc

    async def _warm(self) -> None:
        windows = [r.window_s for s in self.config.sensors for r in s.rates]
        horizon = max([_WARM_MIN_S, 2 * self.config.linkage.window_s, *windows])
        try:
            readings = await self._store.since(self._clock() - horizon, _WARM_MAX_ROWS)
        except SensorStoreError as exc:
            log.warning("sensors: rule state not restored: %s", exc)
            return
        # Replayed silently: a reading is stored only once its alerts are on disk (`_commit`).
        self._evaluate([r for r in readings if r.sensor_id in self._sensors])

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.config.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.ingest_many(batch, all_or_nothing=False)
            except (SensorStoreError, AlertsNotDurable) as exc:
                log.warning("sensors: %d readings not stored: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _expire_forever(self) -> None:
        silence = self.config.silence_close_s
        while True:
            await asyncio.sleep(min(silence / 4, 60.0))
            alerts = self._rules.expire(self._clock(), silence)
            for alert in alerts:
                log.warning("sensor %s: silent, alert %s closed", alert.sensor_id, alert.alert_id)
            # Logged by _publish_durably; a close lost to a crash is raised again after the
            # restart under the same message id, once the replayed excursion falls silent.
            with contextlib.suppress(AlertsNotDurable):
                await self._publish_durably(alerts)

    async def _purge_forever(self) -> None:
        while True:
            try:
                purged = await self.purge_expired()
                if purged:
                    log.info("sensors: purged %d readings past retention", purged)
            except SensorStoreError as exc:
                log.warning("sensors: retention purge failed: %s", exc)
            await asyncio.sleep(self.config.retention_interval_s)


async def _cancel(task: asyncio.Task[None]) -> None:
    # `wait` does not raise the task's CancelledError, yet our own cancellation still propagates.
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.error("sensors: task %s had failed", task.get_name(), exc_info=task.exception())
