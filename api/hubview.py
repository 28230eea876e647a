"""The hub as the API sees it: a Protocol, so `api/` depends on no stage's internals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from riverwatch.looplag import LagFigures
from riverwatch.supervise import TaskState, TaskStatus
from riverwatch.types import Alert, CameraInfo, DecodeMode

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from alerts import Suppressions
    from alerts.evidence import RecorderStats, UploadStats
    from alerts.feed import AlertFeed
    from alerts.notify import TargetStats
    from alerts.notify.push import PushService
    from alerts.policy import PolicyStats
    from alerts.profiles import Profiles
    from alerts.tickets import TicketStore
    from detectors.site_verifier import SiteVerifiers
    from ingest.probe import ProbeReport
    from ingest.sensors import SensorHub, SensorStats
    from riverwatch.config import HubConfig
    from riverwatch.config_edit import Applied, CameraChange, ConfigVersion
    from riverwatch.ring import PacketRing
    from riverwatch.share import ShareLinks


class UnknownCamera(KeyError):
    """No camera has this id."""


@dataclass(frozen=True, slots=True)
class LineCount:
    """Crossings of one tripwire in one direction since the hub started."""

    camera_id: str
    line_id: str
    direction: str  # a_to_b | b_to_a
    count: int


@dataclass(frozen=True, slots=True)
class DetectFigures:
    """The detection loop: ticks, failed ticks, and how long ago one last completed."""

    ticks: int  # completed ticks that analysed frames
    last_tick_ms: float  # duration of the last of them
    tick_errors: int  # ticks that raised (each was skipped)
    errors_in_a_row: int
    last_tick_age_s: float | None  # None before the first completed tick
    last_error: str | None  # `Type: message`, no URL
    crossings: tuple[LineCount, ...] = ()  # every tripwire crossed so far, by direction


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the hub does its job: one check per dependency or part, the reasons it does not,
    the detection loop and every supervised task."""

    checks: dict[str, bool]
    reasons: tuple[str, ...]
    detect: DetectFigures
    tasks: tuple[TaskStatus, ...]

    @property
    def ready(self) -> bool:
        """Every check holds."""
        return all(self.checks.values())


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """The alert path from the spool to the ticket store."""

    spooled: int
    published: int
    duplicates: int
    publish_failures: int
    dropped: int
    pending: int
    durable: bool
    spool_bytes: int
    length: int | None  # XLEN of the stream; None when Redis did not answer in time
    consumed: int
    consume_failures: int
    reclaimed: int
    dead_lettered: int
    tickets_applied: int
    tickets_duplicates: int


@dataclass(frozen=True, slots=True)
class ClusterHub:
    """A live hub as its heartbeat describes it."""

    hub_id: str
    capacity: int | None
    cameras: int
    api: str | None


@dataclass(frozen=True, slots=True)
class ClusterFigures:
    """This hub's view of the cluster (`hub/cluster`): the live hubs, who holds each camera
    (hub id and fencing epoch, None when nobody does), and this hub's own counters."""

    hub_id: str
    hubs: tuple[ClusterHub, ...]
    owners: dict[str, tuple[str, int] | None]
    held: int
    round_failures: int
    fences: int
    handovers: int
    refused: int  # alerts refused where tickets are written: a stale owner's openings
    gone: dict[str, float] = field(default_factory=dict)  # hub id -> when it stopped beating


@dataclass(frozen=True, slots=True)
class HubFigures:
    """Every counter the hub's parts keep, read at one moment (for `/metrics`)."""

    detect: DetectFigures
    tasks: tuple[TaskStatus, ...]
    queue: QueueFigures
    evidence: RecorderStats
    notify: dict[str, TargetStats]
    sensors: SensorStats
    loop: LagFigures  # how late the event loop runs (`riverwatch.looplag`)
    cluster: ClusterFigures | None = None  # None: a hub on its own
    uploads: UploadStats | None = None  # None: no shared evidence bucket
    incidents: PolicyStats | None = None  # the alert policy's counters


def task_problems(tasks: tuple[TaskStatus, ...]) -> list[str]:
    """A reason for each task that keeps crashing."""
    return [
        f"task {t.name}: crashed {t.crashes_in_a_row} times in a row ({t.last_error})"
        for t in tasks
        if t.state is TaskState.FAILED
    ]


