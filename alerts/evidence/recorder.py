"""Evidence for each alert: a snapshot at once, a clip once the post-roll has arrived.

The event loop only waits and merges packet lists; decoding, muxing and disk I/O run in
worker threads (`asyncio.to_thread`). The ring keeps only its last seconds (15 by default), so
a clip's post-roll is gathered while it arrives: the ring is read again every `poll_s` and new
packets are appended once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from alerts.evidence.audio import AudioTrack
from alerts.evidence.clip import ClipInfo, select_clip, write_clip
from alerts.evidence.errors import EvidenceError, StorageError
from alerts.evidence.snapshot import render_snapshot
from alerts.evidence.store import EvidenceStore, StoredFile, SweepResult
from riverwatch.ring import PacketRing, RingPacket, StreamInfo
from riverwatch.supervise import Supervisor
from riverwatch.types import Alert, AlertPhase

log = logging.getLogger(__name__)

OnEvidence = Callable[[Alert], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EvidencePolicy:
    """How evidence is taken: rolls, picture, bounds and the shutdown budget."""

    pre_roll_s: float = 10.0
    post_roll_s: float = 20.0
    analysis_wh: tuple[int, int] = (320, 180)  # the frame the alert's box was drawn in
    jpeg_quality: int = 85
    max_in_flight: int = 16  # clips gathering at once; each holds ~pre+post seconds of video
    poll_s: float = 2.0  # must stay well under the ring's length
    drain_budget_s: float = 10.0
    sweep_interval_s: float = 300.0
    main_wait_s: float = 10.0  # an on_alert main stream's first keyframe, at most this late

    def __post_init__(self) -> None:
        if self.pre_roll_s < 0 or self.post_roll_s < 0:
            raise ValueError("rolls cannot be negative")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality is 1..100")
        if self.max_in_flight < 1 or self.poll_s <= 0 or self.drain_budget_s <= 0:
            raise ValueError("max_in_flight, poll_s and drain_budget_s must be positive")
        if min(self.analysis_wh) < 1:
            raise ValueError("analysis_wh must be positive")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was stored for one alert; a missing file has its reason in `problems`."""

    alert_id: str
    snapshot: StoredFile | None = None
    clip: StoredFile | None = None
    clip_info: ClipInfo | None = None
    problems: tuple[str, ...] = ()
    preroll: StoredFile | None = None  # the sub-stream before an on_alert main stream opened

    def apply(self, alert: Alert) -> Alert:
        """The alert's one `evidence` message (revision 0): paths, checksums, problems in note."""
        return dataclasses.replace(
            alert,
            phase=AlertPhase.EVIDENCE,
            revision=0,
            snapshot=self.snapshot.path if self.snapshot else "",
            snapshot_sha256=self.snapshot.sha256 if self.snapshot else "",
            clip=self.clip.path if self.clip else "",
            clip_sha256=self.clip.sha256 if self.clip else "",
            preroll_clip=self.preroll.path if self.preroll else "",
            preroll_clip_sha256=self.preroll.sha256 if self.preroll else "",
            note="; ".join(self.problems) if self.problems else alert.note,
        )


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters since start; every dropped or failed piece of evidence is in one of them."""

    in_flight: int  # captures running now
    snapshots: int
    clips: int
    dropped_snapshots: int
    dropped_clips: int
    failures: int
    storage_errors: int
    callback_errors: int


class EvidenceRecorder:
    """Takes each alert's snapshot and clip, bounded, and finishes cleanly on close.

    >>> recorder = EvidenceRecorder(store, EvidencePolicy(analysis_wh=(320, 180)))  # doctest: +SKIP
    >>> recorder.start(alert, ingest.ring(alert.camera_id), publish)  # publish(evidence_alert)
    >>> await recorder.close()  # post-rolls cut short, clips written within the budget
    """

    def __init__(
        self, store: EvidenceStore, policy: EvidencePolicy, supervisor: Supervisor | None = None
    ) -> None:
        self._store = store
        self._supervisor = supervisor or Supervisor()
        self._policy = policy
        self._clip_slots = asyncio.Semaphore(policy.max_in_flight)
        self._snapshots_busy = 0
        self._active = 0  # captures running, whoever started them
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_sweep = 0.0
        self._counts = _Counts()

    def start(
        self,
        alert: Alert,
        ring: PacketRing,
        on_evidence: OnEvidence,
        opening: PacketRing | None = None,
        note: str = "",
    ) -> bool:
        """Capture in a task the recorder owns, then await `on_evidence(evidence_alert)`.

        `opening` is a main stream opened for this alert (`on_alert`): the snapshot and clip
        come from it once it has a keyframe, the pre-roll before that from `ring`. `note` goes
        with the evidence's problems (why no main stream was opened, say).
        False (and counted) when the recorder is closing.
        """
        if self._stopping.is_set():
            self._counts.dropped_clips += 1
            return False
        # One-shot: a capture that raises is logged and counted by the supervisor, never rerun
        # (a second evidence message for the same alert would be a different one).
        run = partial(self._run, alert, ring, on_evidence, opening, note)
        task = self._supervisor.spawn("evidence:capture", run, restart=False)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def capture(self, alert: Alert, ring: PacketRing) -> Evidence:
        """Snapshot now, clip after the post-roll; failures become `Evidence.problems`.

        Cancelled while gathering the post-roll, it writes what it has (within the drain
        budget) before the cancellation goes on.
        """
        stream = ring.stream
        if stream is None:
            self._counts.failures += 1
            return Evidence(alert.alert_id, problems=("no video from the camera yet",))
        held = ring.snapshot()
        problems: list[str] = []
        self._active += 1
        try:
            snapshot = await self._take_snapshot(alert, held, stream, problems)
            clip, info = await self._take_clip(alert, ring, stream, held, problems)
        finally:
            self._active -= 1
        _note_audio(stream, info, problems)
        if self._due_for_sweep():
            await self._sweep_quietly()
        return Evidence(alert.alert_id, snapshot, clip, info, tuple(problems))

    async def capture_opening(self, alert: Alert, sub: PacketRing, main: PacketRing) -> Evidence:
        """Evidence from a main stream opened for this alert: its first keyframe as the
        snapshot, its clip from there to the post-roll's end, and the sub-stream's pre-roll up
        to that keyframe as a second clip. Without a keyframe in `main_wait_s`, evidence from
        the sub-stream alone, saying why."""
        held_sub = sub.snapshot()  # now, before the wait lets the ring drop the pre-roll
        first = await self._first_keyframe(main, time.time())
        if first is None or main.stream is None:
            evidence = await self.capture(alert, sub)
            why = f"the main stream gave no keyframe within {self._policy.main_wait_s:g} s"
            return dataclasses.replace(evidence, problems=(*evidence.problems, why))
        stream, problems = main.stream, list[str]()
        self._active += 1
        try:
            snapshot = await self._take_snapshot(alert, main.snapshot(), stream, problems)
            clip, info = await self._take_clip(
                alert, main, stream, main.snapshot(), problems, start=first
            )
            preroll = await self._take_preroll(alert, sub, held_sub, first, problems)
        finally:
            self._active -= 1
        _note_audio(stream, info, problems)
        return Evidence(alert.alert_id, snapshot, clip, info, tuple(problems), preroll)

    async def _first_keyframe(self, main: PacketRing, since: float) -> float | None:
        """When the main stream's first keyframe after `since` arrived, or None in time."""
        deadline = time.monotonic() + self._policy.main_wait_s
        while not self._stopping.is_set():
            _, run = main.newest_keyframe()
            if run and run[0].received_at >= since - self._policy.poll_s:
                return run[0].received_at
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.1)
        return None

    async def _take_preroll(
        self,
        alert: Alert,
        sub: PacketRing,
        held: Sequence[RingPacket],
        until: float,
        problems: list[str],
    ) -> StoredFile | None:
        stream = sub.stream
        if stream is None:
            problems.append("no pre-roll: no sub-stream video")
            return None
        start = alert.started_at - self._policy.pre_roll_s
        packets = [*held, *sub.snapshot(since=held[-1].received_at if held else None)]
        job = partial(self._preroll_job, alert, stream, _Gathered(packets).packets, start, until)
        try:
            stored = await asyncio.to_thread(job)
        except EvidenceError as exc:
            self._failed(alert, "pre-roll", exc, problems)
            return None
        return stored

    def _preroll_job(
        self, alert: Alert, stream: StreamInfo, packets: list[RingPacket], start: float, end: float
    ) -> StoredFile:
        selected = select_clip(packets, start, end, alert.observed_at, codec=stream.codec)
        write = partial(write_clip, selected, stream)
        return self._store.save_clip(alert.alert_id, alert.started_at, write, "preroll.mp4")[0]

    async def sweep(self) -> SweepResult:
        """Apply the store's retention now (in a worker thread)."""
        self._last_sweep = time.monotonic()
        result = await asyncio.to_thread(self._store.sweep)
        if result.removed_files:
            log.info(
                "evidence: retention removed %d files (%d bytes), %d bytes kept",
                result.removed_files,
                result.freed_bytes,
                result.kept_bytes,
            )
        return result

    async def _sweep_quietly(self) -> None:
        try:
            await self.sweep()
        except StorageError as exc:  # retention failing must not cost the alert its evidence
            self._counts.storage_errors += 1
            log.warning("evidence: retention sweep failed: %s", exc)

    def stats(self) -> RecorderStats:
        """A copy of the counters."""
        return RecorderStats(in_flight=self._active, **dataclasses.asdict(self._counts))

    async def close(self) -> None:
        """Stop intake, let clips end their post-roll now and write, cancel what overruns.

        Returns within about twice `drain_budget_s`: one budget for the captures to finish
        and deliver, one for those cancelled to write what they hold.
        """
        self._stopping.set()
        if not self._tasks:
            return
        budget = self._policy.drain_budget_s
        _, pending = await asyncio.wait(set(self._tasks), timeout=budget)
        for task in pending:
            log.warning("evidence: %s overran the %g s drain budget", task.get_name(), budget)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=budget)

    async def _run(
        self,
        alert: Alert,
        ring: PacketRing,
        on_evidence: OnEvidence,
        opening: PacketRing | None,
        note: str,
    ) -> None:
        if opening is None:
            evidence = await self.capture(alert, ring)
        else:
            evidence = await self.capture_opening(alert, ring, opening)
        if note:
            evidence = dataclasses.replace(evidence, problems=(*evidence.problems, note))
        try:
            await on_evidence(evidence.apply(alert))
        except Exception:  # the task's owner boundary: one bad delivery must not go unseen
            self._counts.callback_errors += 1
            log.exception("evidence: delivering evidence of alert %s failed", alert.alert_id)

    async def _take_snapshot(
        self,
        alert: Alert,
        held: Sequence[RingPacket],
        stream: StreamInfo,
        problems: list[str],
    ) -> StoredFile | None:
        if self._snapshots_busy >= self._policy.max_in_flight:
            self._counts.dropped_snapshots += 1
            problems.append("snapshot dropped: too many in flight")
            return None
        self._snapshots_busy += 1
        try:
            stored = await asyncio.to_thread(self._snapshot_job, alert, held, stream)
        except EvidenceError as exc:
            self._failed(alert, "snapshot", exc, problems)
            return None
        finally:
            self._snapshots_busy -= 1
        self._counts.snapshots += 1
        return stored

    def _snapshot_job(
        self, alert: Alert, held: Sequence[RingPacket], stream: StreamInfo
    ) -> StoredFile:
        policy = self._policy
        snapshot = render_snapshot(
            held,
            stream,
            alert.observed_at,
            [alert.box_xyxy],
            policy.analysis_wh,
            policy.jpeg_quality,
        )
        return self._store.save_snapshot(alert.alert_id, alert.started_at, snapshot.jpeg)

    async def _take_clip(
        self,
        alert: Alert,
        ring: PacketRing,
        stream: StreamInfo,
        held: Sequence[RingPacket],
        problems: list[str],
        start: float | None = None,
    ) -> tuple[StoredFile | None, ClipInfo | None]:
        if self._clip_slots.locked():
            self._counts.dropped_clips += 1
            problems.append(f"clip dropped: {self._policy.max_in_flight} clips already in flight")
            return None, None
        async with self._clip_slots:
            gathered = _Gathered(held)
            sound = _Gathered(ring.audio.snapshot()) if ring.audio is not None else None
            end = max(alert.started_at, alert.observed_at) + self._policy.post_roll_s
            if start is None:
                start = alert.started_at - self._policy.pre_roll_s
            try:
                await self._gather(ring, stream, gathered, end, sound)
            except asyncio.CancelledError:
                job = self._write(alert, stream, gathered.packets, (start, end), problems,
                                  _track(ring, sound))  # fmt: skip
                await self._write_within_budget(alert, job)
                raise
            return await self._write(alert, stream, gathered.packets, (start, end), problems,
                                     _track(ring, sound))  # fmt: skip

    async def _gather(
        self,
        ring: PacketRing,
        stream: StreamInfo,
        gathered: _Gathered,
        end: float,
        sound: _Gathered | None = None,
    ) -> None:
        def merge() -> None:
            gathered.merge(ring.snapshot(since=gathered.last_at))
            if sound is not None and ring.audio is not None:
                sound.merge(ring.audio.snapshot(since=sound.last_at))

        # A reconnect starts a new ring generation: the post-roll of this stream ends there.
        while not self._stopping.is_set() and ring.generation == stream.generation:
            left = end - time.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self._policy.poll_s, left)):
                    await self._stopping.wait()
            merge()
        merge()

    async def _write_within_budget(
        self, alert: Alert, write: Awaitable[tuple[StoredFile | None, ClipInfo | None]]
    ) -> None:
        job = asyncio.ensure_future(write)
        try:
            await asyncio.wait_for(asyncio.shield(job), self._policy.drain_budget_s)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("evidence: clip of alert %s not finished on cancel", alert.alert_id)

    async def _write(
        self,
        alert: Alert,
        stream: StreamInfo,
        packets: list[RingPacket],
        window: tuple[float, float],
        problems: list[str],
        audio: AudioTrack | None = None,
    ) -> tuple[StoredFile | None, ClipInfo | None]:
        job = partial(self._clip_job, alert, stream, packets, window, audio)
        try:
            stored, info = await asyncio.to_thread(job)
        except EvidenceError as exc:
            self._failed(alert, "clip", exc, problems)
            return None, None
        self._counts.clips += 1
        return stored, info

    def _clip_job(
        self,
        alert: Alert,
        stream: StreamInfo,
        packets: list[RingPacket],
        window: tuple[float, float],
        audio: AudioTrack | None,
    ) -> tuple[StoredFile, ClipInfo]:
        selected = select_clip(packets, *window, alert.observed_at, codec=stream.codec)
        if audio is not None:  # the audio that arrived while the chosen pictures did
            first, last = selected[0].received_at, selected[-1].received_at + 0.5
            heard = [p for p in audio.packets if first <= p.received_at <= last]
            audio = AudioTrack(audio.stream, heard)
        return self._store.save_clip(
            alert.alert_id, alert.started_at, partial(write_clip, selected, stream, audio=audio)
        )

    def _failed(self, alert: Alert, what: str, exc: EvidenceError, problems: list[str]) -> None:
        if isinstance(exc, StorageError):
            self._counts.storage_errors += 1
        else:
            self._counts.failures += 1
        problems.append(f"no {what}: {exc}")
        log.warning(
            "evidence: camera %s alert %s: no %s: %s", alert.camera_id, alert.alert_id, what, exc
        )

    def _due_for_sweep(self) -> bool:
        return time.monotonic() - self._last_sweep >= self._policy.sweep_interval_s


