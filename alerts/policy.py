"""From zone events to alert messages: one incident per camera, zone and rule at a time.

The detectors report every step of every event (start, an update per observation, end), per
track. Operators want one alert per incident, so `AlertPolicy` folds them:

- Every track doing the same rule in the same zone joins one incident (two boats fishing in
  one ban zone are one job for the enforcement team, with the boxes of both).
- An incident opens with an `open` message, sends an `update` when another track joins it or
  its severity rises, else at most every `update_interval_s` while it lasts, and sends `close`
  once its last track has ended and `cooldown_s` have passed with no new start in that zone
  for that rule. A boat that
  drifts out of a zone and back in within the cooldown is the same incident, not a new alert.
- Severity is the zone's, raised to the rule's own floor (dredging is never low).
- An operator's suppression window (`Suppressions`) swallows starts that it covers; the count
  is kept so a muted camera is visible.
- Schedules live with the zones (`active_hours`): the rules only report inside them.
- Profiles (`alerts.profiles`: "night", "flood season", switched by schedule or by hand) turn
  rules off or set their severity for new incidents; the count is kept.
- A line crossing is instantaneous (its start and end come together); crossings of one line
  are one incident per direction, the direction in the alert's `note` (`crossed a_to_b`).

`AlertPolicy.on_event` and `AlertPolicy.due(now)` return the messages to publish, in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from alerts.profiles import Profiles
from alerts.suppress import Suppressions
from riverwatch.events import Event, Phase
from riverwatch.types import TRACK_POINTS, Alert, AlertPhase, RuleKind, Severity

# The least a rule's alert can be, whatever the zone says.
RULE_SEVERITY_FLOOR = {
    RuleKind.DREDGING: Severity.HIGH,
    RuleKind.VESSEL: Severity.MEDIUM,
    RuleKind.LOITERING: Severity.MEDIUM,
}


def alert_id_for(event: Event) -> str:
    """The same incident always maps to the same id (camera, zone, rule, track and start)."""
    key = (
        f"{event.camera_id}|{event.zone_id}|{event.rule}|{event.track_id}|{event.start_seq}|"
        f"{event.started_at:.3f}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def severity_for(zone_severity: Severity, rule: RuleKind) -> Severity:
    """The zone's severity raised to the rule's floor."""
    floor = RULE_SEVERITY_FLOOR.get(rule, Severity.LOW)
    return max(zone_severity, floor, key=lambda s: s.rank)


def track_of(event: Event) -> tuple[tuple[float, int, int, int, int], ...]:
    """The event's last boxes over time, as the alert message carries them."""
    rows = event.boxes_t5[-TRACK_POINTS:]
    return tuple(
        (float(t), int(x1), int(y1), int(x2), int(y2)) for t, x1, y1, x2, y2 in rows.tolist()
    )


@dataclass
class _Incident:
    alert: Alert  # the latest message sent for it
    tracks: set[int] = field(default_factory=set)
    last_sent_at: float = 0.0
    quiet_since: float | None = None  # when its last track ended


@dataclass
class PolicyStats:
    """Counters for health pages and metrics."""

    opened: int = 0
    updates: int = 0
    closed: int = 0
    merged_starts: int = 0
    suppressed: int = 0
    profiled: int = 0  # starts an active profile kept from raising an alert
    adopted: int = 0  # incidents taken over from another hub with its camera


