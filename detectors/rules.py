"""Rules that turn per-zone activity into events with a start, updates and an end.

The first rule is the simplest useful one: activity inside a zone. A zone whose active
fraction stays at or above its `min_active_fraction` for `min_observations` consecutive
observations starts an event; `quiet_observations` quiet ones in a row end it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from detectors.framediff import ZoneActivity
from detectors.zones import ZoneGrid


class Phase(enum.StrEnum):
    """Where an event is in its life."""

    START = "start"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """One step of an event in one zone."""

    phase: Phase
    zone_index: int
    camera_id: str
    zone_id: str
    rule: str
    severity: str
    started_at: float
    start_seq: int
    observed_at: float
    seq: int
    score: float


class ZoneActivityRule:
    """Sequence in, events out; state is two small arrays per zone.

    >>> rule = ZoneActivityRule(grid, quiet_observations=3)            # doctest: +SKIP
    >>> events = rule.update(activity)
    """

    name = "zone_activity"

    def __init__(self, grid: ZoneGrid, quiet_observations: int = 3) -> None:
        z = len(grid.specs)
        self._grid = grid
        self._quiet_needed = quiet_observations
        self._min_fraction_z = np.array([s.zone.min_active_fraction for s in grid.specs])
        self._min_obs_z = np.array([s.zone.min_observations for s in grid.specs])
        self._streak_z = np.zeros(z, np.int32)
        self._quiet_z = np.zeros(z, np.int32)
        self._open_z = np.zeros(z, np.bool_)
        self._started_at_z = np.zeros(z, np.float64)
        self._start_seq_z = np.zeros(z, np.int64)

    def update(self, activity: ZoneActivity) -> list[ZoneEvent]:
        """Advance every observed zone by one observation; return the events that changed."""
        seen = activity.observed_z
        active = seen & (activity.fraction_z >= self._min_fraction_z)
        quiet = seen & ~active
        self._streak_z = np.where(active, self._streak_z + 1, np.where(quiet, 0, self._streak_z))
        self._quiet_z = np.where(quiet, self._quiet_z + 1, np.where(active, 0, self._quiet_z))
        events = []
        starting = active & ~self._open_z & (self._streak_z >= self._min_obs_z)
        for z in np.flatnonzero(starting):
            self._open_z[z] = True
            self._started_at_z[z] = activity.ts_z[z]
            self._start_seq_z[z] = activity.seq_z[z]
            events.append(self._event(Phase.START, int(z), activity))
        for z in np.flatnonzero(active & self._open_z & ~starting):
            events.append(self._event(Phase.UPDATE, int(z), activity))
        ending = self._open_z & quiet & (self._quiet_z >= self._quiet_needed)
        for z in np.flatnonzero(ending):
            self._open_z[z] = False
            events.append(self._event(Phase.END, int(z), activity))
        return events

    def _event(self, phase: Phase, z: int, activity: ZoneActivity) -> ZoneEvent:
        spec = self._grid.specs[z]
        return ZoneEvent(
            phase=phase,
            zone_index=z,
            camera_id=spec.camera_id,
            zone_id=spec.zone.id,
            rule=self.name,
            severity=str(spec.zone.severity),
            started_at=float(self._started_at_z[z]),
            start_seq=int(self._start_seq_z[z]),
            observed_at=float(activity.ts_z[z]),
            seq=int(activity.seq_z[z]),
            score=float(activity.fraction_z[z]),
        )
