"""Incident clips: choose one playable run of ring packets and remux it into MP4, no encoder.

`select_clip` is pure: it cuts the packets where the stream restarted (a new ring generation
after a reconnect, or a trusted pts timeline that jumps; a long silence leaves a hole) and
starts the clip at a keyframe.
`write_clip` copies the chosen packets into an MP4 with faststart (the index first, so a
browser can scrub before the whole file arrives), through a temporary file and a rename.

A sample is a ring picture, never "packets sharing a pts": ingest numbered the pictures as
they arrived. Cameras and restreamers that send missing, constant or backwards pts are common;
`pts_trusted` says when a clip's own pts can time it, and the others are timed by arrival.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from alerts.evidence.audio import AudioTrack, add_track, audio_packets, unsupported
from alerts.evidence.errors import MediaError, NoVideo, is_storage_errno
from alerts.evidence.mp4tag import tag_hvc1
from riverwatch import annexb
from riverwatch.files import fsync_path
from riverwatch.ring import RingPacket, StreamInfo, pictures_of, same_picture

MAX_GAP_S = 2.0  # a silence longer than this is a broken stream, not a slow frame
_REORDER_S = 0.5  # B-frames put pts back by a few frames; a restart puts it back further
_MAX_REORDER = 8  # pictures a B-frame pyramid may sit from its display position
_FALLBACK_FPS = 15

Picture = list[RingPacket]  # one picture's packets, as `pictures_of` groups them


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What was written: samples (access units), keyframes, and the span in seconds."""

    frames: int
    keyframes: int
    duration_s: float
    audio: str = ""  # the audio codec kept in the clip, if any
    note: str = ""  # why the camera's audio is not in it


def contiguous_runs(
    packets: Sequence[RingPacket], max_gap_s: float = MAX_GAP_S, codec: str | None = None
) -> list[list[RingPacket]]:
    """Split arrival-ordered packets into runs that share one timeline, whole pictures each.

    Pictures are the ring's (`riverwatch.ring.pictures_of`: as the ingest session numbered
    them on arrival). A new ring generation or an arrival silence longer than `max_gap_s`
    always starts a new run. Where the pts are trusted (`pts_trusted`), a timeline that jumps
    back by more than B-frames reorder, or forward by more than `max_gap_s`, is a restart (a
    looping file, a restreamer's reconnect) and starts a new run too; a picture without
    timestamps (FFmpeg's RTSP demuxer gives the first keyframe of a session none) belongs to
    the run of the next timed picture. Where they are not trusted, only arrival splits. An
    H.264 stream (`codec`) whose in-band SPS changes (a new picture size mid-session) starts
    a new run there: one MP4 track has one size.
    """
    runs: list[list[Picture]] = []
    for segment in _segments(pictures_of(packets), max_gap_s, codec == "h264"):
        runs += _split_at_restarts(segment, max_gap_s) if pts_trusted(segment) else [segment]
    return [[packet for picture in run for packet in picture] for run in runs]


