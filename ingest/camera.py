"""One camera's life: a small state machine around blocking sessions run in worker threads.

    connecting ──first packet──► streaming ──error──► backing_off ──delay──► connecting
        │                            │ no packet for stall_timeout ► stalled ──delay──┘
        │                            │ packets, no frame for 3 GOPs ► no_frames ─delay─► (reopen)
        └── unusable stream ───────────────────────────────────────► failed  ──delay──┘

A camera reopened after `no_frames` keeps showing `no_frames` (and why) while it reconnects
and streams, until a frame is analysed again: a camera whose every session yields nothing
must not flash `streaming` between reopenings.

Everything that can go wrong with a stream ends as an `IngestError` inside this camera's task;
nothing escapes to its siblings. Policy (how long to wait, which state to show) is in
`ingest.policy`; this class only applies it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from ingest.errors import IngestError, NoFrames, StreamStalled
from ingest.policy import frameless_for, next_attempt, state_after_error
from ingest.session import (
    Controls,
    Counters,
    DecoderFactory,
    SessionLimits,
    StreamSession,
    stream_decoders,
)
from riverwatch.backoff import attempts_to_reach, backoff_delay
from riverwatch.batch import FrameBatch
from riverwatch.ring import PacketRing
from riverwatch.secrets import Redactor
from riverwatch.settings import Settings
from riverwatch.types import CameraHealth, CameraState, DecodeMode, MainRing

log = logging.getLogger(__name__)

_RATE_SMOOTHING = 0.3


@dataclass(frozen=True)
class MainStreamSpec:
    """A camera's main stream, recorded (never decoded) into its own ring for evidence."""

    url: Callable[[], str]
    display_url: str
    ring: MainRing


@dataclass(frozen=True)
class CameraSpec:
    """What ingest needs to know of a camera (the secret URL is only read to connect).

    `url` is the stream analysed: the sub-stream when the camera has one, whose main stream is
    then `main`."""

    camera_id: str
    url: Callable[[], str]
    display_url: str
    decode_mode: DecodeMode
    detect_fps: float
    main: MainStreamSpec | None = None


class _Rates:
    """Smoothed per-second rates computed from the session's monotonic counters."""

    def __init__(self) -> None:
        self.input_fps = 0.0
        self.analysed_fps = 0.0
        self.kbps = 0.0
        self._last: tuple[float, int, int, int] | None = None

    def update(self, counters: Counters, now: float) -> None:
        sample = (now, counters.packets, counters.analysed, counters.bytes)
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            a = _RATE_SMOOTHING
            self.input_fps += a * ((sample[1] - self._last[1]) / dt - self.input_fps)
            self.analysed_fps += a * ((sample[2] - self._last[2]) / dt - self.analysed_fps)
            self.kbps += a * ((sample[3] - self._last[3]) * 8 / 1000 / dt - self.kbps)
        self._last = sample

    def reset(self) -> None:
        self._last = None
        self.input_fps = self.analysed_fps = self.kbps = 0.0


