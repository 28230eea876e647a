"""A real, tiny HTTP/1.1 receiver for notification tests, and alert builders.

`Receiver` listens on 127.0.0.1 with `asyncio.start_server`, records every request and
answers from a script: a status (with headers, e.g. `Retry-After`), a hang (holds the request
until the test or `close()` releases it), or a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from dataclasses import dataclass, field

from riverwatch.types import Alert, AlertPhase

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    drop: bool = False
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A scripted HTTP receiver; `async with Receiver() as rx:` then `rx.url`."""

    def __init__(self, *script: Reply, default: Reply | None = None) -> None:
        self.requests: list[Received] = []
        self.default = default or Reply()
        self.hanging = 0
        self._script = deque(script)
        self._release = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Base URL of the receiver."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, then with `default`."""
        self._script.extend(replies)

    def release(self) -> None:
        """Let every hanging request end (without an answer)."""
        self._release.set()

    async def close(self) -> None:
        """Stop listening and end every handler, hanging ones included."""
        self._release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve_one(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(method, target, headers, body, time.monotonic()))
        reply = self._script.popleft() if self._script else self.default
        if reply.hang:
            self.hanging += 1
            await self._release.wait()
            return
        if reply.drop:
            return
        extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        writer.write(
            f"HTTP/1.1 {reply.status} X\r\n{extra}Content-Length: {len(reply.body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + reply.body
        )
        await writer.drain()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def make_alert(
    alert_id: str = "cam-a:ban:1",
    camera_id: str = "cam-a",
    zone_id: str = "ban",
    rule: str = "vessel_in_zone",
    phase: AlertPhase = AlertPhase.OPEN,
    severity: str = "high",
) -> Alert:
    """An alert with plausible values."""
    return Alert(
        alert_id=alert_id,
        camera_id=camera_id,
        zone_id=zone_id,
        rule=rule,
        severity=severity,
        started_at=1_718_000_000.0,
        observed_at=1_718_000_001.5,
        frame_seq=42,
        score=0.87,
        box_xyxy=(10, 20, 110, 80),
        phase=phase,
        group="jinsha",
    )
