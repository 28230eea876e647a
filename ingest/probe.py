"""Probing a camera before it is configured: what each stream really sends, measured.

`probe_streams` opens each stream with PyAV exactly as the hub would (`open_stream`: same
options, same timeouts), reads packets without decoding them for at most `seconds` (less once
it has seen `gops` keyframe intervals) and measures:

- codec, resolution, frames per second and video kbps;
- the GOP: intervals between keyframes, by pts (when the pts are unusable, by counting the
  frames between keyframes at the frame rate measured by arrival);
- B-frames: packets whose pts is lower than one already received (decode order is not
  display order), and the decoder's declared reordering delay;
- audio: codec, sample rate, channels and kbps, or none;
- timestamps: missing, repeated (a restreamer's constant RTP clock: FFmpeg gives every frame
  the same pts), going backwards by more than a reordering could explain, and the media clock
  against the wall clock over the part of the probe that arrived live;
- with `snapshot`, a JPEG of the first picture decoded (at most `SNAPSHOT_WIDTH` wide): the
  only packets decoded are those up to it.

Streams are probed concurrently in worker threads (bounded), each with its own timeouts, so
one dead camera neither hides nor delays the others by more than its timeouts. Reports show
URLs redacted and errors scrubbed: no credential is ever printed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av.error
import cv2

from ingest.errors import IngestError
from ingest.session import SessionLimits, open_stream
from riverwatch.secrets import Redactor, redact_url

REORDER_WINDOW_S = 1.0  # B-frames reorder within a few frames; more than this is a clock fault
LIVE_AFTER_S = 1.0  # packets read while opening arrive in a burst; judge the clock after this
CONSTANT_SHARE = 0.5  # more repeated pts than this: the stream's clock does not move
MIN_CLOCK_SPAN_S = 2.0
SNAPSHOT_WIDTH = 960


@dataclass(frozen=True)
class ProbeTarget:
    """One stream to probe: a label for people (never the URL) and the URL itself."""

    label: str
    url: str


@dataclass(frozen=True)
class VideoFigures:
    """What the video track measured."""

    codec: str
    width: int
    height: int
    fps: float | None
    kbps: float | None
    gop_intervals_s: tuple[float, ...]
    gop_by_frames: bool  # the pts were unusable: intervals are frame counts / fps
    keyframes: int
    frames: int
    reordered: int
    reorder_declared: bool  # the codec's headers say pictures are reordered (has_b_frames)

    @property
    def bframes(self) -> bool:
        """Whether the stream has B-frames (pictures sent before ones they follow)."""
        return self.reordered > 0


@dataclass(frozen=True)
class AudioFigures:
    """What the audio track measured."""

    codec: str
    sample_rate: int
    channels: int
    kbps: float | None


@dataclass(frozen=True)
class TimestampCheck:
    """Whether the video pts can be trusted; `problems` is empty when they can."""

    missing: int
    repeated: int
    backwards: int
    clock_ratio: float | None  # media seconds per wall-clock second while live
    constant: bool  # the pts do not move: (nearly) every frame repeats the one before
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ProbeReport:
    """One stream's figures, or why it could not be probed (`error`)."""

    label: str
    url: str  # redacted
    seconds: float
    error: str | None = None
    video: VideoFigures | None = None
    audio: AudioFigures | None = None
    timestamps: TimestampCheck | None = None
    snapshot_jpeg: bytes | None = None  # the first picture, when asked for

    @property
    def ok(self) -> bool:
        """The stream opened and sent video (`error` may still say it broke off later)."""
        return self.video is not None and self.video.frames > 0


@dataclass
class _Tally:
    """Per-packet figures of one probe, kept as plain lists of numbers."""

    arrival: list[float] = field(default_factory=list)
    pts: list[int | None] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    key_pts: list[int | None] = field(default_factory=list)
    key_index: list[int] = field(default_factory=list)  # each keyframe's place among frames
    audio_bytes: int = 0
    audio_pts: list[int] = field(default_factory=list)
    last_key: bool = False
    want_picture: bool = False
    picture: bytes | None = None

    def gops_seen(self) -> int:
        """Whole GOPs measured so far."""
        return max(len(self.key_index) - 1, 0)

    def video(self, pts: int | None, key: bool, size: int, now: float) -> None:
        if key and not self.last_key:  # a new GOP (a keyframe's slices count once)
            self.key_pts.append(pts)
            self.key_index.append(len(self.pts))
        self.last_key = key
        self.arrival.append(now)
        self.pts.append(pts)
        self.sizes.append(size)


