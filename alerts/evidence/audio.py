"""A clip's audio: the camera's own packets beside its video, copied, never re-encoded.

MP4 carries AAC, and here only AAC-LC, the profile cameras send. PyAV has no way to set a
copied stream's setup (the AudioSpecificConfig) by hand, so the track is declared as AAC-LC at
the camera's rate and channels (which is what its setup says) and the camera's packets go in
as they are. Other codecs (G.711 A-law or mu-law, as many cameras send) have no MP4 mapping in
FFmpeg's muxer: the audio is dropped and the reason goes on the evidence.

Timing: the audio is placed against the video by arrival (its first packet in the clip's
window, against the clip's first picture), then spaced by its own timestamps, which count
samples and so do not jitter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from riverwatch.ring import RingPacket, StreamInfo

AAC_LC = 2  # MPEG-4 audio object type
_AAC_FRAME = 1024  # samples per AAC-LC packet, for packets without a timestamp


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """The camera's audio for one clip: its stream and the packets in the clip's window."""

    stream: StreamInfo
    packets: Sequence[RingPacket]


def unsupported(track: AudioTrack) -> str | None:
    """Why the track cannot go into the MP4, or None when it can."""
    info = track.stream
    if info.codec != "aac":
        return f"the camera's {info.codec} audio has no MP4 form: the clip is video only"
    if not info.extradata or info.extradata[0] >> 3 != AAC_LC:
        return "the camera's AAC is not AAC-LC with its setup out of band: the clip is video only"
    if info.sample_rate <= 0 or info.channels not in (1, 2):
        return "the camera's AAC has no usable rate or channel count: the clip is video only"
    if not track.packets:
        return "no audio arrived in the clip's window"
    return None


def add_track(out: Any, track: AudioTrack) -> Any:
    """An AAC-LC output stream at the camera's rate and channels (see the module's note)."""
    info = track.stream
    stream = out.add_stream("aac", rate=info.sample_rate)
    stream.layout = "mono" if info.channels == 1 else "stereo"
    return stream


def audio_packets(track: AudioTrack, video_start_s: float, stream: Any) -> list[Any]:
    """The track's packets, stamped in 1/rate from the clip's first picture (`video_start_s`,
    its `arrival_s`, the clock the audio's is on); those before it are left out."""
    rate = track.stream.sample_rate
    kept = [p for p in track.packets if p.arrival_s >= video_start_s]
    if not kept:
        return []
    first = kept[0]
    offset = round((first.arrival_s - video_start_s) * rate)
    out, last = [], -1
    for n, packet in enumerate(kept):
        if packet.pts is not None and first.pts is not None:
            at = offset + round((packet.pts - first.pts) * packet.time_base * rate)
        else:
            at = offset + n * _AAC_FRAME
        at = max(at, last + 1)
        last = at
        muxed = av.Packet(packet.data)
        muxed.pts = muxed.dts = at
        muxed.time_base = Fraction(1, rate)
        muxed.stream = stream
        out.append(muxed)
    return out
