"""Tile fallback: the newest keyframe in a camera's ring as a JPEG, decoded once per keyframe.

However many tiles ask, a camera costs one keyframe decode per GOP at most: the JPEG is
cached under the keyframe's ring sequence number, and concurrent requests for a keyframe
that is being decoded wait for that one decode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import cast

import av
import cv2
from av.video.codeccontext import VideoCodecContext

from api.live.errors import NoPicture
from riverwatch.ring import PacketRing, RingPacket, StreamInfo

JPEG_QUALITY = 80


def keyframe_jpeg(stream: StreamInfo | None, packets: Sequence[RingPacket]) -> bytes:
    """Decode one keyframe's packets and encode the picture as JPEG (blocking: run it in a
    worker thread); raises `NoPicture` when they do not decode."""
    codec = cast(VideoCodecContext, av.CodecContext.create(stream.codec if stream else "h264", "r"))
    codec.thread_count = 1
    if stream is not None and stream.extradata:
        codec.extradata = stream.extradata  # SPS/PPS when the camera sends them out of band
    try:
        frames = [f for p in packets for f in codec.decode(av.Packet(p.data))]
        frames += codec.decode(None)  # a keyframe alone: drain, no later packet will push it
    except av.error.FFmpegError as exc:
        raise NoPicture(f"the newest keyframe does not decode ({type(exc).__name__})") from None
    if not frames:
        raise NoPicture("the newest keyframe does not decode")
    picture = frames[0].to_ndarray(format="bgr24")
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise NoPicture("the picture could not be encoded as JPEG")
    return bytes(encoded)


class Snapshots:
    """Per camera, the JPEG of the newest keyframe; one entry per camera, so it is bounded by
    the number of cameras."""

    def __init__(
        self,
        rings: Callable[[str], PacketRing],
        main_rings: Callable[[str], PacketRing | None] = lambda _: None,
    ) -> None:
        self._rings = rings
        self._main_rings = main_rings
        self._cache: dict[str, tuple[int, bytes]] = {}
        self._pending: dict[str, tuple[int, asyncio.Task[bytes]]] = {}
        self.decodes = 0  # keyframes decoded so far (tests prove tiles share them)

    async def jpeg(self, camera_id: str, main: bool = False) -> bytes:
        """The camera's newest keyframe as JPEG (its main stream's, any codec, when `main` is
        asked and it is recorded); raises `UnknownCamera` (from the ring lookup) or
        `NoPicture` when the camera has sent no keyframe yet."""
        ring = self._rings(camera_id)
        main_ring = self._main_rings(camera_id) if main else None
        if main_ring is not None and main_ring.newest_keyframe()[1]:
            ring, camera_id = main_ring, f"{camera_id}:main"  # cached apart from the sub's
        seq, packets = ring.newest_keyframe()
        if not packets:
            raise NoPicture("the camera has sent no keyframe yet")
        cached = self._cache.get(camera_id)
        if cached is not None and cached[0] == seq:
            return cached[1]
        pending = self._pending.get(camera_id)
        if pending is None or pending[0] != seq:
            task = asyncio.create_task(self._decode(camera_id, seq, ring.stream, packets))
            pending = (seq, task)
            self._pending[camera_id] = pending
        # Shielded: one tile giving up must not cancel the decode the others wait for.
        return await asyncio.shield(pending[1])

    async def _decode(
        self, camera_id: str, seq: int, stream: StreamInfo | None, packets: list[RingPacket]
    ) -> bytes:
        try:
            self.decodes += 1
            jpeg = await asyncio.to_thread(keyframe_jpeg, stream, packets)
            newest = self._cache.get(camera_id)
            if newest is None or newest[0] < seq:
                self._cache[camera_id] = (seq, jpeg)
            return jpeg
        finally:
            if self._pending.get(camera_id, (None,))[0] == seq:
                del self._pending[camera_id]

    async def aclose(self) -> None:
        """Wait for decodes still running (each is one keyframe: milliseconds)."""
        tasks = [task for _, task in self._pending.values()]
        await asyncio.gather(*tasks, return_exceptions=True)
