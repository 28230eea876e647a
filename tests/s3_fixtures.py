"""A real S3 endpoint for the evidence bucket: moto's S3 server in its own process, over HTTP.

MinIO is what the compose file runs; its server cannot be installed on these machines (only
PyPI, Debian and npm are reachable), so the tests talk to moto's server instead: a separate
process answering the S3 REST API on a TCP port, which the hub reaches through the same MinIO
client and network path as it would reach MinIO. Start, stop and start it again on the same
port to cut the store off and bring it back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ACCESS_KEY = "riverwatch-test"
SECRET_KEY = "riverwatch-test-secret"


@dataclass
class S3Server:
    """moto's S3 server on `port`; `start`/`stop` by its process id."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        assert binary is not None, "moto_server is not installed (requirements/test.txt)"
        self.process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.endpoint, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"moto's S3 server did not answer on {self.endpoint}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None


@pytest.fixture
def s3() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
