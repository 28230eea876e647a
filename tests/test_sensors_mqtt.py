"""Sensors over a real Mosquitto broker: flow, rejects with reasons, broker restarts, alerts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import text

from ingest.sensors import SensorHub
from ingest.sensors.store import metadata
from tests.conftest import eventually
from tests.sensor_fixtures import (
    PREFIX,
    T0,
    AlertSink,
    Clock,
    Mosquitto,
    publish,
    sensors_config,
    sqlite_engine,
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
async def hub(
    broker: Mosquitto, tmp_path: Path
) -> AsyncIterator[tuple[SensorHub, AlertSink, Clock]]:
    sink, clock = AlertSink(), Clock(T0 + 3600)
    async with sqlite_engine(tmp_path / "sensors.db") as engine:
        sensors = SensorHub(sensors_config(broker.port), engine, sink, clock=clock)
        async with sensors:
            await asyncio.wait_for(sensors.mqtt_ready(), 15)
            yield sensors, sink, clock


def level(value: float, ts: float, unit: str = "m") -> bytes:
    return json.dumps({"value": value, "unit": unit, "ts": ts}).encode()


def noise(value: float, ts: float) -> bytes:
    return json.dumps({"value": value, "unit": "dBA", "ts": ts}).encode()


async def stored(hub: SensorHub, sensor_id: str) -> list[float]:
    return [r.ts for r in await hub.recent(sensor_id, since=0, limit=10_000)]


async def test_valid_readings_flow_and_are_stored(
    broker: Mosquitto, hub: tuple[SensorHub, AlertSink, Clock]
) -> None:
    sensors, _, _ = hub
    messages = [("lvl-1", level(3.0 + i / 100, T0 + i)) for i in range(200)]
    messages.append(("noise-1", b'{"value": 61.5, "unit": "dBA", "ts": "2026-01-01T00:30:00Z"}'))
    await publish(broker.port, messages)

    async def all_stored() -> bool:  # in batches; reads see each batch once it is committed
        return len(await stored(sensors, "lvl-1")) == 200 and bool(await stored(sensors, "noise-1"))

    await eventually(all_stored, 30, "200 water levels and the noise reading stored")
    assert await stored(sensors, "noise-1") == [T0 + 1800]
    stats = sensors.stats()
    assert (stats.accepted, stats.stored, stats.rejected) == (201, 201, {})
    assert stats.mqtt is not None and stats.mqtt.messages == 201


async def test_malformed_messages_are_rejected_and_counted_while_valid_ones_flow(
    broker: Mosquitto, hub: tuple[SensorHub, AlertSink, Clock]
) -> None:
    sensors, _, _ = hub
    bad = [
        ("lvl-1", b"{not json"),
        ("lvl-1", b"\x00\xff garbage"),
        ("lvl-1", level(3.0, T0, unit="ft")),
        ("lvl-1", level(3.0, T0, unit="NTU")),
        ("lvl-1", level(1e6, T0)),
        ("lvl-1", b'{"value": NaN, "unit": "m", "ts": 1767225600}'),
        ("lvl-1", level(3.0, T0 + 86_400)),
        ("lvl-1", level(3.0, 1.0)),
        ("lvl-1", b'{"value": 3.0, "unit": "m", "pad": "' + b"x" * 200_000 + b'"}'),
        ("ghost-9", level(3.0, T0)),
        ("Not_A_Sensor!", level(3.0, T0)),
    ]
    good = [("lvl-1", level(3.0, T0 + i)) for i in range(len(bad))]
    interleaved = [m for pair in zip(bad, good, strict=True) for m in pair]
    await publish(broker.port, interleaved)

    async def counted() -> bool:
        return sum(sensors.stats().rejected.values()) == len(bad)

    await eventually(counted, 30, "every bad message counted")
    await eventually(lambda: sensors.stats().stored == len(good), 30, "good readings stored")
    assert sensors.stats().rejected == {
        "bad_json": 2,
        "wrong_unit": 2,
        "out_of_range": 1,
        "not_finite": 1,
        "future_timestamp": 1,
        "stale_timestamp": 1,
        "too_large": 1,
        "unknown_sensor": 1,
        "bad_topic": 1,
    }
    assert await stored(sensors, "lvl-1") == [T0 + i for i in range(len(good))]


async def test_subscriber_reconnects_after_the_broker_restarts(
    broker: Mosquitto, hub: tuple[SensorHub, AlertSink, Clock]
) -> None:
    sensors, _, _ = hub
    await publish(broker.port, [("lvl-1", level(3.0, T0 + i)) for i in range(20)])
    await eventually(lambda: sensors.stats().stored == 20, 30, "readings before the restart")

    broker.stop()
    await eventually(lambda: not _connected(sensors), 30, "the subscriber to see the broker go")
    await asyncio.sleep(0.5)  # a few failed reconnect attempts against a closed port
    broker.start()
    await asyncio.wait_for(sensors.mqtt_ready(), 30)

    await publish(broker.port, [("lvl-1", level(3.1, T0 + 100 + i)) for i in range(20)])
    await eventually(lambda: sensors.stats().stored == 40, 30, "readings after the restart")
    status = sensors.stats().mqtt
    assert status is not None and status.connects == 2 and status.connection_errors >= 1
    assert status.last_error is not None


async def test_hub_shuts_down_promptly_while_the_broker_is_down(
    broker: Mosquitto, tmp_path: Path
) -> None:
    async with sqlite_engine(tmp_path / "s.db") as engine:
        sensors = SensorHub(sensors_config(broker.port), engine, AlertSink(), clock=Clock(T0))
        await sensors.start()
        await asyncio.wait_for(sensors.mqtt_ready(), 15)
        broker.stop()
        await eventually(lambda: not _connected(sensors), 30, "the broker to be gone")
        async with asyncio.timeout(10):
            await sensors.close()


async def test_database_failure_mid_stream_loses_rows_not_alerts(
    broker: Mosquitto, tmp_path: Path
) -> None:
    sink = AlertSink()
    async with sqlite_engine(tmp_path / "s.db") as engine:
        config = sensors_config(broker.port)
        async with SensorHub(config, engine, sink, clock=Clock(T0 + 60)) as sensors:
            await asyncio.wait_for(sensors.mqtt_ready(), 15)
            async with engine.begin() as conn:
                await conn.execute(text("DROP TABLE sensor_readings"))
            loud = [("noise-1", noise(v, T0 + i)) for i, v in enumerate([70, 90, 91])]
            await publish(broker.port, loud)
            await eventually(lambda: sensors.stats().lost == 3, 30, "three readings lost")
            assert sink.phases() == [("noise-1", "loud", "open")]  # the alert still went out

            async with engine.begin() as conn:  # the database is back
                await conn.run_sync(metadata.create_all)
            await publish(broker.port, [("noise-1", noise(60, T0 + 10))])
            await eventually(lambda: sensors.stats().stored == 1, 30, "the writer to recover")
            assert sink.phases()[-1] == ("noise-1", "loud", "close")
            assert sensors.stats().store_errors >= 1


async def test_threshold_and_rate_alerts_over_mqtt(
    broker: Mosquitto, hub: tuple[SensorHub, AlertSink, Clock]
) -> None:
    sensors, sink, _ = hub
    # One reading a minute: a flood wave rises 1.2 m in 3 minutes, stays high, then recedes.
    values = [3.8, 3.9, 4.4, 5.0, 5.4] + [5.6] * 9 + [4.9, 4.3, 4.3, 4.3]
    await publish(broker.port, [("lvl-1", level(v, T0 + 60 * i)) for i, v in enumerate(values)])
    await eventually(lambda: sensors.stats().stored == len(values), 30, "the wave stored")
    assert sink.phases() == [
        ("lvl-1", "level_jump", "open"),  # minute 3: 5.0 - 3.8 = 1.2 > 1.0 within 10 min
        ("lvl-1", "level_high", "open"),  # minute 4: 5.4 > 5.0
        ("lvl-1", "level_jump", "close"),  # minute 13: window from minute 3, 5.6 - 5.0 <= 0.8
        ("lvl-1", "level_high", "close"),  # minute 15: 4.3 <= 5.0 - 0.5 (4.9 did not close it)
    ]
    opened = {a.rule: a for a in sink.alerts if a.phase.value == "open"}
    closed = {a.rule: a for a in sink.alerts if a.phase.value == "close"}
    assert all(opened[r].alert_id == closed[r].alert_id for r in opened)
    assert closed["level_jump"].ended_at == T0 + 60 * 13


def _connected(sensors: SensorHub) -> bool:
    status = sensors.stats().mqtt
    return status is not None and status.connected


async def test_broker_credentials_are_used_and_never_shown(tmp_path: Path) -> None:
    with Mosquitto(tmp_path / "auth-broker", users={"hub": "s3cret-MQ"}) as broker:
        async with sqlite_engine(tmp_path / "s.db") as engine:
            good = sensors_config(broker.port)
            assert good.mqtt is not None
            mqtt = {**good.mqtt.model_dump(), "username": "hub", "password": "s3cret-MQ"}
            config = sensors_config(broker.port, mqtt=mqtt)
            async with SensorHub(config, engine, AlertSink(), clock=Clock(T0)) as sensors:
                await asyncio.wait_for(sensors.mqtt_ready(), 15)
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, username="hub", password="s3cret-MQ", timeout=5
                ) as client:
                    await client.publish(f"{PREFIX}/lvl-1", level(3.0, T0), qos=1)
                await eventually(lambda: sensors.stats().stored == 1, 30, "a reading stored")

            wrong = {**mqtt, "password": "not-the-password", "client_id": "rw-test-wrong"}
            config = sensors_config(broker.port, mqtt=wrong)
            async with SensorHub(config, engine, AlertSink(), clock=Clock(T0)) as sensors:

                def refused() -> bool:
                    status = sensors.stats().mqtt
                    return status is not None and status.connection_errors >= 2

                await eventually(refused, 30, "the broker to refuse a wrong password")
                status = sensors.stats().mqtt
                assert status is not None and not status.connected and status.connects == 0
                assert status.last_error is not None
                assert "not-the-password" not in status.last_error
                assert "not-the-password" not in repr(config)
