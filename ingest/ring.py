"""A per-camera ring of the last seconds of compressed packets (pre-roll for clips, live view)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction


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
    """

    def __init__(self, max_seconds: float, max_bytes: int) -> None:
        self._max_seconds = max_seconds
        self._max_bytes = max_bytes
        self._packets: deque[RingPacket] = deque()
        self._bytes = 0
        self._evicted = 0
        self._lock = threading.Lock()
        self.stream: StreamInfo | None = None  # set by the session when a stream opens

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
    def size_bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._packets)
