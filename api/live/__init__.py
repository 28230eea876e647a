"""Live view: camera H.264 forwarded to browsers over WebRTC (aiortc) without re-encoding,
one relay per camera, and JPEG snapshots of the newest keyframe for tiles that are not live.

`LiveService` is what the app makes in its lifespan; the rest is its parts.
"""

from api.live.errors import (
    BadOffer,
    LiveError,
    NoPicture,
    NotForwardable,
    SetupTimeout,
    ViewerLimit,
)
from api.live.webrtc import LiveLimits, LiveService, LiveStats, Viewer

__all__ = [
    "BadOffer",
    "LiveError",
    "LiveLimits",
    "LiveService",
    "LiveStats",
    "NoPicture",
    "NotForwardable",
    "SetupTimeout",
    "Viewer",
    "ViewerLimit",
]