def _note_audio(stream: StreamInfo, info: ClipInfo | None, problems: list[str]) -> None:
    """Say why a camera's audio is not in its clip."""
    if info is not None and info.note:
        problems.append(info.note)
    elif stream.audio and (info is None or not info.audio):
        problems.append(f"the camera's {stream.audio} audio is not kept in the clip")


def _track(ring: PacketRing, sound: _Gathered | None) -> AudioTrack | None:
    """The audio gathered beside a clip, with its stream, when the ring keeps audio."""
    audio = ring.audio
    if sound is None or audio is None or audio.stream is None:
        return None
    return AudioTrack(audio.stream, sound.packets)


@dataclass(slots=True)
class _Counts:
    snapshots: int = 0
    clips: int = 0
    dropped_snapshots: int = 0
    dropped_clips: int = 0
    failures: int = 0
    storage_errors: int = 0
    callback_errors: int = 0


class _Gathered:
    """One clip's packets from several ring reads, each once, in arrival order."""

    def __init__(self, packets: Iterable[RingPacket]) -> None:
        self.packets: list[RingPacket] = []
        self._seen: set[tuple[float, int | None, int | None, int]] = set()
        self.last_at: float | None = None
        self.merge(packets)

    def merge(self, fresh: Iterable[RingPacket]) -> None:
        for packet in fresh:
            key = (packet.received_at, packet.pts, packet.dts, len(packet.data))
            if key in self._seen:
                continue
            self._seen.add(key)
            self.packets.append(packet)
            self.last_at = packet.received_at
