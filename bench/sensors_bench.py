"""Sensor benchmark: readings per second over MQTT, end to end (publish -> validated -> stored).

    python bench/sensors_bench.py --readings 20000 --sensors 50 --qos 1

Starts a real Mosquitto broker on a free local port and a `SensorHub` on SQLite in a temporary
directory (every sensor with a threshold rule), then a publisher in a child process sends the
readings as fast as the broker takes them. The clock runs from the publisher's start until the
last reading is stored; the figures printed are stored readings per second and the hub
process's CPU time per reading (which, unlike wall time, holds on a machine busy with other
work). Rejects and store errors are printed too and should be zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
from sqlalchemy.ext.asyncio import create_async_engine

from ingest.sensors import SensorHub, SensorsConfig
from riverwatch.types import Alert
from simulator.server import free_port

PREFIX = "bench/sensors"


def main() -> int:
    """Run the benchmark, or, with --publish, act as the publisher child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--publish", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        asyncio.run(_publish(args.publish, args.readings, args.sensors, args.qos))
        return 0
    with tempfile.TemporaryDirectory(prefix="sensors-bench-") as tmp:
        broker = _start_broker(Path(tmp))
        try:
            asyncio.run(_run(Path(tmp), broker[1], args))
        finally:
            broker[0].terminate()
            broker[0].wait(10)
    return 0


def _start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if os.geteuid() == 0:
        conf.append("user root")
    (tmp / "mosquitto.conf").write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(tmp / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc, port


async def _run(tmp: Path, port: int, args: argparse.Namespace) -> None:
    config = SensorsConfig.model_validate(
        {
            "mqtt": {"port": port, "topic_prefix": PREFIX, "client_id": "bench-hub"},
            "sensors": [
                {
                    "id": f"noise-{i:03d}",
                    "kind": "noise",
                    "thresholds": [{"id": "loud", "above": 85}],
                }
                for i in range(args.sensors)
            ],
            "queue_size": max(10_000, args.readings),
        }
    )
    alerts: list[Alert] = []
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    try:
        async with SensorHub(config, engine, alerts.append) as hub:
            await asyncio.wait_for(hub.mqtt_ready(), 15)
            start = time.monotonic()
            cpu_start = time.process_time()
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--publish", str(port),
                "--readings", str(args.readings), "--sensors", str(args.sensors),
                "--qos", str(args.qos),
            )  # fmt: skip
            elapsed = await _wait_stored(hub, args.readings) - start
            cpu = time.process_time() - cpu_start
            await child.wait()
            stats = hub.stats()
    finally:
        await engine.dispose()
    rate = stats.stored / elapsed
    print(  # noqa: T201 - a benchmark prints its result
        f"sensors over MQTT (QoS {args.qos}, {args.sensors} sensors, SQLite): "
        f"{stats.stored}/{args.readings} stored in {elapsed:.2f} s = {rate:,.0f} readings/s "
        f"(publisher exit code {child.returncode}); "
        f"hub CPU {cpu:.2f} s = {cpu / max(stats.stored, 1) * 1e6:.0f} us per reading "
        f"(~{stats.stored / max(cpu, 1e-9):,.0f} readings/s per core); "
        f"rejected {stats.rejected or 0}, "
        f"store errors {stats.store_errors}, alerts {stats.alerts}"
    )


async def _wait_stored(hub: SensorHub, readings: int, stall_s: float = 15.0) -> float:
    """Wait until every reading is accounted for, or nothing has moved for `stall_s`; returns
    the monotonic time of the last progress."""
    last, last_change = -1, time.monotonic()
    while True:
        stats = hub.stats()
        done = stats.stored + stats.lost + sum(stats.rejected.values())
        if done != last:
            last, last_change = done, time.monotonic()
        if done >= readings or time.monotonic() - last_change > stall_s:
            return last_change
        await asyncio.sleep(0.01)


async def _publish(port: int, readings: int, sensors: int, qos: int) -> None:
    now = time.time()
    quiet = logging.getLogger("bench.publisher")
    quiet.setLevel(logging.ERROR)  # aiomqtt warns about every pending publish past a few
    async with aiomqtt.Client(
        "127.0.0.1", port, timeout=30, max_inflight_messages=200, logger=quiet
    ) as client:
        batch = []
        for i in range(readings):
            sensor = f"noise-{i % sensors:03d}"
            # Timestamps step by 1 ms per reading so no two readings of a sensor collide.
            body = {"value": 50.0 + (i % 40), "unit": "dBA", "ts": now - readings / 1000 + i / 1000}
            batch.append(client.publish(f"{PREFIX}/{sensor}", json.dumps(body), qos=qos))
            if len(batch) == 200:
                await asyncio.gather(*batch)
                batch = []
        await asyncio.gather(*batch)


if __name__ == "__main__":
    sys.exit(main())