class CameraSource:
    """Keeps one camera connected and feeding its batch row and packet ring.

    Public surface: `run()` (the task body, runs until cancelled), `health()`, `set_mode()`
    and `ring`. Without a batch it is a recorder: the ring alone is fed. Example::

        source = CameraSource(spec, batch, ring, settings, executor, redactor)
        task = asyncio.create_task(source.run())
        source.set_mode(DecodeMode.FULL)   # takes effect at the next keyframe
    """

    def __init__(
        self,
        spec: CameraSpec,
        batch: FrameBatch | None,
        ring: PacketRing,
        settings: Settings,
        executor: Executor,
        redactor: Redactor,
        rng: random.Random | None = None,
        decoders: DecoderFactory = stream_decoders,
    ) -> None:
        self._spec = spec
        self._batch = batch  # None: a recorder, whose session decodes nothing
        self._slot = batch.slot(spec.camera_id) if batch is not None else -1
        self.ring = ring
        self._settings = settings
        self._executor = executor
        self._redactor = redactor
        self._rng = rng or random.Random()
        self._decoders = decoders
        self._controls = Controls(mode=spec.decode_mode, detect_fps=spec.detect_fps)
        self._counters = Counters()
        self._rates = _Rates()
        self._limits = SessionLimits(
            settings.open_timeout_s,
            settings.read_timeout_s,
            settings.max_consecutive_decode_errors,
        )
        self._state = CameraState.CONNECTING
        self._state_since = time.monotonic()
        self._reconnects = 0
        self._stalls = 0
        self._no_frame_reopens = 0
        self._frameless = False  # the last session ended in NoFrames and none has analysed since
        self._last_error: str | None = None
        self._reason = "starting"
        self._reconnect_asked = False

    @property
    def camera_id(self) -> str:
        """The camera's id."""
        return self._spec.camera_id

    @property
    def state(self) -> CameraState:
        """The current state."""
        return self._state

    def set_mode(self, mode: DecodeMode) -> None:
        """Switch decoding while running; full rate starts at the next keyframe."""
        if mode is not self._controls.mode:
            log.info("camera %s: decode mode %s -> %s", self.camera_id, self._controls.mode, mode)
            self._controls.mode = mode

    def park(self, reason: str) -> None:
        """Show the camera as stopped, with `reason`, while its task does not run (it is
        another hub's, or not started yet)."""
        self._set_state(CameraState.STOPPED, reason)

    def reconnect(self) -> None:
        """End the running session; the camera connects again after its shortest backoff
        (an operator's "reconnect", or a camera that was reconfigured)."""
        self._reconnect_asked = True
        self._controls.stop.set()

    @property
    def mode(self) -> DecodeMode:
        """The decode mode asked for."""
        return self._controls.mode

    def health(self) -> CameraHealth:
        """A snapshot of this camera's figures."""
        c, now = self._counters, time.monotonic()
        age = now - c.last_frame_at if c.last_frame_at else None
        return CameraHealth(
            camera_id=self.camera_id,
            state=self._state,
            state_age_s=now - self._state_since,
            decode_mode=self._controls.mode,
            input_fps=round(self._rates.input_fps, 2),
            analysed_fps=round(self._rates.analysed_fps, 3),
            analysed_frames=c.analysed,
            kbps=round(self._rates.kbps, 1),
            last_frame_age_s=None if age is None else round(age, 3),
            reconnects=self._reconnects,
            stalls=self._stalls,
            decode_errors=c.decode_errors,
            dropped_frames=self._batch.dropped(self._slot) if self._batch is not None else 0,
            width=c.width,
            height=c.height,
            codec=c.codec,
            last_error=self._last_error,
            reason=self._reason,
            no_frame_reopens=self._no_frame_reopens,
            gop_s=None if c.gop_s is None else round(c.gop_s, 2),
        )

    async def run(self) -> None:
        """Connect, stream and recover until cancelled; never raises anything else."""
        attempt = 0
        longest = attempts_to_reach(self._settings.backoff_max_s, self._settings.backoff_base_s)
        while True:
            error = await self._one_session()
            since = self._counters.streaming_since
            streamed = time.monotonic() - since if since else 0.0
            self._last_error = str(error)
            if isinstance(error, StreamStalled):
                self._stalls += 1
            self._frameless = isinstance(error, NoFrames)
            if self._frameless:
                self._no_frame_reopens += 1
            self._set_state(state_after_error(error), str(error))
            attempt = next_attempt(attempt, error, streamed, longest)
            delay = backoff_delay(
                attempt - 1,
                self._settings.backoff_base_s,
                self._settings.backoff_max_s,
                rand=self._rng.random,
            )
            await asyncio.sleep(delay)
            self._reconnects += 1

    async def _one_session(self) -> IngestError:
        if not self._frameless:
            self._set_state(CameraState.CONNECTING, self._spec.display_url)
        self._controls.stop.clear()
        self._counters.last_packet_at = 0.0
        self._counters.streaming_since = 0.0  # set by the session once it streams
        self._rates.reset()
        session = StreamSession(
            self.camera_id,
            self._spec.url(),
            self._slot,
            self._batch,
            self.ring,
            self._controls,
            self._counters,
            self._limits,
            self._redactor,
            self._decoders,
        )
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, session.run)
        try:
            return await self._watch(future)
        except asyncio.CancelledError:
            await self._stop_session(future)
            self._set_state(CameraState.STOPPED, "stopped")
            raise

    async def _stop_session(self, future: asyncio.Future[None]) -> None:
        """Ask the session thread to stop, wait a bounded time, and consume its outcome."""
        self._controls.stop.set()
        # Its outcome is retrieved whenever it comes, the reason being known to the caller
        # already: a thread still blocked in a socket read ends after this wait.
        future.add_done_callback(_retrieve)
        await asyncio.wait({future}, timeout=self._settings.read_timeout_s + 1)

    async def _watch(self, future: asyncio.Future[None]) -> IngestError:
        """Wait for the session, keeping rates fresh and catching silent stalls."""
        while True:
            done, _ = await asyncio.wait({future}, timeout=1.0)
            if done:
                return self._outcome(future)
            now = time.monotonic()
            self._rates.update(self._counters, now)
            self._show_progress()
            error = self._judge(now)
            if error is not None:
                await self._stop_session(future)
                return error

    def _show_progress(self) -> None:
        c = self._counters
        if c.last_packet_at and self._state is CameraState.CONNECTING:
            self._set_state(CameraState.STREAMING, "first packet")
        if self._frameless and c.streaming_since and c.last_frame_at >= c.streaming_since:
            self._frameless = False
            self._set_state(CameraState.STREAMING, "frames analysed again")

    def _judge(self, now: float) -> IngestError | None:
        """Why the running session must end although its thread has not said so, or None."""
        c = self._counters
        last = c.last_packet_at
        if not last:
            return None
        if now - last > self._settings.stall_timeout_s:
            return StreamStalled(f"no packet for {now - last:.1f} s")
        if self._batch is None:
            return None  # a recorder analyses no frame by design
        waited = frameless_for(now, c.streaming_since, c.last_frame_at, c.gop_s)
        if waited:
            gop = "unknown" if c.gop_s is None else f"{c.gop_s:.1f} s"
            return NoFrames(
                f"packets arrive but no frame analysed for {waited:.0f} s (GOP {gop}, "
                f"{c.decode_errors} decode errors)"
            )
        return None

    def _outcome(self, future: asyncio.Future[None]) -> IngestError:
        exc = future.exception()
        if self._reconnect_asked:
            self._reconnect_asked = False
            return IngestError("reconnect asked")
        if isinstance(exc, IngestError):
            return exc
        if exc is None:
            return IngestError("session stopped")
        # A bug in the session must stay inside this camera, and say what it was.
        log.error("camera %s: session crashed: %s", self.camera_id, self._redactor.scrub(repr(exc)))
        return IngestError(self._redactor.scrub(f"internal error: {type(exc).__name__}"))

    def _set_state(self, state: CameraState, reason: str) -> None:
        # The reason is refreshed even when the state stays (a second frameless session has
        # its own figures); the transition alone is logged and restarts the state's age.
        self._reason = self._redactor.scrub(reason)
        if state is not self._state:
            log.info("camera %s: %s -> %s (%s)", self.camera_id, self._state, state, self._reason)
            self._state = state
            self._state_since = time.monotonic()


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a stopped session's outcome as seen (asyncio logs one never retrieved)."""
    if not future.cancelled():
        future.exception()
