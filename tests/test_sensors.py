"""Sensors without a broker: validation, rules, store and retention, linkage, the HTTP route,
and the order that keeps alerts: on disk before their readings are stored and answered."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from alerts import AlertPublisher
from api.routes import sensors as sensors_route
from api.security import Role
from hub.schema import upgrade
from ingest.sensors import (
    AlertsNotDurable,
    Reading,
    ReadingRejected,
    RejectReason,
    SensorConfig,
    SensorHub,
    SensorsConfig,
    SensorStoreError,
    reading_from_obj,
)
from ingest.sensors.reading import ReadingValidator, parse_mqtt
from ingest.sensors.rules import RuleEngine
from ingest.sensors.store import SensorStore
from riverwatch.types import Alert
from simulator.server import free_port
from tests.api_fixtures import sign_in
from tests.conftest import eventually
from tests.db_fixtures import drop_schema
from tests.notify_fixtures import closed_port
from tests.sensor_fixtures import (
    T0,
    AlertSink,
    Clock,
    postgres_cluster,
    sensors_config,
    sqlite_engine,
)

# ---------------------------------------------------------------- validation (table tests)

VALIDATION_CASES = [
    # reading, expected value in canonical unit or the reject reason
    (Reading("lvl-1", T0, 3.2, "m"), 3.2),
    (Reading("lvl-1", T0, 320.0, "cm"), 3.2),
    (Reading("lvl-1", T0, 3200.0, "mm"), 3.2),
    (Reading("lvl-1", T0, 3.2, "ft"), RejectReason.WRONG_UNIT),
    (Reading("lvl-1", T0, 3.2, "NTU"), RejectReason.WRONG_UNIT),
    (Reading("turb-down", T0, 40.0, "m"), RejectReason.WRONG_UNIT),
    (Reading("turb-down", T0, 40.0, "NTU"), 40.0),
    (Reading("lvl-1", T0, 31.0, "m"), RejectReason.OUT_OF_RANGE),
    (Reading("lvl-1", T0, 9_000.0, "cm"), RejectReason.OUT_OF_RANGE),
    (Reading("noise-1", T0, 1e9, "dBA"), RejectReason.OUT_OF_RANGE),
    (Reading("noise-1", T0, -3.0, "dBA"), RejectReason.OUT_OF_RANGE),
    (Reading("noise-1", T0, math.nan, "dBA"), RejectReason.NOT_FINITE),
    (Reading("noise-1", T0, math.inf, "dBA"), RejectReason.NOT_FINITE),
    (Reading("noise-1", T0 + 29, 60.0, "dBA"), 60.0),
    (Reading("noise-1", T0 + 31, 60.0, "dBA"), RejectReason.FUTURE_TIMESTAMP),
    (Reading("noise-1", T0 * 1000, 60.0, "dBA"), RejectReason.FUTURE_TIMESTAMP),  # ms, not s
    (Reading("noise-1", T0 - 8 * 86_400, 60.0, "dBA"), RejectReason.STALE_TIMESTAMP),
    (Reading("nope", T0, 1.0, "m"), RejectReason.UNKNOWN_SENSOR),
]


@pytest.mark.parametrize(("reading", "expected"), VALIDATION_CASES)
def test_validation_table(reading: Reading, expected: float | RejectReason) -> None:
    config = sensors_config()
    validator = ReadingValidator(
        {s.id: s for s in config.sensors}, config.max_future_skew_s, config.max_age_s, Clock()
    )
    if isinstance(expected, RejectReason):
        with pytest.raises(ReadingRejected) as caught:
            validator.validate(reading)
        assert caught.value.reason is expected
        assert caught.value.detail
    else:
        valid = validator.validate(reading)
        assert valid.value == pytest.approx(expected)
        assert valid.unit in {"m", "NTU", "dBA"}


PAYLOAD_CASES = [
    (f"{'p'}/lvl-1", b'{"value": 3.5, "unit": "m", "ts": 1767225600}', None),
    ("p/lvl-1", b'{"value": 3.5, "unit": "m", "ts": "2026-01-01T08:00:00+08:00"}', None),
    ("p/lvl-1", b'{"value": 3.5, "unit": "m"}', None),  # arrival time
    ("p/lvl-1", b'{"value": 3.5, "unit": "m", "ts": "2026-01-01T08:00:00"}', "bad_timestamp"),
    ("p/lvl-1", b'{"value": 3.5, "unit": "m", "ts": "yesterday"}', "bad_timestamp"),
    ("p/lvl-1", b'{"value": 3.5, "unit": "m", "ts": true}', "bad_timestamp"),
    ("p/lvl-1", b'{"value": NaN, "unit": "m"}', "not_finite"),
    ("p/lvl-1", b'{"value": 1e999, "unit": "m"}', "not_finite"),
    ("p/lvl-1", b'{"value": "3.5", "unit": "m"}', "bad_payload"),
    ("p/lvl-1", b'{"value": true, "unit": "m"}', "bad_payload"),
    ("p/lvl-1", b'{"value": 3.5}', "wrong_unit"),
    ("p/lvl-1", b"[3.5]", "bad_payload"),
    ("p/lvl-1", b"{not json", "bad_json"),
    ("p/lvl-1", b"\xff\xfe", "bad_json"),
    ("p/lvl-1", b'{"value": 3.5, "unit": "m", "pad": "' + b"x" * 600 + b'"}', "too_large"),
    ("p/LVL 1", b'{"value": 3.5, "unit": "m"}', "bad_topic"),
    ("q/lvl-1", b'{"value": 3.5, "unit": "m"}', "bad_topic"),
]


@pytest.mark.parametrize(("topic", "payload", "reason"), PAYLOAD_CASES)
def test_payload_parsing(topic: str, payload: bytes, reason: str | None) -> None:
    if reason is None:
        reading = parse_mqtt(topic, payload, "p", 512, now=T0)
        assert (reading.sensor_id, reading.value, reading.unit, reading.ts) == (
            "lvl-1",
            3.5,
            "m",
            T0,
        )
        return
    with pytest.raises(ReadingRejected) as caught:
        parse_mqtt(topic, payload, "p", 512, now=T0)
    assert caught.value.reason.value == reason


def test_config_refuses_bad_sensors_with_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        SensorsConfig.model_validate(
            {
                "sensors": [
                    {"id": "a", "kind": "water_level", "unit": "cm"},
                    {"id": "b", "kind": "turbidity", "range": [10, 1]},
                    {"id": "c", "kind": "noise", "thresholds": [{"id": "x"}]},
                    {"id": "d", "kind": "noise", "colour": "red"},
                ],
                "mqtt": {"topic_prefix": "city/#", "password": "hunter2"},
            }
        )
    errors = caught.value.errors()
    assert len(errors) == 5
    assert "hunter2" not in str(caught.value)


def test_config_names_links_to_unknown_cameras() -> None:
    config = sensors_config()
    assert config.camera_problems(["cam-1"]) == ["sensor turb-up: cameras: unknown camera cam-2"]


def test_mqtt_password_is_never_shown() -> None:
    config = SensorsConfig.model_validate({"mqtt": {"username": "hub", "password": "s3cret-MQ"}})
    assert config.mqtt is not None and config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret-MQ"
    assert "s3cret-MQ" not in repr(config) and "s3cret-MQ" not in str(config.model_dump())


# ---------------------------------------------------------------- rules (sequence in, out)


def _feed(
    engine: RuleEngine, sensor: str, points: Sequence[tuple[float, float]]
) -> list[tuple[float, str, str]]:
    out: list[tuple[float, str, str]] = []
    for ts, value in points:
        for alert in engine.feed(Reading(sensor, T0 + ts, value, "m")):
            out.append((ts, alert.rule, alert.phase.value))
    return out


def test_threshold_one_alert_per_excursion_with_hysteresis() -> None:
    engine = RuleEngine([SensorConfig.model_validate(sensors_config().sensors[0].model_dump())])
    levels = [4.0, 4.9, 5.1, 5.4, 4.8, 5.2, 4.6, 4.5, 4.4, 5.3, 4.0]
    # Small steps so the rate rule (1 m within 10 min) never fires: one reading per 10 min.
    events = _feed(engine, "lvl-1", [(i * 601.0, v) for i, v in enumerate(levels)])
    assert events == [
        (2 * 601.0, "level_high", "open"),  # 5.1 > 5.0
        (7 * 601.0, "level_high", "close"),  # 4.5 <= 5.0 - 0.5; 4.8 and 4.6 did not close it
        (9 * 601.0, "level_high", "open"),
        (10 * 601.0, "level_high", "close"),
    ]


def test_threshold_alerts_share_one_id_per_excursion() -> None:
    engine = RuleEngine(sensors_config().sensors)
    alerts = [
        a
        for ts, v in [(0, 4.0), (700, 5.5), (1400, 5.6), (2100, 4.0), (2800, 5.5)]
        for a in engine.feed(Reading("lvl-1", T0 + ts, v, "m"))
    ]
    opened, closed, reopened = alerts
    assert opened.alert_id == closed.alert_id != reopened.alert_id
    assert closed.message_id != opened.message_id
    assert (opened.source, opened.sensor_id, opened.camera_id) == ("sensor", "lvl-1", "")
    assert opened.started_at == closed.started_at == T0 + 700
    assert closed.ended_at == T0 + 2100 and opened.ended_at is None
    assert "5.5 m above 5 m" in opened.note


def test_rate_of_change_rule() -> None:
    config = sensors_config(
        sensors=[
            {
                "id": "lvl-1",
                "kind": "water_level",
                "rates": [{"id": "jump", "window_s": 600, "rise": 1.0, "hysteresis": 0.2}],
            }
        ]
    )
    engine = RuleEngine(config.sensors)
    slow = [(i * 120.0, 2.0 + 0.15 * i) for i in range(8)]  # +0.75 m per 10 min: no alert
    assert _feed(engine, "lvl-1", slow) == []
    t = slow[-1][0]
    jump = [(t + 60, 3.2), (t + 120, 4.3), (t + 180, 4.4), (t + 300, 4.4)]
    still = [(t + 600, 4.4), (t + 780, 4.45), (t + 900, 4.5)]  # the low point leaves the window
    assert _feed(engine, "lvl-1", jump + still) == [
        (t + 120, "jump", "open"),  # 4.3 - 3.05 = 1.25 > 1.0
        (t + 780, "jump", "close"),  # window (t+180..t+780) min 4.4: rise 0.05 <= 0.8
    ]


def test_fall_and_band_rules() -> None:
    config = sensors_config(
        sensors=[
            {
                "id": "lvl-1",
                "kind": "water_level",
                "thresholds": [{"id": "band", "above": 6, "below": 1, "hysteresis": 0.5}],
                "rates": [{"id": "drop", "window_s": 300, "fall": 2.0, "hysteresis": 0.5}],
            }
        ]
    )
    engine = RuleEngine(config.sensors)
    points = [(0, 3.0), (100, 0.8), (200, 1.2), (300, 1.6), (1000, 6.5), (1100, 3.0)]
    assert _feed(engine, "lvl-1", points) == [
        (100, "band", "open"),  # below 1
        (100, "drop", "open"),  # 3.0 -> 0.8 within 300 s
        (300, "band", "close"),  # 1.6 >= 1 + 0.5
        (300, "drop", "close"),  # 3.0 - 1.6 = 1.4 <= 2 - 0.5 (at 200, 1.8 kept it open)
        (1000, "band", "open"),
        (1100, "band", "close"),
        (1100, "drop", "open"),  # 6.5 -> 3.0
    ]


def test_late_and_repeated_readings_do_not_reopen() -> None:
    engine = RuleEngine(sensors_config().sensors)
    points = [(0, 4.0), (700, 5.5), (700, 5.5), (650, 5.6), (1400, 4.0), (1300, 5.8)]
    assert _feed(engine, "lvl-1", points) == [
        (700, "level_high", "open"),
        (1400, "level_high", "close"),
    ]
    assert engine.skipped_late == 3


def test_silent_sensor_closes_its_excursion() -> None:
    engine = RuleEngine(sensors_config().sensors)
    opened = engine.feed(Reading("noise-1", T0, 90.0, "dBA"))
    assert engine.expire(T0 + 3599, silence_s=3600) == []
    (closed,) = engine.expire(T0 + 3600, silence_s=3600)
    assert closed.alert_id == opened[0].alert_id and closed.phase.value == "close"
    assert closed.note == "no reading for 3600 s" and closed.ended_at == T0 + 3600
    assert engine.expire(T0 + 9999, silence_s=3600) == []  # closed once
    (again,) = engine.feed(Reading("noise-1", T0 + 4000, 91.0, "dBA"))  # back, still loud
    assert again.phase.value == "open" and again.alert_id != closed.alert_id


# ---------------------------------------------------------------- the hub on SQLite


@pytest.fixture
async def hub_parts(tmp_path: Path) -> AsyncIterator[tuple[SensorHub, AlertSink, Clock]]:
    sink, clock = AlertSink(), Clock()
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(sensors_config(), engine, sink, clock=clock) as hub:
            yield hub, sink, clock


async def test_hub_stores_validates_and_raises_alerts(
    hub_parts: tuple[SensorHub, AlertSink, Clock],
) -> None:
    hub, sink, clock = hub_parts
    for i, level_cm in enumerate([400, 520, 530, 440]):
        clock.now = T0 + i * 700
        await hub.ingest(Reading("lvl-1", clock.now, level_cm, "cm"))
    await hub.ingest(Reading("lvl-1", T0 + 700, 520, "cm"))  # a redelivery
    with pytest.raises(ReadingRejected):
        await hub.ingest(Reading("lvl-1", clock.now, 4.4, "NTU"))
    stored = await hub.recent("lvl-1", since=T0 - 1)
    assert [(r.ts - T0, r.value, r.unit) for r in stored] == [
        (0, 4.0, "m"),
        (700, 5.2, "m"),
        (1400, 5.3, "m"),
        (2100, 4.4, "m"),
    ]
    assert sink.phases() == [("lvl-1", "level_high", "open"), ("lvl-1", "level_high", "close")]
    stats = hub.stats()
    assert (stats.accepted, stats.stored, stats.alerts) == (5, 5, 2)
    assert stats.rejected == {"wrong_unit": 1}


async def test_hub_restores_an_open_excursion_after_restart(tmp_path: Path) -> None:
    sink, clock = AlertSink(), Clock()
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(sensors_config(), engine, sink, clock=clock) as hub:
            await hub.ingest(Reading("noise-1", T0 - 10, 70.0, "dBA"))
            await hub.ingest(Reading("noise-1", T0, 90.0, "dBA"))
        clock.now = T0 + 60
        async with SensorHub(sensors_config(), engine, sink, clock=clock) as hub:
            await hub.ingest(Reading("noise-1", T0 + 30, 95.0, "dBA"))  # still loud: no new open
            await hub.ingest(Reading("noise-1", T0 + 60, 60.0, "dBA"))
    opened, closed = sink.alerts
    assert (opened.phase.value, closed.phase.value) == ("open", "close")
    assert opened.alert_id == closed.alert_id


async def test_hub_closes_the_alert_of_a_silent_sensor(tmp_path: Path) -> None:
    sink, clock = AlertSink(), Clock()
    config = sensors_config(silence_close_s=0.4)
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(config, engine, sink, clock=clock) as hub:
            await hub.ingest(Reading("noise-1", T0, 90.0, "dBA"))
            clock.now = T0 + 5
            await eventually(lambda: len(sink.alerts) == 2, 15, "the silent excursion closed")
    assert sink.phases() == [("noise-1", "loud", "open"), ("noise-1", "loud", "close")]


async def test_retention_deletes_old_rows(tmp_path: Path) -> None:
    sink, clock = AlertSink(), Clock()
    config = sensors_config(retention_s=3600, retention_interval_s=0.2)
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(config, engine, sink, clock=clock) as hub:
            clock.now = T0 + 90 * 60
            for minutes in (0, 30, 59, 61, 90):
                await hub.ingest(Reading("noise-1", T0 + minutes * 60, 50.0, "dBA"))
            clock.now = T0 + 2 * 3600  # rows older than T0 + 1 h are past retention

            async def purged() -> bool:
                rows = await hub.recent("noise-1", since=0)
                return [round((r.ts - T0) / 60) for r in rows] == [61, 90]

            await eventually(purged, 15, "the retention task to purge old readings")
            assert hub.stats().purged == 3


async def test_alerts_are_on_disk_before_their_readings_are_stored(tmp_path: Path) -> None:
    """A stored reading is replayed silently at start: its alerts must be durable first."""
    stored_when_published: list[tuple[str, list[float]]] = []
    hub: SensorHub | None = None

    async def publish(alerts: Sequence[Alert]) -> None:
        assert hub is not None
        for alert in alerts:
            rows = await hub.recent("noise-1", since=0)
            stored_when_published.append((alert.phase.value, [r.ts - T0 for r in rows]))

    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(sensors_config(), engine, publish, clock=Clock()) as hub:
            for ts, db in [(-20, 70.0), (-10, 90.0), (0, 60.0)]:
                await hub.ingest(Reading("noise-1", T0 + ts, db, "dBA"))
            stored = [r.ts - T0 for r in await hub.recent("noise-1", since=0)]
    assert stored_when_published == [("open", [-20]), ("close", [-20, -10])]
    assert stored == [-20, -10, 0]


async def test_store_failure_still_raises_alerts(tmp_path: Path) -> None:
    sink = AlertSink()
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(sensors_config(), engine, sink, clock=Clock()) as hub:
            async with engine.begin() as conn:
                await conn.execute(text("DROP TABLE sensor_readings"))
            with pytest.raises(SensorStoreError):
                await hub.ingest(Reading("noise-1", T0, 90.0, "dBA"))
            stats = hub.stats()
    assert sink.phases() == [("noise-1", "loud", "open")]
    assert (stats.store_errors, stats.lost, stats.alerts) == (1, 1, 1)


async def test_alerts_not_durable_store_nothing_and_a_resend_raises_the_same_alert(
    tmp_path: Path,
) -> None:
    async def spool_down(alerts: Sequence[Alert]) -> None:
        if alerts:
            raise ConnectionError("the alert spool is down")

    sink = AlertSink()
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        async with SensorHub(sensors_config(), engine, spool_down, clock=Clock()) as hub:
            await hub.ingest(Reading("noise-1", T0 - 10, 70.0, "dBA"))  # no alert: stored
            with pytest.raises(AlertsNotDurable) as caught:
                await hub.ingest(Reading("noise-1", T0, 90.0, "dBA"))
            stored_before = [r.ts - T0 for r in await hub.recent("noise-1", since=0)]
            stats = hub.stats()
        # The hub restarted; the gateway, answered with an error, sends the reading again.
        async with SensorHub(sensors_config(), engine, sink, clock=Clock()) as hub:
            await hub.ingest(Reading("noise-1", T0, 90.0, "dBA"))
            stored_after = [r.ts - T0 for r in await hub.recent("noise-1", since=0)]
    assert str(caught.value) == (
        "1 alert(s) raised by these readings could not be saved to the alert spool;"
        " the 1 reading(s) were not stored: send them again later"
    )
    assert stored_before == [-10] and (stats.publish_errors, stats.lost) == (1, 1)
    assert sink.phases() == [("noise-1", "loud", "open")]
    assert stored_after == [-10, 0]


# ---------------------------------------------------------------- SQLite and PostgreSQL


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    postgres = request.param == "postgresql"
    url = request.getfixturevalue("pg_url") if postgres else f"sqlite+aiosqlite:///{tmp_path}/s.db"
    engine = create_async_engine(url)
    try:
        await upgrade(engine)
        yield engine
        if postgres:  # the cluster is shared by the session: leave it empty
            await drop_schema(engine)
    finally:
        await engine.dispose()


async def test_store_on_sqlite_and_postgresql(any_engine: AsyncEngine) -> None:
    store = SensorStore(any_engine)
    readings = [Reading("lvl-1", T0 + i + 0.25, 3.0 + i, "m") for i in range(5)]
    readings.append(Reading("noise-1", T0 + 2, 60.0, "dBA"))
    await store.insert(readings, received_at=T0 + 10)
    await store.insert(readings[:3], received_at=T0 + 11)  # a redelivery is stored once
    assert await store.recent("lvl-1", since=T0 + 2) == readings[2:5]
    assert await store.recent("lvl-1", since=0, limit=2) == readings[:2]
    assert [r.sensor_id for r in await store.since(T0 + 2)] == [
        "noise-1",
        "lvl-1",
        "lvl-1",
        "lvl-1",
    ]
    assert await store.purge(before=T0 + 3) == 4
    assert await store.since(0) == readings[3:5]


async def test_hub_on_sqlite_and_postgresql(any_engine: AsyncEngine) -> None:
    sink, clock = AlertSink(), Clock(T0 + 100)
    async with SensorHub(sensors_config(), any_engine, sink, clock=clock) as hub:
        for ts, db in [(0, 70.0), (10, 90.0), (20, 92.0)]:
            await hub.ingest(Reading("noise-1", T0 + ts, db, "dBA"))
    async with SensorHub(sensors_config(), any_engine, sink, clock=clock) as hub:
        await hub.ingest(Reading("noise-1", T0 + 30, 70.0, "dBA"))
        assert [r.value for r in await hub.recent("noise-1", since=0)] == [70, 90, 92, 70]
    assert sink.phases() == [("noise-1", "loud", "open"), ("noise-1", "loud", "close")]


# ---------------------------------------------------------------- linkage


async def test_turbidity_rise_downstream_raises_dredging_confidence(
    hub_parts: tuple[SensorHub, AlertSink, Clock],
) -> None:
    hub, _, clock = hub_parts
    clock.now = T0 + 3000
    # Downstream of cam-1: 12 NTU rising to 45 NTU over ten minutes, ending at T0 + 2400.
    for i, ntu in enumerate([12, 12, 13, 20, 33, 45]):
        await hub.ingest(Reading("turb-down", T0 + 1800 + i * 120, ntu, "NTU"))
    # Upstream of cam-2: the same rise, which a dredger at cam-2 cannot have caused.
    for i, ntu in enumerate([12, 12, 13, 20, 33, 45]):
        await hub.ingest(Reading("turb-up", T0 + 1800 + i * 120, ntu, "NTU"))
    at = T0 + 2500
    raised = hub.dredging_confidence("cam-1", at, base=0.5)
    assert raised == pytest.approx(0.75)  # rise 33 >= full 20: half the room above 0.5
    assert hub.dredging_confidence("cam-2", at, base=0.5) == 0.5
    assert hub.dredging_confidence("cam-9", at, base=0.5) == 0.5
    assert hub.dredging_confidence("cam-1", at + 3600, base=0.5) == 0.5  # the rise is old


async def test_steady_or_falling_turbidity_leaves_confidence(
    hub_parts: tuple[SensorHub, AlertSink, Clock],
) -> None:
    hub, _, clock = hub_parts
    clock.now = T0 + 3000
    for i, ntu in enumerate([60, 58, 40, 30, 31, 33]):  # falling, then +3 NTU: below the minimum
        await hub.ingest(Reading("turb-down", T0 + 1800 + i * 120, ntu, "NTU"))
    assert hub.dredging_confidence("cam-1", T0 + 2500, base=0.5) == 0.5
    await hub.ingest(Reading("turb-down", T0 + 2600, 43.0, "NTU"))  # +13 from 30: partly raised
    partial = hub.dredging_confidence("cam-1", T0 + 2700, base=0.5)
    assert 0.5 < partial < 0.75


# ---------------------------------------------------------------- HTTP


@pytest.fixture
async def http(
    hub_parts: tuple[SensorHub, AlertSink, Clock], tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, SensorHub]]:
    hub, _, _ = hub_parts
    app = FastAPI()
    app.include_router(sensors_route.router)
    app.dependency_overrides[sensors_route.get_sensor_hub] = lambda: hub
    async with sqlite_engine(tmp_path / "people.db") as people:
        # An admin may both post (as a gateway does) and read (as an operator does).
        headers = await sign_in(app, people, Role.ADMIN)
        async for served in _serve(app, headers, hub):
            yield served


async def _serve(
    app: FastAPI, headers: dict[str, str], hub: SensorHub
) -> AsyncIterator[tuple[httpx.AsyncClient, SensorHub]]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", ws="none", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, 15, "uvicorn to start")
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
        yield client, hub
    server.should_exit = True
    await asyncio.wait_for(task, 10)


def _item(sensor: str, value: float, unit: str, ts: float | str = T0) -> dict[str, object]:
    return {"sensor_id": sensor, "value": value, "unit": unit, "ts": ts}


async def test_http_post_and_get(http: tuple[httpx.AsyncClient, SensorHub]) -> None:
    client, _ = http
    one = await client.post("/api/sensors/readings", json=_item("noise-1", 55.0, "dBA", T0 - 60))
    assert one.status_code == 200 and one.json() == {"accepted": 1}
    batch = [_item("lvl-1", 350, "cm", T0 - 30), _item("lvl-1", 3.6, "m", "2025-12-31T23:59:50Z")]
    assert (await client.post("/api/sensors/readings", json=batch)).json() == {"accepted": 2}
    got = await client.get("/api/sensors/lvl-1/readings", params={"since": T0 - 3600})
    assert got.status_code == 200
    assert got.json() == {
        "sensor_id": "lvl-1",
        "unit": "m",
        "readings": [{"ts": T0 - 30, "value": 3.5}, {"ts": T0 - 10, "value": 3.6}],
    }
    iso = await client.get("/api/sensors/lvl-1/readings", params={"since": "2025-12-31T23:59:45Z"})
    assert [r["value"] for r in iso.json()["readings"]] == [3.6]
    default = await client.get("/api/sensors/noise-1/readings")  # the last hour
    assert [r["value"] for r in default.json()["readings"]] == [55.0]


async def test_http_refuses_bad_input_with_reasons(
    http: tuple[httpx.AsyncClient, SensorHub],
) -> None:
    client, hub = http
    url = "/api/sensors/readings"
    bad_json = await client.post(
        url, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and "not JSON" in bad_json.json()["detail"]
    mixed = [
        _item("lvl-1", 3.0, "m", T0 - 5),
        _item("lvl-1", 3.0, "NTU", T0 - 4),
        _item("ghost", 1.0, "m", T0 - 3),
        _item("noise-1", 500.0, "dBA", T0 - 2),
        _item("noise-1", 50.0, "dBA", T0 + 3600),
        {"sensor_id": "noise-1", "value": "loud", "unit": "dBA"},
    ]
    refused = await client.post(url, json=mixed)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "nothing was stored" in detail["message"]
    assert [(p["index"], p["reason"]) for p in detail["problems"]] == [(5, "bad_payload")]
    mixed.pop()  # the parser's problem fixed: now the hub's checks speak, for every reading
    refused = await client.post(url, json=mixed)
    assert [(p["index"], p["reason"]) for p in refused.json()["detail"]["problems"]] == [
        (1, "wrong_unit"),
        (2, "unknown_sensor"),
        (3, "out_of_range"),
        (4, "future_timestamp"),
    ]
    assert (await client.get("/api/sensors/lvl-1/readings", params={"since": 0})).json()[
        "readings"
    ] == []  # all or nothing: the valid first reading was not stored either
    assert (await client.post(url, json=[])).status_code == 422
    assert (await client.post(url, json=[_item("lvl-1", 3.0, "m")] * 1001)).status_code == 413
    assert (await client.get("/api/sensors/ghost/readings")).status_code == 404
    assert (
        await client.get("/api/sensors/lvl-1/readings", params={"since": "soon"})
    ).status_code == 422
    assert (
        await client.get("/api/sensors/lvl-1/readings", params={"since": "nan"})
    ).status_code == 422
    rejected = hub.stats().rejected
    assert rejected["bad_json"] == 1 and rejected["wrong_unit"] == 1 and rejected["too_large"] == 1


async def test_http_oversized_body_is_413(http: tuple[httpx.AsyncClient, SensorHub]) -> None:
    client, hub = http
    limit = hub.config.http_max_body_bytes
    big = json.dumps(_item("lvl-1", 3.0, "m")).encode() + b" " * limit
    declared = await client.post("/api/sensors/readings", content=big)
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = await client.post("/api/sensors/readings", content=chunks())
    assert streamed.status_code == 413
    assert hub.stats().rejected["too_large"] == 2


async def test_http_answers_503_when_the_alert_spool_is_not_on_disk(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    redis = Redis(port=closed_port(), socket_connect_timeout=0.2)  # delivery is not the point
    publisher = AlertPublisher(redis, "test:alerts", spool_path=blocker / "spool" / "a.sqlite3")
    app = FastAPI()
    app.include_router(sensors_route.router)
    async with (
        publisher,
        sqlite_engine(tmp_path / "sensors.db") as engine,
        SensorHub(sensors_config(), engine, publisher.publish_durably, clock=Clock()) as hub,
        sqlite_engine(tmp_path / "people.db") as people,
    ):
        app.dependency_overrides[sensors_route.get_sensor_hub] = lambda: hub
        headers = await sign_in(app, people, Role.ADMIN)
        async for client, _ in _serve(app, headers, hub):
            url = "/api/sensors/readings"
            quiet = await client.post(url, json=_item("noise-1", 60.0, "dBA", T0 - 10))
            loud = await client.post(url, json=[_item("noise-1", 95.0, "dBA", T0)])
            rows = await client.get("/api/sensors/noise-1/readings", params={"since": 0})
        await publisher.close(drain_budget_s=0.1)
    await redis.aclose()
    assert quiet.status_code == 200  # raises no alert: nothing to make durable
    assert loud.status_code == 503
    assert loud.json()["detail"] == (
        "1 alert(s) raised by these readings could not be saved to the alert spool;"
        " the 1 reading(s) were not stored: send them again later"
    )
    assert [r["value"] for r in rows.json()["readings"]] == [60.0]


def test_reading_from_obj_needs_a_sensor_id() -> None:
    with pytest.raises(ReadingRejected) as caught:
        reading_from_obj({"value": 1.0, "unit": "m"}, now=T0)
    assert caught.value.reason is RejectReason.BAD_PAYLOAD
