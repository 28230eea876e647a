"""A minimal real RTSP server that replays H.264 with whatever RTP timestamps a test chooses.

GStreamer's server (simulator/) re-stamps every buffer from its own clock, so it cannot send
the constant or backwards RTP timestamps some restreamers and cheap cameras send. This one
speaks just enough RTSP for FFmpeg's client (OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN,
GET_PARAMETER) and sends RTP interleaved on the RTSP connection (RFC 2326 section 10.12),
H.264 packetised per RFC 6184 (single NAL unit packets, FU-A above the MTU). Pictures leave
at a fixed frame rate, with the timestamp `stamp(n)` for the n-th picture sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np

_MTU = 1400
_CLOCK_HZ = 90_000


def encode_pictures(
    count: int, fps: int, gop: int, shape_hw: tuple[int, int] = (180, 320)
) -> list[list[bytes]]:
    """`count` pictures of a bright bar crossing a dark field, as each picture's NAL units."""
    return [units for units, _ in encode_with_pts(count, fps, gop, shape_hw)]


def encode_with_pts(
    count: int, fps: int, gop: int, shape_hw: tuple[int, int] = (180, 320), bframes: int = 0
) -> list[tuple[list[bytes], int]]:
    """The pictures in decode order with each one's presentation index (B-frames reorder
    them: a camera stamps RTP with presentation time, so `stamp(n)` must follow these)."""
    height, width = shape_hw
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = Fraction(1, fps)
    codec.gop_size = gop
    tune = {} if bframes else {"tune": "zerolatency"}
    codec.options = {"bframes": str(bframes), **tune, "x264-params": "scenecut=0"}
    pictures: list[tuple[list[bytes], int]] = []
    for index in range(count):
        rgb = np.full((height, width, 3), 30, np.uint8)
        x = (index * 7) % (width - 20)
        rgb[:, x : x + 20] = 220
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = index
        pictures += [(nal_units(bytes(p)), int(p.pts or 0)) for p in codec.encode(frame)]
    pictures += [(nal_units(bytes(p)), int(p.pts or 0)) for p in codec.encode(None)]
    return pictures


def nal_units(annex_b: bytes) -> list[bytes]:
    """Split an Annex B byte stream on its start codes."""
    parts = annex_b.split(b"\x00\x00\x01")
    # A four-byte start code leaves its leading zero on the end of the unit before it.
    units = [part.rstrip(b"\x00") for part in parts[:-1]] + parts[-1:]
    return [unit for unit in units if unit]


def rtp_payloads(nal: bytes) -> list[bytes]:
    """One NAL unit as RTP payloads: itself, or FU-A fragments when it exceeds the MTU."""
    if len(nal) <= _MTU:
        return [nal]
    header, body = nal[0], nal[1:]
    indicator = (header & 0xE0) | 28
    chunks = [body[i : i + _MTU] for i in range(0, len(body), _MTU)]
    payloads = []
    for i, chunk in enumerate(chunks):
        fu = header & 0x1F
        if i == 0:
            fu |= 0x80
        if i == len(chunks) - 1:
            fu |= 0x40
        payloads.append(bytes([indicator, fu]) + chunk)
    return payloads


class RtspReplay:
    """Serves `pictures` in a loop on rtsp://127.0.0.1:<port>/cam; an async context manager.

    `stamp(n)` is the RTP timestamp of the n-th picture sent on a connection (default: a real
    camera's, n * 90000 / fps). `sent` and `keyframes_sent` count pictures over all
    connections; `connections` counts the clients that asked to PLAY.
    """

    def __init__(
        self,
        pictures: list[list[bytes]],
        fps: int,
        stamp: Callable[[int], int] | None = None,
        sets_in_sdp: bool = True,
        sets_in_band: bool = True,
    ) -> None:
        # SPS and PPS (NAL types 7, 8) go in the SDP's sprop-parameter-sets, in band before
        # the keyframes, or both, as cameras variously do.
        self._sets_in_sdp = sets_in_sdp
        self._in_band = (
            pictures
            if sets_in_band
            else [[nal for nal in picture if nal[0] & 0x1F not in (7, 8)] for picture in pictures]
        )
        self._pictures = pictures
        self._fps = fps
        self._stamp = stamp or (lambda n: n * _CLOCK_HZ // fps)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.sent = 0
        self.keyframes_sent = 0
        self.connections = 0

    @property
    def url(self) -> str:
        """The stream's URL."""
        return f"rtsp://127.0.0.1:{self.port}/cam"

    async def __aenter__(self) -> RtspReplay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender: asyncio.Task[None] | None = None
        try:
            while (request := await _read_request(reader)) is not None:
                method, cseq = request
                headers, body = self._answer(method)
                writer.write(_response(cseq, headers, body))
                await writer.drain()
                if method == "PLAY" and sender is None:
                    self.connections += 1
                    sender = asyncio.create_task(self._send(writer))
                if method == "TEARDOWN":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: the end of its session
        finally:
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            writer.close()

    def _answer(self, method: str) -> tuple[dict[str, str], bytes]:
        if method == "DESCRIBE":
            return {"Content-Type": "application/sdp", "Content-Base": self.url + "/"}, self._sdp()
        if method == "SETUP":
            return {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", "Session": "1"}, b""
        if method == "OPTIONS":
            return {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}, b""
        return {"Session": "1"}, b""

    def _sdp(self) -> bytes:
        units = {unit[0] & 0x1F: unit for unit in self._pictures[0]}
        sets = ",".join(base64.b64encode(units[t]).decode() for t in (7, 8))
        sprop = f";sprop-parameter-sets={sets}" if self._sets_in_sdp else ""
        return (
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=replay\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1{sprop}\r\n"
            "a=control:trackID=0\r\n"
        ).encode()

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        seq, n = 0, 0
        with contextlib.suppress(ConnectionError):
            while True:
                picture = self._in_band[n % len(self._in_band)]
                payloads = [p for nal in picture for p in rtp_payloads(nal)]
                stamp = self._stamp(n) & 0xFFFFFFFF
                for i, payload in enumerate(payloads):
                    marker = 0x80 if i == len(payloads) - 1 else 0
                    header = struct.pack("!BBHII", 0x80, marker | 96, seq & 0xFFFF, stamp, 7)
                    packet = header + payload
                    writer.write(b"$\x00" + struct.pack("!H", len(packet)) + packet)
                    seq += 1
                await writer.drain()
                self.sent += 1
                self.keyframes_sent += any(nal[0] & 0x1F == 5 for nal in picture)
                n += 1
                # A fixed pause, not a catch-up schedule: a busy loop stretches the stream
                # instead of bursting it, so counts stay comparable to a real camera's.
                await asyncio.sleep(1 / self._fps)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The next RTSP request's method and CSeq, skipping interleaved RTCP from the client."""
    while True:
        first = await reader.read(1)
        if not first:
            return None
        if first == b"$":  # an interleaved binary frame (the client's RTCP receiver reports)
            size = struct.unpack("!xH", await reader.readexactly(3))[0]
            await reader.readexactly(size)
            continue
        head = first + await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
        if length := int(headers.get("content-length", "0")):
            await reader.readexactly(length)
        return lines[0].split(" ", 1)[0], headers.get("cseq", "0")


def _response(cseq: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = ["RTSP/1.0 200 OK", f"CSeq: {cseq}", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
