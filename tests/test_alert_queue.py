"""The ticket queue's parts against a real Redis: spool, idempotent publisher, consumer group."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from alerts.consumer import AlertConsumer, ConsumerOptions, entry_text, parse_entry
from alerts.errors import MalformedMessage
from alerts.publisher import ID_KEY_PREFIX, AlertPublisher
from alerts.spool import SpoolFile, SpoolLimits
from riverwatch.types import AlertPhase
from tests.conftest import eventually
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    RedisProcess,
    TicketSink,
    make_alert,
    redis_client_fixture,
    redis_proc_fixture,
    stream_message_ids,
)

STREAM = "test:alerts"
FAST = ConsumerOptions(block_ms=100, claim_idle_ms=300, handler_timeout_s=0.2, max_deliveries=3)


def _msg(i: int, phase: AlertPhase = AlertPhase.OPEN, rev: int = 0) -> tuple[str, dict[str, str]]:
    alert = make_alert(i, phase, rev)
    return alert.message_id, alert.to_fields()


def test_spool_stores_each_message_once_in_order_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "alerts.sqlite3"
    spool = SpoolFile.open(path, SpoolLimits())
    first = spool.put([_msg(1), _msg(2), _msg(1)], time.time())
    second = spool.put([_msg(2), _msg(3)], time.time())
    spool.close()
    spool = SpoolFile.open(path, SpoolLimits())
    ids = [m.message_id for m in spool.undelivered_messages(10)]
    assert (first.stored, first.ignored, second.stored, second.ignored) == (2, 1, 1, 1)
    assert ids == [make_alert(i).message_id for i in (1, 2, 3)]
    assert spool.undelivered_messages(10)[0].fields == make_alert(1).to_fields()
    spool.close()


def test_a_second_process_cannot_open_a_spool_in_use(tmp_path: Path) -> None:
    from alerts.errors import SpoolUnavailable

    path = tmp_path / "alerts.sqlite3"
    owner = SpoolFile.open(path, SpoolLimits())
    with pytest.raises(SpoolUnavailable, match=r"alerts\.sqlite3: database is locked"):
        SpoolFile.open(path, SpoolLimits())
    owner.close()


def test_spool_bounds_drop_delivered_then_updates_then_oldest(tmp_path: Path) -> None:
    spool = SpoolFile.open(tmp_path / "s.sqlite3", SpoolLimits(max_rows=4))
    now = time.time()
    spool.put([_msg(1), _msg(2), _msg(2, AlertPhase.UPDATE, 1), _msg(3)], now)
    delivered = spool.undelivered_messages(1)
    spool.mark_delivered([m.seq for m in delivered], now)  # message 1 is in Redis
    steps = [
        spool.put([_msg(4)], now).dropped,  # the delivered row goes: no alert lost
        spool.put([_msg(5)], now).dropped,  # then the superseded update
        spool.put([_msg(6)], now).dropped,  # then the oldest undelivered
    ]
    left = [m.message_id for m in spool.undelivered_messages(10)]
    assert steps == [
        (),
        (make_alert(2, AlertPhase.UPDATE, 1).message_id,),
        (make_alert(2).message_id,),
    ]
    assert left == [make_alert(i).message_id for i in (3, 4, 5, 6)]
    assert (spool.rows, spool.undelivered) == (4, 4)
    spool.close()


async def test_published_fields_are_the_alert_and_ids_are_per_message(
    redis_client: Redis, tmp_path: Path
) -> None:
    client = redis_client
    opened, updated = make_alert(7), make_alert(7, AlertPhase.UPDATE, 1)
    async with AlertPublisher(client, STREAM, spool_path=tmp_path / "s.sqlite3") as publisher:
        for alert in (opened, updated, opened):
            publisher.publish(alert)
        await eventually(lambda: publisher.published == 2 and publisher.pending == 0, what="both")
        recent = await publisher.recent(10)
        assert publisher.durable and publisher.spool_error is None
    entries: list[Any] = await client.xrange(STREAM)
    fields = [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]
    assert fields == [opened.to_fields(), updated.to_fields()]
    assert [a for _, a in recent] == [updated, opened]
    assert publisher.duplicates == 1 and publisher.spooled == 2
    for alert in (opened, updated):
        assert await client.ttl(ID_KEY_PREFIX + alert.message_id) > 6 * 24 * 3600


async def test_a_row_delivered_but_not_marked_is_resent_as_a_duplicate_only(
    redis_client: Redis, tmp_path: Path
) -> None:
    client, spool = redis_client, tmp_path / "s.sqlite3"
    async with AlertPublisher(client, STREAM, spool_path=spool) as publisher:
        for i in range(5):
            publisher.publish(make_alert(i))
        await eventually(lambda: publisher.published == 5, what="delivery")
    db = sqlite3.connect(spool)  # as if the hub died between XADD and marking the rows
    with db:
        db.execute("UPDATE spool SET delivered_at = NULL")
    db.close()
    async with AlertPublisher(client, STREAM, spool_path=spool) as again:
        await eventually(lambda: again.duplicates == 5, what="the resend")
    assert again.published == 0 and again.pending == 0
    assert await stream_message_ids(client, STREAM) == [make_alert(i).message_id for i in range(5)]


async def test_consumer_acks_only_after_the_handler_succeeds(redis_client: Redis) -> None:
    client, sink = redis_client, TicketSink()
    flaky = make_alert(2)
    sink.fail_next[flaky.message_id] = 2  # the store fails twice on this one
    for i in range(4):
        await client.xadd(STREAM, make_alert(i).to_fields())
    consumer = AlertConsumer(client, STREAM, "tickets", "c1", sink.apply, FAST)
    assert await consumer.drain() == 4
    pending_after_failure: Any = await client.xpending(STREAM, "tickets")

    async def handled_all() -> bool:
        await consumer.drain()
        return sink.count() == 4

    await eventually(handled_all, what="the flaky message to be retried")
    pending: Any = await client.xpending(STREAM, "tickets")
    assert pending_after_failure["pending"] == 1 and pending["pending"] == 0
    assert sink.applies() == {make_alert(i).message_id: 1 for i in range(4)}
    assert consumer.failures == 2 and consumer.claimed == 2 and consumer.dead_lettered == 0


async def test_a_message_failing_every_delivery_is_dead_lettered(redis_client: Redis) -> None:
    client, sink = redis_client, TicketSink()
    poison, good = make_alert(1), make_alert(2)
    sink.fail_next[poison.message_id] = 100
    for alert in (poison, good):
        await client.xadd(STREAM, alert.to_fields())
    consumer = AlertConsumer(client, STREAM, "tickets", "c1", sink.apply, FAST)

    async def dead() -> bool:
        await consumer.drain()
        return consumer.dead_lettered == 1

    await eventually(dead, what="the dead letter")
    dead_entries: list[Any] = await client.xrange(consumer.dead_letter_stream)
    record = {k.decode(): v.decode() for k, v in dead_entries[0][1].items()}
    pending: Any = await client.xpending(STREAM, "tickets")
    assert record["message_id"] == poison.message_id and record["dead_deliveries"] == "4"
    assert record["dead_reason"] == (
        "max_deliveries: failed 3 deliveries; last: RuntimeError: store unavailable"
    )
    assert sink.applies() == {good.message_id: 1} and pending["pending"] == 0
    assert consumer.failures == 3 and dict(consumer.dead_reasons) == {"max_deliveries": 1}


async def test_consumer_recreates_its_group_when_redis_lost_it(redis_client: Redis) -> None:
    client, sink = redis_client, TicketSink()
    consumer = AlertConsumer(client, STREAM, "tickets", "c1", sink.apply, FAST)
    await consumer.drain()
    await client.flushall()  # a Redis restarted without persistence
    await client.xadd(STREAM, make_alert(1).to_fields())
    with pytest.raises(ResponseError, match="NOGROUP"):
        await consumer.run_once(block=False)
    assert await consumer.drain() == 1 and sink.count() == 1


async def test_consumer_refuses_a_block_longer_than_the_socket_timeout(
    redis_proc: RedisProcess,
) -> None:
    client = Redis.from_url(redis_proc.url, socket_timeout=0.5)
    with pytest.raises(ValueError, match=r"block_ms=1000 must be shorter"):
        AlertConsumer(client, STREAM, "g", "c", TicketSink().apply, ConsumerOptions(block_ms=1000))
    with pytest.raises(ValueError, match="handler_timeout_s"):
        ConsumerOptions(claim_idle_ms=1000, handler_timeout_s=5)
    await client.aclose()


GOOD = make_alert(3).to_fields()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({k: v for k, v in GOOD.items() if k != "box_xyxy"}, "missing field 'box_xyxy'"),
        ({**GOOD, "schema": "9"}, "unsupported schema '9' (expected '1')"),
        ({**GOOD, "score": "high"}, "bad value: could not convert string to float: 'high'"),
        ({**GOOD, "box_xyxy": "1,2,3"}, "bad value: box_xyxy needs four integers"),
        ({**GOOD, "phase": "sideways"}, "bad value: 'sideways' is not a valid AlertPhase"),
        ({**GOOD, "severity": "urgent"}, "bad value: 'urgent' is not a valid Severity"),
        (
            {**GOOD, "message_id": "x"},
            f"message_id 'x' does not match '{make_alert(3).message_id}'",
        ),
        ({b"schema": b"1", b"note": b"\xff"}, "fields are not UTF-8"),
    ],
)
def test_malformed_entries_are_named(fields: dict[Any, Any], reason: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse_entry(fields)
    assert str(caught.value) == reason


def test_a_good_entry_parses_from_bytes() -> None:
    raw = {k.encode(): v.encode() for k, v in GOOD.items()}
    assert parse_entry(raw) == make_alert(3)


async def consumer_names(client: Redis) -> set[str]:
    return {entry_text(c["name"]) for c in await client.xinfo_consumers(STREAM, "tickets")}


async def test_consumers_long_gone_are_forgotten_and_the_others_kept(redis_client: Redis) -> None:
    """A hub that died, whose entries were claimed, leaves its consumer name in the group (in
    Kubernetes every pod has a new one): it is deleted once idle past `forget_idle_ms` with
    nothing pending; a consumer still holding entries, and this consumer itself, stay."""
    client, sink = redis_client, TicketSink()
    for i in range(3):
        await client.xadd(STREAM, make_alert(i).to_fields())
    await client.xgroup_create(STREAM, "tickets", id="0")
    await client.xreadgroup("tickets", "hub-gone", {STREAM: ">"}, count=1)
    await client.xack(STREAM, "tickets", *[e for e, _ in (await client.xrange(STREAM))[:1]])
    await client.xreadgroup("tickets", "hub-holding", {STREAM: ">"}, count=1)  # not acked
    options = ConsumerOptions(block_ms=100, claim_idle_ms=60_000, handler_timeout_s=0.2,
                              forget_idle_ms=60_001, forget_every_s=0.0)  # fmt: skip
    consumer = AlertConsumer(client, STREAM, "tickets", "hub-here", sink.apply, options)
    await consumer.run_once(block=False)
    names = await consumer_names(client)
    assert names == {"hub-gone", "hub-holding", "hub-here"}  # none idle long enough yet
    quick = ConsumerOptions(block_ms=100, claim_idle_ms=10, handler_timeout_s=0.005,
                            forget_idle_ms=50, forget_every_s=0.0)  # fmt: skip
    await asyncio.sleep(0.2)  # both others now idle past 50 ms (idle only grows: no race)
    await AlertConsumer(client, STREAM, "tickets", "hub-here", sink.apply, quick).run_once(False)
    names = await consumer_names(client)
    assert "hub-gone" not in names and {"hub-holding", "hub-here"} <= names
    with pytest.raises(ValueError, match="forget_idle_ms"):
        ConsumerOptions(claim_idle_ms=1000, forget_idle_ms=500)
