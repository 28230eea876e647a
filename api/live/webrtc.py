"""Peer connections for live view: answer a browser's offer with the camera's relay track.

`LiveService` owns every `RTCPeerConnection`, the relays and the snapshot cache. It caps
viewers per camera and in total, bounds the offer/answer exchange and the time to connect,
closes connections that fail or never connect, and closes everything on shutdown:

    async with LiveService(hub.ring, LiveLimits()) as live:
        answer = await live.answer("cam-1", offer_sdp)   # -> Viewer(sdp, ...)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.sdp import SessionDescription

from api.live.errors import BadOffer, NotForwardable, SetupTimeout, ViewerLimit
from api.live.relay import Relays, RelayStats, ViewerTrack
from api.live.snapshot import Snapshots
from riverwatch.ring import PacketRing

log = logging.getLogger(__name__)

_RECEIVING = {"recvonly", "sendrecv"}


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """Caps and timeouts of live view (defaults sized for a 2-core hub)."""

    max_viewers_per_camera: int = 8
    max_viewers_total: int = 64
    offer_timeout_s: float = 10.0  # parse, ICE gathering, answer
    connect_timeout_s: float = 20.0  # answer sent -> ICE and DTLS connected
    close_timeout_s: float = 5.0
    queue_packets: int = 90  # per viewer: 6 s at 15 fps before it is resynced


@dataclass(frozen=True, slots=True)
class Viewer:
    """A viewer just set up: the SDP answer and its id (as in `LiveService.stats`)."""

    id: int
    camera_id: str
    sdp: str
    stream: str = "sub"  # "main" or the analysed stream ("sub", or the camera's only one)
    note: str = ""  # why a viewer who asked for the main stream gets the analysed one


@dataclass(slots=True)
class _Peer:
    id: int
    camera_id: str
    pc: RTCPeerConnection
    track: ViewerTrack
    watchdog: asyncio.Task[None] | None = None
    closing: asyncio.Task[None] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Viewers per camera and the relays' figures."""

    total_viewers: int
    viewers: dict[str, int]
    relays: list[RelayStats]
    relays_started: int


# What aiortc's SDP parser and `setRemoteDescription` raise on malformed text besides their
# own errors (found by fuzzing offers: a browser's offer with lines cut, dropped or added).
_MALFORMED = (ValueError, AssertionError, AttributeError, IndexError, KeyError, TypeError)


def check_offer(sdp: str) -> None:
    """Raise `BadOffer` unless `sdp` parses and has a video section that can receive H.264,
    with the ICE credentials and DTLS fingerprint a connection needs."""
    try:
        parsed = SessionDescription.parse(sdp)
    except (*_MALFORMED, StopIteration) as exc:
        raise BadOffer(f"the offer is not valid SDP ({type(exc).__name__})") from None
    for media in parsed.media:
        ice = media.ice
        if media.kind in ("audio", "video") and not (ice and ice.usernameFragment and ice.password):
            raise BadOffer(f"the offer's {media.kind} section has no ICE credentials")
        if media.kind in ("audio", "video") and not (media.dtls and media.dtls.fingerprints):
            raise BadOffer(f"the offer's {media.kind} section has no DTLS fingerprint")
    videos = [m for m in parsed.media if m.kind == "video"]
    if not videos:
        raise BadOffer("the offer has no video section")
    for media in videos:
        names = {c.mimeType.lower() for c in media.rtp.codecs}
        if "video/h264" in names and (media.direction or "sendrecv") in _RECEIVING:
            return
    raise BadOffer("the offer has no video section that can receive H.264")


def _prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType == "video/H264"])


