"""Ingest: cameras in, analysis frames and packet rings out.

Public surface: `IngestSupervisor` (runs every camera), `CameraSpec` (what it needs per camera)
and the `IngestError` tree. What ingest fills and the other stages read, the shared frame batch
(`riverwatch.batch`) and the per-camera packet rings (`riverwatch.ring`), live in the kernel.
"""

from ingest.camera import CameraSpec
from ingest.errors import (
    DecodeFailed,
    IngestError,
    NoFrames,
    StreamEnded,
    StreamOpenError,
    StreamStalled,
    StreamUnusable,
)
from ingest.supervisor import IngestSupervisor

__all__ = [
    "CameraSpec",
    "DecodeFailed",
    "IngestError",
    "IngestSupervisor",
    "NoFrames",
    "StreamEnded",
    "StreamOpenError",
    "StreamStalled",
    "StreamUnusable",
]
