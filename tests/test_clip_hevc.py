"""An H.265 camera's clip: remuxed without re-encoding into an MP4 whose sample entry is
`hvc1` (what browsers that play HEVC want), B-frames in display order, every picture once."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from alerts.evidence.clip import write_clip
from riverwatch.ring import RingPacket, StreamInfo

FPS, TB = 15, Fraction(1, 90_000)


def _hevc_packets(count: int) -> list[RingPacket]:
    codec = av.CodecContext.create("libx265", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 180, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.options = {"x265-params": "log-level=none:keyint=15:min-keyint=15:bframes=2"}
    encoded = []
    for n in range(count):
        rgb = np.full((180, 320, 3), 30, np.uint8)
        rgb[:, (n * 7) % 300 :][:, :20] = 220
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = n
        encoded += list(codec.encode(frame))
    encoded += list(codec.encode(None))
    return [
        RingPacket(bytes(p), int(p.pts) * 6000, int(p.dts) * 6000, TB, p.is_keyframe,
                   1e9 + i / FPS, 0, i, i / FPS)
        for i, p in enumerate(encoded)
    ]  # fmt: skip


def test_an_hevc_clip_is_tagged_hvc1_and_plays_every_picture_in_order(tmp_path: Path) -> None:
    packets = _hevc_packets(30)
    assert any(p.pts != p.dts for p in packets)  # B-frames: decode order is not display order
    path = tmp_path / "clip.mp4"
    info = write_clip(packets, StreamInfo("hevc", 320, 180, TB, b""), path)
    data = path.read_bytes()
    assert b"hvc1" in data and b"hev1" not in data
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc"
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
    assert len(times) == info.frames == 30
    assert times == sorted(times) and len(set(times)) == len(times)
