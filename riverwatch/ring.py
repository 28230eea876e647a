"""A per-camera ring of the last seconds of compressed packets (pre-roll for clips, live view).

Each stream the camera opens (a connect, a reconnect, a new resolution) is a new `generation`
of the ring: `StreamInfo.generation` and `RingPacket.generation` say which stream a thing
belongs to, so a reader compares numbers instead of asking whether an object was replaced.
`same_picture` is the one rule for which packets make one picture: the writer numbers each
packet's picture (`RingPacket.picture`) as it arrives, so no reader has to guess from pts that
some cameras send missing, constant or backwards. `keyframe_run` picks a keyframe's packets.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice

from riverwatch.annexb import continues_picture


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a muxer or decoder needs besides the packets: the stream's codec parameters.

    `extradata` is the codec's out-of-band setup (for H.264 from RTSP, the SPS/PPS of the
    SDP in Annex B form; it may be empty when the camera sends them in-band only).
    """

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes
    generation: int = 0  # set by `PacketRing.open_stream`: which of the ring's streams this is
    audio: str = ""  # the camera's audio codec, if it sends audio
    sample_rate: int = 0  # an audio stream's (its width and height are 0)
    channels: int = 0


@dataclass(frozen=True, slots=True)
class RingPacket:
    """One compressed video packet as received, with its timing.

    `received_at` is wall-clock time (what alerts are compared with). `picture` and
    `arrived_mono` are set by a writer that groups packets into pictures as they arrive (the
    ingest session): the picture's number within its generation (packets of one picture share
    it, the next picture has a higher one) and the arrival in monotonic seconds, which never
    steps back with NTP. A writer that does not group leaves them None, and readers fall back
    on pts and slice headers.
    """

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    is_keyframe: bool
    received_at: float
    generation: int = 0  # the ring's stream generation it arrived in; `append` stamps it
    picture: int | None = None
    arrived_mono: float | None = None

    @property
    def arrival_s(self) -> float:
        """When it arrived, for measuring intervals: monotonic when known, else wall clock."""
        return self.received_at if self.arrived_mono is None else self.arrived_mono


def keyframe_run(
    packets: Sequence[RingPacket], at: float | None = None
) -> tuple[int, list[RingPacket]]:
    """One keyframe's packets out of arrival-ordered `packets`, and the index of its first.

    A camera may send a picture as several slices, one packet each (`same_picture` says which).
    A keyframe starts at a keyframe packet that does not continue the one before, and holds it
    and every packet right after that continues it. The one chosen is the newest to start at
    or before `at` (the newest of all when `at` is None; else the first after `at`).
    (-1, []) when there is no keyframe.
    """
    starts = [
        i
        for i, p in enumerate(packets)
        if p.is_keyframe and not (i and same_picture(packets[i - 1], p))
    ]
    if not starts:
        return -1, []
    before = [i for i in starts if at is None or packets[i].received_at <= at]
    first = before[-1] if before else starts[0]
    run = [packets[first]]
    for packet in islice(packets, first + 1, None):
        if not same_picture(run[-1], packet):
            break
        run.append(packet)
    return first, run


def same_picture(previous: RingPacket, packet: RingPacket) -> bool:
    """Whether `packet` is another slice of the picture `previous` (the packet before it) holds.

    When the writer numbered both, their numbers decide: it judged the stream's pts as they
    arrived, so a constant pts never joins two pictures. Otherwise a packet continues the one
    before when it shares its pts or its first slice continues a picture
    (first_mb_in_slice > 0; how untimed slices are told).
    """
    if previous.picture is not None and packet.picture is not None:
        return previous.generation == packet.generation and previous.picture == packet.picture
    same_pts = packet.pts is not None and packet.pts == previous.pts
    return same_pts or continues_picture(packet.data)


def pictures_of(packets: Sequence[RingPacket]) -> list[list[RingPacket]]:
    """Arrival-ordered packets grouped into pictures by `same_picture`, in arrival order."""
    pictures: list[list[RingPacket]] = []
    for packet in packets:
        if pictures and same_picture(pictures[-1][-1], packet):
            pictures[-1].append(packet)
        else:
            pictures.append([packet])
    return pictures


