"""Evidence files under the data directory: safe paths, atomic writes, checksums, retention.

Layout: `<data_dir>/evidence/<yyyy-mm-dd>/<alert_id>.{jpg,mp4}`, the date being the alert's
start in UTC. Every method blocks on the disk: call them in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from alerts.evidence.errors import EvidenceError, NotWritable, from_os_error

T = TypeVar("T")
Kind = Literal["jpg", "mp4", "preroll.mp4"]

_ALERT_ID = re.compile(r"[0-9a-f]{8,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_STALE_TEMP_S = 3600.0  # a temp file this old belongs to a writer that died
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One evidence file: its path relative to the data directory, checksum and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one retention sweep removed and what it left."""

    removed_files: int
    freed_bytes: int
    kept_bytes: int


class EvidenceStore:
    """Writes snapshots and clips where nothing can escape the evidence directory.

    >>> store = EvidenceStore(Path("/var/lib/riverwatch"), 30 * 86400, 20 * 2**30)  # doctest: +SKIP
    >>> store.save_snapshot("9f3a0c1d2e4b", alert.started_at, jpeg).sha256  # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: Path,
        max_age_s: float,
        max_total_bytes: int,
        on_stored: Callable[[StoredFile], None] | None = None,
        pending: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        if max_age_s <= 0 or max_total_bytes <= 0:
            raise ValueError("evidence retention needs a positive age and size")
        self._on_stored = on_stored  # told of every file written (the upload outbox)
        self._pending = pending  # paths retention must keep (not yet uploaded)
        self._data_dir = data_dir
        self._root = data_dir / "evidence"
        self._max_age_s = max_age_s
        self._max_total_bytes = max_total_bytes

    def path_for(self, alert_id: str, at: float, kind: Kind) -> tuple[Path, str]:
        """Absolute and data-dir-relative path of one alert's file; ValueError on a bad id."""
        if not _ALERT_ID.fullmatch(alert_id) or kind not in ("jpg", "mp4", "preroll.mp4"):
            raise ValueError("alert ids are 8 to 64 lowercase hex digits")
        day = time.strftime("%Y-%m-%d", time.gmtime(at))
        absolute = self._root / day / f"{alert_id}.{kind}"
        return absolute, absolute.relative_to(self._data_dir).as_posix()

    def save_snapshot(self, alert_id: str, at: float, jpeg: bytes) -> StoredFile:
        """Write a JPEG atomically; raises a `StorageError` when the disk will not take it."""
        path, relative = self.path_for(alert_id, at, "jpg")
        tmp = path.with_name(f".{path.name}.part")
        try:
            self._make_dir(path.parent, relative)
            with tmp.open("wb") as handle:
                handle.write(jpeg)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the directory may be what failed
                tmp.unlink(missing_ok=True)
            raise from_os_error(exc, relative) from exc
        return self._stored(StoredFile(relative, hashlib.sha256(jpeg).hexdigest(), len(jpeg)))

    def save_clip(
        self, alert_id: str, at: float, write: Callable[[Path], T], kind: Kind = "mp4"
    ) -> tuple[StoredFile, T]:
        """Let `write(path)` make the clip (atomically), then checksum it.

        `write` raises `EvidenceError`s for media trouble; disk trouble (an `OSError`,
        FFmpeg's included) comes back as a `StorageError`.
        """
        path, relative = self.path_for(alert_id, at, kind)
        try:
            self._make_dir(path.parent, relative)
            result = write(path)
            digest, size = _sha256_of(path)
        except EvidenceError:
            raise
        except OSError as exc:
            raise from_os_error(exc, relative) from exc
        return self._stored(StoredFile(relative, digest, size)), result

    def _stored(self, stored: StoredFile) -> StoredFile:
        if self._on_stored is not None:
            try:
                self._on_stored(stored)
            except OSError as exc:
                raise from_os_error(exc, stored.path) from exc
        return stored

    def sweep(self, now: float | None = None) -> SweepResult:
        """Remove files older than the age limit, then the oldest until under the size limit.

        Raises a `StorageError` when the evidence directory cannot be read or changed.
        """
        now = time.time() if now is None else now
        try:
            return self._sweep(now)
        except OSError as exc:
            raise from_os_error(exc, "evidence/") from exc

    def _sweep(self, now: float) -> SweepResult:
        files = sorted(self._files(), key=lambda f: f[0])  # oldest first
        keep = self._pending() if self._pending is not None else frozenset()
        if keep:  # not yet uploaded: the only copy
            files = [f for f in files if f[2].relative_to(self._data_dir).as_posix() not in keep]
        removed = freed = 0
        total = sum(size for _, size, _ in files)
        for mtime, size, path in files:
            too_old = now - mtime > self._max_age_s
            if not too_old and total <= self._max_total_bytes:
                break  # what is left is young enough and fits
            if path.name.endswith(".part") and now - mtime < _STALE_TEMP_S:
                continue  # a writer is still at work on it
            if _unlink(path):
                removed += 1
                freed += size
                total -= size
        self._drop_empty_days(now)
        return SweepResult(removed, freed, total)

    def usage_bytes(self) -> int:
        """Bytes held under the evidence directory now."""
        return sum(size for _, size, _ in self._files())

    def _make_dir(self, directory: Path, relative: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if not directory.is_dir():
            raise NotWritable(f"cannot write {relative}: not a directory")

    def _files(self) -> list[tuple[float, int, Path]]:
        found: list[tuple[float, int, Path]] = []
        for day in _days(self._root):
            with os.scandir(day) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False):
                            stat = entry.stat(follow_symlinks=False)
                            found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
                    except FileNotFoundError:
                        continue  # removed while we looked
        return found

    def _drop_empty_days(self, now: float) -> None:
        # Only days well past: a writer may be creating today's directory this very moment.
        recent = {time.strftime("%Y-%m-%d", time.gmtime(now - d * 86400)) for d in (-1, 0, 1)}
        for day in _days(self._root):
            if day.name not in recent:
                try:
                    day.rmdir()
                except OSError:
                    continue  # not empty


def _days(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if _DAY.fullmatch(p.name) and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
