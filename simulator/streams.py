"""Encoding a scene as a real camera's streams: H.265 main streams with AAC and B-frames,
H.264 sub-streams, fixed GOPs of 2-8 s or a smart codec's irregular keyframes.

A scene is rendered once at the sub-stream's size (640x360) and every stream wanted of it is
encoded from those same pictures; a larger stream gets them scaled up (cheap, and the main and
sub streams then show exactly the same picture: truth boxes scale by the size ratio). Files
are MPEG-TS, cached under a name that holds every encoding parameter and `STREAM_VERSION`,
written atomically (temp file, then rename) like the scene library's own files.

What an encode costs on this 2-core machine (other work running; x265 `ultrafast`, x264
`veryfast`, rendering included): 640x360 H.264 about 150 frames/s, 1280x720 H.265 about
15-25 frames/s, 1920x1080 H.265 about 15 frames/s when scaled up (7 when rendered at 1080p,
which is why nothing is). A 30 s scene at 15 fps is 450 frames: about 20-30 s for a 720p
main stream.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from simulator.scenes import SCENE_VERSION, SCENES, Frame, render_frames

STREAM_VERSION = 2  # bump when an encoder setting changes: cached files are rebuilt
RENDER_WH = (640, 360)  # scenes are drawn at this size and scaled for larger streams
# A smart codec's keyframe intervals (s), in turn: irregular, 4-10 s, like H.265+ cameras.
SMART_KEYFRAMES_S = (4, 9, 6, 10, 5, 7, 8)
# Sensor noise (grey levels) on streams larger than the drawing: a real sensor's grain is what
# fills a main stream's bitrate; without it a flat street scene took 180 kbps of its 2.5 Mbps.
MAIN_NOISE = 3.0
NOISE_FRAMES = 8  # a few noise fields, cycled: drawing fresh noise per 1080p frame is slow
AUDIO_RATE = 16_000  # cameras send AAC-LC at 8-16 kHz, mono
AUDIO_KBPS = 32


@dataclass(frozen=True)
class StreamSpec:
    """How one camera stream is encoded.

    `gop_s` None means a smart codec: keyframes at the irregular `SMART_KEYFRAMES_S`.
    """

    codec: str  # "h264" or "h265", the RTSP payload names
    width: int
    height: int
    kbps: int
    gop_s: int | None = 2
    bframes: int = 0
    audio: bool = False
    fps: int = 15

    @property
    def key(self) -> str:
        """The encoding parameters as a file-name part."""
        gop = f"g{self.gop_s}" if self.gop_s else "gsmart"
        audio = "-aac" if self.audio else ""
        return (
            f"{self.codec}-{self.width}x{self.height}-{self.fps}fps-{self.kbps}k-{gop}"
            f"-b{self.bframes}{audio}"
        )

    def describe(self) -> str:
        """One line for people: `H.265 1280x720 2500 kbps, GOP 2 s, B-frames, AAC`."""
        name = {"h264": "H.264", "h265": "H.265"}[self.codec]
        gop = f"GOP {self.gop_s} s" if self.gop_s else "smart GOP 4-10 s"
        extras = (", B-frames" if self.bframes else "") + (", AAC" if self.audio else "")
        return f"{name} {self.width}x{self.height} {self.kbps} kbps, {gop}{extras}"


def keyframe_times_s(spec: StreamSpec, seconds: float) -> list[float]:
    """Where the keyframes of a `seconds`-long loop of this stream fall."""
    if spec.gop_s:
        return [float(t) for t in range(0, math.ceil(seconds), spec.gop_s)]
    times, t, i = [], 0.0, 0
    while t < seconds:
        times.append(t)
        t += SMART_KEYFRAMES_S[i % len(SMART_KEYFRAMES_S)]
        i += 1
    return times


def loop_seconds(spec: StreamSpec, scene: str, duration_s: int | None = None) -> int:
    """A loop of the scene in whole GOPs, so the keyframe rhythm survives the loop point."""
    seconds = duration_s or SCENES[scene].duration_s
    if spec.gop_s:
        return math.ceil(seconds / spec.gop_s) * spec.gop_s
    total, i = 0, 0
    while total < seconds:
        total += SMART_KEYFRAMES_S[i % len(SMART_KEYFRAMES_S)]
        i += 1
    return total


def stream_file(cache_dir: Path, scene: str, spec: StreamSpec, duration_s: int | None) -> Path:
    """Where the encode of `scene` as `spec` is cached."""
    seconds = loop_seconds(spec, scene, duration_s)
    return cache_dir / f"{scene}-{spec.key}-{seconds}s-v{SCENE_VERSION}.{STREAM_VERSION}.ts"


def ensure_streams(
    cache_dir: Path, scene: str, specs: Iterable[StreamSpec], duration_s: int | None = None
) -> dict[StreamSpec, Path]:
    """Cached encodes of `scene` as each spec, encoding only those missing (one render).

    Specs of one call should share a loop length (same GOP kind); others render again.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = {spec: stream_file(cache_dir, scene, spec, duration_s) for spec in specs}
    missing = [spec for spec, path in found.items() if not path.exists()]
    by_length: dict[int, list[StreamSpec]] = {}
    for spec in missing:
        by_length.setdefault(loop_seconds(spec, scene, duration_s), []).append(spec)
    for seconds, group in by_length.items():
        _encode(scene, seconds, {spec: found[spec] for spec in group})
    return found


