"""The hub as the API sees it: a Protocol, so `api/` depends on no stage's internals."""

from __future__ import annotations

from typing import Protocol

from riverwatch.types import Alert, CameraInfo, DecodeMode


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

    def set_decode_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch a camera's decode mode while it runs; raises `UnknownCamera`."""
        ...

    async def recent_alerts(self, count: int) -> list[tuple[str, Alert]]:
        """The newest alerts in the ticket queue, newest first, with their stream ids."""
        ...

    async def ready(self) -> dict[str, bool]:
        """Readiness of each dependency (e.g. {"redis": True})."""
        ...
