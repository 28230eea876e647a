"""A per-camera ring of the last seconds of compressed packets (pre-roll for clips, live view)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice


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


@dataclass(frozen=True, slots=True)
class RingPacket:
    """One compressed video packet as received, with its timing."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    is_keyframe: bool
    received_at: float


class PacketRing:
    """Bounded by age and by bytes; the oldest packets go first and are counted.

    Writers are the camera's worker thread; readers (clip extraction, live relays) take a
    snapshot list, so neither blocks the other for long.

    Every packet ever appended has a sequence number (0, 1, 2, ...; never reset, not even by
    `clear`), so a live relay can follow the ring with `packets_after(seq)` and tell from a
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
        self.stream: StreamInfo | None = None  # set by the session when a stream opens
        self._appended = 0  # packets ever appended: the next packet's sequence number
        # Rebound, never mutated, so the writer thread can iterate it without the lock.
        self._listeners: tuple[Callable[[], None], ...] = ()

    def append(self, packet: RingPacket) -> None:
        """Add a packet and evict what no longer fits."""
        with self._lock:
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

    def clear(self) -> None:
        """Forget everything, e.g. when the stream's codec or size changes."""
        with self._lock:
            self._packets.clear()
            self._bytes = 0
            self.stream = None

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
        """The newest keyframe's sequence number and its packets (every packet sharing its pts,
        as cameras may send a keyframe as several slices); (-1, []) when the ring has none."""
        with self._lock:
            packets = self._packets
            for back, packet in enumerate(reversed(packets)):
                if packet.is_keyframe:
                    index = len(packets) - 1 - back
                    run = []
                    for later in islice(packets, index, None):
                        if later.pts != packet.pts:
                            break
                        run.append(later)
                    return self._appended - len(packets) + index, run
            return -1, []

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
