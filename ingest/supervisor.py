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
from riverwatch.types import CameraHealth, DecodeMode, MainRing

log = logging.getLogger(__name__)


class IngestSupervisor:
    """Runs every camera; use as an async context manager.

    >>> async with IngestSupervisor(specs, settings, redactor) as ingest:   # doctest: +SKIP
    ...     ingest.batch.read_into(view)
    """

    def __init__(
        self,
        specs: Sequence[CameraSpec],
        settings: Settings,
        redactor: Redactor,
        *,
        start_all: bool = True,
        spare: int = 0,
    ):
        self.batch = FrameBatch([s.camera_id for s in specs], settings.analysis_shape_hw, spare)
        self._settings = settings
        self._redactor = redactor
        # Every stream blocks one thread in demux; extra room for sessions still winding down
        # (threads are made as they are needed: the room for spare rows costs nothing idle).
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, 4 * self.batch.rows), thread_name_prefix="ingest"
        )
        self._sources: dict[str, CameraSource] = {}
        self._mains: dict[str, MainStream] = {}
        for spec in specs:
            self._build(spec)
        self._stack = AsyncExitStack()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._start_all = start_all  # False: each camera waits for `start_camera` (a cluster)

    async def __aenter__(self) -> IngestSupervisor:
        self._group = await self._stack.enter_async_context(asyncio.TaskGroup())
        if not self._start_all:
            for source in self._sources.values():
                source.park("not started: waiting for this hub to own it")
            return self
        for camera_id in self._sources:
            self.start_camera(camera_id)
        log.info(
            "ingest: started %d cameras (%d with a main stream kept for evidence)",
            len(self._sources),
            len(self._mains),
        )
        return self

    def _source(self, spec: CameraSpec, batch: FrameBatch | None, audio: bool) -> CameraSource:
        settings = self._settings
        ring = PacketRing(settings.ring_seconds, settings.ring_max_bytes)
        if audio:  # the stream evidence comes from keeps its audio for the clips
            ring.audio = PacketRing(settings.ring_seconds, settings.ring_max_bytes // 8)
        return CameraSource(spec, batch, ring, settings, self._executor, self._redactor)

    def _build(self, spec: CameraSpec) -> None:
        """The camera's source on its batch row, and its main stream's recorder."""
        main = spec.main is not None and spec.main.ring is not MainRing.NEVER
        self._sources[spec.camera_id] = self._source(spec, self.batch, not main)
        self._mains.pop(spec.camera_id, None)  # new settings may have none
        if main:
            recorder = self._source(_recording(spec), None, True)
            self._mains[spec.camera_id] = MainStream(recorder, spec)

    def add_camera(self, spec: CameraSpec, start: bool = True) -> None:
        """A camera added while running, on a free batch row (ValueError when none is left, or
        when the id runs already); started unless `start` is False (a cluster's hub waits
        until it owns it)."""
        if spec.camera_id in self._sources:
            raise ValueError(f"camera {spec.camera_id!r} runs already")
        self.batch.claim(spec.camera_id)
        self._build(spec)
        if start:
            self.start_camera(spec.camera_id)
        else:
            self._sources[spec.camera_id].park("not started: waiting for this hub to own it")

    async def remove_camera(self, camera_id: str) -> None:
        """Stop a camera and forget it; its batch row is free for another."""
        await self.stop_camera(camera_id, "removed")
        self._sources.pop(camera_id, None)
        self._mains.pop(camera_id, None)
        self.batch.release(camera_id)

    async def replace_camera(self, spec: CameraSpec) -> None:
        """Run a camera under new stream settings: its sessions close and open again on the
        same batch row (started again only if it ran)."""
        running = self.running(spec.camera_id)
        await self.stop_camera(spec.camera_id, "restarting with new settings")
        self._build(spec)
        if running:
            self.start_camera(spec.camera_id)
        else:
            self._sources[spec.camera_id].park("not started: waiting for this hub to own it")

    def start_camera(self, camera_id: str) -> bool:
        """Run the camera (and its `always` main stream); False if it runs already. KeyError
        if unknown."""
        source = self._sources[camera_id]
        if self._group is None or camera_id in self._tasks:
            return False
        self._tasks[camera_id] = self._group.create_task(source.run(), name=f"camera:{camera_id}")
        main = self._mains.get(camera_id)
        if main is not None and main.ring_policy is MainRing.ALWAYS:
            main.start(self._group)
        return True

    async def stop_camera(self, camera_id: str, reason: str = "stopped") -> bool:
        """Stop the camera and its main stream, and wait until its task has ended; False if it
        was not running. Its batch row is left as it was: nothing fresh comes into it."""
        task = self._tasks.pop(camera_id, None)
        if task is None:
            return False
        main = self._mains.get(camera_id)
        if main is not None:
            main.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._sources[camera_id].park(reason)
        return True

    def running(self, camera_id: str) -> bool:
        """Whether the camera's ingest runs in this process."""
        return camera_id in self._tasks

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
            for task in self._tasks.values():
                task.cancel()
            for main in self._mains.values():
                main.stop()
            await self._stack.aclose()
            self._group = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("ingest: stopped")

    def camera_ids(self) -> list[str]:
        """Ids of the cameras it knows, in the order they were added."""
        return list(self._sources)

    def camera_at(self, slot: int) -> str | None:
        """The camera on a batch row, or None for a free row."""
        return self.batch.camera_ids[slot]

    def health(self) -> list[CameraHealth]:
        """Health of every camera, in batch-row order."""
        return [s.health() for s in self._sources.values()]

    def camera_health(self, camera_id: str) -> CameraHealth:
        """Health of one camera; KeyError if unknown."""
        return self._sources[camera_id].health()

    def reconnect(self, camera_id: str) -> None:
        """Close the camera's session and open a new one (its main stream's too, if running);
        KeyError if unknown."""
        self._sources[camera_id].reconnect()
        main = self._mains.get(camera_id)
        if main is not None and main.running:
            main.recorder.reconnect()

    def set_mode(self, camera_id: str, mode: DecodeMode) -> None:
        """Switch one camera's decode mode while it runs; KeyError if unknown."""
        self._sources[camera_id].set_mode(mode)

    def ring(self, camera_id: str) -> PacketRing:
        """The ring of the stream the camera's analysis reads (its sub-stream if it has one)."""
        return self._sources[camera_id].ring

    def main_stream(self, camera_id: str) -> MainStream | None:
        """The camera's main stream kept for evidence, or None (no sub-stream, or `never`)."""
        return self._mains.get(camera_id)

    def open_main(self, camera_id: str) -> bool:
        """Start recording the camera's main stream if it is not running (`on_alert`)."""
        main = self._mains.get(camera_id)
        if main is None or self._group is None or camera_id not in self._tasks:
            return False  # no main, or the camera is not run here (another hub's)
        return main.start(self._group)

    def alert_mains_open(self) -> int:
        """How many `on_alert` main streams run now."""
        return sum(m.ring_policy is MainRing.ON_ALERT and m.running for m in self._mains.values())

    def close_main(self, camera_id: str) -> bool:
        """Stop an `on_alert` main stream; an `always` one keeps running."""
        main = self._mains.get(camera_id)
        return main is not None and main.ring_policy is MainRing.ON_ALERT and main.stop()


class MainStream:
    """A camera's main stream: a recorder into its own ring, running always or on demand."""

    def __init__(self, recorder: CameraSource, spec: CameraSpec) -> None:
        assert spec.main is not None
        self.recorder = recorder
        self.ring_policy = spec.main.ring
        self._task: asyncio.Task[None] | None = None

    @property
    def ring(self) -> PacketRing:
        """The main stream's packets."""
        return self.recorder.ring

    @property
    def running(self) -> bool:
        """Whether it is connected or trying to be."""
        return self._task is not None and not self._task.done()

    def start(self, group: asyncio.TaskGroup) -> bool:
        """Run the recorder in `group` unless it runs; True when started now."""
        if self.running:
            return False
        name = f"camera-main:{self.recorder.camera_id}"
        self._task = group.create_task(self.recorder.run(), name=name)
        return True

    def stop(self) -> bool:
        """Cancel the recorder (it closes its session); True when it was running."""
        if not self.running:
            return False
        assert self._task is not None
        self._task.cancel()
        return True


def _recording(spec: CameraSpec) -> CameraSpec:
    """The spec a main stream's recorder runs under: same camera id, the main URL."""
    assert spec.main is not None
    return CameraSpec(spec.camera_id, spec.main.url, spec.main.display_url, spec.decode_mode, 0.0)
