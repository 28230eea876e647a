"""Events: what the detection core reports and the incident desk turns into alerts.

They live in the kernel because two stages speak them: `detectors` makes them, `alerts` reads
them. One `Event` is one step (start, update, end) of one rule on one track in one zone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from riverwatch.types import CrossingDirection, RuleKind, Severity


class Phase(enum.StrEnum):
    """Where an event is in its life."""

    START = "start"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True)
class Event:
    """One step of an event: what, where, since when, how sure, and where it is best seen.

    `boxes_t5` holds the track's boxes over time (ts, x1, y1, x2, y2, analysis pixels);
    `best_seq`/`best_ts` name the frame the event is best shown by. A `line_crossing` event
    names its tripwire in `zone_id` (and its index among the core's lines in `zone_index`),
    and says which way the track crossed in `direction`; other events have no direction.
    """

    phase: Phase
    rule: RuleKind
    camera_id: str
    zone_id: str
    zone_index: int
    severity: Severity
    track_id: int
    started_at: float
    start_seq: int
    observed_at: float
    seq: int
    confidence: float
    box_xyxy: tuple[int, int, int, int]
    best_seq: int
    best_ts: float
    boxes_t5: npt.NDArray[np.float64] = field(repr=False, compare=False)
    direction: CrossingDirection | None = None

    def __post_init__(self) -> None:
        # Strict: words outside the vocabulary are refused here (ValueError), not compared later.
        object.__setattr__(self, "rule", RuleKind(self.rule))
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.direction is not None:
            object.__setattr__(self, "direction", CrossingDirection(self.direction))

    @property
    def score(self) -> float:
        """The rule's confidence (0..1)."""
        return self.confidence
