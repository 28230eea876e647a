"""The composition root: wires ingest -> detectors -> incidents and exposes a `HubView`.

Start-up and shutdown are phased, as uvicorn's server does: Redis first, then the incident
desk (tickets, queue, notifications, evidence: `hub.incidents`), then the cameras, then
the detection loop; on the way out, stop the detection loop and close its open incidents,
stop the cameras, let the desk finish evidence and drain the spool within budgets, close Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts import EmbeddedRedis, QueueUnavailable, Suppressions
from alerts.feed import AlertFeed
from alerts.tickets import TicketStore
from api.hubview import UnknownCamera
from detectors import CameraSetup, CropModel, DetectionCore, ModelSpec, RegionModel, StepResult
from detectors.background import BackgroundParams
from hub.incidents import IncidentDesk
from ingest import CameraSpec, IngestSupervisor
from ingest.sensors import SensorHub
from riverwatch.batch import BatchView
from riverwatch.config import LoadedConfig
from riverwatch.ring import PacketRing
from riverwatch.settings import Settings
from riverwatch.types import Alert, CameraInfo, DecodeMode

log = logging.getLogger(__name__)


class Hub:
    """A running hub; `async with Hub(settings, config) as hub:`."""

    def __init__(self, settings: Settings, config: LoadedConfig) -> None:
        self._settings = settings
        self._config = config
        self._by_id = {c.id: c for c in config.cameras}
        self._stack = AsyncExitStack()
        self._redis: Redis | None = None
        self._desk: IncidentDesk | None = None
        self._ingest: IngestSupervisor | None = None
        self._detect_task: asyncio.Task[None] | None = None
        self._region_model: RegionModel | None = None
        self.last_tick_ms = 0.0
        self.ticks = 0

    async def __aenter__(self) -> Hub:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        settings = self._settings
        self._region_model = await asyncio.to_thread(load_region_model, self._config)
        self._redis = await self._connect_redis()
        self._stack.push_async_callback(self._redis.aclose)
        self._desk = await self._stack.enter_async_context(
            IncidentDesk(settings, self._config, self._redis, self._ring_of)
        )
        specs = [
            CameraSpec(
                c.id,
                c.url.get_secret_value,
                c.display_url,
                c.config.analysis.decode_mode,
                c.config.analysis.detect_fps,
            )
            for c in self._config.cameras
        ]
        self._ingest = await self._stack.enter_async_context(
            IngestSupervisor(specs, settings, self._config.redactor)
        )
        self._detect_task = asyncio.create_task(self._detect_forever(), name="detect")
        self._stack.push_async_callback(self._stop_detecting)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        log.info("hub: stopped")

    async def _connect_redis(self) -> Redis:
        settings = self._settings
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            await asyncio.to_thread(embedded.start)
            self._stack.callback(embedded.stop)
            url = embedded.url
        else:
            url = settings.redis_url.get_secret_value()
        redis = Redis.from_url(
            url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            health_check_interval=30,
        )
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:
            if settings.redis_url is None:  # our own Redis did not come up: nothing to wait for
                await redis.aclose()
                raise QueueUnavailable(
                    f"cannot reach Redis for the ticket queue: {type(exc).__name__}"
                ) from None
            # A hub that refused to start while Redis restarts would watch no camera at all;
            # it starts, spools its alerts, and delivers them once Redis answers.
            log.error(
                "hub: Redis does not answer (%s); starting anyway, alerts wait in the spool",
                type(exc).__name__,
            )
        return redis

    async def _stop_detecting(self) -> None:
        if self._detect_task is not None:
            self._detect_task.cancel()
            await asyncio.gather(self._detect_task, return_exceptions=True)
        if self._desk is not None:
            self._desk.close_incidents()

    def _ring_of(self, camera_id: str) -> PacketRing | None:
        if self._ingest is None or camera_id not in self._by_id:
            return None
        return self._ingest.ring(camera_id)

    async def _detect_forever(self) -> None:
        assert self._ingest is not None
        setups = [
            CameraSetup(c.id, c.config.analysis, c.config.zones) for c in self._config.cameras
        ]
        shape = self._settings.analysis_shape_hw
        core = DetectionCore(
            setups,
            shape,
            self._settings.full_rate_budget,
            background=BackgroundParams(learn_s=self._settings.learn_s),
            model=self._region_model,
        )
        view = BatchView.empty(len(setups), shape)
        while True:
            await asyncio.sleep(self._settings.tick_interval_s)
            started = time.perf_counter()
            self._ingest.batch.read_into(view)
            now = time.time()
            # Off the event loop: the API, event streams and alerts keep moving meanwhile
            # (nothing else touches the core or this view).
            result = await asyncio.to_thread(core.step, view, now)
            self._apply(result, now)
            if result.observed:
                self.last_tick_ms = (time.perf_counter() - started) * 1000
                self.ticks += 1

    def _apply(self, result: StepResult, now: float) -> None:
        """Hand events to the incident desk and switch decode modes as the core asks."""
        assert self._ingest is not None and self._desk is not None
        self._desk.take(result.events, now)
        ids = self._ingest.camera_ids()
        for slot in result.modes.promote_p:
            self._ingest.set_mode(ids[slot], DecodeMode.FULL)
        for slot in result.modes.demote_d:
            self._ingest.set_mode(ids[slot], DecodeMode.KEYFRAMES)

    # --- HubView -------------------------------------------------------------------------

    def cameras(self) -> list[CameraInfo]:
        """Every camera with its health."""
        return [self.camera(c.id) for c in self._config.cameras]

    def camera(self, camera_id: str) -> CameraInfo:
        """One camera; raises UnknownCamera."""
        assert self._ingest is not None
        cam = self._by_id.get(camera_id)
        if cam is None:
            raise UnknownCamera(camera_id)
        return CameraInfo(
            cam.id,
            cam.config.name,
            cam.config.group,
            cam.display_url,
            self._ingest.camera_health(camera_id),
        )

    def ring(self, camera_id: str) -> PacketRing:
        """The camera's packet ring (live view, snapshots); raises UnknownCamera."""
        ring = self._ring_of(camera_id)
        if ring is None:
            raise UnknownCamera(camera_id)
        return ring

    def set_decode_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch a camera's decode mode."""
        assert self._ingest is not None
        try:
            self._ingest.set_mode(camera_id, mode)
        except KeyError:
            raise UnknownCamera(camera_id) from None

    async def recent_alerts(self, count: int) -> list[tuple[str, Alert]]:
        """The newest alerts in the ticket queue."""
        return await self.desk.publisher.recent(count)

    @property
    def desk(self) -> IncidentDesk:
        """Where alerts go: policy, queue, tickets, evidence, notifications."""
        assert self._desk is not None, "the hub is not started"
        return self._desk

    def tickets(self) -> TicketStore:
        """The closed loop's ticket store."""
        return self.desk.tickets

    @property
    def engine(self) -> AsyncEngine:
        """The SQL engine (tickets, sensor readings; users and audit may add tables)."""
        return self.desk.engine

    @property
    def feed(self) -> AlertFeed:
        """Live alert messages for pages (server-sent events)."""
        return self.desk.feed

    def sensors(self) -> SensorHub:
        """Sensor readings and their rules."""
        return self.desk.sensors

    def suppressions(self) -> Suppressions:
        """The operators' suppression windows."""
        return self.desk.suppressions

    @property
    def analysis_wh(self) -> tuple[int, int]:
        """(width, height) of the analysis frames alert boxes are drawn in."""
        return (self._settings.analysis_width, self._settings.analysis_height)

    @property
    def data_dir(self) -> Path:
        """Where evidence, attachments and the spool live."""
        return self._settings.data_dir

    async def ready(self) -> dict[str, bool]:
        """Whether Redis answers."""
        assert self._redis is not None
        try:
            return {"redis": bool(await self._redis.ping())}
        except (RedisError, OSError):
            return {"redis": False}


def load_region_model(config: LoadedConfig) -> RegionModel | None:
    """The config's ONNX crop model, loaded once; raises `ModelLoadError` naming the file."""
    spec = config.hub.model
    if spec is None:
        return None
    path = Path(spec.path)
    if not path.is_absolute() and config.base_dir is not None:
        path = config.base_dir / path
    model = CropModel(
        ModelSpec(
            path,
            spec.input_size,
            tuple(spec.labels),
            backend=spec.backend,
            min_score=spec.min_score,
            softmax=spec.softmax,
        )
    )
    return RegionModel(model, tuple(spec.keep), spec.min_score)