class HubView(Protocol):
    """Read and steer a running hub."""

    def cameras(self) -> list[CameraInfo]:
        """Every camera, in config order."""
        ...

    def camera(self, camera_id: str) -> CameraInfo:
        """One camera; raises `UnknownCamera`."""
        ...

    def ring(self, camera_id: str) -> PacketRing:
        """The camera's packet ring (live view, snapshots); raises `UnknownCamera`."""
        ...

    def main_ring(self, camera_id: str) -> PacketRing | None:
        """The ring of the camera's main stream while it is recorded (the analysed stream is
        then its sub-stream), else None; raises `UnknownCamera`."""
        ...

    def set_decode_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch a camera's decode mode while it runs; raises `UnknownCamera`."""
        ...

    def reconnect(self, camera_id: str) -> None:
        """Close the camera's sessions and open them again; raises `UnknownCamera`."""
        ...

    async def recent_alerts(self, count: int) -> list[tuple[str, Alert]]:
        """The newest alerts in the ticket queue, newest first, with their stream ids."""
        ...

    async def ready(self) -> dict[str, bool]:
        """Readiness of each dependency (e.g. {"redis": True})."""
        ...

    async def readiness(self) -> Readiness:
        """Dependencies, the detection loop and the supervised tasks, with reasons."""
        ...

    def shared_redis(self) -> Redis | None:
        """In a cluster, the Redis every hub shares (login limits count there); else None."""
        ...

    def elsewhere(self, camera_id: str) -> str | None:
        """In a cluster, the API of the other hub that runs the camera now; else None."""
        ...

    async def cluster_figures(self) -> ClusterFigures | None:
        """The cluster as this hub sees it; None for a hub on its own."""
        ...

    async def figures(self) -> HubFigures:
        """The parts' counters for metrics (bounded: a slow Redis leaves the queue length out)."""
        ...

    def tickets(self) -> TicketStore:
        """The closed loop's ticket store."""
        ...

    @property
    def engine(self) -> AsyncEngine:
        """The SQL engine of tickets and sensor readings (users and audit add tables)."""
        ...

    @property
    def feed(self) -> AlertFeed:
        """Live alert messages for pages (server-sent events)."""
        ...

    def sensors(self) -> SensorHub:
        """Sensor readings and their rules."""
        ...

    def suppressions(self) -> Suppressions:
        """The operators' suppression windows."""
        ...

    @property
    def analysis_wh(self) -> tuple[int, int]:
        """(width, height) of the analysis frames alert boxes are drawn in."""
        ...

    @property
    def data_dir(self) -> Path:
        """Where evidence and attachments live (paths in tickets are relative to it)."""
        ...

    async def stored_file(self, relative: str) -> Path | None:
        """A file a ticket names (evidence or a field photo, `relative` to `data_dir`): on
        this hub's disk, or fetched from the shared bucket when another hub wrote it; None when
        there is none or the path would leave `data_dir`. `ObjectStoreError` when the bucket
        cannot answer."""
        ...

    def group_ids(self) -> set[str]:
        """Every camera group: declared, or named by a camera."""
        ...

    def push(self) -> PushService:
        """Web Push: the site's key, the subscriptions, sending (`alerts/notify/push.py`)."""
        ...

    def profiles(self) -> Profiles:
        """The profiles and their hand switches."""
        ...

    async def switch_profile(self, profile_id: str, on: bool | None) -> None:
        """Switch a profile by hand (None: back to its schedule), for every hub (Redis)."""
        ...

    async def probe(self, url: str) -> ProbeReport:
        """What a stream sends (codec, size, GOP, a first picture), without its credentials."""
        ...

    async def probe_camera(self, camera_id: str) -> ProbeReport:
        """`probe` on a configured camera's stored URL; raises UnknownCamera."""
        ...

    def config_snapshot(self) -> tuple[ConfigVersion, HubConfig]:
        """The configuration version this hub runs, and its settings."""
        ...

    def config_export(self) -> str:
        """The running version's YAML, secret values masked, placeholders kept."""
        ...

    async def config_history(self, limit: int) -> list[ConfigVersion]:
        """The newest stored configuration versions first (text left out)."""
        ...

    async def edit_config(self, change: CameraChange, author: str) -> tuple[int, Applied]:
        """Store an admin's change as a new version and run it; the version number and what
        changed here (raises `EditConflict`, `UnknownTarget`, `EditRefused`, `NoRoom`)."""
        ...

    def share_links(self) -> ShareLinks:
        """The site's signed evidence links (chat messages carry them)."""
        ...

    def site_verifiers(self) -> SiteVerifiers:
        """The site's verifier versions (retrained from labels, swapped into the running hub)."""
        ...
