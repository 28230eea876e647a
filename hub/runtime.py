"""The composition root: wires ingest -> detectors -> incidents and exposes a `HubView`.

Start-up and shutdown are phased, as uvicorn's server does: Redis first, then the incident
desk (tickets, queue, notifications, evidence: `hub.incidents`), then the cameras, then
the detection loop; on the way out, stop the detection loop and close its open incidents,
stop the cameras, let the desk finish evidence and drain the spool within budgets, close Redis.

Nothing fails in silence. Every long-lived task of the hub and its desk is started through one
`Supervisor` (restarted with backoff when it crashes, counted, shown in readiness); each
detection tick has its own error boundary (`hub.ticks`): a tick that raises is logged with the
cameras it held and skipped, and repeated failures or a stuck step make `/readyz` answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts import EmbeddedRedis, QueueUnavailable, Suppressions
from alerts.feed import AlertFeed
from alerts.notify.push import PushService
from alerts.profiles import Profiles
from alerts.tickets import TicketStore
from api.hubview import (
    ClusterFigures,
    DetectFigures,
    HubFigures,
    LineCount,
    QueueFigures,
    Readiness,
    UnknownCamera,
    task_problems,
)
from detectors import (
    FREE_SLOT,
    CameraSetup,
    CropModel,
    DetectionCore,
    ModelLoadError,
    ModelSpec,
    RegionModel,
    StepResult,
    Verifier,
)
from detectors.background import BackgroundParams
from detectors.site_verifier import SiteVerifiers
from detectors.verifier import StaleVerifier, SwappableVerifier
from hub.cluster.member import ClusterMember
from hub.config_store import ConfigStore, Superseded, sha256
from hub.gop import gop_warnings
from hub.incidents import IncidentDesk, MainOpening
from hub.live_config import camera_setup, plan
from hub.probing import probe_url
from hub.ticks import TickHealth, TickPolicy
from ingest import CameraSpec, IngestSupervisor, MainStreamSpec
from ingest.probe import ProbeReport
from ingest.sensors import SensorHub
from riverwatch.batch import BatchView
from riverwatch.config import ConfigError, HubConfig, LoadedConfig, ResolvedCamera, parse_config
from riverwatch.config_edit import (
    Applied,
    CameraChange,
    ConfigVersion,
    EditRefused,
    NoRoom,
    Stamp,
    apply_change,
    cameras_of,
    document,
    dump,
    field_problems,
    group_problems,
    restamp,
)
from riverwatch.looplag import LoopLag
from riverwatch.ring import PacketRing
from riverwatch.settings import Settings
from riverwatch.share import ShareLinks
from riverwatch.supervise import RestartPolicy, Supervisor
from riverwatch.types import (
    Alert,
    CameraInfo,
    CameraState,
    DecodeMode,
    MainRing,
    MainStreamInfo,
)

log = logging.getLogger(__name__)

SITE_VERIFIER = "site"  # `verifier: site`: the data dir's active version, swapped live
QUEUE_PROBE_TIMEOUT_S = 2.0  # a scrape must not hang on Redis
VERIFIER_FOLLOW_S = 10.0  # how soon a version activated on another hub runs here
CONFIG_FOLLOW_S = 2.0  # how soon a configuration version made on another hub runs here
_SLOTS_LOGGED = 20  # camera ids named in a failed tick's log line


class CoreFactory(Protocol):
    """Makes the detection core (`DetectionCore` itself; tests pass a subclass)."""

    def __call__(
        self,
        cameras: Sequence[CameraSetup],
        shape_hw: tuple[int, int],
        full_rate_budget: int = ...,
        *,
        background: BackgroundParams | None = ...,
        model: RegionModel | Verifier | None = ...,
    ) -> DetectionCore: ...


class Hub:
    """A running hub; `async with Hub(settings, config) as hub:`.

    `core_factory`, `tick_policy` and `restart_policy` are seams for tests (a core that
    raises, short bounds); the defaults are the production ones.
    """

    def __init__(
        self,
        settings: Settings,
        config: LoadedConfig,
        *,
        core_factory: CoreFactory = DetectionCore,
        tick_policy: TickPolicy | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._config = config
        self._by_id = {c.id: c for c in config.cameras}
        self._stack = AsyncExitStack()
        self._redis: Redis | None = None
        self._desk: IncidentDesk | None = None
        self._ingest: IngestSupervisor | None = None
        self._open_incidents: dict[str, int] = {}  # per camera, for on_alert main streams
        self._mains_refused: dict[str, int] = {}  # openings over `alert_mains_max`, per camera
        self._detect_task: asyncio.Task[None] | None = None
        self._region_model: RegionModel | Verifier | None = None
        self._site_verifiers = SiteVerifiers(settings.files_root / "verifier")
        self._core_factory = core_factory
        self._tick_policy = tick_policy or TickPolicy()
        self._ticks = TickHealth(self._tick_policy)
        self._supervisor = Supervisor(restart_policy)
        self._loop_lag = LoopLag()
        self._crossings: tuple[LineCount, ...] = ()
        self._cluster: ClusterMember | None = None  # with RIVERWATCH_CLUSTER
        self._core: DetectionCore | None = None
        self._store: ConfigStore | None = None
        self._running = ConfigVersion(0, config.text, "", "", 0.0, None, {})  # the one run here
        self._config_lock = asyncio.Lock()  # one version applied at a time
        self._config_problem: str | None = None  # a stored version this hub cannot run

    async def __aenter__(self) -> Hub:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        settings = self._settings
        if self._config.hub.verifier == SITE_VERIFIER:
            if self._config.hub.model is not None:
                raise ModelLoadError("the config names both a model and a verifier; choose one")
            self._site_verifiers = await asyncio.to_thread(
                site_verifiers, settings.files_root / "verifier"
            )
            self._region_model = self._site_verifiers.holder
            self._supervisor.spawn("verifier:follow", self._follow_site_verifier)
        else:
            self._region_model = await asyncio.to_thread(load_region_model, self._config)
        self._redis = await self._connect_redis()
        self._stack.push_async_callback(self._redis.aclose)
        # Last out: whatever task a part left running is cancelled and awaited here.
        self._stack.push_async_callback(self._supervisor.close)
        self._desk = await self._stack.enter_async_context(
            IncidentDesk(
                settings,
                self._config,
                self._redis,
                self._evidence_ring_of,
                self._supervisor,
                self._switch_main,
                owner=self if settings.cluster else None,
            )
        )
        self._store = ConfigStore(self._desk.engine)
        await self._adopt_stored_config()
        specs = [camera_spec(c) for c in self._config.cameras]
        self._ingest = await self._stack.enter_async_context(
            IngestSupervisor(
                specs,
                settings,
                self._config.redactor,
                start_all=not settings.cluster,
                spare=spare_rows(len(specs), settings.spare_cameras),
            )
        )
        if settings.cluster:
            ids = [c.id for c in self._config.cameras]
            self._cluster = ClusterMember(
                settings, self._redis, ids, self._ingest, self.desk.policy
            )
            self._cluster.start(self._supervisor)
            self._stack.push_async_callback(self._cluster.leave)  # before ingest closes
        self._supervisor.spawn("config:follow", self._follow_config)
        self._ticks = TickHealth(self._tick_policy)  # staleness counts from here
        self._detect_task = self._supervisor.spawn("hub:detect", self._detect_forever)
        self._supervisor.spawn("hub:loop-lag", self._loop_lag.run)
        self._stack.push_async_callback(self._stop_detecting)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        log.info("hub: stopped")

    def holding(self, camera_id: str) -> tuple[str, int] | None:
        """(hub id, epoch) while this hub holds the camera in the cluster, else None."""
        return None if self._cluster is None else self._cluster.holding(camera_id)

    def shared_redis(self) -> Redis | None:
        """In a cluster, the Redis the hubs share; None for a hub on its own."""
        return self._redis if self._settings.cluster else None

    def elsewhere(self, camera_id: str) -> str | None:
        """The API of the other hub that runs the camera now, or None (it runs here, nobody
        runs it, or there is no cluster): live view of it is passed there."""
        return None if self._cluster is None else self._cluster.elsewhere(camera_id)

    async def stale(self, alert: Alert) -> bool:
        """Whether the alert opens an incident its hub no longer had the right to (the
        cluster's fence; always False on a hub on its own)."""
        return self._cluster is not None and await self._cluster.stale(alert)

    async def _connect_redis(self) -> Redis:
        settings = self._settings
        redis = await self._redis_client()
        try:
            await redis.ping()
        except (RedisError, OSError) as exc:
            if settings.own_redis:  # our own Redis did not come up: nothing to wait for
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

    async def _redis_client(self) -> Redis:
        """The hub's Redis: the embedded one, the URL's, or the master Sentinel names (the
        client asks the sentinels again after every connection error, so it follows a
        failover)."""
        settings = self._settings
        timeouts: dict[str, Any] = {
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
        }
        if settings.redis_sentinels is not None:
            password = settings.redis_password
            sentinel = Sentinel(settings.sentinel_addresses, **timeouts)
            master: Redis = sentinel.master_for(
                settings.redis_sentinel_master,
                password=None if password is None else password.get_secret_value(),
                **timeouts,
            )
            return master
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.data_dir)
            await asyncio.to_thread(embedded.start)
            self._stack.callback(embedded.stop)
            url = embedded.url
        else:
            url = settings.redis_url.get_secret_value()
        return Redis.from_url(url, health_check_interval=30, **timeouts)

    async def _stop_detecting(self) -> None:
        if self._detect_task is not None:
            # The supervisor keeps every error of the loop; only the cancellation ends it.
            self._detect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._detect_task
        if self._desk is not None:
            self._desk.close_incidents()

    def _ring_of(self, camera_id: str) -> PacketRing | None:
        if self._ingest is None or camera_id not in self._by_id:
            return None
        return self._ingest.ring(camera_id)

    def _evidence_ring_of(self, camera_id: str) -> PacketRing | None:
        """The main stream's ring when it is streaming and holds a keyframe, else the ring
        analysis reads (the sub-stream's, or the only stream's)."""
        main = self._ingest.main_stream(camera_id) if self._ingest is not None else None
        if main is not None and main.running and main.recorder.state is CameraState.STREAMING:
            if main.ring.newest_keyframe()[1]:
                return main.ring
        return self._ring_of(camera_id)

    def _switch_main(self, camera_id: str, on: bool) -> MainOpening:
        """An `on_alert` main stream opens with a camera's first open incident and closes with
        its last, at most `alert_mains_max` of them at once: the ring of a main stream this call
        opened, or why none was opened."""
        ingest = self._ingest
        if ingest is None:
            return MainOpening()
        open_now = self._open_incidents.get(camera_id, 0) + (1 if on else -1)
        self._open_incidents[camera_id] = max(0, open_now)
        main = ingest.main_stream(camera_id)
        if not on or main is None or main.ring_policy is not MainRing.ON_ALERT or main.running:
            if not on and open_now <= 0 and ingest.close_main(camera_id):
                log.info("camera %s: main stream closed with its last incident", camera_id)
            return MainOpening()
        limit = self._settings.alert_mains_max
        if ingest.alert_mains_open() >= limit:
            self._mains_refused[camera_id] = self._mains_refused.get(camera_id, 0) + 1
            why = f"{limit} on_alert main streams were open already (RIVERWATCH_ALERT_MAINS_MAX)"
            log.warning("camera %s: main stream not opened: %s", camera_id, why)
            return MainOpening(note=f"evidence from the sub-stream: {why}")
        if not ingest.open_main(camera_id):
            return MainOpening()
        log.info("camera %s: main stream opened for an incident", camera_id)
        return MainOpening(ring=main.ring)

    async def _detect_forever(self) -> None:
        assert self._ingest is not None
        self._core = core = self._build_core()
        view = BatchView.empty(self._ingest.batch.rows, self._settings.analysis_shape_hw)
        while True:
            await asyncio.sleep(self._settings.tick_interval_s)
            try:
                await self._tick(core, view)
            except Exception as exc:  # the tick's boundary: log, count, skip this tick
                self._tick_failed(exc, view)

    def _build_core(self) -> DetectionCore:
        """The detection core for every batch row: its camera's setup, or a free row."""
        assert self._ingest is not None
        by_id = {c.id: camera_setup(c) for c in self._config.cameras}
        rows = [by_id[i] if i is not None else FREE_SLOT for i in self._ingest.batch.camera_ids]
        return self._core_factory(
            rows,
            self._settings.analysis_shape_hw,
            self._settings.full_rate_budget,
            background=BackgroundParams(learn_s=self._settings.learn_s),
            model=self._region_model,
        )

    async def _tick(self, core: DetectionCore, view: BatchView) -> None:
        assert self._ingest is not None
        started = time.perf_counter()
        self._ingest.batch.read_into(view)
        now = time.time()
        # Off the event loop: the API, event streams and alerts keep moving meanwhile
        # (nothing else touches the core or this view).
        result = await asyncio.to_thread(core.step, view, now)
        self._apply(result, now)
        if result.events:  # counts change only with a crossing event; the core is idle here
            self._crossings = line_counts(core)
        self._ticks.completed(bool(result.observed), (time.perf_counter() - started) * 1000)

    def _tick_failed(self, exc: Exception, view: BatchView) -> None:
        in_a_row = self._ticks.failed(exc)
        ids = self._ingest.batch.camera_ids if self._ingest is not None else []
        fresh = [i for i in (ids[s] for s in view.fresh_n.nonzero()[0] if s < len(ids)) if i]
        shown = ", ".join(fresh[:_SLOTS_LOGGED]) + (" ..." if len(fresh) > _SLOTS_LOGGED else "")
        # The traceback once per run of failures: a core that keeps raising would flood the log.
        log.error(
            "detect: tick failed (%d in a row) on %d camera(s) [%s]; skipped: %s",
            in_a_row,
            len(fresh),
            shown,
            self._ticks.figures().last_error,
            exc_info=exc if in_a_row == 1 else None,
        )

    def _apply(self, result: StepResult, now: float) -> None:
        """Hand events to the incident desk and switch decode modes as the core asks."""
        assert self._ingest is not None and self._desk is not None
        events = result.events
        if self._cluster is not None:  # a camera handed over a moment ago is not ours
            events = [e for e in events if self._cluster.owns(e.camera_id)]
        self._desk.take(events, now)
        for mode, slots in (
            (DecodeMode.FULL, result.modes.promote_p),
            (DecodeMode.KEYFRAMES, result.modes.demote_d),
        ):
            for slot in slots:
                camera_id = self._ingest.camera_at(int(slot))
                if camera_id is not None:
                    self._ingest.set_mode(camera_id, mode)

    # --- configuration versions ---------------------------------------------------------

    async def _adopt_stored_config(self) -> None:
        """What to run: the file's config when the file changed since it was last imported
        (imported as a new version), else the newest stored version (changes made in the
        browser survive a restart). Before ingest starts."""
        assert self._store is not None
        file_sha = sha256(self._config.text)
        while True:
            latest = await self._store.latest()
            if latest is not None and latest.file_sha256 == file_sha:
                break
            doc = document(latest.text) if latest is not None else None
            number = (latest.number if latest is not None else 0) + 1
            author = f"file {Path(self._config.source).name}"
            stamps = restamp(
                doc, document(self._config.text), latest.stamps if latest else {},
                Stamp(number, author, time.time()),
            )  # fmt: skip
            try:
                await self._store.append(
                    latest, self._config.text, author, stamps, "imported at start", file_sha
                )
            except Superseded:  # another hub imported it (or changed it) this moment
                continue
        stored = await self._store.latest()
        assert stored is not None
        if stored.text != self._config.text:
            try:
                self._config = self._parse(stored.text, f"config version {stored.number}")
            except ConfigError as exc:  # the follower tries it again, and /readyz says why
                self._config_problem = f"config version {stored.number} cannot run here: {exc}"
                log.error("config: %s; running the file's", self._config_problem)
                return
            self._by_id = {c.id: c for c in self._config.cameras}
            self.desk.reconfigure(self._config)
            log.info("config: running version %d (changed since the file)", stored.number)
        self._running = stored

    def _parse(self, text: str, source: str) -> LoadedConfig:
        config = self._config
        return parse_config(
            text, source, config.env, self._settings.secrets_file, base_dir=config.base_dir
        )

    async def _follow_config(self) -> None:
        """Every few seconds, run the version another hub (or an admin there) made."""
        assert self._store is not None
        while True:
            await asyncio.sleep(CONFIG_FOLLOW_S)
            if await self._store.latest_number() == self._running.number:
                continue
            latest = await self._store.latest()
            if latest is None or latest.number == self._running.number:
                continue
            try:
                loaded = self._parse(latest.text, f"config version {latest.number}")
            except ConfigError as exc:
                problem = f"config version {latest.number} cannot run here: {exc}"
                if problem != self._config_problem:
                    log.error("config: %s", problem)
                self._config_problem = problem
                continue
            applied = await self._apply_config(loaded, latest)
            log.info("config: version %d by %s applied: %s", latest.number, latest.author, applied)

    async def _apply_config(self, new: LoadedConfig, version: ConfigVersion) -> Applied:
        """Run a new version: only the cameras that changed restart; zones swap in at the next
        tick (`hub.live_config`)."""
        async with self._config_lock:
            ingest, core = self._ingest, self._core
            assert ingest is not None
            applied = plan(self._config, new)
            by_id = {c.id: c for c in new.cameras}
            changes: dict[int, CameraSetup | None] = {}
            relearn: set[int] = set()
            for camera_id in applied.removed:
                changes[ingest.batch.slot(camera_id)] = None
                await ingest.remove_camera(camera_id)
            for camera_id in applied.added:
                ingest.add_camera(camera_spec(by_id[camera_id]), start=self._cluster is None)
            for camera_id in applied.restarted:
                await ingest.replace_camera(camera_spec(by_id[camera_id]))
                relearn.add(ingest.batch.slot(camera_id))
            for camera_id in (*applied.added, *applied.restarted, *applied.rezoned):
                changes[ingest.batch.slot(camera_id)] = camera_setup(by_id[camera_id])
            if core is not None:  # else the detection loop builds it from the new config
                core.reconfigure(changes, relearn)
            self._config.redactor.merge(new.redactor)  # the logs' redactor learns new secrets
            new.redactor.merge(self._config.redactor)
            self._config, self._by_id = new, by_id
            self.desk.reconfigure(new)
            if self._cluster is not None:
                self._cluster.set_cameras([c.id for c in new.cameras])
            self._running = version
            self._config_problem = None
            return applied

    def config_snapshot(self) -> tuple[ConfigVersion, HubConfig]:
        """The version this hub runs, and its settings (URLs unresolved)."""
        return self._running, self._config.hub

    def config_export(self) -> str:
        """The running version's YAML with every secret value it holds literally masked (a
        password typed into a URL); `${NAME}` placeholders stay."""
        return self._config.redactor.mask(self._running.text)

    async def config_history(self, limit: int) -> list[ConfigVersion]:
        """The newest stored versions first (their text left out)."""
        assert self._store is not None
        return await self._store.history(limit)

    async def edit_config(self, change: CameraChange, author: str) -> tuple[int, Applied]:
        """Make an admin's change a new version and run it: raises `EditConflict` (someone
        changed that camera since), `UnknownTarget`, `EditRefused` (the config rules' problems,
        each at its field) or `NoRoom`."""
        assert self._store is not None and self._ingest is not None
        while True:
            latest = await self._store.latest()
            assert latest is not None  # imported at start
            doc = document(latest.text)
            changed = apply_change(doc, latest.stamps, change)
            text = dump(changed)
            try:
                loaded = self._parse(text, f"the change to camera {change.camera_id!r}")
            except ConfigError as exc:
                if change.action == "groups":
                    raise EditRefused(
                        exc.problems, group_problems(exc.problems), "groups"
                    ) from None
                ids = [str(c.get("id")) for c in cameras_of(changed)]
                index = ids.index(change.camera_id) if change.camera_id in ids else -1
                fields = field_problems(exc.problems, change.camera_id, index)
                raise EditRefused(exc.problems, fields) from None
            rows = self._ingest.batch.rows
            if len(loaded.cameras) > rows:
                raise NoRoom(
                    f"this hub has room for {rows} cameras until it restarts "
                    f"(RIVERWATCH_SPARE_CAMERAS); restart it to add more"
                )
            stamp = Stamp(latest.number + 1, author, time.time())
            stamps = restamp(doc, changed, latest.stamps, stamp)
            note = f"{change.action} {change.camera_id or 'groups'}"
            try:
                version = await self._store.append(
                    latest, text, author, stamps, note, latest.file_sha256
                )
            except Superseded:
                continue  # made again from the version that won
            return version.number, await self._apply_config(loaded, version)

    async def probe_camera(self, camera_id: str) -> ProbeReport:
        """Test a configured camera's stream (its stored URL: the page never has it)."""
        cam = self._by_id.get(camera_id)
        if cam is None:
            raise UnknownCamera(camera_id)
        return await self.probe(cam.analysis_url.get_secret_value())

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
        health = self._ingest.camera_health(camera_id)
        hub_id = None
        if self._cluster is not None:  # in a cluster: as the hub that runs it sees it
            if self._cluster.owns(camera_id):
                hub_id = self._cluster.hub_id
            elif camera_id in self._cluster.remote:
                hub_id, health = self._cluster.remote[camera_id]
        return CameraInfo(
            cam.id,
            cam.config.name,
            cam.config.group,
            cam.sub_display_url or cam.display_url,
            health,
            self._main_info(cam),
            gop_warnings(health.gop_s, cam.config.analysis.decode_mode, cam.config.zones),
            hub_id,
        )

    def _main_info(self, cam: ResolvedCamera) -> MainStreamInfo | None:
        main = self._ingest.main_stream(cam.id) if self._ingest is not None else None
        if main is None:
            return None
        stream = main.ring.stream
        return MainStreamInfo(
            main.ring_policy,
            main.running,
            cam.display_url,
            main.recorder.health(),
            stream.width if stream is not None else None,
            stream.height if stream is not None else None,
            self._mains_refused.get(cam.id, 0),
        )

    def ring(self, camera_id: str) -> PacketRing:
        """The camera's packet ring (live view, snapshots); raises UnknownCamera."""
        ring = self._ring_of(camera_id)
        if ring is None:
            raise UnknownCamera(camera_id)
        return ring

    def main_ring(self, camera_id: str) -> PacketRing | None:
        """The main stream's ring while it runs and has a stream, else None."""
        self.ring(camera_id)  # UnknownCamera
        main = self._ingest.main_stream(camera_id) if self._ingest is not None else None
        if main is None or not main.running or main.ring.stream is None:
            return None
        return main.ring

    def reconnect(self, camera_id: str) -> None:
        """Close the camera's sessions and open them again."""
        assert self._ingest is not None
        try:
            self._ingest.reconnect(camera_id)
        except KeyError:
            raise UnknownCamera(camera_id) from None

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
        """Where evidence, attachments and labels live (`RIVERWATCH_FILES_DIR`, shared by a
        cluster's hubs, else the data dir)."""
        return self._settings.files_root

    async def stored_file(self, relative: str) -> Path | None:
        """A ticket's evidence file or field photo, from this hub's disk or the shared bucket."""
        base = self._settings.files_root.resolve()
        path = (base / relative).resolve()
        if not relative or not path.is_relative_to(base) or path == base:
            return None
        if path.is_file():
            return path
        uploads = self.desk.uploads
        if uploads is None:
            return None
        return await uploads.local_or_fetched(path.relative_to(base).as_posix())

    async def _follow_site_verifier(self) -> None:
        """Every few seconds, run the version another hub activated (a shared files root)."""
        while True:
            await asyncio.sleep(VERIFIER_FOLLOW_S)
            await asyncio.to_thread(self._site_verifiers.follow)

    def group_ids(self) -> set[str]:
        """Every camera group: declared, or named by a camera."""
        declared = {g.id for g in self._config.hub.groups}
        return declared | {c.config.group for c in self._config.cameras}

    def push(self) -> PushService:
        """Web Push of this hub."""
        push = self.desk.push
        assert push is not None, "the desk is not started"
        return push

    def profiles(self) -> Profiles:
        """The profiles and their hand switches."""
        return self.desk.profiles

    async def switch_profile(self, profile_id: str, on: bool | None) -> None:
        """Switch a profile by hand, recorded in Redis for every hub."""
        assert self._redis is not None
        await self.desk.profiles.store(self._redis, profile_id, on)

    async def probe(self, url: str) -> ProbeReport:
        """What a stream sends, measured in a worker thread with the hub's timeouts."""
        return await asyncio.to_thread(probe_url, url, self._settings)

    def share_links(self) -> ShareLinks:
        """The site's signed evidence links."""
        share = self.desk.share
        assert share is not None, "the desk is not started"
        return share

    def site_verifiers(self) -> SiteVerifiers:
        """The site's verifier versions (live-swapped when the config says `verifier: site`)."""
        return self._site_verifiers

    async def ready(self) -> dict[str, bool]:
        """Whether Redis answers."""
        assert self._redis is not None
        try:
            return {"redis": bool(await self._redis.ping())}
        except (RedisError, OSError, TimeoutError):
            return {"redis": False}

    async def readiness(self) -> Readiness:
        """Redis, the detection loop and every supervised task, with the reasons for a no."""
        checks = await self.ready()
        reasons = [] if checks["redis"] else ["redis: does not answer"]
        streaming = any(c.health.state is CameraState.STREAMING for c in self.cameras())
        detect_problem = self._ticks.problem(streaming)
        reasons += [detect_problem] if detect_problem is not None else []
        tasks = self._supervisor.snapshot()
        failing = task_problems(tasks)
        checks |= {"detect": detect_problem is None, "tasks": not failing}
        checks["config"] = self._config_problem is None  # a version this hub cannot run
        reasons += [self._config_problem] if self._config_problem is not None else []
        uploads = self.desk.uploads
        if uploads is not None:
            stuck = uploads.problem()
            checks["evidence_uploads"] = stuck is None
            reasons += [stuck] if stuck is not None else []
        return Readiness(checks, tuple(reasons + failing), self._ticks.figures(), tasks)

    async def figures(self) -> HubFigures:
        """Every part's counters; the stream length is probed with a bound."""
        desk = self.desk
        return HubFigures(
            detect=self.detect_figures(),
            tasks=self._supervisor.snapshot(),
            queue=self._queue_figures(await self._stream_length()),
            evidence=desk.recorder.stats(),
            notify=desk.notifier.stats(),
            sensors=desk.sensors.stats(),
            loop=self._loop_lag.figures(),
            cluster=await self.cluster_figures(),
            uploads=desk.uploads.stats() if desk.uploads is not None else None,
            incidents=dataclasses.replace(desk.policy.stats),
        )

    async def cluster_figures(self) -> ClusterFigures | None:
        """The cluster as this hub sees it; None for a hub on its own."""
        if self._cluster is None:
            return None
        return await self._cluster.figures(self._settings.redis_timeout_s)

    def detect_figures(self) -> DetectFigures:
        """The detection loop's ticks and failures, and the tripwires' crossing counts."""
        return dataclasses.replace(self._ticks.figures(), crossings=self._crossings)

    async def _stream_length(self) -> int | None:
        try:
            return await asyncio.wait_for(
                self.desk.publisher.stream_length(), QUEUE_PROBE_TIMEOUT_S
            )
        except (RedisError, OSError, TimeoutError) as exc:  # redis-py's own tree, and timeouts
            log.warning("metrics: alert stream length unavailable: %s", type(exc).__name__)
            return None

    def _queue_figures(self, length: int | None) -> QueueFigures:
        desk = self.desk
        pub, consumer, store = desk.publisher, desk.consumer, desk.tickets
        return QueueFigures(
            spooled=pub.spooled,
            published=pub.published,
            duplicates=pub.duplicates,
            publish_failures=pub.failures,
            dropped=pub.dropped,
            pending=pub.pending,
            durable=pub.durable,
            spool_bytes=_spool_bytes(desk.spool_path),
            length=length,
            consumed=consumer.handled if consumer is not None else 0,
            consume_failures=consumer.failures if consumer is not None else 0,
            reclaimed=consumer.claimed if consumer is not None else 0,
            dead_lettered=consumer.dead_lettered if consumer is not None else 0,
            tickets_applied=store.applied,
            tickets_duplicates=store.duplicates,
        )


