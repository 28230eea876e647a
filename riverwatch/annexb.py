"""H.264 bitstream framing: Annex B (start codes, as RTSP delivers) and AVCC (length prefixes);
H.265's parameter sets where a clip needs them.

Only framing is touched here, never a picture: the same NAL units in, the same NAL units out.
"""

from __future__ import annotations

from collections.abc import Iterator

_START = b"\x00\x00\x01"
SLICE, IDR, SPS, PPS, AUD = 1, 5, 7, 8, 9


def is_annexb(data: bytes) -> bool:
    """True when `data` begins with a start code (3 or 4 bytes)."""
    return data.startswith(_START) or data.startswith(b"\x00" + _START)


def nal_units(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex B buffer, without start codes or trailing zero bytes."""
    begin = data.find(_START)
    while begin >= 0:
        begin += len(_START)
        end = data.find(_START, begin)
        unit = data[begin:] if end < 0 else data[begin:end]
        unit = unit.rstrip(b"\x00")  # the zero that makes the next start code four bytes long
        if unit:
            yield unit
        begin = end


def nal_type(unit: bytes) -> int:
    """The H.264 nal_unit_type of one NAL unit."""
    return unit[0] & 0x1F


def has_parameter_sets(data: bytes) -> bool:
    """True when an Annex B buffer carries both an SPS and a PPS."""
    kinds = {nal_type(u) for u in nal_units(data)}
    return SPS in kinds and PPS in kinds


HEVC_VPS, HEVC_SPS, HEVC_PPS, HEVC_AUD = 32, 33, 34, 35
HEVC_FIRST_NON_VCL = 32  # H.265 nal_unit_type 0..31 are slices


def hevc_has_parameter_sets(data: bytes) -> bool:
    """True when an Annex B H.265 buffer carries a VPS, an SPS and a PPS."""
    kinds = {(u[0] >> 1) & 0x3F for u in nal_units(data)}
    return {HEVC_VPS, HEVC_SPS, HEVC_PPS} <= kinds


def sps_of(data: bytes) -> bytes | None:
    """The first SPS in an Annex B buffer, or None (a new one means new picture settings)."""
    if not is_annexb(data):
        return None
    return next((u for u in nal_units(data) if nal_type(u) == SPS), None)


def continues_picture(data: bytes, hevc: bool = False) -> bool:
    """True when an Annex B packet holds a later slice of the picture before it.

    A picture's first slice says so in the first bit after its NAL header: H.264's
    first_mb_in_slice = 0 is coded ue(v) as a single 1 bit, H.265 sets
    first_slice_segment_in_pic_flag. An access unit delimiter always starts a new picture.
    Only the NAL headers are read, up to the first slice, and nothing is copied: this runs for
    every packet of every camera, and a keyframe's slice is tens of kilobytes.
    """
    if not is_annexb(data):
        return False
    aud, header = (HEVC_AUD, 2) if hevc else (AUD, 1)
    begin = data.find(_START)
    while begin >= 0:
        begin += len(_START)
        if begin + header >= len(data):
            return False
        kind = (data[begin] >> 1) & 0x3F if hevc else data[begin] & 0x1F
        if kind == aud:
            return False
        is_slice = kind < HEVC_FIRST_NON_VCL if hevc else kind in (SLICE, IDR)
        if is_slice:
            return not data[begin + header] & 0x80
        begin = data.find(_START, begin)
    return False


def avcc_units(data: bytes, length_size: int = 4) -> Iterator[bytes]:
    """The NAL units of a length-prefixed (AVCC, MP4-style) buffer."""
    pos = 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        yield data[pos : pos + size]
        pos += size


def to_annexb(units: Iterator[bytes] | list[bytes]) -> bytes:
    """NAL units joined with four-byte start codes."""
    return b"".join(b"\x00" + _START + u for u in units)


def avcc_config_to_annexb(extradata: bytes) -> tuple[bytes, int]:
    """An avcC record (ISO 14496-15) as Annex B parameter sets, and its NAL length size."""
    if len(extradata) < 7 or extradata[0] != 1:
        raise ValueError("not an avcC record")
    length_size = (extradata[4] & 0x03) + 1
    units: list[bytes] = []
    pos = 5
    for mask in (0x1F, 0xFF):  # SPS count has 5 bits, PPS count a whole byte
        count = extradata[pos] & mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            units.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return to_annexb(units), length_size
