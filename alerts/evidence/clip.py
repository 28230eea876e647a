"""Incident clips: choose one playable run of ring packets and remux it into MP4, no encoder.

`select_clip` is pure: it cuts the packets where the stream restarted (a new ring generation
after a reconnect, or a pts timeline that jumps; a long silence leaves a hole) and starts the
clip at a keyframe.
`write_clip` copies the chosen packets into an MP4 with faststart (the index first, so a
browser can scrub before the whole file arrives), through a temporary file and a rename.
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

from alerts.evidence.errors import MediaError, NoVideo, is_storage_errno
from riverwatch import annexb
from riverwatch.ring import RingPacket, StreamInfo

MAX_GAP_S = 2.0  # a silence longer than this is a broken stream, not a slow frame
_REORDER_S = 0.5  # B-frames put pts back by a few frames; a restart puts it back further
_FALLBACK_FPS = 15


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What was written: samples (access units), keyframes, and the span in seconds."""

    frames: int
    keyframes: int
    duration_s: float


def contiguous_runs(
    packets: Sequence[RingPacket], max_gap_s: float = MAX_GAP_S
) -> list[list[RingPacket]]:
    """Split arrival-ordered packets into runs that share one timeline.

    A new ring generation always starts a new run. A packet without timestamps (FFmpeg's RTSP
    demuxer gives the first keyframe of a session none) belongs to the run of the next timed
    packet of its generation; untimed packets at the end of a generation are dropped.
    """
    runs: list[list[RingPacket]] = []
    current: list[RingPacket] = []
    pending: list[RingPacket] = []
    last_ts: float | None = None
    last_at: float | None = None
    generation = packets[0].generation if packets else 0
    for packet in packets:
        if packet.generation != generation:  # another stream: its own timeline and setup
            if current:
                runs.append(current)
            current, pending, last_ts, last_at = [], [], None, None
            generation = packet.generation
        ts = _seconds(packet)
        if ts is None:
            pending.append(packet)
            continue
        first_at = (pending or [packet])[0].received_at
        if last_ts is not None and last_at is not None:
            restarted = ts < last_ts - _REORDER_S or ts - last_ts > max_gap_s
            if restarted or first_at - last_at > max_gap_s:
                runs.append(current)
                current, last_ts = [], None
        current.extend(pending)
        current.append(packet)
        pending = []
        last_ts = ts if last_ts is None else max(ts, last_ts)
        last_at = packet.received_at
    if current:
        runs.append(current)
    return runs


def select_clip(
    packets: Sequence[RingPacket],
    start: float,
    end: float,
    anchor: float,
    max_gap_s: float = MAX_GAP_S,
) -> list[RingPacket]:
    """The packets of one run from the last keyframe at or before `start` up to `end`.

    The run is the one that holds `anchor` (the alert's time); when its keyframes all come
    after `start`, the clip starts at its first keyframe. Raises `NoVideo` when no run has a
    keyframe inside the window.
    """
    runs = contiguous_runs(packets, max_gap_s)
    if not runs:
        raise NoVideo("no packets in the clip window")
    before = [r for r in runs if r[0].received_at <= anchor]
    run = before[-1] if before else runs[0]
    keys = [i for i, p in enumerate(run) if p.is_keyframe and p.received_at <= end]
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


def write_clip(packets: Sequence[RingPacket], stream: StreamInfo, path: Path) -> ClipInfo:
    """Remux `packets` (from `select_clip`) into an MP4 at `path`, atomically.

    Raises `MediaError` when the muxer refuses the packets and lets an `OSError` about the
    disk through (the store turns it into a `StorageError`).
    """
    if not packets:
        raise NoVideo("no packets to write")
    time_base = packets[0].time_base
    samples = _samples(packets, stream)
    durations = _timestamps(samples, time_base)
    tmp = path.with_name(f".{path.name}.part")
    try:
        _mux(samples, durations, stream, time_base, tmp)
        _fsync(tmp)  # the rename must not publish a file whose bytes are still in the cache
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
    )


