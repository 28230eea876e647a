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
    ):
        self.batch = FrameBatch([s.camera_id for s in specs], settings.analysis_shape_hw)
        mains = [s for s in specs if s.main is not None and s.main.ring is not MainRing.NEVER]
        # Every stream blocks one thread in demux; extra room for sessions still winding down.
        self._executor = ThreadPoolExecutor(
            max_workers=max(4, 2 * (len(specs) + len(mains))), thread_name_prefix="ingest"
        )

        def source(spec: CameraSpec, batch: FrameBatch | None, audio: bool) -> CameraSource:
            ring = PacketRing(settings.ring_seconds, settings.ring_max_bytes)
            if audio:  # the stream evidence comes from keeps its audio for the clips
                ring.audio = PacketRing(settings.ring_seconds, settings.ring_max_bytes // 8)
            return CameraSource(spec, batch, ring, settings, self._executor, redactor)

        with_main = {s.camera_id for s in mains}
        self._sources = {
            s.camera_id: source(s, self.batch, s.camera_id not in with_main) for s in specs
        }
        self._mains = {s.camera_id: MainStream(source(_recording(s), None, True), s) for s in mains}
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
        """Ids in batch-row order."""
        return list(self._sources)

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
