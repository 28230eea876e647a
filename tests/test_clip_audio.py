"""A clip keeps the camera's AAC beside its video, copied; audio MP4 cannot carry (G.711) is
left out with the reason. Packets are made as a camera's would arrive: H.264 pictures at
15 fps, AAC-LC packets of 1024 samples, each stamped on arrival."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from alerts.evidence.audio import AudioTrack
from alerts.evidence.clip import write_clip
from riverwatch.annexb import to_annexb
from riverwatch.ring import RingPacket, StreamInfo
from tests.rtsp_replay import encode_pictures

FPS, GOP, RATE = 15, 15, 16_000
VIDEO_TB, AUDIO_TB = Fraction(1, 90_000), Fraction(1, RATE)
T0 = 1_700_000_000.0


def _video(seconds: int) -> tuple[list[RingPacket], StreamInfo]:
    pictures = encode_pictures(seconds * FPS, FPS, GOP)
    packets = [
        RingPacket(to_annexb(units), n * 6000, n * 6000, VIDEO_TB,
                   any(u[0] & 0x1F == 5 for u in units), T0 + n / FPS, 0, n, n / FPS)
        for n, units in enumerate(pictures)
    ]  # fmt: skip
    return packets, StreamInfo("h264", 320, 180, VIDEO_TB, b"")


def _aac(seconds: int) -> AudioTrack:
    codec = av.CodecContext.create("aac", "w")
    codec.sample_rate, codec.layout, codec.format = RATE, "mono", "fltp"
    codec.time_base = AUDIO_TB
    encoded = []
    for start in range(0, seconds * RATE, 1024):
        tone = (np.sin(np.arange(start, start + 1024) / 8.0) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = RATE, start
        encoded += list(codec.encode(frame))
    info = StreamInfo("aac", 0, 0, AUDIO_TB, bytes(codec.extradata or b""),
                      sample_rate=RATE, channels=1)  # fmt: skip
    packets = [
        RingPacket(
            bytes(p), p.pts, p.pts, AUDIO_TB, True, T0 + _heard(p.pts), 0, None, _heard(p.pts)
        )
        for p in encoded
        if p.pts is not None and p.pts >= 0
    ]
    return AudioTrack(info, packets)


def _heard(pts: int) -> float:
    return float(pts * AUDIO_TB) + 0.02  # the network's delay


def _streams(path: Path) -> tuple[int, int, float]:
    """Decoded video frames, decoded audio samples, and the audio's start in seconds."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return frames, 0, 0.0
        audio = list(container.decode(audio=0))
    return frames, sum(f.samples for f in audio), float(audio[0].pts * audio[0].time_base)


def test_a_clip_keeps_the_cameras_aac_in_time_with_the_video(tmp_path: Path) -> None:
    packets, stream = _video(3)
    info = write_clip(packets, stream, tmp_path / "clip.mp4", audio=_aac(3))
    assert (info.audio, info.note) == ("aac", "")
    frames, samples, start = _streams(tmp_path / "clip.mp4")
    assert frames == 3 * FPS
    assert 2.5 * RATE <= samples <= 3.1 * RATE  # three seconds of sound, as sent
    assert 0.0 <= start <= 0.1  # placed by arrival against the first picture


def test_audio_mp4_cannot_carry_is_left_out_with_the_reason(tmp_path: Path) -> None:
    packets, stream = _video(2)
    alaw = AudioTrack(StreamInfo("pcm_alaw", 0, 0, AUDIO_TB, b"", sample_rate=8000, channels=1),
                      [RingPacket(b"\xd5" * 160, 0, 0, AUDIO_TB, True, T0)])  # fmt: skip
    info = write_clip(packets, stream, tmp_path / "clip.mp4", audio=alaw)
    assert info.audio == "" and "pcm_alaw audio has no MP4 form" in info.note
    assert _streams(tmp_path / "clip.mp4")[:2] == (2 * FPS, 0)