def _mux(
    samples: Sequence[_Sample],
    durations: Sequence[int],
    stream: StreamInfo,
    time_base: Fraction,
    tmp: Path,
) -> None:
    options = {"movflags": "+faststart"}
    try:
        with av.open(str(tmp), "w", format="mp4", options=options) as out:
            video: Any = out.add_mux_stream(stream.codec, width=stream.width, height=stream.height)
            video.time_base = time_base
            for sample, duration in zip(samples, durations, strict=True):
                packet = av.Packet(sample.data)
                packet.pts, packet.dts, packet.duration = sample.pts, sample.dts, duration
                packet.time_base = time_base
                packet.is_keyframe = sample.key
                packet.stream = video
                out.mux(packet)
    except av.error.FFmpegError as exc:
        if isinstance(exc, OSError) and is_storage_errno(exc.errno):
            raise  # the store reports it as a storage error
        raise MediaError(f"the MP4 muxer refused the packets: {type(exc).__name__}") from exc
    except ValueError as exc:
        raise MediaError(f"the MP4 muxer refused the stream: {exc}") from exc


def _samples(packets: Sequence[RingPacket], stream: StreamInfo) -> list[_Sample]:
    """Access units in Annex B: slices sharing a pts joined, parameter sets up front."""
    length_size = 0
    extradata = stream.extradata
    if extradata and not annexb.is_annexb(extradata) and stream.codec == "h264":
        # An MP4 or MKV file source: its packets are length-prefixed; the muxer wants one form.
        extradata, length_size = annexb.avcc_config_to_annexb(extradata)
    samples: list[_Sample] = []
    for packet in packets:
        data = packet.data
        if length_size:
            data = annexb.to_annexb(list(annexb.avcc_units(data, length_size)))
        last = samples[-1] if samples else None
        same_pts = last is not None and packet.pts is not None and packet.pts == last.pts
        if last is not None and (same_pts or annexb.continues_picture(data)):
            last.data += data  # another slice of the same picture: one MP4 sample
            last.key = last.key or packet.is_keyframe
            continue
        samples.append(_Sample(data, packet.pts, packet.dts, packet.is_keyframe))
    first = samples[0]
    if stream.codec == "h264" and not annexb.has_parameter_sets(first.data):
        if not annexb.is_annexb(extradata):
            raise MediaError("no SPS/PPS in the stream's setup or its first keyframe")
        # The muxer builds its avcC from the first packet's in-band parameter sets.
        first.data = extradata + first.data
    return samples


def _timestamps(samples: list[_Sample], time_base: Fraction) -> list[int]:
    """Fill missing pts and dts, start the clip at zero, and return each sample's duration."""
    step = _frame_step(samples, time_base)
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


def _frame_step(samples: Sequence[_Sample], time_base: Fraction) -> int:
    timed = sorted(s.pts for s in samples if s.pts is not None)
    deltas = [b - a for a, b in zip(timed, timed[1:], strict=False) if b > a]
    if deltas:
        return max(1, int(statistics.median(deltas)))
    return max(1, round(1 / (_FALLBACK_FPS * time_base)))


def _fill_pts(samples: list[_Sample], step: int) -> None:
    """Untimed samples take their neighbour's pts one frame step away."""
    timed = [i for i, s in enumerate(samples) if s.pts is not None]
    if not timed:
        for i, sample in enumerate(samples):
            sample.pts = i * step
        return
    first = timed[0]
    for i in range(first - 1, -1, -1):
        samples[i].pts = (samples[i + 1].pts or 0) - step
    for i in range(first + 1, len(samples)):
        if samples[i].pts is None:
            samples[i].pts = (samples[i - 1].pts or 0) + step
            samples[i].dts = None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _seconds(packet: RingPacket) -> float | None:
    ts = packet.dts if packet.dts is not None else packet.pts
    return None if ts is None else float(ts * packet.time_base)
