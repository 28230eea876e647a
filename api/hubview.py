"""The hub as the API sees it: a Protocol, so `api/` depends on no stage's internals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from riverwatch.types import Alert, CameraInfo, DecodeMode

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from alerts import Suppressions
    from alerts.feed import AlertFeed
    from alerts.tickets import TicketStore
    from ingest.sensors import SensorHub
    from riverwatch.ring import PacketRing


class UnknownCamera(KeyError):
    """No camera has this id."""


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

    def set_decode_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch a camera's decode mode while it runs; raises `UnknownCamera`."""
        ...

    async def recent_alerts(self, count: int) -> list[tuple[str, Alert]]:
        """The newest alerts in the ticket queue, newest first, with their stream ids."""
        ...

    async def ready(self) -> dict[str, bool]:
        """Readiness of each dependency (e.g. {"redis": True})."""
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
