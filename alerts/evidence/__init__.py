"""Evidence for alerts: a JPEG snapshot with the boxes and an MP4 clip remuxed from the ring.

Public surface: `EvidenceRecorder` (per alert: snapshot now, clip after the post-roll),
`EvidencePolicy`, `Evidence` (what was stored; `apply(alert)` gives the `evidence` message),
`EvidenceStore` (paths, checksums, retention) and the `EvidenceError` tree; `EvidenceUploads`
and `ObjectStore` send it to a bucket every hub shares, and fetch it back for any hub.
`render_snapshot` and `select_clip`/`write_clip` are the pure, blocking pieces underneath.
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
from alerts.evidence.objects import ObjectStore, ObjectStoreError
from alerts.evidence.recorder import Evidence, EvidencePolicy, EvidenceRecorder, RecorderStats
from alerts.evidence.snapshot import Snapshot, render_snapshot
from alerts.evidence.store import EvidenceStore, StoredFile, SweepResult
from alerts.evidence.uploads import EvidenceUploads, UploadStats

__all__ = [
    "ClipInfo",
    "DiskFull",
    "Evidence",
    "EvidenceError",
    "EvidencePolicy",
    "EvidenceRecorder",
    "EvidenceStore",
    "EvidenceUploads",
    "MediaError",
    "NoVideo",
    "NotWritable",
    "ObjectStore",
    "ObjectStoreError",
    "RecorderStats",
    "Snapshot",
    "StorageError",
    "StoredFile",
    "SweepResult",
    "UploadStats",
    "render_snapshot",
    "select_clip",
    "write_clip",
]
