"""One connection to one camera: blocking PyAV demux and decode, run in a worker thread.

This module and `ingest.camera` hold the project's only thread boundary. `StreamSession.run`
blocks until the stream ends, fails or is asked to stop; it never touches the event loop. It
writes into thread-safe sinks only: the camera's `PacketRing`, its row of the `FrameBatch`, and
plain counters that the camera task reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt

from ingest.errors import (
    DecodeFailed,
    IngestError,
    StreamEnded,
    StreamOpenError,
    StreamStalled,
    StreamUnusable,
)
from ingest.policy import GopClock
from riverwatch.annexb import continues_picture
from riverwatch.batch import FrameBatch, chroma_shape
from riverwatch.ring import PacketRing, RingPacket, StreamInfo
from riverwatch.secrets import Redactor
from riverwatch.types import DecodeMode

log = logging.getLogger(__name__)

_SOCKET_TIMEOUTS = frozenset({"rtsp", "rtsps", "http", "https"})
_LUMA_FORMATS = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)


@dataclass
class Controls:
    """What the camera task asks of its session; read by the thread at every packet."""

    mode: DecodeMode
    detect_fps: float
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class Counters:
    """Figures written by the session thread and read by the camera task (ints are atomic)."""

    packets: int = 0
    bytes: int = 0
    analysed: int = 0
    decode_errors: int = 0
    last_packet_at: float = 0.0
    last_frame_at: float = 0.0
    streaming_since: float = 0.0
    gop_s: float | None = None  # longest recent keyframe interval by arrival (`GopClock`)
    width: int | None = None
    height: int | None = None
    codec: str | None = None


@dataclass(frozen=True)
class SessionLimits:
    """Timeouts and bounds for one session, from settings."""

    open_timeout_s: float
    read_timeout_s: float
    max_consecutive_decode_errors: int


class Decoder(Protocol):
    """What a session needs of a video decoder (PyAV's `CodecContext` is one)."""

    def decode(self, packet: Any = None) -> Iterable[Any]:
        """Frames the decoder can give after `packet` (None drains it)."""
        ...

    def flush_buffers(self) -> None:
        """Forget every reference picture; the next picture must be a keyframe."""
        ...


@dataclass(frozen=True)
class Decoders:
    """A session's two decoders: the stream's own (full rate) and one for keyframes alone."""

    full: Decoder
    keyframes: Decoder


def stream_decoders(stream: Any) -> Decoders:
    """The decoders a session uses unless told otherwise (the seam tests inject through)."""
    return Decoders(stream.codec_context, keyframe_decoder(stream))


DecoderFactory = Callable[[Any], Decoders]


class Pictures:
    """Groups a stream's packets into pictures by arrival order, whatever their pts say.

    Some cameras send a picture as several packets (slices) sharing one pts: those packets are
    one picture, and the decoder may hand that picture out once per packet. But restreamers
    and cheap cameras also send pts that are missing, constant or going backwards, so a pts is
    never a picture's identity: it can only join a packet to the one just before it. The pts
    are judged unusable for the rest of the session once a packet has none, or repeats its
    predecessor's pts across a keyframe boundary (the slices of one picture are all key or
    all not), or more than `MAX_SLICES` packets share one pts. Then every non-key packet is a
    picture of its own, and only runs of key packets sharing a pts still count as one
    picture's slices.

    `admit(pts, key)` says whether the packet starts a new picture; `new_gop` whether that
    picture is a keyframe after non-key pictures (a GOP boundary), whatever the pts.
    """

    MAX_SLICES = 16

    def __init__(self) -> None:
        self.pts_usable = True
        self.new_gop = False
        self._pts: int | None = None
        self._key: bool | None = None
        self._run = 0

    def admit(self, pts: int | None, key: bool) -> bool:
        """Take the next packet's pts and key flag; True when it starts a new picture."""
        same_pts = pts is not None and pts == self._pts and self._run < self.MAX_SLICES
        if pts is None or (pts == self._pts and not (same_pts and key == self._key)):
            self.pts_usable = False
        slice_of_last = same_pts and key == self._key and (self.pts_usable or key)
        self.new_gop = key and self._key is not True
        self._pts, self._key = pts, key
        if slice_of_last:
            self._run += 1
            self.new_gop = False
            return False
        self._run = 1
        return True

    def restart(self) -> None:
        """A new demux pass (a looping file): the next packet starts a picture."""
        self._pts = self._key = None
        self._run = 0


class StreamSession:
    """Open a camera, then demux, keep packets, and decode what analysis needs until stopped.

    Without a batch it only records: packets into the ring, nothing decoded (a main stream kept
    for evidence while analysis runs on the sub-stream)."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        slot: int,
        batch: FrameBatch | None,
        ring: PacketRing,
        controls: Controls,
        counters: Counters,
        limits: SessionLimits,
        redactor: Redactor,
        decoders: DecoderFactory = stream_decoders,
    ) -> None:
        self._camera_id = camera_id
        self._url = url
        self._slot = slot
        self._batch = batch
        self._ring = ring
        self._controls = controls
        self._counters = counters
        self._limits = limits
        self._redactor = redactor
        self._make_decoders = decoders
        shape_hw = batch.shape_hw if batch is not None else (1, 1)  # None: record only
        self._scratch_hw = np.empty(shape_hw, np.uint8)
        self._chroma_2hw = np.empty((2, *chroma_shape(shape_hw)), np.uint8)
        self._is_file = urlsplit(url).scheme in ("file", "")

    def run(self) -> None:
        """Block until the stream ends or `controls.stop` is set; raise an `IngestError`."""
        container = self._open()
        try:
            stream = self._video_stream(container)
            self._pump(container, stream, self._audio_stream(container))
        finally:
            container.close()

    def _open(self) -> Any:
        return open_stream(self._url, self._limits, self._redactor)

    def _video_stream(self, container: Any) -> Any:
        if not container.streams.video:
            raise StreamUnusable("the stream has no video track")
        stream = container.streams.video[0]
        codec = stream.codec_context
        if codec is None or codec.name is None:
            raise StreamUnusable("the video track has no decodable codec")
        codec.thread_count = 1  # 250 cameras: one thread each already; frame threads add delay
        self._counters.codec = codec.name
        self._describe_stream(stream, container)
        return stream

    def _audio_stream(self, container: Any) -> Any:
        """The first audio track, opened in the audio ring, when this camera keeps audio."""
        ring = self._ring.audio
        if ring is None or not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        codec = stream.codec_context
        if codec is None or codec.name is None:
            return None
        info = StreamInfo(
            codec.name,
            0,
            0,
            stream.time_base,
            bytes(codec.extradata or b""),
            sample_rate=int(codec.sample_rate or 0),
            channels=int(codec.channels or 0),
        )
        ring.open_stream(info)
        return stream

    def _keep_audio(self, packet: Any) -> None:
        ring = self._ring.audio
        assert ring is not None
        data = bytes(packet)
        self._counters.bytes += len(data)
        ring.append(RingPacket(data, packet.pts, packet.dts, packet.time_base, True, time.time(),
                               ring.generation, None, time.monotonic()))  # fmt: skip

    def _describe_stream(self, stream: Any, container: Any) -> None:
        codec = stream.codec_context
        audio = container.streams.audio  # analysis is video only; clips may keep it
        info = StreamInfo(
            codec.name,
            int(codec.width or 0),
            int(codec.height or 0),
            stream.time_base,
            bytes(codec.extradata or b""),
            audio=str(audio[0].codec_context.name or "audio") if audio else "",
        )
        self._ring.open_stream(info)  # a new generation; drops packets of another codec or size

    def _pump(self, container: Any, stream: Any, audio: Any = None) -> None:
        counters, controls = self._counters, self._controls
        counters.streaming_since = time.monotonic()
        state = _DecodeState(self._make_decoders(stream), stream.codec_context.name == "hevc")
        clock = _Clock()
        time_base = stream.time_base  # constant per stream; per packet it costs a Fraction
        streams = (stream,) if audio is None else (stream, audio)
        audio_index = -1 if audio is None else audio.index
        try:
            while not controls.stop.is_set():
                pacer = _Pacer(_frame_interval_s(stream)) if self._is_file else None
                for packet in container.demux(*streams):
                    if controls.stop.is_set():
                        return
                    if packet.size == 0:
                        continue
                    if audio_index >= 0 and packet.stream_index == audio_index:
                        self._keep_audio(packet)
                        continue
                    if pacer is not None:
                        pacer.wait(packet, controls.stop)
                    # Everything per packet is read once: at 250 cameras this loop runs
                    # thousands of times a second and each property access is a C call.
                    pts, key = packet.pts, packet.is_keyframe
                    state.mono = time.monotonic()
                    state.now = clock.wall(state.mono, key)
                    new_picture = state.pictures.admit(pts, key)
                    self._keep(packet, pts, key, new_picture, time_base, state)
                    self._maybe_decode(packet, key, new_picture, state)
                if not self._is_file:
                    break
                container.seek(0)  # a file source loops, like a camera that never ends
                state.restart()
        except (av.error.ExitError, TimeoutError) as exc:
            raise StreamStalled(f"no packet for {self._limits.read_timeout_s:g} s") from exc
        except av.error.EOFError as exc:
            raise StreamEnded("the server closed the stream") from exc
        except av.error.FFmpegError as exc:
            raise StreamEnded(self._redactor.scrub(f"stream broke: {type(exc).__name__}")) from exc
        raise StreamEnded("end of stream")

    def _keep(
        self,
        packet: Any,
        pts: int | None,
        key: bool,
        new_picture: bool,
        time_base: Any,
        state: _DecodeState,
    ) -> None:
        data = bytes(packet)
        counters = self._counters
        counters.packets += 1
        counters.bytes += len(data)
        counters.last_packet_at = state.mono
        # The ring's picture number is decided here, once, for every reader (clips, snapshots,
        # live view): by arrival order and pts as `Pictures` judges them, and a slice whose
        # header says it continues a picture never starts one, whatever its pts say.
        if new_picture and not (state.picture >= 0 and continues_picture(data, state.hevc)):
            state.picture += 1
        generation = self._ring.generation  # stamped here so `append` need not copy the packet
        self._ring.append(
            RingPacket(
                data,
                pts,
                packet.dts,
                time_base,
                key,
                state.now,
                generation,
                state.picture,
                state.mono,
            )
        )

    def _maybe_decode(self, packet: Any, key: bool, new_picture: bool, state: _DecodeState) -> None:
        pictures = state.pictures
        if pictures.new_gop:
            self._gop_started(state)
        if self._batch is None:
            return  # a recording session (a main stream kept for evidence) decodes nothing
        if state.holding and new_picture:
            # The keyframe is complete (cameras often send it as several slices, one packet
            # each): drain the decoder now rather than one GOP later, then reset it so the
            # next keyframe starts clean.
            state.holding = False
            self._decode(state.decoders.keyframes, None, state, DecodeMode.KEYFRAMES)
            state.decoders.keyframes.flush_buffers()
        mode = self._controls.mode
        if mode is DecodeMode.KEYFRAMES:
            state.synced = False  # a later full-rate decode must start from a keyframe
            if key:
                state.holding = True
                self._decode(state.decoders.keyframes, packet, state, mode)
            return
        if key:
            state.synced = True
        if state.synced:
            self._decode(state.decoders.full, packet, state, mode)

    def _gop_started(self, state: _DecodeState) -> None:
        state.gops.keyframe(state.mono)
        self._counters.gop_s = state.gops.gop_s

    def _decode(self, codec: Decoder, packet: Any, state: _DecodeState, mode: DecodeMode) -> None:
        try:
            frames = codec.decode(packet)
        except av.error.FFmpegError as exc:
            self._decode_error(state, exc)
            return
        state.consecutive_errors = 0
        for frame in frames:
            pts = frame.pts
            if state.pictures.pts_usable and pts is not None and pts == state.last_pts:
                continue  # one picture split over two packets by the camera: analyse it once
            state.last_pts = pts
            if mode is DecodeMode.FULL and not state.due(self._controls.detect_fps):
                continue
            self._analyse(frame, state.now)

    def _decode_error(self, state: _DecodeState, exc: Exception) -> None:
        self._counters.decode_errors += 1
        state.consecutive_errors += 1
        if state.consecutive_errors >= self._limits.max_consecutive_decode_errors:
            raise DecodeFailed(
                f"{state.consecutive_errors} packets in a row failed to decode "
                f"({type(exc).__name__})"
            ) from exc

    def _analyse(self, frame: Any, now: float) -> None:
        luma = luma_plane(frame)
        height, width = luma.shape
        counters = self._counters
        if (width, height) != (counters.width, counters.height):
            if counters.width is not None:
                log.info(
                    "camera %s: resolution changed %sx%s -> %sx%s",
                    self._camera_id,
                    counters.width,
                    counters.height,
                    width,
                    height,
                )
            counters.width, counters.height = width, height
        batch = self._batch
        assert batch is not None  # only analysing sessions decode
        out_h, out_w = batch.shape_hw
        cv2.resize(luma, (out_w, out_h), dst=self._scratch_hw, interpolation=cv2.INTER_AREA)
        chroma = chroma_planes(frame, self._chroma_2hw)
        batch.write(self._slot, self._scratch_hw, now, chroma)
        counters.analysed += 1
        counters.last_frame_at = time.monotonic()


def open_stream(
    url: str, limits: SessionLimits, redactor: Redactor, interrupt: bool = False
) -> Any:
    """`av.open` with the hub's options and timeouts; failures raise an `IngestError` whose
    message holds no credentials. Blocking: call it from a worker thread.

    `interrupt` adds PyAV's own deadline on the open and each read to a network source (the
    socket timeouts bound each read, not the whole handshake): right for a few streams, too
    costly for 250 (below).
    """
    options = {"analyzeduration": "1000000", "probesize": "1000000"}
    scheme = urlsplit(url).scheme
    if scheme in ("rtsp", "rtsps"):
        options |= {
            "rtsp_transport": "tcp",
            "timeout": str(int(limits.read_timeout_s * 1e6)),
        }
    elif scheme in ("http", "https"):
        options |= {"rw_timeout": str(int(limits.read_timeout_s * 1e6))}
    # Network sources time out in FFmpeg's own sockets (the options above). PyAV's
    # `timeout=` works through an interrupt callback that FFmpeg calls in Python on every
    # blocking read: with 250 cameras that is tens of thousands of GIL hand-offs a second.
    timeout: tuple[float, float] | None = (limits.open_timeout_s, limits.read_timeout_s)
    if scheme in _SOCKET_TIMEOUTS and not interrupt:
        timeout = None
    started = time.monotonic()
    try:
        return av.open(url, options=options, timeout=timeout)
    except (av.error.ExitError, TimeoutError) as exc:
        raise StreamStalled(f"no answer within {limits.open_timeout_s:g} s") from exc
    except av.error.InvalidDataError as exc:
        # FFmpeg's RTSP demuxer reports a server that never answers as invalid data once its
        # socket timeout expires; only a quick refusal means the bytes really were garbage.
        waited = time.monotonic() - started
        if waited >= 0.9 * min(limits.open_timeout_s, limits.read_timeout_s):
            raise StreamStalled(f"no answer within {waited:.0f} s") from exc
        raise StreamUnusable("not a media stream this hub can read (invalid data)") from exc
    except (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError) as exc:
        raise StreamUnusable("the camera refused the credentials") from exc
    except av.error.HTTPNotFoundError as exc:
        raise StreamUnusable("the camera has no stream at this path") from exc
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise StreamOpenError(redactor.scrub(f"cannot open stream: {reason}")) from exc


class _DecodeState:
    """Per-session decoder bookkeeping: the current packet's arrival, pictures, reference sync,
    errors, full-rate sampling.

    Sampling at `detect_fps` goes by arrival (monotonic) time, never by pts, so streams with
    missing, constant or backwards timestamps are sampled at the same rate as any other.
    """

    def __init__(self, decoders: Decoders, hevc: bool = False) -> None:
        self.decoders = decoders
        self.pictures = Pictures()
        self.now = 0.0  # wall-clock arrival of the current packet
        self.mono = 0.0  # monotonic arrival of the current packet
        self.picture = -1  # the ring's picture number of the current packet (-1: none yet)
        self.hevc = hevc  # how a slice says it starts a picture
        self.synced = False
        self.holding = False  # a keyframe sits in the keyframe decoder until its picture ends
        self.last_pts: int | None = None
        self.gops = GopClock()
        self.consecutive_errors = 0
        self.next_due = 0.0

    def due(self, detect_fps: float) -> bool:
        if self.mono < self.next_due:
            return False
        self.next_due = max(self.next_due + 1.0 / detect_fps, self.mono - 1.0 / detect_fps)
        return True

    def restart(self) -> None:
        """A new pass over a looping file: decoders start again at its first keyframe."""
        self.decoders.full.flush_buffers()
        self.decoders.keyframes.flush_buffers()
        self.pictures.restart()
        self.synced = self.holding = False
        self.last_pts = None


class _Clock:
    """Wall-clock time from one monotonic read per packet.

    The offset between the two clocks is refreshed at every keyframe, so an NTP step shows
    up within a GOP while most packets pay for a single clock call.
    """

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def wall(self, mono: float, refresh: bool) -> float:
        if refresh:
            self._offset = time.time() - mono
        return mono + self._offset


class _Pacer:
    """Plays a file at its own frame rate, as a camera would, instead of as fast as it reads.

    Paced by dts, which moves forward in decode order even with B-frames; a packet whose dts
    is missing or does not move forward (a raw .h264 file has none) is played one nominal
    frame interval after the one before it.
    """

    def __init__(self, frame_interval_s: float) -> None:
        self._interval = frame_interval_s
        self._origin: float | None = None
        self._media_s = 0.0  # media time of the last packet, from the first one
        self._last_dts_s: float | None = None

    def wait(self, packet: Any, stop: threading.Event) -> None:
        dts, time_base = packet.dts, packet.time_base
        dts_s = None if dts is None or time_base is None else float(dts * time_base)
        if self._origin is None:
            self._origin, self._last_dts_s = time.monotonic(), dts_s
            return
        if dts_s is not None and self._last_dts_s is not None and dts_s > self._last_dts_s:
            self._media_s += dts_s - self._last_dts_s
        else:
            self._media_s += self._interval
        self._last_dts_s = dts_s
        delay = self._origin + self._media_s - time.monotonic()
        if delay > 0:
            stop.wait(min(delay, 1.0))


def _frame_interval_s(stream: Any) -> float:
    rate = stream.guessed_rate or stream.average_rate
    return 1.0 / float(rate) if rate and 1 <= rate <= 120 else 1.0 / 25


def keyframe_decoder(stream: Any) -> Any:
    """A second decoder for keyframe-only analysis, with the deblocking filter off.

    Each keyframe is decoded on its own and nothing references it afterwards, so skipping the
    loop filter cannot drift; the blocking it leaves is averaged away by the downscale to the
    analysis size, and it saves about a quarter of the decode. Full-rate decoding keeps the
    stream's own decoder, where skipped deblocking would drift over the GOP.
    """
    source = stream.codec_context
    decoder = av.CodecContext.create(source.name, "r")
    if source.extradata:
        decoder.extradata = source.extradata
    decoder.thread_count = 1
    decoder.options = {"skip_loop_filter": "all"}
    return decoder


def chroma_planes(frame: Any, out_2hw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """U and V of a planar 4:2:0 frame, shrunk into `out_2hw`; None for other formats."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        return None
    out_h, out_w = out_2hw.shape[1:]
    for index in (1, 2):
        plane = frame.planes[index]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        cv2.resize(
            rows[:, : plane.width],
            (out_w, out_h),
            dst=out_2hw[index - 1],
            interpolation=cv2.INTER_AREA,
        )
    return out_2hw


def luma_plane(frame: Any) -> npt.NDArray[np.uint8]:
    """The frame's luma as an (h, w) view of the decoder's own plane where the format allows.

    `to_ndarray(format="gray")` converts the whole frame and costs two to three times the
    decode; the Y plane of YUV and NV formats is already there, padded to `line_size`.
    """
    if frame.format.name in _LUMA_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    gray: npt.NDArray[np.uint8] = frame.to_ndarray(format="gray")
    return gray


__all__ = [
    "Controls",
    "Counters",
    "Decoder",
    "DecoderFactory",
    "Decoders",
    "IngestError",
    "Pictures",
    "SessionLimits",
    "StreamSession",
    "luma_plane",
    "open_stream",
    "stream_decoders",
]
