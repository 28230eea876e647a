"""The size of a JPEG from its frame header, without decoding it (no media library here)."""

from __future__ import annotations

from pathlib import Path

from alerts.labels.errors import BadSample

# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEADER_LIMIT = 1 << 20  # a frame header past the first MiB is not a snapshot's


def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) of the JPEG at `path`; raises `BadSample` if it is not one. Blocking."""
    try:
        with path.open("rb") as f:
            data = f.read(_HEADER_LIMIT)
    except OSError as exc:
        raise BadSample(f"cannot read the image {path.name}: {exc.strerror}") from None
    return jpeg_size_of(data, path.name)


def jpeg_size_of(data: bytes, name: str = "image") -> tuple[int, int]:
    """(width, height) from the first bytes of a JPEG."""
    if data[:2] != b"\xff\xd8":
        raise BadSample(f"{name} is not a JPEG")
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in _SOF and at + 9 <= len(data):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            if width > 0 and height > 0:
                return width, height
            break
        at += 2 + length
    raise BadSample(f"{name}: no frame header with a size")
