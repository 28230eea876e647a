"""The ingest supervisor: one task per camera, one thread pool, one shared batch.

It owns the camera tasks (created in a TaskGroup, cancelled and awaited on `close`) and the
worker threads behind them. Each camera task contains its own failures, so the TaskGroup never
sees an escaped error that would cancel the other cameras.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from types import TracebackType

from ingest.camera import CameraSource, CameraSpec
from riverwatch.batch import FrameBatch
from riverwatch.ring import PacketRing
from riverwatch.secrets import Redactor
from riverwatch.settings import Settings
from riverwatch.types import CameraHealth, DecodeMode

log = logging.getLogger(__name__)


class IngestSupervisor:
    """Runs every camera; use as an async context manager.

    >>> async with IngestSupervisor(specs, settings, redactor) as ingest:   # doctest: +SKIP
    ...     ingest.batch.read_into(view)
    """

    def __init__(self, specs: Sequence[CameraSpec], settings: Settings, redactor: Redactor):
        self.batch = FrameBatch([s.camera_id for s in specs], settings.analysis_shape_hw)
        # Every camera blocks one thread in demux; extra room for sessions still winding down.
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, 2 * len(specs)), thread_name_prefix="ingest"
        )
        self._sources = {
            s.camera_id: CameraSource(
                s,
                self.batch,
                PacketRing(settings.ring_seconds, settings.ring_max_bytes),
                settings,
                self._executor,
                redactor,
            )
            for s in specs
        }
        self._stack = AsyncExitStack()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> IngestSupervisor:
        self._group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._tasks = [
            self._group.create_task(source.run(), name=f"camera:{camera_id}")
            for camera_id, source in self._sources.items()
        ]
        log.info("ingest: started %d cameras", len(self._sources))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel every camera task, wait for them, then release the worker threads."""
        if self._group is not None:
            for task in self._tasks:
                task.cancel()
            await self._stack.aclose()
            self._group = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("ingest: stopped")

    def camera_ids(self) -> list[str]:
        """Ids in batch-row order."""
        return list(self._sources)

    def health(self) -> list[CameraHealth]:
        """Health of every camera, in batch-row order."""
        return [s.health() for s in self._sources.values()]

    def camera_health(self, camera_id: str) -> CameraHealth:
        """Health of one camera; KeyError if unknown."""
        return self._sources[camera_id].health()

    def set_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch one camera's decode mode while it runs; KeyError if unknown."""
        self._sources[camera_id].set_mode(mode)

    def ring(self, camera_id: str) -> PacketRing:
        """The camera's packet ring."""
        return self._sources[camera_id].ring
