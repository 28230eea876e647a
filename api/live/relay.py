"""One relay per camera: the camera's H.264 packets, as received, to every viewer's track.

Nothing here decodes or encodes. A `ViewerTrack.recv()` returns `av.Packet`s, which aiortc's
`RTCRtpSender` packetizes into RTP as they are (the way its `MediaPlayer(decode=False)`
works), so a viewer costs a queue, RTP packetization and SRTP, never a codec.

    relays = Relays()
    track = relays.subscribe("cam-1", ring)   # starts the camera's relay if needed
    pc.addTrack(track)                        # aiortc pulls packets with track.recv()
    ...
    track.stop()                              # the last viewer out stops the relay
    await relays.aclose()
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from riverwatch.ring import PacketRing, RingPacket, same_picture

log = logging.getLogger(__name__)

# A pts step bigger than this, none or a backwards one is not the camera's frame interval: a
# new stream after a reconnect or a loop, or a clock that is constant or runs backwards.
_MAX_STEP_S = 5.0
RTP_CLOCK = 90_000  # H.264's RTP clock rate; outgoing packets use 1/RTP_CLOCK as time base
_RTP_TIME_BASE = Fraction(1, RTP_CLOCK)


@dataclass(frozen=True, slots=True)
class ViewerStats:
    """One viewer's figures: packets handed to aiortc, dropped (queue overflow) and where the
    viewer started: its first keyframe's outgoing pts (90 kHz), the camera's own pts of it
    (-1 when it sent none) and when ingest received it (wall clock), so a client can tie its
    frames to the ring."""

    sent: int
    dropped: int
    first: tuple[int, int, float] | None


@dataclass(frozen=True, slots=True)
class RelayStats:
    """One camera's relay: its viewers, packets forwarded, and packets it never saw (evicted
    from the ring before it read them)."""

    camera_id: str
    viewers: list[ViewerStats]
    forwarded: int
    missed: int


class ViewerTrack(MediaStreamTrack):
    """A video track that yields the camera's packets, newest first in line.

    It starts at a keyframe. Its queue is bounded: when the viewer's sender falls behind,
    the queue is dropped (counted) and the track waits for the next keyframe, because a
    decoder cannot pick up in the middle of a group of pictures.
    """

    kind = "video"

    def __init__(self, relay: CameraRelay, max_packets: int) -> None:
        super().__init__()
        self._relay = relay
        self._max_packets = max_packets
        self._queue: deque[av.Packet[Any]] = deque()
        self._ready = asyncio.Event()
        self._synced = False
        self._sent = 0
        self._dropped = 0
        self._first: tuple[int, int, float] | None = None

    async def recv(self) -> av.Packet[Any]:  # packets: aiortc sends them as they are
        """The next packet; raises `MediaStreamError` once the track has stopped."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        self._sent += 1
        return self._queue.popleft()

    def stop(self) -> None:
        """End the track; the relay forgets it (and stops if it was the last viewer)."""
        super().stop()
        self._queue.clear()
        self._ready.set()
        self._relay._leave(self)

    def stats(self) -> ViewerStats:
        """Figures so far."""
        return ViewerStats(self._sent, self._dropped, self._first)

    def _push(self, packet: av.Packet[Any], source: RingPacket) -> None:
        keyframe = source.is_keyframe
        if not self._synced:
            if not keyframe:
                return  # not a drop: the viewer has not started yet
            self._synced = True
            if self._first is None and packet.pts is not None:
                self._first = (packet.pts, _source_pts(source), source.received_at)
        if len(self._queue) >= self._max_packets:
            self._dropped += len(self._queue)
            self._queue.clear()
            if not keyframe:
                self._dropped += 1
                self._synced = False
                return
        self._queue.append(packet)
        self._ready.set()


def _source_pts(source: RingPacket) -> int:
    """The camera's own timestamp of a packet (-1 when it sent none), for `ViewerStats`."""
    pts = source.pts if source.pts is not None else source.dts
    return -1 if pts is None else pts


class _Timeline:
    """Outgoing pts on a 90 kHz clock that only moves forward, one timestamp per picture.

    The slices of one ring picture (`same_picture`) share a timestamp. A new picture moves on
    by the camera's own pts step when that step is forward and short; otherwise (no pts, the
    same pts as before, pts going back, a reconnect or a loop) by its arrival step, never
    by less than one tick nor more than `_MAX_STEP_S`. So a viewer's RTP timestamps stay
    continuous and increasing whatever clock the camera keeps.
    """

    def __init__(self) -> None:
        self._last: RingPacket | None = None
        self._out = 0

    def next(self, packet: RingPacket) -> int:
        """The outgoing pts (1/`RTP_CLOCK` s) of `packet`, the ring's next packet."""
        last, self._last = self._last, packet
        if last is not None and not same_picture(last, packet):
            self._out += max(1, round(_step_s(last, packet) * RTP_CLOCK))
        return self._out