def _encode(scene: str, seconds: int, outputs: dict[StreamSpec, Path]) -> None:
    fps = {spec.fps for spec in outputs}
    if len(fps) != 1:
        raise ValueError("streams encoded together share a frame rate")
    rate = fps.pop()
    encoders = [_Encoder(spec, path, seconds) for spec, path in outputs.items()]
    try:
        width, height = RENDER_WH
        frames = render_frames(scene, width, height, rate, gop_seconds=1, duration_s=seconds)
        for index, (bgr, _) in enumerate(frames):
            for encoder in encoders:
                encoder.picture(index, bgr)
        for encoder in encoders:
            encoder.finish()
    finally:
        for encoder in encoders:
            encoder.abandon()


class _Encoder:
    """One output file: video (and audio) encoders and the MPEG-TS muxer."""

    def __init__(self, spec: StreamSpec, path: Path, seconds: int) -> None:
        self._spec, self._path = spec, path
        fd, name = tempfile.mkstemp(dir=path.parent, suffix=".ts.part")
        os.close(fd)
        self._tmp: Path | None = Path(name)
        self._container: Any = av.open(name, "w", format="mpegts")
        self._video = _video_stream(self._container, spec)
        self._audio = _audio_stream(self._container) if spec.audio else None
        self._samples = 0
        self._keyframes = {round(t * spec.fps) for t in keyframe_times_s(spec, seconds)}
        self._noise = _noise_fields(spec) if (spec.width, spec.height) != RENDER_WH else None

    def picture(self, index: int, bgr: Frame) -> None:
        spec = self._spec
        if self._noise is not None:
            big = cv2.resize(bgr, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
            noise = self._noise[index % len(self._noise)]
            bgr = np.asarray(cv2.add(big, noise, dtype=cv2.CV_8U), np.uint8)
        frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
        frame.pts, frame.time_base = index, Fraction(1, spec.fps)
        if spec.gop_s is None and index in self._keyframes:
            frame.pict_type = av.video.frame.PictureType.I
        self._container.mux(self._video.encode(frame))
        if self._audio is not None:
            self._sound_until((index + 1) * AUDIO_RATE // spec.fps)

    def _sound_until(self, sample: int) -> None:
        """River noise with a faint hum, in AAC's 1024-sample frames."""
        assert self._audio is not None
        while self._samples + 1024 <= sample:
            t = np.arange(self._samples, self._samples + 1024) / AUDIO_RATE
            noise = np.random.default_rng(self._samples).standard_normal(1024)
            wave = (0.02 * noise + 0.03 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, self._samples
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._container.mux(self._audio.encode(frame))
            self._samples += 1024

    def finish(self) -> None:
        self._container.mux(self._video.encode(None))
        if self._audio is not None:
            self._container.mux(self._audio.encode(None))
        self._container.close()
        assert self._tmp is not None
        os.replace(self._tmp, self._path)
        self._tmp = None

    def abandon(self) -> None:
        """Remove the temp file of an encode that did not finish."""
        if self._tmp is not None:
            self._container.close()
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def _noise_fields(spec: StreamSpec) -> list[npt.NDArray[np.int16]]:
    rng = np.random.default_rng(spec.width * spec.height)
    shape = (spec.height, spec.width, 3)
    return [
        np.round(rng.normal(0.0, MAIN_NOISE, shape)).astype(np.int16) for _ in range(NOISE_FRAMES)
    ]


def _video_stream(container: Any, spec: StreamSpec) -> Any:
    # Fixed GOPs come from the encoder's keyint with scene cuts off; a smart codec's keyframes
    # are forced per picture, as IDR (a plain I picture would not be a keyframe to a client),
    # under a keyint longer than any of its intervals.
    gop = spec.fps * (spec.gop_s or max(SMART_KEYFRAMES_S) + 1)
    kbps = spec.kbps
    params = (
        f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={spec.bframes}:repeat-headers=1"
        f":vbv-maxrate={kbps}:vbv-bufsize={kbps}"
    )
    stream = container.add_stream("libx265" if spec.codec == "h265" else "libx264", rate=spec.fps)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
    ctx = stream.codec_context
    ctx.time_base = Fraction(1, spec.fps)
    ctx.bit_rate = kbps * 1000
    if spec.codec == "h265":
        options = {
            "preset": "ultrafast",
            "forced-idr": "1",
            "x265-params": f"{params}:open-gop=0:log-level=error",
        }
    else:
        options = {
            "preset": "veryfast",
            "forced-idr": "1",
            "profile": "main" if spec.bframes else "baseline",
            "x264-params": params,
        }
        if not spec.bframes:
            options["tune"] = "zerolatency"
    ctx.options = options
    return stream


def _audio_stream(container: Any) -> Any:
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.bit_rate = AUDIO_KBPS * 1000
    return stream


def scenes_needed(pairs: Sequence[tuple[str, StreamSpec]]) -> dict[str, list[StreamSpec]]:
    """Group (scene, stream) pairs by scene, each spec once, in first-seen order."""
    grouped: dict[str, list[StreamSpec]] = {}
    for scene, spec in pairs:
        specs = grouped.setdefault(scene, [])
        if spec not in specs:
            specs.append(spec)
    return grouped
