"""Events in, incident messages out: sequence tests for `AlertPolicy` and suppression windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alerts import AlertPolicy, SuppressionError, Suppressions, severity_for
from riverwatch.events import Event, Phase
from riverwatch.types import AlertPhase, RuleKind, Severity


def event(
    phase: Phase,
    t: float,
    track: int = 1,
    zone: str = "ban",
    rule: str = "vessel_in_zone",
    severity: str = "medium",
    camera: str = "cam",
) -> Event:
    return Event(
        phase=phase,
        rule=rule,
        camera_id=camera,
        zone_id=zone,
        zone_index=0,
        severity=severity,
        track_id=track,
        started_at=100.0 * track,
        start_seq=track,
        observed_at=t,
        seq=int(t),
        confidence=0.5 + t / 1000,
        box_xyxy=(1, 2, 3, 4),
        best_seq=int(t),
        best_ts=t,
        boxes_t5=np.zeros((0, 5)),
    )


def run(policy: AlertPolicy, steps: list[Event | float]) -> list[tuple[str, int, float]]:
    """Feed events (or a bare time: a tick with no events); list (phase, revision, time)."""
    out = []
    for step in steps:
        messages = policy.due(step) if isinstance(step, float) else policy.on_event(step)
        out += [(str(m.phase), m.revision, m.observed_at) for m in messages]
    return out


S, U, E = Phase.START, Phase.UPDATE, Phase.END


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # One boat: open, an update every 15 s at most, close once the cooldown has run out.
        (
            [event(S, 0), event(U, 5), event(U, 16), event(U, 20), event(E, 25), 50.0, 86.0],
            [("open", 0, 0), ("update", 1, 16), ("close", 2, 25)],
        ),
        # Back within the cooldown: the same incident, no second open.
        (
            [event(S, 0), event(E, 10), 40.0, event(S, 50, track=2), event(E, 55, track=2), 116.0],
            [("open", 0, 0), ("update", 1, 50), ("close", 2, 55)],
        ),
        # Back after the cooldown: a new incident.
        (
            [event(S, 0), event(E, 10), 71.0, event(S, 80, track=2)],
            [("open", 0, 0), ("close", 1, 10), ("open", 0, 80)],
        ),
        # Two boats in one zone: one incident, closed when the last one leaves.
        (
            [event(S, 0), event(S, 2, track=2), event(E, 10), 80.0, event(E, 90, track=2), 151.0],
            [("open", 0, 0), ("update", 1, 2), ("close", 2, 90)],
        ),
        # Severity rises: an update at once, whatever the interval.
        (
            [event(S, 0), event(U, 1, severity="critical")],
            [("open", 0, 0), ("update", 1, 1)],
        ),
    ],
)
def test_incident_messages(
    steps: list[Event | float], expected: list[tuple[str, int, float]]
) -> None:
    assert run(AlertPolicy(cooldown_s=60, update_interval_s=15), steps) == expected


def test_one_alert_id_per_incident_and_unique_message_ids() -> None:
    policy = AlertPolicy(cooldown_s=60, update_interval_s=15)
    steps = [event(S, 0), event(U, 20), event(S, 30, track=2), event(E, 40), event(E, 41, 2)]
    messages = [m for e in steps for m in policy.on_event(e)] + policy.due(200.0)
    assert len({m.alert_id for m in messages}) == 1
    assert len({m.message_id for m in messages}) == len(messages) == 4
    assert messages[-1].phase is AlertPhase.CLOSE and messages[-1].ended_at == 41


def test_zones_and_rules_are_separate_incidents() -> None:
    policy = AlertPolicy(cooldown_s=60)
    opened = [
        m
        for e in (event(S, 0), event(S, 0, zone="other"), event(S, 0, rule="loitering"))
        for m in policy.on_event(e)
    ]
    assert [m.phase for m in opened] == [AlertPhase.OPEN] * 3
    assert len({m.alert_id for m in opened}) == 3 and policy.open_incidents == 3


@pytest.mark.parametrize(
    ("zone", "rule", "expected"),
    [
        (Severity.LOW, RuleKind.DREDGING, Severity.HIGH),
        (Severity.CRITICAL, RuleKind.DREDGING, Severity.CRITICAL),
        (Severity.LOW, RuleKind.VESSEL, Severity.MEDIUM),
        (Severity.HIGH, RuleKind.LOITERING, Severity.HIGH),
        (Severity.LOW, RuleKind.CROWDING, Severity.LOW),  # no floor
        (Severity.MEDIUM, RuleKind.LIGHTS, Severity.MEDIUM),
    ],
)
def test_severity_takes_the_rules_floor(zone: Severity, rule: RuleKind, expected: Severity) -> None:
    assert severity_for(zone, rule) is expected


def test_an_opened_incident_carries_the_floor_as_an_enum() -> None:
    policy = AlertPolicy(cooldown_s=60)
    (opened,) = policy.on_event(event(S, 0, rule="dredging", severity="low"))
    assert opened.severity is Severity.HIGH and opened.to_fields()["severity"] == "high"


@pytest.mark.parametrize(
    ("severity", "rank"),
    [(Severity.LOW, 1), (Severity.MEDIUM, 2), (Severity.HIGH, 3), (Severity.CRITICAL, 4)],
)
def test_severity_rank_orders_lowest_first(severity: Severity, rank: int) -> None:
    assert severity.rank == rank


@pytest.mark.parametrize(
    ("field", "value"), [("rule", "dredgin"), ("severity", "urgent"), ("severity", "HIGH")]
)
def test_events_refuse_words_outside_the_vocabulary(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        event(S, 0, **{field: value})


def test_close_all_on_shutdown() -> None:
    policy = AlertPolicy(cooldown_s=60)
    policy.on_event(event(S, 0))
    (closed,) = policy.close_all(5.0)
    assert closed.phase is AlertPhase.CLOSE and closed.ended_at == 5.0
    assert policy.open_incidents == 0 and policy.due(1000.0) == []


def test_suppression_window_mutes_starts_it_covers(tmp_path: Path) -> None:
    windows = Suppressions(tmp_path)
    windows.add("cam", 10, 100, "bridge works", "op1", zone_id="ban")
    policy = AlertPolicy(cooldown_s=60, suppressions=windows)
    assert policy.on_event(event(S, 20)) == []
    assert policy.on_event(event(U, 25)) == []  # steps of a muted start stay muted
    assert len(policy.on_event(event(S, 20, zone="other", track=3))) == 1  # other zone
    assert len(policy.on_event(event(S, 150, track=2))) == 1  # after the window
    assert policy.stats.suppressed == 1


def test_suppressions_survive_a_restart_and_refuse_bad_windows(tmp_path: Path) -> None:
    first = Suppressions(tmp_path)
    window = first.add("cam", 10, 100, "survey boat", "op1", rule="vessel_in_zone")
    again = Suppressions(tmp_path)
    assert again.covers("cam", "any", "vessel_in_zone", 50)
    assert not again.covers("cam", "any", "loitering", 50)
    assert not again.covers("cam", "any", "vessel_in_zone", 100)
    assert [w.window_id for w in again.active(0)] == [window.window_id]
    assert again.remove(window.window_id) and not Suppressions(tmp_path).covers("cam", "z", "r", 50)
    with pytest.raises(SuppressionError, match="end after"):
        again.add("cam", 100, 100, "x", "op1")
    with pytest.raises(SuppressionError, match="reason"):
        again.add("cam", 1, 2, "  ", "op1")


def test_unreadable_suppressions_file_means_alerting_on(tmp_path: Path) -> None:
    (tmp_path / "suppressions.json").write_text("{not json")
    assert not Suppressions(tmp_path).covers("cam", "z", "r", 1)
