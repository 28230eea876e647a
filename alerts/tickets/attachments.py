"""Field photos: checked (size, declared type, magic bytes) and stored under generated names.

Files live at `<data_dir>/attachments/<ticket_id>/<random hex>.<jpg|png>`. Nothing the user
sends ever becomes part of a path: the original file name is kept in the database for
display only, so `../../etc/passwd` or `C:\\x.jpg` is harmless.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alerts.tickets.errors import AttachmentRejected
from alerts.tickets.records import Photo

ATTACHMENTS_DIR = "attachments"
_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff", "jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", "png"),
}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A photo written to disk, not yet recorded in the database."""

    filename: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    path: str  # relative to the data directory


class AttachmentStore:
    """Validates and writes field photos; the only code that touches the attachments tree."""

    def __init__(
        self,
        data_dir: Path,
        max_bytes: int = 10_000_000,
        max_files: int = 10,
        on_stored: Callable[[StoredFile], None] | None = None,
    ) -> None:
        self._on_stored = on_stored  # told of every photo written (the upload outbox)
        if max_bytes <= 0 or max_files <= 0:
            raise ValueError("attachment limits must be positive")
        self._data_dir = data_dir
        self._max_bytes = max_bytes
        self._max_files = max_files

    def check(self, photos: tuple[Photo, ...]) -> None:
        """Raise AttachmentRejected for the first photo that may not be stored."""
        if len(photos) > self._max_files:
            raise AttachmentRejected(f"{len(photos)} attachments; at most {self._max_files}")
        for index, photo in enumerate(photos):
            self._check_one(index, photo)

    def _check_one(self, index: int, photo: Photo) -> None:
        if not photo.content:
            raise AttachmentRejected(f"attachment {index} is empty")
        if len(photo.content) > self._max_bytes:
            raise AttachmentRejected(
                f"attachment {index} is {len(photo.content)} bytes; at most {self._max_bytes}"
            )
        kind = _MAGIC.get(photo.content_type.strip().lower())
        if kind is None:
            raise AttachmentRejected(
                f"attachment {index} has type {photo.content_type[:50]!r}; only JPEG or PNG"
            )
        if not photo.content.startswith(kind[0]):
            raise AttachmentRejected(
                f"attachment {index} is declared {photo.content_type} but is not one"
            )

    async def write(self, ticket_id: int, photos: tuple[Photo, ...]) -> list[StoredFile]:
        """Check, then write every photo (in a worker thread: disk I/O stays off the loop)."""
        self.check(photos)
        return await asyncio.to_thread(self._write_all, ticket_id, photos)

    async def remove(self, stored: list[StoredFile]) -> None:
        """Delete files whose database rows were never committed."""
        await asyncio.to_thread(self._remove_all, stored)

    def _write_all(self, ticket_id: int, photos: tuple[Photo, ...]) -> list[StoredFile]:
        folder = self._data_dir / ATTACHMENTS_DIR / str(int(ticket_id))
        folder.mkdir(parents=True, exist_ok=True)
        written: list[StoredFile] = []
        try:
            for photo in photos:
                written.append(self._write_one(folder, photo))
                if self._on_stored is not None:
                    self._on_stored(written[-1])
        except OSError:
            self._remove_all(written)
            raise
        return written

    def _write_one(self, folder: Path, photo: Photo) -> StoredFile:
        content_type = photo.content_type.strip().lower()
        filename = f"{secrets.token_hex(16)}.{_MAGIC[content_type][1]}"
        final = folder / filename
        partial = folder / f".{filename}.part"
        with open(partial, "wb") as fh:
            fh.write(photo.content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, final)  # a crash leaves a .part file, never a truncated photo
        return StoredFile(
            filename=filename,
            original_name=photo.filename[:200],
            content_type=content_type,
            size=len(photo.content),
            sha256=hashlib.sha256(photo.content).hexdigest(),
            path=final.relative_to(self._data_dir).as_posix(),
        )

    def _remove_all(self, stored: list[StoredFile]) -> None:
        for item in stored:
            (self._data_dir / item.path).unlink(missing_ok=True)
