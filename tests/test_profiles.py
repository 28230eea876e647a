"""Profiles (`alerts/profiles.py`): schedules in local time (wrapping midnight, by weekday, by
season), hand switches shared through Redis, and the decision they make for a new incident:
a profile switch changes which rules raise alerts, in the policy and in a running hub."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import ValidationError

from alerts import AlertPolicy
from alerts.profiles import Profiles
from api.security import Role
from hub.runtime import Hub
from riverwatch.config import HubConfig, ProfileConfig, parse_config
from riverwatch.events import Event, Phase
from riverwatch.settings import Settings
from riverwatch.types import RuleKind, Severity
from simulator.server import RtspSimulator
from tests.api_fixtures import ApiServer, api_server_fixture, module_rtsp_fixture
from tests.conftest import eventually
from tests.queue_fixtures import RedisProcess, redis_proc_fixture

__all__ = ["api_server_fixture", "module_rtsp_fixture", "redis_proc_fixture"]


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Schedules are local time: pin it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()


def at(text: str) -> float:
    """A UTC time 'YYYY-MM-DD HH:MM' as epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M")))


def profile(**raw: object) -> ProfileConfig:
    base = {"id": "p", "overrides": [{"rules": ["vessel_in_zone"], "enabled": False}]}
    return ProfileConfig.model_validate({**base, **raw})


def test_schedules_wrap_midnight_keep_weekdays_and_seasons() -> None:
    night = Profiles([profile(when=[{"start": "20:00", "end": "06:00", "days": ["fri"]}])])
    # 2026-12-04 is a Friday: its night runs into Saturday morning.
    assert night.active(at("2026-12-04 21:00")) == ["p"]
    assert night.active(at("2026-12-05 05:59")) == ["p"]  # Friday's night, on Saturday
    assert night.active(at("2026-12-05 06:00")) == []
    assert night.active(at("2026-12-05 21:00")) == []  # Saturday night: not a Friday
    assert night.active(at("2026-12-04 05:00")) == []  # Thursday's night
    flood = Profiles([profile(when=[{"season": ["06-01", "09-30"]}])])
    assert flood.active(at("2026-07-15 12:00")) == ["p"]
    assert flood.active(at("2026-10-01 00:00")) == []
    winter = Profiles([profile(when=[{"season": ["12-01", "02-28"]}])])
    assert winter.active(at("2026-12-24 08:00")) == ["p"] and winter.active(at("2027-01-10 08:00"))
    assert winter.active(at("2026-11-30 23:59")) == []
    by_hand = Profiles([profile()])  # no schedule: only by hand
    assert by_hand.active(at("2026-12-04 12:00")) == []


def test_hand_switches_override_the_schedule_until_set_back() -> None:
    profiles = Profiles([profile(when=[{"start": "20:00", "end": "06:00"}])])
    noon, night = at("2026-12-04 12:00"), at("2026-12-04 22:00")
    profiles.switch("p", True)
    assert profiles.active(noon) == ["p"]
    profiles.switch("p", False)
    assert profiles.active(night) == []
    (state,) = profiles.states(night)
    assert (state.active, state.scheduled, state.manual) == (False, True, False)
    profiles.switch("p", None)
    assert profiles.active(night) == ["p"]
    with pytest.raises(KeyError):
        profiles.switch("nope", True)


def start(camera: str = "heng-004", zone: str = "ban", rule: str = "vessel_in_zone",
          track: int = 1, ts: float = 0.0) -> Event:  # fmt: skip
    return Event(
        phase=Phase.START, rule=RuleKind(rule), camera_id=camera, zone_id=zone, zone_index=0,
        severity=Severity.MEDIUM, track_id=track, started_at=ts, start_seq=1, observed_at=ts,
        seq=1, confidence=0.9, box_xyxy=(1, 2, 3, 4), best_seq=1, best_ts=ts,
        boxes_t5=np.zeros((0, 5)),
    )  # fmt: skip


