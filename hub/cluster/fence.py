"""The fence where tickets are written: a new incident from a hub that had lost the camera.

Every camera alert a clustered hub raises carries its hub id and the fencing epoch it held the
camera at (`Alert.hub_id`, `Alert.epoch`). A hub stops its cameras before its leases can
expire, and drops the events of cameras it does not hold; the fence catches what slips past
those (a hub paused for longer than its lease, which wakes and raises before its next round
notices): an incident that opened after the camera's next epoch was taken is refused.

Only openings are fenced. An update or close of an incident the hub opened while it held the
camera (its evidence, its end) is that incident's, and a dropped one would lose evidence; a
stale owner can only add duplicates by opening new incidents. `skew_s` allows for the hub's
clock against Redis' (the take time is Redis'); a legitimate opening comes at least half a
lease before the next take, so a second of allowance refuses nothing legitimate.
"""

from __future__ import annotations

import logging

from hub.cluster.leases import Leases
from riverwatch.types import Alert, AlertPhase

log = logging.getLogger(__name__)


class Fence:
    """`await fence.stale(alert)`: True when the alert must not become a ticket."""

    def __init__(self, leases: Leases, skew_s: float = 1.0) -> None:
        self._leases = leases
        self._skew_s = skew_s
        self.refused = 0

    async def stale(self, alert: Alert) -> bool:
        """Whether `alert` opens an incident after its hub's epoch had been superseded."""
        if alert.epoch <= 0 or alert.phase is not AlertPhase.OPEN or alert.source != "camera":
            return False
        newer = await self._leases.taken_at(alert.camera_id, alert.epoch + 1)
        if newer is None or alert.observed_at <= newer + self._skew_s:
            return False
        self.refused += 1
        log.warning(
            "cluster: refused incident %s of camera %s from %s at epoch %d: epoch %d was "
            "taken %.1f s before it was seen",
            alert.alert_id,
            alert.camera_id,
            alert.hub_id,
            alert.epoch,
            alert.epoch + 1,
            alert.observed_at - newer,
        )
        return True
