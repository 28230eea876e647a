"""Errors of the evidence package, all under the alerts package's base:

AlertsError
 └── EvidenceError          evidence could not be made; deliver the alert without it
      ├── NoVideo            nothing usable in the ring: no stream yet, no keyframe, empty window
      ├── MediaError         decoding the keyframe, encoding the JPEG or muxing the MP4 failed
      └── StorageError       the evidence directory cannot take the file (`errno` says why)
           ├── DiskFull       ENOSPC or EDQUOT
           └── NotWritable    EACCES, EPERM, EROFS, ENOTDIR, EEXIST on a directory ...
"""

from __future__ import annotations

import errno as errnos

from alerts.errors import AlertsError

_FULL = frozenset({errnos.ENOSPC, errnos.EDQUOT, errnos.EFBIG})
_NOT_WRITABLE = frozenset(
    {
        errnos.EACCES,
        errnos.EPERM,
        errnos.EROFS,
        errnos.ENOTDIR,
        errnos.EEXIST,
        errnos.EISDIR,
        errnos.ENOENT,
        errnos.EIO,
    }
)


class EvidenceError(AlertsError):
    """Base of every evidence failure; the alert itself is still delivered."""


class NoVideo(EvidenceError):
    """The ring holds nothing to make evidence from."""


class MediaError(EvidenceError):
    """Decoding, JPEG encoding or MP4 muxing failed on the packets given."""


class StorageError(EvidenceError):
    """The evidence directory cannot take a file."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class DiskFull(StorageError):
    """No space left (or quota exceeded) under the data directory."""


class NotWritable(StorageError):
    """The evidence directory is read-only, not a directory, or not ours to write."""


def is_storage_errno(errno: int | None) -> bool:
    """True when an errno is about the disk or the directory rather than the media."""
    return errno in _FULL or errno in _NOT_WRITABLE


def from_os_error(exc: OSError, what: str) -> EvidenceError:
    """The evidence error for an OSError raised while writing `what` (a relative path).

    Errors that say nothing about the disk (an FFmpeg EINVAL from the muxer, say) are media
    errors: PyAV raises its FFmpeg errors as OSError subclasses with the errno set.
    """
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return DiskFull(f"disk full while writing {what}: {reason}", exc.errno)
    if exc.errno in _NOT_WRITABLE:
        return NotWritable(f"cannot write {what}: {reason}", exc.errno)
    return MediaError(f"failed writing {what}: {reason}")