def _step_s(last: RingPacket, packet: RingPacket) -> float:
    """How long the picture `last` belongs to lasted, as told by the camera or by arrival."""
    if packet.pts is not None and last.pts is not None:
        step = float((packet.pts - last.pts) * packet.time_base)
        if 0 < step <= _MAX_STEP_S:
            return step
    return min(max(0.0, packet.arrival_s - last.arrival_s), _MAX_STEP_S)


class CameraRelay:
    """Follows one camera's ring and hands every packet to each of its viewers.

    The ring's writer thread wakes the relay through the event loop; the relay reads what
    is new with `packets_after`, so a slow wakeup costs nothing but a larger batch.
    """

    def __init__(self, camera_id: str, ring: PacketRing, relays: Relays, max_packets: int) -> None:
        self.camera_id = camera_id
        self._ring = ring
        self._relays = relays
        self._max_packets = max_packets
        self._viewers: list[ViewerTrack] = []
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._timeline = _Timeline()
        self._forwarded = 0
        self._missed = 0
        self._seq = ring.newest_seq  # from now on: old packets would arrive as a burst
        ring.add_listener(self._notify)
        self._task = asyncio.create_task(self._pump(), name=f"live-relay-{camera_id}")

    @property
    def viewer_count(self) -> int:
        """Viewers watching now."""
        return len(self._viewers)

    def subscribe(self) -> ViewerTrack:
        """A new viewer's track; it starts at the camera's next keyframe."""
        track = ViewerTrack(self, self._max_packets)
        self._viewers.append(track)
        return track

    def stats(self) -> RelayStats:
        """Figures so far."""
        viewers = [v.stats() for v in self._viewers]
        return RelayStats(self.camera_id, viewers, self._forwarded, self._missed)

    def _leave(self, track: ViewerTrack) -> None:
        if track in self._viewers:
            self._viewers.remove(track)
            if not self._viewers:
                self._stop()

    def _close(self) -> None:
        for viewer in list(self._viewers):
            viewer.stop()
        if self._relays._relays.get(self.camera_id) is self:
            self._stop()  # a relay is never without viewers, but do not rely on it

    def _stop(self) -> None:
        self._ring.remove_listener(self._notify)
        self._task.cancel()
        self._relays._stopped(self, self._task)

    def _notify(self) -> None:
        # Runs in the camera's ingest thread, which must never see an error from here.
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:
            pass  # the loop has closed: this relay is gone and nobody is waiting

    async def _pump(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            first, packets = self._ring.packets_after(self._seq)
            self._missed += max(0, first - self._seq - 1)
            self._seq = first + len(packets) - 1 if packets else self._seq
            for packet in packets:
                self._forward(packet)

    def _forward(self, packet: RingPacket) -> None:
        out = av.Packet(packet.data)
        out.pts = out.dts = self._timeline.next(packet)
        out.time_base = _RTP_TIME_BASE
        self._forwarded += 1
        for viewer in self._viewers:
            viewer._push(out, packet)


class Relays:
    """The relays of all cameras: at most one per camera, made on the first viewer, stopped
    with the last."""

    def __init__(self, max_packets: int = 90) -> None:
        self._max_packets = max_packets
        self._relays: dict[str, CameraRelay] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self.started = 0  # relays ever started (tests prove viewers share one)

    def subscribe(self, camera_id: str, ring: PacketRing) -> ViewerTrack:
        """A viewer track of the camera, starting its relay if it has none."""
        relay = self._relays.get(camera_id)
        if relay is None:
            relay = CameraRelay(camera_id, ring, self, self._max_packets)
            self._relays[camera_id] = relay
            self.started += 1
            log.info("live: relay started for camera %s", camera_id)
        return relay.subscribe()

    def viewers(self, camera_id: str) -> int:
        """Viewers of one camera now."""
        relay = self._relays.get(camera_id)
        return 0 if relay is None else relay.viewer_count

    def __len__(self) -> int:
        return len(self._relays)

    def stats(self) -> list[RelayStats]:
        """Every running relay's figures."""
        return [r.stats() for r in self._relays.values()]

    def _stopped(self, relay: CameraRelay, task: asyncio.Task[None]) -> None:
        if self._relays.get(relay.camera_id) is relay:
            del self._relays[relay.camera_id]
            log.info("live: relay stopped for camera %s (no viewers)", relay.camera_id)
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def aclose(self) -> None:
        """End every viewer's track, which stops every relay, and wait for their tasks."""
        for relay in list(self._relays.values()):
            relay._close()
        await asyncio.gather(*self._stopping, return_exceptions=True)