def probe_streams(
    targets: Sequence[ProbeTarget],
    seconds: float,
    limits: SessionLimits,
    redactor: Redactor,
    gops: int = 3,
    workers: int = 8,
) -> list[ProbeReport]:
    """Probe every target, at most `workers` at once; reports in the targets' order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        futures = [pool.submit(probe_stream, t, seconds, limits, redactor, gops) for t in targets]
        return [f.result() for f in futures]


def probe_stream(
    target: ProbeTarget,
    seconds: float,
    limits: SessionLimits,
    redactor: Redactor,
    gops: int = 3,
    snapshot: bool = False,
) -> ProbeReport:
    """Probe one stream (blocking: run it in a worker thread); with `snapshot`, keep a JPEG
    of its first picture."""
    shown = redact_url(target.url)
    started = time.monotonic()
    try:
        container = open_stream(target.url, limits, redactor, interrupt=True)
    except IngestError as exc:
        return ProbeReport(target.label, shown, time.monotonic() - started, str(exc))
    error = None
    with container:
        if not container.streams.video:
            return ProbeReport(
                target.label, shown, time.monotonic() - started, "the stream has no video track"
            )
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        tally = _Tally(want_picture=snapshot)
        try:
            _read(container, video, audio, tally, seconds, gops)
        except (av.error.ExitError, TimeoutError):
            error = f"no packet for {limits.read_timeout_s:g} s"
        except (av.error.FFmpegError, OSError) as exc:
            error = redactor.scrub(f"the stream broke off: {type(exc).__name__}")
        if not tally.pts and error is None:
            error = f"no video packet within {seconds:g} s"
        report = ProbeReport(
            target.label,
            shown,
            time.monotonic() - started,
            error,
            _video_figures(video, tally),
            _audio_figures(audio, tally),
            _timestamps(video.time_base, tally, urlsplit(target.url).scheme not in ("file", "")),
            tally.picture,
        )
    return report


def _read(container: Any, video: Any, audio: Any, tally: _Tally, seconds: float, gops: int) -> None:
    deadline = time.monotonic() + seconds
    streams = [video] if audio is None else [video, audio]
    for packet in container.demux(streams):
        now = time.monotonic()
        if packet.size:
            if packet.stream is video:
                tally.video(packet.pts, packet.is_keyframe, packet.size, now)
                if tally.want_picture and tally.picture is None:
                    tally.picture = _picture(packet)
            else:
                tally.audio_bytes += packet.size
                if packet.pts is not None:
                    tally.audio_pts.append(packet.pts)
        if now >= deadline or tally.gops_seen() >= gops:
            return


def _picture(packet: Any) -> bytes | None:
    """The packet's picture as a JPEG once the decoder gives one (None until then, or when
    it cannot be decoded: the figures matter more)."""
    try:
        frames = packet.decode()
    except av.error.FFmpegError:
        return None
    for frame in frames:
        image = frame.to_ndarray(format="bgr24")
        height, width = image.shape[:2]
        if width > SNAPSHOT_WIDTH:
            size = (SNAPSHOT_WIDTH, max(1, round(height * SNAPSHOT_WIDTH / width)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return bytes(jpeg.tobytes()) if ok else None
    return None


def _video_figures(stream: Any, tally: _Tally) -> VideoFigures:
    ctx = stream.codec_context
    usable = _usable_pts(tally)
    base = stream.time_base
    fps = _fps(tally, base, usable)
    intervals = _gop_intervals(tally, base, fps, usable)
    frames = len(tally.sizes)
    kbps = sum(tally.sizes) / frames * fps * 8 / 1000 if frames and fps else None
    return VideoFigures(
        codec=ctx.name,
        width=int(ctx.width or 0),
        height=int(ctx.height or 0),
        fps=fps,
        kbps=kbps,
        gop_intervals_s=intervals,
        gop_by_frames=not usable,
        keyframes=len(tally.key_index),
        frames=frames,
        reordered=_reordered(tally.pts, base),
        reorder_declared=bool(ctx.has_b_frames),
    )


def _gop_intervals(
    tally: _Tally, base: Fraction, fps: float | None, usable: bool
) -> tuple[float, ...]:
    """Seconds between keyframes: by pts where both ends have one, else frames / fps.

    The first packet FFmpeg's RTSP client hands out often has no pts, and it is often the
    first keyframe: counting frames still measures that interval.
    """
    intervals = []
    pairs = zip(tally.key_index, tally.key_index[1:], strict=False)
    stamps = zip(tally.key_pts, tally.key_pts[1:], strict=False)
    for (a, b), (pa, pb) in zip(pairs, stamps, strict=True):
        if usable and pa is not None and pb is not None:
            intervals.append(round(float((pb - pa) * base), 3))
        elif fps:
            intervals.append(round((b - a) / fps, 3))
    return tuple(intervals)


def _fps(tally: _Tally, base: Fraction, usable: bool) -> float | None:
    if usable:  # the typical step between distinct pts, whatever their order (B-frames)
        known = sorted({p for p in tally.pts if p is not None})
        steps = [b - a for a, b in zip(known, known[1:], strict=False)]
        step = float(statistics.median(steps) * base) if steps else 0.0
        return 1.0 / step if step > 0 else None
    live = _live(tally.arrival)
    span = live[-1] - live[0] if len(live) > 1 else 0.0
    return (len(live) - 1) / span if span > 0 else None


def _live(arrival: list[float]) -> list[float]:
    """The arrival times after the opening burst."""
    if not arrival:
        return []
    return [t for t in arrival if t >= arrival[0] + LIVE_AFTER_S]


def _reordered(pts: list[int | None], base: Fraction) -> int:
    """Packets whose pts is below the highest so far, by less than a clock fault would be."""
    window = REORDER_WINDOW_S / float(base)
    count, top = 0, None
    for p in pts:
        if p is None:
            continue
        if top is not None and top - window <= p < top:
            count += 1
        top = p if top is None else max(top, p)
    return count


def _backwards(pts: list[int | None], base: Fraction) -> int:
    window = REORDER_WINDOW_S / float(base)
    count, top = 0, None
    for p in pts:
        if p is None:
            continue
        if top is not None and p < top - window:
            count += 1
            top = p  # a restarted clock: judge what follows against it
        top = p if top is None else max(top, p)
    return count


def _repeated(pts: list[int | None]) -> int:
    known = [p for p in pts if p is not None]
    return sum(1 for a, b in zip(known, known[1:], strict=False) if a == b)


def _usable_pts(tally: _Tally) -> bool:
    known = [p for p in tally.pts if p is not None]
    if len(known) < 2:
        return False
    return _repeated(tally.pts) <= CONSTANT_SHARE * (len(known) - 1)


def _clock_ratio(tally: _Tally, base: Fraction) -> float | None:
    """Media seconds per wall-clock second over the packets that arrived live."""
    start = tally.arrival[0] + LIVE_AFTER_S if tally.arrival else 0.0
    pairs = [
        (t, p)
        for t, p in zip(tally.arrival, tally.pts, strict=True)
        if t >= start and p is not None
    ]
    if len(pairs) < 2 or pairs[-1][0] - pairs[0][0] < MIN_CLOCK_SPAN_S:
        return None
    wall = pairs[-1][0] - pairs[0][0]
    media = float((max(p for _, p in pairs) - min(p for _, p in pairs)) * base)
    return media / wall


def _timestamps(base: Fraction, tally: _Tally, live: bool = True) -> TimestampCheck:
    """The verdict on the video pts; a file (`live` False) is read as fast as it goes, so its
    media clock is not compared with the wall clock."""
    frames = len(tally.pts)
    missing = sum(1 for p in tally.pts if p is None)
    repeated = _repeated(tally.pts)
    backwards = _backwards(tally.pts, base)
    ratio = _clock_ratio(tally, base) if live else None
    problems = []
    if frames and missing > max(1, frames // 10):
        problems.append(f"missing on {missing} of {frames} frames")
    constant = frames > 2 and missing < frames - 2 and not _usable_pts(tally)
    if constant:
        problems.append(f"constant: {repeated} of {frames - missing - 1} frames repeat the pts")
    elif ratio is not None and not 0.5 <= ratio <= 2.0:
        problems.append(f"the media clock runs at {ratio:.2f}x the wall clock")
    if backwards:
        problems.append(f"going backwards {backwards} time(s)")
    return TimestampCheck(missing, repeated, backwards, ratio, constant, tuple(problems))


def _audio_figures(stream: Any, tally: _Tally) -> AudioFigures | None:
    if stream is None:
        return None
    ctx = stream.codec_context
    kbps = None
    if len(tally.audio_pts) > 1:
        span = float((max(tally.audio_pts) - min(tally.audio_pts)) * stream.time_base)
        if span >= 1.0:
            kbps = tally.audio_bytes * 8 / span / 1000
    return AudioFigures(ctx.name, int(ctx.sample_rate or 0), int(ctx.layout.nb_channels or 0), kbps)


def format_report(report: ProbeReport) -> list[str]:
    """The report as lines for people: a header, then one line per finding."""
    lines = [f"{report.label}: {report.url}" if report.label != report.url else report.url]
    if not report.ok or report.video is None:
        return [*lines, f"  FAILED     {report.error}"]
    v = report.video
    fps = f"{v.fps:.1f} fps" if v.fps else "fps unknown"
    kbps = f", {v.kbps:.0f} kbps" if v.kbps else ""
    lines.append(f"  video      {v.codec} {v.width}x{v.height}, {fps}{kbps}")
    lines.append(f"  GOP        {_describe_gop(v, report.seconds)}")
    bframes = f"yes ({v.reordered} of {v.frames} frames reordered)" if v.bframes else "no"
    declared = "declares" if v.reorder_declared else "does not declare"
    lines.append(f"  B-frames   {bframes}; the stream {declared} reordering")
    lines.append(f"  audio      {_describe_audio(report.audio)}")
    lines.append(f"  timestamps {_describe_timestamps(report.timestamps)}")
    if report.error:
        lines.append(f"  WARNING    {report.error}")
    return lines


def _describe_gop(v: VideoFigures, seconds: float) -> str:
    by = " by frame count" if v.gop_by_frames else ""
    if not v.gop_intervals_s:
        return f"over {seconds:.0f} s: only {v.keyframes} keyframe(s) seen{by}"
    low, high = min(v.gop_intervals_s), max(v.gop_intervals_s)
    n = len(v.gop_intervals_s)
    count = f"{n} interval{'s' if n > 1 else ''}{by}"
    if high - low <= 0.25:
        return f"{statistics.median(v.gop_intervals_s):.1f} s ({count})"
    mean = statistics.fmean(v.gop_intervals_s)
    return f"irregular {low:.1f}-{high:.1f} s (mean {mean:.1f} s over {count})"


def _describe_audio(audio: AudioFigures | None) -> str:
    if audio is None:
        return "none"
    layout = {1: "mono", 2: "stereo"}.get(audio.channels, f"{audio.channels} channels")
    kbps = f", {audio.kbps:.0f} kbps" if audio.kbps else ""
    return f"{audio.codec} {audio.sample_rate} Hz {layout}{kbps}"


def _describe_timestamps(check: TimestampCheck | None) -> str:
    if check is None:
        return "unknown"
    clock = f"media clock {check.clock_ratio:.2f}x wall clock" if check.clock_ratio else ""
    if not check.problems:
        return f"ok ({clock})" if clock else "ok"
    return "BAD: " + "; ".join(check.problems)


__all__ = [
    "AudioFigures",
    "ProbeReport",
    "ProbeTarget",
    "TimestampCheck",
    "VideoFigures",
    "format_report",
    "probe_stream",
    "probe_streams",
]
