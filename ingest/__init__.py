"""Ingest: cameras in, analysis frames and packet rings out.

Public surface: `IngestSupervisor` (runs every camera), `CameraSpec` (what it needs per camera),
`BatchView` (the detector's copy of the shared batch), `PacketRing`/`RingPacket` (pre-roll) and
the `IngestError` tree.
"""

from ingest.batch import BatchView, FrameBatch
from ingest.camera import CameraSpec
from ingest.errors import (
    DecodeFailed,
    IngestError,
    StreamEnded,
    StreamOpenError,
    StreamStalled,
    StreamUnusable,
)
from ingest.ring import PacketRing, RingPacket, StreamInfo
from ingest.supervisor import IngestSupervisor

__all__ = [
    "BatchView",
    "CameraSpec",
    "DecodeFailed",
    "FrameBatch",
    "IngestError",
    "IngestSupervisor",
    "PacketRing",
    "RingPacket",
    "StreamInfo",
    "StreamEnded",
    "StreamOpenError",
    "StreamStalled",
    "StreamUnusable",
]
