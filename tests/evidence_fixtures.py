"""Synthetic H.264 for the evidence tests: packets as a camera's ring holds them, and checks.

Pictures are encoded with libx264 (Annex B, parameter sets in every keyframe, no B-frames,
like the cameras and the RTSP simulator); each GOP has its own grey level so a test can tell
which keyframe a snapshot decoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from riverwatch import annexb
from riverwatch.ring import PacketRing, RingPacket, StreamInfo

TIME_BASE = Fraction(1, 90000)
FPS = 15
STEP = 90000 // FPS


def gop_level(gop: int) -> int:
    """The grey level of GOP number `gop` (distinct for the first ten)."""
    return 40 + 20 * (gop % 10)


def encode(
    frames: int,
    width: int = 480,
    height: int = 272,
    gop: int = FPS,
    slices: int = 1,
    noise: bool = False,
    bframes: int = 0,
) -> list[tuple[bytes, int, bool]]:
    """(data, pts, is_keyframe) of `frames` pictures at FPS, a keyframe every `gop`, in decode
    order (with `bframes`, pts go back where a B-frame follows the picture it refers to)."""
    codec: Any = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base, codec.framerate = TIME_BASE, Fraction(FPS)
    codec.gop_size = gop
    codec.options = {
        "preset": "ultrafast",
        # zerolatency and ultrafast turn B-frames off; x264's own parameters come after them
        "tune": "fastdecode" if bframes else "zerolatency",
        "bframes": "0",
        "x264-params": f"bframes={bframes}",
        "keyint": str(gop),
        "min-keyint": str(gop),
        "scenecut": "0",
        "slices": str(slices),
    }
    out: list[tuple[bytes, int, bool]] = []
    rng = np.random.default_rng(1)
    for i in range(frames):
        image = picture(i, gop, width, height)
        if noise:  # incompressible: tens of kilobytes a frame
            image = rng.integers(0, 256, image.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i * STEP, TIME_BASE
        out += [(bytes(p), int(p.pts), bool(p.is_keyframe)) for p in codec.encode(frame)]
    out += [(bytes(p), int(p.pts), bool(p.is_keyframe)) for p in codec.encode(None)]
    return out


def picture(i: int, gop: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """A grey field (level by GOP) with a small white square moving right."""
    image = np.full((height, width, 3), gop_level(i // gop), np.uint8)
    x = (i * 4) % (width - 16)
    image[8:24, x : x + 16] = 255
    return image


def ring_packets(
    encoded: Sequence[tuple[bytes, int, bool]], t0: float, pts0: int = 0
) -> list[RingPacket]:
    """As the ring holds them: arrival one frame apart from `t0`, dts equal to pts."""
    return [
        RingPacket(data, pts + pts0, pts + pts0, TIME_BASE, key, t0 + n / FPS)
        for n, (data, pts, key) in enumerate(encoded)
    ]


def stream_info(width: int = 480, height: int = 272, extradata: bytes = b"") -> StreamInfo:
    """What the session records when the stream opens."""
    return StreamInfo("h264", width, height, TIME_BASE, extradata)


def slice_units(data: bytes) -> list[bytes]:
    """The coded pictures' NAL units (slices) of an Annex B buffer."""
    return [u for u in annexb.nal_units(data) if annexb.nal_type(u) in (1, 5)]


def mp4_samples(path: Path) -> list[bytes]:
    """Each MP4 sample's slices, back in Annex B, so they compare with ring packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            annexb.to_annexb(
                [u for u in annexb.avcc_units(bytes(p)) if annexb.nal_type(u) in (1, 5)]
            )
            for p in container.demux(stream)
            if p.size
        ]


def probe(path: Path) -> tuple[int, float, int, int, str]:
    """Decoded frame count, duration (s), width, height and codec of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        duration = float((stream.duration or 0) * (stream.time_base or 0))
        ctx = stream.codec_context
        return decoded, duration, ctx.width, ctx.height, ctx.name


def avcc_source(frames: int) -> tuple[list[RingPacket], StreamInfo]:
    """Packets and setup as a file source in MP4 delivers them: length-prefixed, avcC."""
    buffer = io.BytesIO()
    encoded = encode(frames)
    with av.open(buffer, "w", format="mp4") as out:
        video: Any = out.add_mux_stream("h264", width=480, height=272)
        video.time_base = TIME_BASE
        for data, pts, key in encoded:
            packet = av.Packet(data)
            packet.pts = packet.dts = pts
            packet.time_base, packet.is_keyframe, packet.stream = TIME_BASE, key, video
            out.mux(packet)
    buffer.seek(0)
    container: Any
    with av.open(buffer) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or TIME_BASE
        info = StreamInfo("h264", 480, 272, time_base, bytes(stream.codec_context.extradata or b""))
        packets = [
            RingPacket(bytes(p), p.pts, p.dts, time_base, p.is_keyframe, 1000.0 + n / FPS)
            for n, p in enumerate(container.demux(stream))
            if p.size
        ]
    return packets, info


def filled_ring(packets: Sequence[RingPacket], info: StreamInfo, seconds: float) -> PacketRing:
    """A ring holding `packets`, as a camera session would have left it."""
    ring = PacketRing(seconds, 50_000_000)
    ring.open_stream(info)
    for packet in packets:
        ring.append(packet)
    return ring
