"""Advice from a camera's measured keyframe interval: is it too long for its zones?

At keyframe cadence a camera analyses one picture a GOP, and a zone's track needs
`min_observations` of them before its rule can fire, so the least detection delay is about
`min_observations x GOP` (attention promotes a moving camera to full rate, but only from its
next keyframe). A camera whose measured GOP makes that longer than a zone's `max_delay_s` gets
a warning that says so and what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from riverwatch.config import ZoneConfig
from riverwatch.types import DecodeMode


def gop_warnings(
    gop_s: float | None, mode: DecodeMode, zones: Sequence[ZoneConfig]
) -> tuple[str, ...]:
    """One warning per zone the measured GOP is too long for (none before it is measured)."""
    if gop_s is None:
        return ()
    out = []
    for zone in zones:
        least = zone.min_observations * gop_s
        if least <= zone.max_delay_s:
            continue
        out.append(
            f"GOP {gop_s:.1f} s: zone {zone.id!r} wants detection within {zone.max_delay_s:g} s, "
            f"but {zone.min_observations} keyframes take about {least:.0f} s"
            + ("" if mode is DecodeMode.FULL else " at keyframe cadence")
            + f"; set the camera's keyframe interval (I-frame interval) to at most "
            f"{zone.max_delay_s / zone.min_observations:.1f} s and turn off smart-codec modes, "
            f"or run it at full rate (decode_mode: full)"
        )
    return tuple(out)