def test_a_profile_switch_changes_which_rules_raise_alerts() -> None:
    holiday = profile(id="holiday", overrides=[
        {"groups": ["heng"], "rules": ["vessel_in_zone"], "enabled": False},
        {"rules": ["dredging"], "severity": "critical"},
    ])  # fmt: skip
    profiles = Profiles([holiday])
    groups = {"heng-004": "heng", "jinsha-001": "jinsha"}
    policy = AlertPolicy(60.0, profiles=profiles, groups=groups)
    now = at("2026-12-04 12:00")
    assert len(policy.on_event(start(ts=now))) == 1  # off: the rule raises
    profiles.switch("holiday", True)
    assert policy.on_event(start(track=2, zone="other", ts=now)) == []  # heng: kept quiet
    assert len(policy.on_event(start("jinsha-001", ts=now))) == 1  # another group raises
    (dredger,) = policy.on_event(start(rule="dredging", ts=now))
    assert dredger.severity == Severity.CRITICAL
    assert policy.stats.profiled == 1
    profiles.switch("holiday", False)
    assert len(policy.on_event(start(track=3, zone="third", ts=now))) == 1


def test_profiles_naming_what_does_not_exist_are_refused_with_every_problem() -> None:
    raw = {
        "cameras": [{"id": "cam", "name": "Cam", "group": "heng", "url": "file:///dev/null"}],
        "profiles": [
            {"id": "a", "overrides": [{"cameras": ["nope"], "enabled": False},
                                      {"groups": ["nowhere"], "enabled": False}]},
            {"id": "a", "overrides": [{"rules": ["vessel_in_zone"], "severity": "high"}]},
        ],
    }  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        HubConfig.model_validate(raw)
    text = str(caught.value)
    for needle in ("no camera 'nope'", "no group 'nowhere'", "id 'a' is used 2 times"):
        assert needle in text
    with pytest.raises(ValidationError, match="turns rules off"):
        profile(overrides=[{"rules": ["vessel_in_zone"]}])


async def test_a_hand_switch_reaches_the_other_hubs_through_redis(
    redis_proc: RedisProcess,
) -> None:
    here, there = Profiles([profile(id="night")]), Profiles([profile(id="night")])
    redis = redis_proc.client()
    try:
        await here.store(redis, "night", True)
        await there.load(redis)  # what the other hub's follower does every few seconds
        assert there.active(at("2026-12-04 12:00")) == ["night"]
        await here.store(redis, "night", None)
        await there.load(redis)
        assert there.active(at("2026-12-04 12:00")) == []
    finally:
        await redis.aclose()


def test_the_api_switches_a_profile_and_audits_it(api_server: ApiServer) -> None:
    with api_server.client(Role.OPERATOR) as operator, api_server.client(Role.REVIEWER) as rev:
        listed = rev.get("/api/profiles").json()
        assert [p["id"] for p in listed] == ["night"] and listed[0]["manual"] is None
        on = operator.put("/api/profiles/night", json={"state": "on"})
        assert on.status_code == 200 and on.json()["active"] and on.json()["manual"] == "on"
        assert api_server.hub.profiles().active() == ["night"]
        assert operator.put("/api/profiles/nite", json={"state": "on"}).status_code == 404
        bad = operator.put("/api/profiles/night", json={"state": "maybe"})
        assert bad.status_code == 422 and "state" in bad.text
        back = operator.put("/api/profiles/night", json={"state": "schedule"})
        assert back.json()["manual"] is None
        entries = rev.get("/api/audit", params={"action": "profile.switch"}).json()
        assert [e["detail"]["state"] for e in entries][:2] == ["schedule", "on"]


HUB_CONFIG = """
groups:
  - {{id: heng, name: Heng, kind: river}}
profiles:
  - id: holiday
    name: Holiday
    overrides: [{{groups: [heng], rules: [vessel_in_zone], enabled: false}}]
cameras:
  - id: boat
    name: Boat crossing
    group: heng
    url: rtsp://viewer:s3cret-Pa55@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_navigation, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""


async def test_in_a_running_hub_a_boat_raises_nothing_under_the_profile_and_an_alert_after(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    loaded = parse_config(HUB_CONFIG.format(port=rtsp.port))
    async with Hub(settings, loaded) as hub:
        await hub.switch_profile("holiday", True)
        policy = hub.desk.policy
        await eventually(lambda: policy.stats.profiled >= 1, timeout_s=120, what="a quiet boat")
        assert policy.stats.opened == 0
        counted = (await hub.figures()).incidents  # what /metrics shows
        assert counted is not None and counted.profiled >= 1 and counted.opened == 0
        await hub.switch_profile("holiday", None)  # back to its schedule: none, so off
        await eventually(lambda: policy.stats.opened >= 1, timeout_s=120, what="the boat's alert")

        async def ticket() -> bool:
            return bool(await hub.tickets().list_tickets(None, 10))

        await eventually(ticket, what="the boat's ticket")