def _spool_bytes(base: Path) -> int:
    """Size of the spool's database and write-ahead log (two stat calls: cheap on the loop)."""
    total = 0
    for path in (base, base.with_name(base.name + "-wal")):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def spare_rows(cameras: int, wanted: int | None = None) -> int:
    """Room for cameras added while running: `RIVERWATCH_SPARE_CAMERAS`, else a fifth more
    and at least 16 (a row costs about 0.4 MB at 320x180)."""
    return wanted if wanted is not None else max(16, cameras // 5)


def site_verifiers(root: Path) -> SiteVerifiers:
    """The site's verifier versions with a live holder loaded with the active one (empty, so
    every region is kept, until a first version is trained); raises `VerifierLoadError` when
    the active version's folder is broken."""
    site = SiteVerifiers(root, SwappableVerifier())
    try:
        active = site.load_active()
    except StaleVerifier as exc:
        # Labels outlive models: the site retrains from them; meanwhile every region is kept.
        site.problem = f"the active version is not run: {exc} (retrain on the label page)"
        log.warning("verifier: %s", site.problem)
        active = None
    if active is None and site.problem is None:
        log.warning("verifier: no site verifier is active yet under %s; every region is kept", root)
    site.swap_in(active, site.active_version() if active is not None else None)
    return site


def load_region_model(
    config: LoadedConfig, data_dir: Path | None = None
) -> RegionModel | Verifier | None:
    """The config's ONNX crop model or learnt verifier, loaded once (`verifier: site`: the
    active version under `data_dir`, in a swappable holder); raises `ModelLoadError` or
    `VerifierLoadError` naming the file."""
    spec = config.hub.model
    if config.hub.verifier is not None and spec is not None:
        raise ModelLoadError("the config names both a model and a verifier; choose one")
    if config.hub.verifier == SITE_VERIFIER:
        if data_dir is None:
            raise ModelLoadError("`verifier: site` needs the hub's data dir")
        return site_verifiers(data_dir / "verifier").holder  # data_dir: the files root
    if config.hub.verifier is not None:
        return Verifier.load(_relative(config, config.hub.verifier))
    if spec is None:
        return None
    path = _relative(config, spec.path)
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


def _relative(config: LoadedConfig, name: str) -> Path:
    path = Path(name)
    return config.base_dir / path if not path.is_absolute() and config.base_dir else path


def line_counts(core: DetectionCore) -> tuple[LineCount, ...]:
    """The core's tripwire counts as the API shows them, in a stable order."""
    return tuple(
        LineCount(camera, line, str(direction), count)
        for (camera, line, direction), count in sorted(core.lines.counts.items())
    )


def camera_spec(camera: ResolvedCamera) -> CameraSpec:
    """What ingest runs for a configured camera: analysis on the sub-stream when there is one,
    its main stream kept for evidence as `main_ring` says."""
    analysis = camera.config.analysis
    main = None
    if camera.sub_url is not None:
        main = MainStreamSpec(camera.url.get_secret_value, camera.display_url, camera.main_ring)
    return CameraSpec(
        camera.id,
        camera.analysis_url.get_secret_value,
        camera.sub_display_url or camera.display_url,
        analysis.decode_mode,
        analysis.detect_fps,
        main,
    )