class LiveService:
    """Live view: WebRTC viewers of the cameras' relays, and JPEG snapshots for tiles."""

    def __init__(
        self,
        rings: Callable[[str], PacketRing],
        limits: LiveLimits | None = None,
        main_rings: Callable[[str], PacketRing | None] = lambda _: None,
    ) -> None:
        self._rings = rings
        self._main_rings = main_rings
        self._limits = limits or LiveLimits()
        self._relays = Relays(self._limits.queue_packets)
        self._peers: dict[int, _Peer] = {}
        self._ids = itertools.count(1)
        self._closing: set[asyncio.Task[None]] = set()
        self._shut = False
        self.snapshots = Snapshots(rings, main_rings)

    async def __aenter__(self) -> LiveService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def limits(self) -> LiveLimits:
        """The caps and timeouts in force."""
        return self._limits

    async def answer(self, camera_id: str, sdp: str, main: bool = False) -> Viewer:
        """Answer a browser's offer with the camera's live H.264: its main stream when `main`
        is asked and the main stream is H.264 and recorded, else the analysed stream.

        Raises `UnknownCamera`, `NotForwardable`, `BadOffer`, `ViewerLimit`, `SetupTimeout`.
        """
        ring, stream, note = self._pick(camera_id, main)
        if ring.stream is not None and ring.stream.codec != "h264":
            raise NotForwardable(
                f"camera {camera_id!r} sends {ring.stream.codec}; live view forwards H.264 only "
                "(browsers' WebRTC does not take it, and the hub does not re-encode)"
            )
        check_offer(sdp)
        self._check_room(camera_id)
        pc = RTCPeerConnection()
        relay_key = camera_id if stream != "main" else f"{camera_id}:main"
        peer = _Peer(next(self._ids), camera_id, pc, self._relays.subscribe(relay_key, ring))
        self._peers[peer.id] = peer  # counted from here on, before the first await
        try:
            async with asyncio.timeout(self._limits.offer_timeout_s):
                answer = await self._negotiate(peer, sdp)
        except TimeoutError:
            await self._close(peer, "offer timed out")
            raise SetupTimeout(
                f"could not answer the offer within {self._limits.offer_timeout_s:g} s"
            ) from None
        except BaseException:
            await self._close(peer, "offer failed")
            raise
        peer.watchdog = asyncio.create_task(self._watch(peer), name=f"live-watch-{peer.id}")
        log.info("live: viewer %d of camera %s (%s) answered", peer.id, camera_id, stream)
        return Viewer(peer.id, camera_id, answer, stream, note)

    def _pick(self, camera_id: str, main: bool) -> tuple[PacketRing, str, str]:
        """The ring to send, its role, and a note when the main stream was asked but not sent."""
        ring = self._rings(camera_id)
        if not main:
            return ring, "sub", ""
        main_ring = self._main_rings(camera_id)
        if main_ring is None or main_ring.stream is None:
            return ring, "sub", "the main stream is not open: showing the analysed stream"
        if main_ring.stream.codec != "h264":
            codec = main_ring.stream.codec
            return (
                ring,
                "sub",
                f"the main stream is {codec}, which WebRTC does not take: sub-stream",
            )
        return main_ring, "main", ""

    def _check_room(self, camera_id: str) -> None:
        if self._shut:
            raise ViewerLimit("live view is shutting down")
        limits = self._limits
        if len(self._peers) >= limits.max_viewers_total:
            raise ViewerLimit(f"the hub serves at most {limits.max_viewers_total} live viewers")
        on_camera = sum(1 for p in self._peers.values() if p.camera_id == camera_id)
        if on_camera >= limits.max_viewers_per_camera:
            raise ViewerLimit(
                f"camera {camera_id!r} has the most live viewers allowed "
                f"({limits.max_viewers_per_camera}); use its snapshot instead"
            )

    async def _negotiate(self, peer: _Peer, sdp: str) -> str:
        pc = peer.pc

        @pc.on("connectionstatechange")
        def _changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._close_soon(peer, f"connection {pc.connectionState}")

        # The transceiver exists before the offer is applied: aiortc picks the codec while
        # applying it, and only H.264 may be picked, as the packets are the camera's own.
        _prefer_h264(pc.addTransceiver(peer.track, direction="sendonly"))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except (*_MALFORMED, InvalidAccessError, InvalidStateError, OperationError) as exc:
            raise BadOffer(f"the offer cannot be answered ({type(exc).__name__}: {exc})") from None
        local = pc.localDescription
        assert local is not None  # set just above
        return local.sdp

    async def _watch(self, peer: _Peer) -> None:
        await asyncio.sleep(self._limits.connect_timeout_s)
        if peer.pc.connectionState != "connected":
            self._close_soon(peer, f"not connected within {self._limits.connect_timeout_s:g} s")

    def _close_soon(self, peer: _Peer, reason: str) -> None:
        if peer.closing is None and peer.id in self._peers:
            peer.closing = asyncio.create_task(self._close(peer, reason))
            self._closing.add(peer.closing)
            peer.closing.add_done_callback(self._closing.discard)

    async def _close(self, peer: _Peer, reason: str) -> None:
        if self._peers.pop(peer.id, None) is None:
            return
        current = asyncio.current_task()
        if peer.watchdog is not None and peer.watchdog is not current:
            peer.watchdog.cancel()
        peer.track.stop()  # leaves the relay at once, whatever pc.close() does
        try:
            async with asyncio.timeout(self._limits.close_timeout_s):
                await peer.pc.close()
        except TimeoutError:
            log.warning("live: viewer %d did not close within the budget", peer.id)
        log.info("live: viewer %d of camera %s closed: %s", peer.id, peer.camera_id, reason)

    def viewers(self, camera_id: str) -> int:
        """Peer connections of one camera now."""
        return sum(1 for p in self._peers.values() if p.camera_id == camera_id)

    def stats(self) -> LiveStats:
        """Viewers per camera and relay figures."""
        per_camera: dict[str, int] = {}
        for peer in self._peers.values():
            per_camera[peer.camera_id] = per_camera.get(peer.camera_id, 0) + 1
        return LiveStats(len(self._peers), per_camera, self._relays.stats(), self._relays.started)

    async def disconnect(self, viewer_id: int) -> bool:
        """Close one viewer's connection; False if there is no such viewer."""
        peer = self._peers.get(viewer_id)
        if peer is None:
            return False
        await self._close(peer, "disconnected by the hub")
        return True

    async def aclose(self) -> None:
        """Refuse new viewers, close every connection within the budget, stop the relays."""
        self._shut = True
        peers = list(self._peers.values())
        await asyncio.gather(*(self._close(p, "hub shutting down") for p in peers))
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._relays.aclose()
        await self.snapshots.aclose()
        if peers:
            log.info("live: closed %d viewer connections on shutdown", len(peers))

    @property
    def relay_count(self) -> int:
        """Relays running now (one per watched camera)."""
        return len(self._relays)
