"""Evidence for alerts: a JPEG snapshot with the boxes and an MP4 clip remuxed from the ring.

Public surface: `EvidenceRecorder` (per alert: snapshot now, clip after the post-roll),
`EvidencePolicy`, `Evidence` (what was stored; `apply(alert)` gives the `evidence` message),
`EvidenceStore` (paths, checksums, retention) and the `EvidenceError` tree. `render_snapshot`
and `select_clip`/`write_clip` are the pure, blocking pieces underneath.
"""

from alerts.evidence.clip import ClipInfo, select_clip, write_clip
from alerts.evidence.errors import (
    DiskFull,
    EvidenceError,
    MediaError,
    NotWritable,
    NoVideo,
    StorageError,
)
from alerts.evidence.recorder import Evidence, EvidencePolicy, EvidenceRecorder, RecorderStats
from alerts.evidence.snapshot import Snapshot, render_snapshot
from alerts.evidence.store import EvidenceStore, StoredFile, SweepResult

__all__ = [
    "ClipInfo",
    "DiskFull",
    "Evidence",
    "EvidenceError",
    "EvidencePolicy",
    "EvidenceRecorder",
    "EvidenceStore",
    "MediaError",
    "NoVideo",
    "NotWritable",
    "RecorderStats",
    "Snapshot",
    "StorageError",
    "StoredFile",
    "SweepResult",
    "render_snapshot",
    "select_clip",
    "write_clip",
]
