"""Profiles: named sets of rule overrides ("night", "flood season", "holiday") that change which
incidents raise alerts, and how severe they are, while the hub runs.

A profile is on when its schedule says so (`when`, in the hub's local time) unless someone
switched it off by hand, or when someone switched it on by hand; "back to its schedule" drops
the hand switch. Hand switches are kept in Redis (`riverwatch:profiles`), so every hub of a
cluster follows them and a restart keeps them; each hub reads them every `follow_s`.

For a new incident, every active profile's overrides that match its camera, group, zone and
rule are applied in config order: any `enabled: false` keeps it from raising an alert
(counted), and the last matching `severity` is its severity. Incidents already open are left
as they are. `AlertPolicy` asks `decide` at each start.

>>> profiles = Profiles(config.hub.profiles)
>>> profiles.switch("night", True)
>>> profiles.decide("heng-004", "heng", "ban", "vessel_in_zone", now)  # doctest: +SKIP
Decision(enabled=False, severity=None, by=('night',))
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from riverwatch.config import WEEKDAYS, ProfileConfig, ProfileOverride, ProfileWhen
from riverwatch.types import Severity

log = logging.getLogger(__name__)

REDIS_KEY = "riverwatch:profiles"
ON, OFF = "on", "off"


@dataclass(frozen=True)
class Decision:
    """What the active profiles make of a new incident."""

    enabled: bool
    severity: Severity | None
    by: tuple[str, ...]  # the profiles whose overrides matched


@dataclass(frozen=True)
class ProfileState:
    """A profile as the API shows it."""

    id: str
    name: str
    active: bool
    scheduled: bool  # its schedule says on now
    manual: bool | None  # switched on or off by hand; None: it follows its schedule


class Profiles:
    """The hub's profiles, their hand switches, and the decision for a new incident."""

    def __init__(self, configs: Sequence[ProfileConfig], follow_s: float = 5.0) -> None:
        self._configs = {p.id: p for p in configs}
        self._manual: dict[str, bool] = {}
        self._follow_s = follow_s

    @property
    def ids(self) -> list[str]:
        """Every profile's id, in config order."""
        return list(self._configs)

    def set_configs(self, configs: Sequence[ProfileConfig]) -> None:
        """New profiles after a configuration change; hand switches of those kept stay."""
        self._configs = {p.id: p for p in configs}
        self._manual = {k: v for k, v in self._manual.items() if k in self._configs}

    def switch(self, profile_id: str, on: bool | None) -> None:
        """Switch a profile on or off by hand (None: back to its schedule); KeyError if
        there is no such profile."""
        if profile_id not in self._configs:
            raise KeyError(profile_id)
        if on is None:
            self._manual.pop(profile_id, None)
        else:
            self._manual[profile_id] = on

    def states(self, now: float | None = None) -> list[ProfileState]:
        """Every profile and whether it is on, and why."""
        now = time.time() if now is None else now
        out = []
        for p in self._configs.values():
            scheduled = any(_in(w, now) for w in p.when)
            manual = self._manual.get(p.id)
            active = manual if manual is not None else scheduled
            out.append(ProfileState(p.id, p.name or p.id, active, scheduled, manual))
        return out

    def active(self, now: float | None = None) -> list[str]:
        """The ids of the profiles on now, in config order."""
        return [s.id for s in self.states(now) if s.active]

    def decide(self, camera: str, group: str, zone: str, rule: str, now: float) -> Decision:
        """What the active profiles make of a new incident of `rule` in `zone` of `camera`."""
        enabled, severity, by = True, None, []
        for profile_id in self.active(now):
            for override in self._configs[profile_id].overrides:
                if not _matches(override, camera, group, zone, rule):
                    continue
                by.append(profile_id)
                enabled = enabled and override.enabled
                severity = override.severity or severity
        return Decision(enabled, severity, tuple(dict.fromkeys(by)))

    # --- shared hand switches -----------------------------------------------------------------

    async def store(self, redis: Redis, profile_id: str, on: bool | None) -> None:
        """Switch here and record it in Redis for the other hubs (and the next start)."""
        self.switch(profile_id, on)
        if on is None:
            await redis.hdel(REDIS_KEY, profile_id)
        else:
            await redis.hset(REDIS_KEY, profile_id, ON if on else OFF)

    async def load(self, redis: Redis) -> None:
        """Take the hand switches recorded in Redis (unknown profiles are ignored)."""
        raw = await redis.hgetall(REDIS_KEY)
        manual = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            state = value.decode() if isinstance(value, bytes) else str(value)
            if name in self._configs and state in (ON, OFF):
                manual[name] = state == ON
        self._manual = manual

    async def follow(self, redis: Redis) -> None:
        """Read the hand switches every `follow_s`, for ever (a supervised task); a Redis
        that does not answer keeps the last ones."""
        while True:
            try:
                await self.load(redis)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("profiles: cannot read the hand switches: %s", type(exc).__name__)
            await asyncio.sleep(self._follow_s)


def _matches(override: ProfileOverride, camera: str, group: str, zone: str, rule: str) -> bool:
    checks = (
        (override.cameras, camera),
        (override.groups, group),
        (override.zones, zone),
        (override.rules, rule),
    )
    return all(allowed is None or value in allowed for allowed, value in checks)


def _in(when: ProfileWhen, now: float) -> bool:
    """Whether local time `now` falls in `when` (a window that wraps midnight belongs to the
    day it starts on)."""
    local = time.localtime(now)
    minute = local.tm_hour * 60 + local.tm_min
    start, end = _minutes(when.start), _minutes(when.end)
    if start < end:
        day, inside = local, start <= minute < end
    elif minute >= start:
        day, inside = local, True
    else:  # after midnight: the window began yesterday
        day, inside = time.localtime(now - 86400), minute < end
    if not inside or WEEKDAYS[day.tm_wday] not in when.days:
        return False
    return when.season is None or _in_season(when.season, local)


def _in_season(season: tuple[str, str], local: time.struct_time) -> bool:
    today = f"{local.tm_mon:02d}-{local.tm_mday:02d}"
    first, last = season
    return first <= today <= last if first <= last else today >= first or today <= last


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)