class PacketRing:
    """Bounded by age and by bytes; the oldest packets go first and are counted.

    Writers are the camera's worker thread; readers (clip extraction, live relays) take a
    snapshot list, so neither blocks the other for long.

    `open_stream` starts a new generation (1, 2, ...; 0 before the first stream); packets keep
    the generation they arrived in, so pre-roll from before a reconnect stays usable and a
    reader tells it apart.

    Every packet ever appended has a sequence number (0, 1, 2, ...; never reset, not even by
    a new stream), so a live relay can follow the ring with `packets_after(seq)` and tell from a
    gap how many packets were evicted before it read them. `add_listener` registers a
    callback that the writer thread calls after each append (a relay's thread-safe wakeup).
    """

    def __init__(self, max_seconds: float, max_bytes: int) -> None:
        self._max_seconds = max_seconds
        self._max_bytes = max_bytes
        self._packets: deque[RingPacket] = deque()
        self._bytes = 0
        self._evicted = 0
        self._lock = threading.Lock()
        self._stream: StreamInfo | None = None
        self._generation = 0
        self._appended = 0  # packets ever appended: the next packet's sequence number
        # Rebound, never mutated, so the writer thread can iterate it without the lock.
        self._listeners: tuple[Callable[[], None], ...] = ()
        # The camera's audio, kept beside the video for clips (the evidence stream only).
        self.audio: PacketRing | None = None

    @property
    def stream(self) -> StreamInfo | None:
        """The current stream's codec parameters (its `generation` included); None before one."""
        return self._stream

    @property
    def generation(self) -> int:
        """The current stream's number: bumped by every `open_stream`, never reused."""
        return self._generation

    def open_stream(self, info: StreamInfo) -> StreamInfo:
        """A stream (re)opened: start a new generation and return `info` stamped with it.

        Packets of the previous stream stay as pre-roll, unless the codec or the size changed:
        those cannot share a clip or a decoder with the new ones, so they are dropped.
        """
        with self._lock:
            previous = self._stream
            if previous is not None and (previous.codec, previous.width, previous.height) != (
                info.codec,
                info.width,
                info.height,
            ):
                self._packets.clear()
                self._bytes = 0
            self._generation += 1
            self._stream = dataclasses.replace(info, generation=self._generation)
            return self._stream

    def append(self, packet: RingPacket) -> None:
        """Add a packet (stamped with the current generation) and evict what no longer fits."""
        with self._lock:
            if packet.generation != self._generation:
                packet = dataclasses.replace(packet, generation=self._generation)
            self._packets.append(packet)
            self._bytes += len(packet.data)
            horizon = packet.received_at - self._max_seconds
            while self._packets and (
                self._bytes > self._max_bytes or self._packets[0].received_at < horizon
            ):
                self._bytes -= len(self._packets.popleft().data)
                self._evicted += 1
            self._appended += 1
        for listener in self._listeners:
            listener()

    def snapshot(self, since: float | None = None) -> list[RingPacket]:
        """Packets received at or after `since` (all when None), oldest first."""
        with self._lock:
            if since is None:
                return list(self._packets)
            return [p for p in self._packets if p.received_at >= since]

    @property
    def newest_seq(self) -> int:
        """Sequence number of the newest packet ever appended (-1 before the first)."""
        return self._appended - 1

    def packets_after(self, seq: int) -> tuple[int, list[RingPacket]]:
        """Packets with a sequence number above `seq`, oldest first, and the first one's number.

        When the first number is above `seq + 1`, the packets in between were evicted (or
        cleared) before the caller asked: the caller counts them as lost.
        """
        with self._lock:
            wanted = max(0, min(len(self._packets), self._appended - 1 - seq))
            # From the right: a follower asks for the last few packets of a long ring.
            newest = list(islice(reversed(self._packets), wanted))
            return self._appended - len(newest), newest[::-1]

    def newest_keyframe(self) -> tuple[int, list[RingPacket]]:
        """The newest keyframe's sequence number and its packets (by `keyframe_run`'s rule);
        (-1, []) when the ring has none."""
        with self._lock:
            held = list(self._packets)
            first_seq = self._appended - len(held)
        index, run = keyframe_run(held)
        return (first_seq + index if run else -1), run

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` from the writer thread after every append.

        It must be quick and must not raise: it runs in the camera's ingest thread.
        """
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling `listener` (the writer may still be inside a call that began before)."""
        with self._lock:
            self._listeners = tuple(f for f in self._listeners if f is not listener)

    @property
    def size_bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._packets)
