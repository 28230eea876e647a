"""Detectors: the batch of analysis frames in, zone events out.

Public surface: `FrameDiffDetector` (motion per zone for all cameras at once), `ZoneSpec`,
`ZoneActivityRule` and the `ZoneEvent`/`Phase` it emits.
"""

from detectors.framediff import FrameDiffDetector, ZoneActivity
from detectors.rules import Phase, ZoneActivityRule, ZoneEvent
from detectors.zones import ZoneGrid, ZoneSpec, rasterise

__all__ = [
    "FrameDiffDetector",
    "Phase",
    "ZoneActivity",
    "ZoneActivityRule",
    "ZoneEvent",
    "ZoneGrid",
    "ZoneSpec",
    "rasterise",
]
