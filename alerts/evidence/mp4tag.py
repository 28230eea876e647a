"""H.265 in MP4 as browsers play it: the sample entry tagged `hvc1`, not FFmpeg's `hev1`.

Safari (and the other browsers that play HEVC) want `hvc1`. FFmpeg's muxer writes `hvc1` only
when told by a codec tag, which PyAV cannot set on a stream it copies into; so the finished
file's one sample entry is renamed in place: moov/trak/mdia/minf/stbl/stsd, whose entry's
four-character type is the tag. Nothing else in the file changes size or place.
"""

from __future__ import annotations

import struct
from pathlib import Path

from alerts.evidence.errors import MediaError

_PATH = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")


def tag_hvc1(path: Path) -> None:
    """Rename the clip's `hev1` sample entry to `hvc1` (no-op when it is already)."""
    with path.open("r+b") as handle:
        data = handle.read()
        entry = _sample_entry(data)
        if entry is None:
            raise MediaError("the HEVC clip has no sample entry to tag")
        if data[entry : entry + 4] == b"hev1":
            handle.seek(entry)
            handle.write(b"hvc1")


def _sample_entry(data: bytes) -> int | None:
    """Offset of the first video track's first sample entry type in `data`, or None."""
    start, end = 0, len(data)
    for name in _PATH:
        found = _child(data, start, end, name)
        if found is None:
            return None
        start, end = found
    # stsd: version and flags (4), entry count (4), then the entries (size, type, ...)
    entry = start + 8
    return entry + 4 if entry + 8 <= end else None


def _child(data: bytes, start: int, end: int, name: bytes) -> tuple[int, int] | None:
    """The body (start, end) of the first box called `name` within data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if kind == name:
            return pos + header, min(pos + size, end)
        pos += size
    return None
