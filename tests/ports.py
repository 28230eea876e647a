"""A free TCP port on the loopback, for servers the tests start (PostgreSQL, S3, the API)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (the server that takes it binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
