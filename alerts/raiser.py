"""From zone events to alerts: one alert per incident, with an idempotent id and a cooldown."""

from __future__ import annotations

import hashlib

from detectors import Event, Phase
from riverwatch.types import Alert


def alert_id_for(event: Event) -> str:
    """The same incident always maps to the same id (camera, zone, rule, track and start)."""
    key = (
        f"{event.camera_id}|{event.zone_id}|{event.rule}|{event.track_id}|{event.start_seq}|"
        f"{event.started_at:.3f}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class AlertRaiser:
    """Turns event starts into alerts, at most one per camera, zone and rule per cooldown."""

    def __init__(self, cooldown_s: float) -> None:
        self._cooldown_s = cooldown_s
        self._last_alert_at: dict[tuple[str, str, str], float] = {}

    def raise_for(self, event: Event) -> Alert | None:
        """An alert for a starting event, or None (not a start, or inside the cooldown)."""
        if event.phase is not Phase.START:
            return None
        key = (event.camera_id, event.zone_id, event.rule)
        last = self._last_alert_at.get(key)
        if last is not None and event.started_at - last < self._cooldown_s:
            return None
        self._last_alert_at[key] = event.started_at
        return Alert(
            alert_id=alert_id_for(event),
            camera_id=event.camera_id,
            zone_id=event.zone_id,
            rule=event.rule,
            severity=event.severity,
            started_at=event.started_at,
            observed_at=event.observed_at,
            frame_seq=event.seq,
            score=event.score,
            box_xyxy=event.box_xyxy,
        )