def pts_trusted(pictures: Sequence[Picture]) -> bool:
    """Whether the pictures' own pts (dts where a picture has none) can time a clip.

    The rule: at least two pictures are timed, no two of them share a timestamp (two pictures
    are never shown at one instant), and either from each timed picture to the next the
    timestamps go forward at least as often as back (B-frames put them back now and then, a
    restart once), or they end later than they start and no picture is more than
    `_MAX_REORDER` places from its place in display order (pyramids of B-frames, as H.265
    encoders make them, go back more often than forward). A constant clock never moves and a
    backwards one never goes forward. Untrusted pictures are timed by their arrival instead
    (`write_clip`).
    """
    stamps = [ts for ts in map(_presentation_s, pictures) if ts is not None]
    if len(stamps) < 2 or len(set(stamps)) < len(stamps):
        return False
    forward = sum(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    return 2 * forward >= len(stamps) - 1 or _reordered_within(stamps, _MAX_REORDER)


def _reordered_within(stamps: Sequence[float], places: int) -> bool:
    """Later at the end than at the start, each within `places` of its display position."""
    if stamps[-1] <= stamps[0]:
        return False
    display = sorted(range(len(stamps)), key=stamps.__getitem__)
    return all(abs(rank - index) <= places for rank, index in enumerate(display))


def _segments(
    pictures: Sequence[Picture], max_gap_s: float, by_sps: bool = False
) -> list[list[Picture]]:
    """Pictures cut where the generation changes, nothing arrived for `max_gap_s`, or (with
    `by_sps`) an in-band H.264 SPS differs from the segment's."""
    segments: list[list[Picture]] = []
    sps: bytes | None = None
    for picture in pictures:
        last = segments[-1][-1][-1] if segments else None
        first = picture[0]
        new_sps = annexb.sps_of(first.data) if by_sps and first.is_keyframe else None
        if (
            last is None
            or first.generation != last.generation
            or first.arrival_s - last.arrival_s > max_gap_s
            or (new_sps is not None and sps is not None and new_sps != sps)
        ):
            segments.append([picture])
            sps = None
        else:
            segments[-1].append(picture)
        sps = new_sps or sps
    return segments


def _split_at_restarts(pictures: Sequence[Picture], max_gap_s: float) -> list[list[Picture]]:
    """Trusted pictures cut where their decode timeline restarts."""
    runs: list[list[Picture]] = [[]]
    pending: list[Picture] = []
    last_ts: float | None = None
    for picture in pictures:
        ts = _decode_s(picture)
        if ts is None:
            pending.append(picture)
            continue
        if last_ts is not None and (ts < last_ts - _REORDER_S or ts - last_ts > max_gap_s):
            runs.append([])
            last_ts = None
        runs[-1] += [*pending, picture]
        pending = []
        last_ts = ts if last_ts is None else max(ts, last_ts)
    runs[-1] += pending  # untimed pictures at the end: nothing follows them but this run
    return [run for run in runs if run]


def select_clip(
    packets: Sequence[RingPacket],
    start: float,
    end: float,
    anchor: float,
    max_gap_s: float = MAX_GAP_S,
    codec: str | None = None,
) -> list[RingPacket]:
    """The packets of one run from the last keyframe at or before `start` up to `end`.

    The run is the one that holds `anchor` (the alert's time); when its keyframes all come
    after `start`, the clip starts at its first keyframe (at its first slice). Raises
    `NoVideo` when no run has a keyframe inside the window.
    """
    runs = contiguous_runs(packets, max_gap_s, codec)
    if not runs:
        raise NoVideo("no packets in the clip window")
    before = [r for r in runs if r[0].received_at <= anchor]
    run = before[-1] if before else runs[0]
    keys = [
        i
        for i, p in enumerate(run)
        if p.is_keyframe and p.received_at <= end and not (i and same_picture(run[i - 1], p))
    ]
    if not keys:
        raise NoVideo("no keyframe in the clip window")
    at_or_before = [i for i in keys if run[i].received_at <= start]
    first = at_or_before[-1] if at_or_before else keys[0]
    return [p for p in run[first:] if p.received_at <= end]


@dataclass(slots=True)
class _Sample:
    data: bytes
    pts: int | None
    dts: int | None
    key: bool
    arrival_s: float


def write_clip(
    packets: Sequence[RingPacket],
    stream: StreamInfo,
    path: Path,
    audio: AudioTrack | None = None,
) -> ClipInfo:
    """Remux `packets` (from `select_clip`) into an MP4 at `path`, atomically.

    One sample per ring picture. Pictures whose pts are trusted (`pts_trusted`) keep the
    camera's timing, B-frame reordering included; the others are stamped by arrival. The
    camera's `audio` goes in beside it where MP4 can carry it (`alerts.evidence.audio`).
    Raises `MediaError` when the muxer refuses the packets and lets an `OSError` about the
    disk through (the store turns it into a `StorageError`).
    """
    if not packets:
        raise NoVideo("no packets to write")
    time_base = packets[0].time_base
    pictures = pictures_of(packets)
    samples = _samples(pictures, stream)
    if pts_trusted(pictures):
        durations = _timestamps(samples, time_base)
    else:
        durations = _arrival_timestamps(samples, time_base)
    note = unsupported(audio) if audio is not None else ""
    kept = audio if audio is not None and not note else None
    tmp = path.with_name(f".{path.name}.part")
    try:
        _mux(samples, durations, stream, time_base, tmp, kept)
        if stream.codec == "hevc":
            tag_hvc1(tmp)
        fsync_path(tmp)  # the rename must not publish a file whose bytes are still in the cache
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    span = samples[-1].pts or 0
    return ClipInfo(
        frames=len(samples),
        keyframes=sum(s.key for s in samples),
        duration_s=float((span + durations[-1]) * time_base),
        audio=kept.stream.codec if kept is not None else "",
        note=note or "",
    )


def _mux(
    samples: Sequence[_Sample],
    durations: Sequence[int],
    stream: StreamInfo,
    time_base: Fraction,
    tmp: Path,
    audio: AudioTrack | None = None,
) -> None:
    options = {"movflags": "+faststart"}
    try:
        with av.open(str(tmp), "w", format="mp4", options=options) as out:
            width, height = _picture_size(samples[0], stream)
            video: Any = out.add_mux_stream(stream.codec, width=width, height=height)
            video.time_base = time_base
            sound = add_track(out, audio) if audio is not None else None
            for sample, duration in zip(samples, durations, strict=True):
                packet = av.Packet(sample.data)
                packet.pts, packet.dts, packet.duration = sample.pts, sample.dts, duration
                packet.time_base = time_base
                packet.is_keyframe = sample.key
                packet.stream = video
                out.mux(packet)
            if audio is not None:  # the muxer interleaves by time
                for packet in audio_packets(audio, samples[0].arrival_s, sound):
                    out.mux(packet)
    except av.error.FFmpegError as exc:
        if isinstance(exc, OSError) and is_storage_errno(exc.errno):
            raise  # the store reports it as a storage error
        raise MediaError(f"the MP4 muxer refused the packets: {type(exc).__name__}") from exc
    except ValueError as exc:
        raise MediaError(f"the MP4 muxer refused the stream: {exc}") from exc


def _picture_size(first: _Sample, stream: StreamInfo) -> tuple[int, int]:
    """The clip's size: its first keyframe's own when it decodes (a stream may have changed
    size since it opened), else the stream's."""
    if not first.key:
        return stream.width, stream.height
    try:
        codec: Any = av.CodecContext.create(stream.codec, "r")
        if stream.extradata:
            codec.extradata = stream.extradata
        frames = [*codec.decode(av.Packet(first.data)), *codec.decode(None)]
    except (av.error.FFmpegError, ValueError):
        return stream.width, stream.height
    return (frames[0].width, frames[0].height) if frames else (stream.width, stream.height)


def _samples(pictures: Sequence[Picture], stream: StreamInfo) -> list[_Sample]:
    """One access unit per picture in Annex B, its slices joined, parameter sets up front."""
    length_size = 0
    extradata = stream.extradata
    if extradata and not annexb.is_annexb(extradata) and stream.codec == "h264":
        # An MP4 or MKV file source: its packets are length-prefixed; the muxer wants one form.
        extradata, length_size = annexb.avcc_config_to_annexb(extradata)
    samples: list[_Sample] = []
    for picture in pictures:
        data = b"".join(_annexb(p.data, length_size) for p in picture)
        pts = next((p.pts for p in picture if p.pts is not None), None)
        dts = next((p.dts for p in picture if p.dts is not None), None)
        key = any(p.is_keyframe for p in picture)
        samples.append(_Sample(data, pts, dts, key, picture[0].arrival_s))
    first = samples[0]
    has_sets = _PARAMETER_SETS.get(stream.codec)
    if has_sets is not None and not has_sets(first.data):
        if not annexb.is_annexb(extradata):
            raise MediaError("no parameter sets in the stream's setup or its first keyframe")
        # The muxer builds its avcC / hvcC from the first packet's in-band parameter sets.
        first.data = extradata + first.data
    return samples


_PARAMETER_SETS = {"h264": annexb.has_parameter_sets, "hevc": annexb.hevc_has_parameter_sets}


def _annexb(data: bytes, length_size: int) -> bytes:
    if not length_size:
        return data
    return annexb.to_annexb(list(annexb.avcc_units(data, length_size)))


def _arrival_timestamps(samples: list[_Sample], time_base: Fraction) -> list[int]:
    """Stamp samples by arrival from the first, at least one tick apart; return durations.

    Decode order is arrival order, and pts equal dts: a stream whose timestamps cannot be
    trusted cannot say where B-frames would go (the cameras that send such timestamps do
    not use them). The last sample lasts the typical step.
    """
    origin = samples[0].arrival_s
    last = -1
    for sample in samples:
        last = max(round((sample.arrival_s - origin) / time_base), last + 1)
        sample.pts = sample.dts = last
    gaps = [(b.dts or 0) - (a.dts or 0) for a, b in zip(samples, samples[1:], strict=False)]
    return [*gaps, _typical_step(gaps, time_base)]


def _timestamps(samples: list[_Sample], time_base: Fraction) -> list[int]:
    """Fill missing pts and dts, start the clip at zero, and return each sample's duration."""
    timed = sorted(s.pts for s in samples if s.pts is not None)
    step = _typical_step([b - a for a, b in zip(timed, timed[1:], strict=False)], time_base)
    _fill_pts(samples, step)
    pts = [s.pts or 0 for s in samples]
    dts = [s.dts for s in samples]
    monotonic = all(d is not None for d in dts) and all(
        a is not None and b is not None and a < b for a, b in zip(dts, dts[1:], strict=False)
    )
    if not monotonic:
        # Decode order is arrival order; sorted pts shifted back by the largest reordering
        # is a valid dts sequence (dts <= pts everywhere, strictly increasing).
        ordered = sorted(pts)
        for i in range(1, len(ordered)):
            ordered[i] = max(ordered[i], ordered[i - 1] + 1)  # the muxer wants them distinct
        shift = max(0, *(o - p for o, p in zip(ordered, pts, strict=True)))
        dts = [o - shift for o in ordered]
    base = min(d for d in dts if d is not None)
    for sample, d in zip(samples, dts, strict=True):
        sample.pts = (sample.pts or 0) - base
        sample.dts = (d or 0) - base
    gaps = [(b.dts or 0) - (a.dts or 0) for a, b in zip(samples, samples[1:], strict=False)]
    return [*gaps, step]


def _typical_step(deltas: Sequence[int], time_base: Fraction) -> int:
    """The median positive step, or one frame at the fallback rate when there is none."""
    forward = [d for d in deltas if d > 0]
    if forward:
        return max(1, int(statistics.median(forward)))
    return max(1, round(1 / (_FALLBACK_FPS * time_base)))


def _fill_pts(samples: list[_Sample], step: int) -> None:
    """Untimed samples take their neighbour's pts one frame step away.

    Untimed samples at the start (FFmpeg's RTSP client gives a session's first keyframe no
    pts) are shown before every picture that B-frames may reorder around them: a step before
    the earliest pts among the next `_MAX_REORDER` timed ones.
    """
    timed = [i for i, s in enumerate(samples) if s.pts is not None]
    if not timed:
        for i, sample in enumerate(samples):
            sample.pts = i * step
        return
    first = timed[0]
    soon = [samples[i].pts for i in timed[: _MAX_REORDER + 1]]
    earliest = min(p for p in soon if p is not None)
    for i in range(first - 1, -1, -1):
        samples[i].pts = earliest - step * (first - i)
    for i in range(first + 1, len(samples)):
        if samples[i].pts is None:
            samples[i].pts = (samples[i - 1].pts or 0) + step
            samples[i].dts = None


def _decode_s(picture: Picture) -> float | None:
    """The picture's decode time in seconds (dts, else pts); None when it has neither."""
    for packet in picture:
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is not None:
            return float(ts * packet.time_base)
    return None


def _presentation_s(picture: Picture) -> float | None:
    """The picture's presentation time in seconds (pts, else dts); None when it has neither."""
    for packet in picture:
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is not None:
            return float(ts * packet.time_base)
    return None
