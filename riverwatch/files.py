"""File durability shared by every part that must not lose a write to a crash."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (after a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The bytes of `path`, made with `make()` first if there is no such file: created
    exclusively with mode 0600 and fsynced, so hubs starting together on one shared folder end
    with one secret (a hub that lost the race waits for the other's write). ValueError if the
    file stays empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
    for _ in range(50):  # another hub may be between its create and its write
        data = path.read_bytes()
        if data.strip():
            return data
        time.sleep(0.1)
    raise ValueError(f"{path}: empty")
