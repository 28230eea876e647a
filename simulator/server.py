"""Start and stop the GStreamer RTSP server that plays simulated cameras.

`RtspSimulator` runs `gst_rtsp_server.py` under the system Python (which has GStreamer's
introspection bindings) as a child process, waits until it listens, and stops it by its own
process id. Credentials for the server's basic auth go through the environment, never argv.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

SERVER_SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
_PROBE = (
    "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "assert all(Gst.ElementFactory.find(e) for e in ('tsdemux', 'h264parse', 'rtph264pay', "
    "'multifilesrc', 'h265parse', 'rtph265pay', 'aacparse', 'rtpmp4gpay', 'identity'))"
)


class SimulatorUnavailable(RuntimeError):
    """GStreamer's RTSP server or one of its plugins is not installed."""


@dataclass(frozen=True)
class MountSource:
    """A file a mount plays: its video codec (`h264` or `h265`) and whether it carries AAC."""

    file: Path
    video: str = "h264"
    audio: bool = False


@dataclass(frozen=True)
class Mount:
    """One simulated camera stream: an RTSP path playing one file in a loop.

    `then` lists files that later sessions play in turn (each new session, once every client
    has left, takes the next: a camera that comes back with another codec after a reconnect).
    `constant_timestamps` makes the server send one RTP timestamp for every packet, as broken
    restreamers do; the stream is still paced at its frame rate.
    """

    path: str
    file: Path
    video: str = "h264"
    audio: bool = False
    then: tuple[MountSource, ...] = ()
    constant_timestamps: bool = False

    def spec(self) -> dict[str, object]:
        """The mount as the server script reads it."""
        if not (self.then or self.constant_timestamps or self.audio or self.video != "h264"):
            return {"path": self.path, "file": str(self.file)}
        sources = [MountSource(self.file, self.video, self.audio), *self.then]
        return {
            "path": self.path,
            "sources": [{"file": str(s.file), "video": s.video, "audio": s.audio} for s in sources],
            "constant_timestamps": self.constant_timestamps,
        }


def find_gst_python(candidates: Sequence[str] = ("/usr/bin/python3", "python3")) -> str:
    """The first Python that can import gst-rtsp-server with the plugins the server needs."""
    for candidate in candidates:
        exe = shutil.which(candidate)
        if exe is None:
            continue
        probe = subprocess.run([exe, "-c", _PROBE], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return exe
    raise SimulatorUnavailable(
        "GStreamer's RTSP server is not installed. On Debian: apt-get install python3-gi "
        "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
        "gstreamer1.0-plugins-bad"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RtspSimulator:
    """A real RTSP server with one mount per simulated camera.

    >>> with RtspSimulator([Mount("/cam001", scene_ts)]) as sim:      # doctest: +SKIP
    ...     sim.url("/cam001")
    'rtsp://127.0.0.1:40123/cam001'
    """

    def __init__(
        self,
        mounts: Sequence[Mount],
        port: int | None = None,
        credentials: tuple[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        self._mounts = list(mounts)
        self.port = port or free_port()
        self._credentials = credentials
        self._python = python
        self._proc: subprocess.Popen[str] | None = None
        self._mounts_file: Path | None = None

    def url(self, path: str, with_credentials: bool = False) -> str:
        """The RTSP URL of a mount."""
        userinfo = ""
        if with_credentials and self._credentials:
            userinfo = f"{self._credentials[0]}:{self._credentials[1]}@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until it listens."""
        python = self._python or find_gst_python()
        fd, name = tempfile.mkstemp(prefix="riverwatch-mounts-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump([m.spec() for m in self._mounts], fh)
        self._mounts_file = Path(name)
        env = dict(os.environ)
        if self._credentials:
            env["RIVERWATCH_SIM_USER"], env["RIVERWATCH_SIM_PASSWORD"] = self._credentials
        self._proc = subprocess.Popen(
            [python, str(SERVER_SCRIPT), "--port", str(self.port), "--mounts", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._await_ready(timeout_s)
        log.info("simulator: %d streams on rtsp://127.0.0.1:%d", len(self._mounts), self.port)

    def _await_ready(self, timeout_s: float) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()  # the server prints READY or exits
        if not line.startswith("READY"):
            self.stop()
            raise SimulatorUnavailable(f"the RTSP server did not start on port {self.port}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise SimulatorUnavailable(f"the RTSP server does not accept on port {self.port}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._mounts_file is not None:
            self._mounts_file.unlink(missing_ok=True)
            self._mounts_file = None

    @property
    def pid(self) -> int:
        """The server's process id (it must be running)."""
        if self._proc is None:
            raise RuntimeError("the simulator is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RtspSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