class AlertPolicy:
    """Events in, alert messages out; `due(now)` closes incidents whose cooldown has run out.

    >>> policy = AlertPolicy(cooldown_s=60, update_interval_s=15)   # doctest: +SKIP
    >>> for message in policy.on_event(event): publisher.publish(message)
    """

    def __init__(
        self,
        cooldown_s: float,
        update_interval_s: float = 15.0,
        suppressions: Suppressions | None = None,
        groups: dict[str, str] | None = None,
        profiles: Profiles | None = None,
    ) -> None:
        self._cooldown_s = cooldown_s
        self._update_interval_s = update_interval_s
        self._suppressions = suppressions
        self._profiles = profiles
        self._groups = groups or {}
        self._open: dict[tuple[str, str, str, str], _Incident] = {}
        self.stats = PolicyStats()

    def on_event(self, event: Event) -> list[Alert]:
        """The messages this event step calls for (usually none)."""
        way = "" if event.direction is None else str(event.direction)
        key = (event.camera_id, event.zone_id, event.rule, way)
        incident = self._open.get(key)
        if event.phase is Phase.START:
            return self._start(key, incident, event)
        if incident is None or event.track_id not in incident.tracks:
            return []  # a step of a start that was suppressed or folded away
        if event.phase is Phase.END:
            incident.tracks.discard(event.track_id)
            if not incident.tracks:
                incident.quiet_since = event.observed_at
            return []
        return self._update(incident, event)

    def due(self, now: float) -> list[Alert]:
        """Close the incidents whose last track ended more than `cooldown_s` ago."""
        out = []
        for key, incident in list(self._open.items()):
            if incident.quiet_since is not None and now - incident.quiet_since >= self._cooldown_s:
                del self._open[key]
                out.append(self._send(incident, AlertPhase.CLOSE, now, ended=incident.quiet_since))
                self.stats.closed += 1
        return out

    def close_all(self, now: float, note: str = "hub stopping") -> list[Alert]:
        """Close every open incident (the hub is shutting down: no one will end them)."""
        out = []
        for incident in self._open.values():
            ended = incident.quiet_since if incident.quiet_since is not None else now
            message = self._send(incident, AlertPhase.CLOSE, now, ended=ended)
            out.append(replace(message, note=note))
        self.stats.closed += len(out)
        self._open.clear()
        return out

    @property
    def open_incidents(self) -> int:
        """Incidents not yet closed."""
        return len(self._open)

    def set_groups(self, groups: dict[str, str]) -> None:
        """Each camera's group, after a configuration change."""
        self._groups = groups

    def open_alerts(self, camera_id: str) -> list[Alert]:
        """The latest message of each incident open on the camera (tripwire crossings left
        out: they are over when they are raised)."""
        return [
            incident.alert
            for (camera, _, rule, _), incident in self._open.items()
            if camera == camera_id and rule != RuleKind.LINE_CROSSING
        ]

    def adopt(self, alert: Alert, quiet_since: float) -> bool:
        """Take over an incident another hub had open on a camera this hub now runs: a track
        that starts in its zone for its rule continues it (the same `alert_id`, so the same
        ticket), and it closes here after the cooldown counted from `quiet_since` if none
        does. False if this hub has that incident's key open already, or it is a crossing."""
        key = (alert.camera_id, alert.zone_id, alert.rule, "")
        if key in self._open or alert.rule == RuleKind.LINE_CROSSING:
            return False
        self._open[key] = _Incident(alert, set(), alert.observed_at, quiet_since)
        self.stats.adopted += 1
        return True

    def _start(
        self, key: tuple[str, str, str, str], incident: _Incident | None, event: Event
    ) -> list[Alert]:
        if incident is not None:  # another track, or the same boat back within the cooldown
            incident.tracks.add(event.track_id)
            incident.quiet_since = None
            self.stats.merged_starts += 1
            return self._update(incident, event, news=True)
        if self._suppressions is not None and self._suppressions.covers(
            event.camera_id, event.zone_id, event.rule, event.observed_at
        ):
            self.stats.suppressed += 1
            return []
        group = self._groups.get(event.camera_id, "")
        severity = severity_for(event.severity, event.rule)
        if self._profiles is not None:
            decision = self._profiles.decide(
                event.camera_id, group, event.zone_id, event.rule, event.observed_at
            )
            if not decision.enabled:
                self.stats.profiled += 1
                return []
            severity = decision.severity or severity
        alert = Alert(
            alert_id=alert_id_for(event),
            camera_id=event.camera_id,
            zone_id=event.zone_id,
            rule=event.rule,
            severity=severity,
            started_at=event.started_at,
            observed_at=event.observed_at,
            frame_seq=event.seq,
            score=event.confidence,
            box_xyxy=event.box_xyxy,
            group=group,
            note="" if event.direction is None else f"crossed {event.direction}",
            track=track_of(event),
        )
        self._open[key] = _Incident(alert, {event.track_id}, event.observed_at)
        self.stats.opened += 1
        return [alert]

    def _update(self, incident: _Incident, event: Event, news: bool = False) -> list[Alert]:
        """An update when there is news (another boat, a higher severity) or it is due."""
        severity = severity_for(event.severity, event.rule)
        rises = severity.rank > incident.alert.severity.rank
        due = event.observed_at - incident.last_sent_at >= self._update_interval_s
        if not (news or rises or due):
            return []
        incident.alert = replace(
            incident.alert,
            severity=severity if rises else incident.alert.severity,
            frame_seq=event.seq,
            score=max(incident.alert.score, event.confidence),
            box_xyxy=event.box_xyxy,
            track=track_of(event),
        )
        return [self._send(incident, AlertPhase.UPDATE, event.observed_at)]

    def _send(
        self, incident: _Incident, phase: AlertPhase, now: float, ended: float | None = None
    ) -> Alert:
        message = replace(
            incident.alert,
            phase=phase,
            revision=incident.alert.revision + 1,
            observed_at=now if ended is None else ended,
            ended_at=ended,
        )
        incident.alert, incident.last_sent_at = message, now
        if phase is AlertPhase.UPDATE:
            self.stats.updates += 1
        return message
