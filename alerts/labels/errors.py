"""The label store's exceptions, one tree:

LabelsError
 ├── SampleNotFound   no sample has this id
 └── BadSample        a box outside its image, an empty box, an unreadable image
"""

from __future__ import annotations


class LabelsError(Exception):
    """Base of every error the label store raises."""


class SampleNotFound(LabelsError, KeyError):
    """No sample has this id (or it was removed)."""


class BadSample(LabelsError, ValueError):
    """The sample cannot be stored as given; the message says why."""
