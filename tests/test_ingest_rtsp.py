"""Ingest against a real RTSP server: streaming, reconnecting, stalls, garbage, decode modes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from ingest import CameraSpec, IngestSupervisor
from riverwatch.batch import BatchView
from riverwatch.secrets import Redactor, redact_url
from riverwatch.settings import Settings
from riverwatch.types import CameraState, DecodeMode
from simulator.server import RtspSimulator
from tests.conftest import eventually


def spec(camera_id: str, url: str, mode: DecodeMode = DecodeMode.KEYFRAMES) -> CameraSpec:
    return CameraSpec(camera_id, lambda: url, redact_url(url), mode, detect_fps=5.0)


@contextlib.asynccontextmanager
async def running(
    specs: list[CameraSpec], settings: Settings, redactor: Redactor | None = None
) -> AsyncIterator[IngestSupervisor]:
    async with IngestSupervisor(specs, settings, redactor or Redactor()) as ingest:
        yield ingest


def state(ingest: IngestSupervisor, camera_id: str) -> CameraState:
    return ingest.camera_health(camera_id).state


async def test_camera_streams_and_fills_its_batch_row(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    url = rtsp.url("/boat", with_credentials=True)
    async with running([spec("boat", url)], settings) as ingest:
        await eventually(lambda: state(ingest, "boat") is CameraState.STREAMING, what="streaming")
        await eventually(
            lambda: ingest.camera_health("boat").last_frame_age_s is not None, what="a frame"
        )
        view = BatchView.empty(1, settings.analysis_shape_hw)
        ingest.batch.read_into(view)
        health = ingest.camera_health("boat")
        assert view.fresh_n[0] and view.seq_n[0] >= 1
        assert view.frames_nhw[0].std() > 5  # a real picture, not zeros
        assert (health.width, health.height, health.codec) == (320, 180, "h264")
        assert len(ingest.ring("boat")) > 0


async def test_server_restart_makes_camera_reconnect(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    url = rtsp.url("/calm", with_credentials=True)
    async with running([spec("calm", url)], settings) as ingest:
        await eventually(lambda: state(ingest, "calm") is CameraState.STREAMING, what="streaming")
        rtsp.stop()
        await eventually(
            lambda: state(ingest, "calm") is not CameraState.STREAMING,
            what="the camera to notice the server is gone",
        )
        rtsp.start()
        await eventually(
            lambda: (
                state(ingest, "calm") is CameraState.STREAMING
                and ingest.camera_health("calm").reconnects >= 1
            ),
            what="reconnect",
        )
        frames_before = ingest.camera_health("calm").last_frame_age_s
        assert frames_before is not None


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


async def test_silent_server_is_detected_as_stalled_and_retried(
    silent_server: int, rtsp: RtspSimulator, settings: Settings
) -> None:
    silent = f"rtsp://127.0.0.1:{silent_server}/cam"
    good = rtsp.url("/calm", with_credentials=True)
    async with running([spec("silent", silent), spec("good", good)], settings) as ingest:
        await eventually(lambda: ingest.camera_health("silent").stalls >= 2, what="two stalls")
        health = ingest.camera_health("silent")
        assert health.reconnects >= 1
        assert health.last_error is not None and "no answer" in health.last_error
        assert state(ingest, "good") is CameraState.STREAMING  # the neighbour is untouched


class FreezableProxy:
    """A TCP proxy to the RTSP server whose open connections can be frozen (socket stays open)."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self.frozen = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._handle(reader, writer))
        self._tasks.add(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers += [writer, up_writer]
        frozen_now = self.frozen.is_set()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if self.frozen.is_set() and not frozen_now:
                        # Black-hole the connection: the socket stays open and the camera gets
                        # nothing, while the server still drains (a blocked server would stall
                        # its shared media for every other client).
                        continue
                    dst.write(data)
                    await dst.drain()

        # Like any proxy: once one side hangs up, hang up the other (the server then sees the
        # camera's teardown instead of a client that lingers on its shared media).
        pipes = {
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        }
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            writer.close()
            up_writer.close()


async def test_stream_that_goes_silent_mid_stream_is_stalled_then_recovers(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    async with FreezableProxy(rtsp.port) as proxy:
        url = f"rtsp://viewer:s3cret-Pa55@127.0.0.1:{proxy.port}/calm"
        async with running([spec("calm", url)], settings) as ingest:
            await eventually(
                lambda: state(ingest, "calm") is CameraState.STREAMING, what="streaming"
            )
            proxy.frozen.set()  # existing connections freeze; new ones pass
            # Generous bounds: a stall takes stall_timeout_s, then a backoff and a reconnect,
            # each slower on a busy machine.
            await eventually(
                lambda: ingest.camera_health("calm").stalls >= 1, timeout_s=60, what="a stall"
            )
            await eventually(
                lambda: state(ingest, "calm") is CameraState.STREAMING,
                timeout_s=60,
                what="streaming again on a new connection",
            )


@pytest.fixture
def garbage_http() -> Iterator[int]:
    """An HTTP server that answers 200 with random bytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        rng = np.random.default_rng(1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"
                        b"Content-Length: 200000\r\n\r\n"
                    )
                    conn.sendall(rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def audio_only_file(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), np.int16), format="s16", layout="mono"
        )
        frame.rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


async def test_garbage_and_audio_only_streams_fail_clearly_without_harm(
    garbage_http: int, rtsp: RtspSimulator, settings: Settings, tmp_path: Path
) -> None:
    audio = audio_only_file(tmp_path / "audio.wav")
    specs = [
        spec("garbage", f"http://127.0.0.1:{garbage_http}/stream.mp4"),
        spec("audio", audio.as_uri()),
        spec("good", rtsp.url("/boat", with_credentials=True)),
    ]
    async with running(specs, settings) as ingest:
        await eventually(
            lambda: (
                state(ingest, "garbage") is CameraState.FAILED
                and state(ingest, "audio") is CameraState.FAILED
            ),
            what="both failed",
        )
        await eventually(lambda: state(ingest, "good") is CameraState.STREAMING, what="good")
        assert "invalid data" in (ingest.camera_health("garbage").last_error or "")
        assert "no video" in (ingest.camera_health("audio").last_error or "")
        await asyncio.sleep(1.5)
        assert state(ingest, "good") is CameraState.STREAMING


async def test_switching_decode_mode_while_running_changes_the_analysed_rate(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    url = rtsp.url("/boat", with_credentials=True)
    async with running([spec("boat", url)], settings) as ingest:
        await eventually(lambda: state(ingest, "boat") is CameraState.STREAMING, what="streaming")
        view = BatchView.empty(1, settings.analysis_shape_hw)

        async def frames_in(seconds: float) -> int:
            ingest.batch.read_into(view)
            start = int(view.seq_n[0])
            await asyncio.sleep(seconds)
            ingest.batch.read_into(view)
            return int(view.seq_n[0]) - start

        await asyncio.sleep(2.0)  # a new RTSP client may get a short burst before real time
        keyframes_only = await frames_in(4.0)  # GOP 1 s: about 4 frames
        ingest.set_mode("boat", DecodeMode.FULL)
        await asyncio.sleep(1.5)  # full rate begins at the next keyframe
        full_rate = await frames_in(4.0)  # detect fps 5: about 20 frames
        assert 2 <= keyframes_only <= 7, keyframes_only
        assert full_rate >= 3 * keyframes_only
        assert ingest.camera_health("boat").decode_mode is DecodeMode.FULL
        ingest.set_mode("boat", DecodeMode.KEYFRAMES)
        await asyncio.sleep(0.5)
        assert await frames_in(3.0) <= 5


async def test_credentials_never_reach_logs_or_health(
    rtsp: RtspSimulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = rtsp.url("/calm", with_credentials=True)
    wrong = f"rtsp://viewer:WrongPassw0rd@127.0.0.1:{rtsp.port}/calm"
    redactor = Redactor(["s3cret-Pa55", "WrongPassw0rd"])
    async with running([spec("good", good), spec("wrong", wrong)], settings, redactor) as ingest:
        await eventually(lambda: state(ingest, "wrong") is CameraState.FAILED, what="failed")
        await eventually(lambda: state(ingest, "good") is CameraState.STREAMING, what="streaming")
        health = repr(ingest.health())
    assert "credentials" in (ingest.camera_health("wrong").last_error or "")
    for secret in ("s3cret-Pa55", "WrongPassw0rd"):
        assert secret not in caplog.text
        assert secret not in health
    assert "rtsp://***@127.0.0.1" in caplog.text  # the URL is shown, redacted
