"""Reliability of the ticket queue with a real Redis and real processes: Redis stopped and
killed, the publisher SIGKILLed, a consumer dying with messages, malformed entries, a spool
that cannot be written, and `publish_durably` returning only once the spool file holds the
alert."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from alerts.consumer import AlertConsumer, ConsumerOptions
from alerts.errors import SpoolUnavailable
from alerts.publisher import AlertPublisher
from alerts.spool import SpoolFile, SpoolLimits
from riverwatch.types import Alert
from tests.conftest import eventually
from tests.notify_fixtures import closed_port
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    RedisProcess,
    TicketSink,
    make_alert,
    redis_client_fixture,
    redis_proc_fixture,
    sigkill,
    start_publishing_child,
    stream_message_ids,
    wait_ready,
)

STREAM = "test:alerts"
FAST = ConsumerOptions(block_ms=200, claim_idle_ms=500, handler_timeout_s=0.3, retry_max_s=0.5)


async def _all_in_store(consumer: AlertConsumer, sink: TicketSink, expected: int) -> None:
    async def done() -> bool:
        await consumer.drain()
        return sink.count() >= expected

    await eventually(done, timeout_s=60, what=f"{expected} tickets in the store")


async def test_redis_stopped_while_alerts_are_raised_every_alert_once_in_store(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    alerts = [make_alert(i) for i in range(120)]
    sink = TicketSink()
    pub_client, con_client = redis_proc.client(), redis_proc.client()
    publisher = AlertPublisher(
        pub_client, STREAM, spool_path=tmp_path / "spool.sqlite3", retry_max_s=0.5
    )
    consumer = AlertConsumer(con_client, STREAM, "tickets", "c1", sink.apply, FAST)
    async with publisher, consumer:  # the consumer runs its own loop, with backoff
        for alert in alerts[:40]:
            publisher.publish(alert)
            await asyncio.sleep(0.005)
        redis_proc.kill()  # mid-stream: a crash, not a clean shutdown
        for alert in alerts[40:80]:
            publisher.publish(alert)
            await asyncio.sleep(0.005)
        await eventually(lambda: publisher.failures >= 1, what="a failed delivery")
        redis_proc.start()  # same socket, same append-only file
        for alert in alerts[80:]:
            publisher.publish(alert)
        await eventually(lambda: sink.count() == 120, timeout_s=60, what="all 120 tickets")
    ids = await stream_message_ids(pub_client, STREAM)
    pending: Any = await pub_client.xpending(STREAM, "tickets")
    # Every message is in the store once. The handler may have seen one twice (its XACK lost
    # with Redis): that is at-least-once delivery, absorbed by the store's idempotency.
    assert sink.count() == 120 and set(sink.applies()) == {a.message_id for a in alerts}
    assert ids == [a.message_id for a in alerts]  # in order, no duplicate entry
    assert pending["pending"] == 0 and publisher.pending == 0 and publisher.dropped == 0
    await pub_client.aclose()
    await con_client.aclose()


async def test_publisher_sigkilled_with_alerts_only_in_the_spool_loses_nothing(
    redis_proc: RedisProcess, redis_client: Redis, tmp_path: Path
) -> None:
    spool = tmp_path / "spool" / "alerts.sqlite3"
    redis_proc.stop()  # Redis down: the child can only spool
    child = start_publishing_child(redis_proc.url, spool, STREAM, 50, ready_at=0)
    assert wait_ready(child) == 0
    killed = sigkill(child)
    redis_proc.start()
    async with AlertPublisher(redis_client, STREAM, spool_path=spool) as publisher:
        await eventually(lambda: publisher.pending == 0, what="the spooled alerts")
    sink = TicketSink()
    await AlertConsumer(redis_client, STREAM, "tickets", "c1", sink.apply, FAST).drain()
    expected = [make_alert(i).message_id for i in range(50)]
    assert killed == -signal.SIGKILL
    assert publisher.published == 50 and publisher.duplicates == 0
    assert await stream_message_ids(redis_client, STREAM) == expected
    assert sink.applies() == dict.fromkeys(expected, 1)


async def test_publisher_sigkilled_while_delivering_nothing_lost_nothing_doubled(
    redis_client: Redis, redis_proc: RedisProcess, tmp_path: Path
) -> None:
    spool = tmp_path / "alerts.sqlite3"
    child = start_publishing_child(redis_proc.url, spool, STREAM, 1000, ready_at=100)
    published_before_kill = wait_ready(child)
    assert sigkill(child) == -signal.SIGKILL
    in_stream_at_kill = len(await stream_message_ids(redis_client, STREAM))
    async with AlertPublisher(redis_client, STREAM, spool_path=spool) as publisher:
        await eventually(lambda: publisher.pending == 0, timeout_s=60, what="the rest")
    ids = await stream_message_ids(redis_client, STREAM)
    assert published_before_kill >= 100 and in_stream_at_kill >= published_before_kill
    assert publisher.published == 1000 - in_stream_at_kill  # the rest, once
    assert ids == [make_alert(i).message_id for i in range(1000)]


async def test_a_consumer_dying_with_messages_has_them_reclaimed(redis_client: Redis) -> None:
    alerts = [make_alert(i) for i in range(5)]
    for alert in alerts:
        await redis_client.xadd(STREAM, alert.to_fields())  # type: ignore[arg-type]
    held = asyncio.Event()

    async def hangs(entry_id: str, alert: Alert) -> None:
        held.set()
        await asyncio.Event().wait()  # never returns: this consumer is about to die

    patient = ConsumerOptions(batch_size=10, claim_idle_ms=120_000, handler_timeout_s=60)
    doomed = AlertConsumer(redis_client, STREAM, "tickets", "doomed", hangs, patient)
    dying = asyncio.create_task(doomed.run_once(block=False))
    await eventually(held.is_set, what="the doomed consumer to read")
    dying.cancel()  # it dies holding all five, unacknowledged
    await asyncio.gather(dying, return_exceptions=True)
    before: Any = await redis_client.xpending(STREAM, "tickets")

    sink = TicketSink()
    rescuer = AlertConsumer(redis_client, STREAM, "tickets", "rescuer", sink.apply, FAST)
    await _all_in_store(rescuer, sink, 5)
    after: Any = await redis_client.xpending(STREAM, "tickets")
    assert before["pending"] == 5 and before["consumers"] == [{"name": b"doomed", "pending": 5}]
    assert rescuer.claimed == 5 and after["pending"] == 0
    assert sink.applies() == {a.message_id: 1 for a in alerts}


async def test_malformed_entries_go_to_dead_letter_and_the_rest_keep_flowing(
    redis_client: Redis,
) -> None:
    good = [make_alert(i) for i in range(4)]
    bad: list[dict[Any, Any]] = [
        {"schema": "1", "note": "no alert here"},
        {**good[0].to_fields(), "box_xyxy": "1,2"},
        {b"schema": b"1", b"note": b"\xff\xfe"},
    ]
    for alert, junk in zip(good, [*bad, None], strict=True):
        await redis_client.xadd(STREAM, alert.to_fields())  # type: ignore[arg-type]
        if junk is not None:
            await redis_client.xadd(STREAM, junk)
    sink = TicketSink()
    consumer = AlertConsumer(redis_client, STREAM, "tickets", "c1", sink.apply, FAST)
    await consumer.drain()
    dead: list[Any] = await redis_client.xrange(consumer.dead_letter_stream)
    reasons = [fields[b"dead_reason"].decode() for _, fields in dead]
    pending: Any = await redis_client.xpending(STREAM, "tickets")
    assert sink.applies() == {a.message_id: 1 for a in good}
    assert reasons == [
        "malformed: missing field 'box_xyxy'",
        "malformed: bad value: box_xyxy needs four integers",
        "malformed: fields are not UTF-8",
    ]
    assert dead[2][1][b"note"] == b"\xff\xfe"  # the original bytes are kept for inspection
    assert consumer.dead_reasons == {"malformed": 3} and pending["pending"] == 0


async def test_an_unusable_spool_is_named_and_alerts_still_flow_from_memory(
    redis_client: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    spool = blocker / "spool" / "alerts.sqlite3"
    with pytest.raises(SpoolUnavailable) as direct:
        SpoolFile.open(spool, SpoolLimits())
    caplog.set_level(logging.ERROR, logger="alerts.spool")
    async with AlertPublisher(redis_client, STREAM, spool_path=spool) as publisher:
        for i in range(3):
            publisher.publish(make_alert(i))
        await eventually(lambda: publisher.published == 3, what="delivery from memory")
        durable, error = publisher.durable, publisher.spool_error
    assert (
        str(direct.value)
        == f"cannot open the alert spool {spool}: Not a directory ({spool.parent})"
    )
    assert not durable and error == str(direct.value)
    assert any(
        "IN MEMORY ONLY" in r.getMessage() and str(spool) in r.getMessage() for r in caplog.records
    )
    assert await stream_message_ids(redis_client, STREAM) == [
        make_alert(i).message_id for i in range(3)
    ]


def _on_disk(spool: Path, snapshot: Path) -> set[str]:
    """Message ids a hub killed at this instant would find: the spool's files as they are on
    disk, copied and opened apart from the publisher (which holds the file's lock)."""
    snapshot.mkdir()
    for suffix in ("", "-wal"):
        source = spool.with_name(spool.name + suffix)
        if source.exists():
            shutil.copyfile(source, snapshot / (spool.name + suffix))
    conn = sqlite3.connect(snapshot / spool.name)
    try:
        return {row[0] for row in conn.execute("SELECT message_id FROM spool")}
    finally:
        conn.close()


async def test_publish_durably_returns_once_the_spool_file_holds_the_alert(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool" / "alerts.sqlite3"
    redis = Redis(port=closed_port(), socket_connect_timeout=0.2)  # nothing is delivered
    publisher = AlertPublisher(redis, STREAM, spool_path=spool, retry_base_s=5, retry_max_s=5)
    seen: list[tuple[str, bool, bool]] = []
    async with publisher:
        for i in range(0, 6, 2):
            quick, durable = make_alert(i), make_alert(i + 1)
            publisher.publish(quick)  # queued only: not on disk when it returns
            after_publish = _on_disk(spool, tmp_path / f"snap-{i}")
            await publisher.publish_durably([durable])
            after_durable = _on_disk(spool, tmp_path / f"snap-{i + 1}")
            seen.append(
                (
                    durable.message_id,
                    quick.message_id in after_publish,
                    {quick.message_id, durable.message_id} <= after_durable,
                )
            )
        await publisher.publish_durably([])  # nothing new, nothing waited for
        await publisher.close(drain_budget_s=0.1)
    await redis.aclose()
    assert seen == [(make_alert(i + 1).message_id, False, True) for i in range(0, 6, 2)]


async def test_publish_durably_raises_when_the_spool_is_not_on_disk(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    spool = blocker / "spool" / "alerts.sqlite3"
    redis = Redis(port=closed_port(), socket_connect_timeout=0.2)
    publisher = AlertPublisher(redis, STREAM, spool_path=spool, retry_base_s=5, retry_max_s=5)
    async with publisher:
        with pytest.raises(SpoolUnavailable) as in_memory:
            await publisher.publish_durably([make_alert(0)])
        pending = publisher.pending  # still accepted, to be delivered from memory
        await publisher.close(drain_budget_s=0.1)
    with pytest.raises(SpoolUnavailable) as closed:
        await publisher.publish_durably([make_alert(1)])
    await redis.aclose()
    assert str(in_memory.value) == f"cannot open the alert spool {spool}: Not a directory " + (
        f"({spool.parent})"
    )
    assert pending == 1
    assert str(closed.value) == "the alert publisher is not running"
