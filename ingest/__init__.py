"""Ingest: cameras in, analysis frames and packet rings out.

Public surface: `IngestSupervisor` (runs every camera), `CameraSpec` (what it needs per camera;
`MainStreamSpec` for a camera whose analysis reads its sub-stream), `MainStream` (the main
stream recorded for evidence) and the `IngestError` tree. What ingest fills and the other
stages read, the shared frame batch (`riverwatch.batch`) and the per-camera packet rings
(`riverwatch.ring`), live in the kernel.
"""

from ingest.camera import CameraSpec, MainStreamSpec
from ingest.errors import (
    DecodeFailed,
    IngestError,
    NoFrames,
    StreamEnded,
    StreamOpenError,
    StreamStalled,
    StreamUnusable,
)
from ingest.supervisor import IngestSupervisor, MainStream

__all__ = [
    "CameraSpec",
    "DecodeFailed",
    "IngestError",
    "IngestSupervisor",
    "MainStream",
    "MainStreamSpec",
    "NoFrames",
    "StreamEnded",
    "StreamOpenError",
    "StreamStalled",
    "StreamUnusable",
]
