"""The site's labels: boxes on the hub's own snapshots that reviewers called boat or not.

Public surface: `SampleStore` (add, replace, remove, read), the `Sample` record and
`read_samples(root)` for the verifier's trainer (the on-disk format is in `alerts.labels.store`),
the `Label` / `Source` enums, `Draft` and `Image` for adding, `Counts`, `check_box`, the
verdict helpers (`verdict_drafts`, `detected_boxes`) and the `LabelsError` tree.
"""

from alerts.labels.errors import BadSample, LabelsError, SampleNotFound
from alerts.labels.store import (
    Counts,
    Draft,
    Image,
    Label,
    Sample,
    SampleStore,
    Source,
    check_box,
    read_samples,
)
from alerts.labels.verdicts import detected_boxes, verdict_drafts

__all__ = [
    "BadSample",
    "Counts",
    "Draft",
    "Image",
    "Label",
    "LabelsError",
    "Sample",
    "SampleNotFound",
    "SampleStore",
    "Source",
    "check_box",
    "detected_boxes",
    "read_samples",
    "verdict_drafts",
]
