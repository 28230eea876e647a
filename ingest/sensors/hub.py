"""The sensor hub: every reading, from MQTT or HTTP, takes one path.

    MQTT message ─ parse ─► submit() ─► bounded queue ─► writer ─┐
    HTTP request ─ parse ───────────────────────────────────────┴► ingest_many()
        ─► validate (unit, range, time) ─► store ─► rules ─► publish(Alert)
                                                   └─► linkage (turbidity near cameras)

Rejected readings are counted by reason. Rules run even when the store fails, since an alert
matters more than a stored row; store failures are counted and, on HTTP, answered with 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.sensors.errors import BatchRejected, ReadingRejected, RejectReason, SensorStoreError
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
    """Validates, stores and evaluates sensor readings and raises alerts through `publish`.

    >>> # async with SensorHub(config, engine, publisher.publish) as sensors:
    >>> #     await sensors.ingest(Reading("heng-turb-02", time.time(), 37.5, "NTU"))
    >>> #     sensors.dredging_confidence("heng-007", time.time(), base=0.6)
    """

    def __init__(
        self,
        config: SensorsConfig,
        engine: AsyncEngine,
        publish: Callable[[Alert], None],
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
        """Validate every reading, store the valid ones and evaluate them.

        With `all_or_nothing`, one refused reading refuses the batch (`BatchRejected`), so an
        HTTP client can fix and resend it whole. Raises `SensorStoreError` if the store fails.
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
        try:
            await self._store.insert(readings, received_at=self._clock())
            self._n["stored"] += len(readings)
        except SensorStoreError:
            self._n["store_errors"] += 1
            self._n["lost"] += len(readings)
            raise
        finally:
            # Alerts must neither wait for nor be lost to a failing database.
            for alert in self._evaluate(readings):
                self._emit(alert)

    def _evaluate(self, readings: list[Reading]) -> list[Alert]:
        alerts: list[Alert] = []
        for reading in sorted(readings, key=lambda r: r.ts):
            self._linkage.observe(reading)
            alerts.extend(self._rules.feed(reading))
        return alerts

    def _emit(self, alert: Alert) -> None:
        self._n["alerts"] += 1
        try:
            self._publish(alert)
        except Exception:
            # The publisher is another package's code: its failure must not stop the readings.
            self._n["publish_errors"] += 1
            log.exception(
                "sensor %s: could not publish alert %s", alert.sensor_id, alert.message_id
            )

    async def _warm(self) -> None:
        windows = [r.window_s for s in self.config.sensors for r in s.rates]
        horizon = max([_WARM_MIN_S, 2 * self.config.linkage.window_s, *windows])
        try:
            readings = await self._store.since(self._clock() - horizon, _WARM_MAX_ROWS)
        except SensorStoreError as exc:
            log.warning("sensors: rule state not restored: %s", exc)
            return
        # Replayed silently: their alerts were published before the restart.
        self._evaluate([r for r in readings if r.sensor_id in self._sensors])

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.config.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.ingest_many(batch, all_or_nothing=False)
            except SensorStoreError as exc:
                log.warning("sensors: %d readings not stored: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _expire_forever(self) -> None:
        silence = self.config.silence_close_s
        while True:
            await asyncio.sleep(min(silence / 4, 60.0))
            for alert in self._rules.expire(self._clock(), silence):
                log.warning("sensor %s: silent, alert %s closed", alert.sensor_id, alert.alert_id)
                self._emit(alert)

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
