"""No part of the hub fails in silence: on a real camera (RTSP simulator) and a real Redis, a
detection core that raises, a step that hangs, and a detection loop that cannot start are each
logged, counted in `/metrics` and shown by `/readyz` (503 with the reason), the hub keeps
serving, recovers once the fault clears, and still shuts down within a bound; a `/metrics`
scrape while Redis is stopped answers 200."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.deps import get_hub
from api.routes import health, metrics
from api.security import Role
from detectors import CameraSetup, DetectionCore, RegionModel, StepResult
from detectors.background import BackgroundParams
from hub.runtime import Hub
from hub.ticks import TickPolicy
from riverwatch.batch import BatchView
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.supervise import RestartPolicy
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually
from tests.queue_fixtures import RedisProcess

CONFIG = """
cameras:
  - id: calm
    name: Calm water
    group: jinsha
    url: rtsp://viewer:s3cret-Pa55@127.0.0.1:{port}/calm
"""
SHUTDOWN_BOUND_S = 45.0


class Faults:
    """Switches the tests flip; the core reads them from its worker thread."""

    def __init__(self) -> None:
        self.raising = threading.Event()
        self.stalling = threading.Event()
        self.release = threading.Event()
        self.unbuildable = threading.Event()


class FaultyCore(DetectionCore):
    """The real core, whose `step` raises or hangs while told to."""

    faults: Faults

    def step(self, view: BatchView, now: float) -> StepResult:
        if self.faults.raising.is_set():
            raise ValueError("injected fault in the core")
        if self.faults.stalling.is_set():
            self.faults.release.wait(60)
        return super().step(view, now)


def core_factory(faults: Faults):  # type: ignore[no-untyped-def]
    def make(
        cameras: Sequence[CameraSetup],
        shape_hw: tuple[int, int],
        full_rate_budget: int = 25,
        *,
        background: BackgroundParams | None = None,
        model: RegionModel | None = None,
    ) -> DetectionCore:
        if faults.unbuildable.is_set():
            raise RuntimeError("core cannot start")
        core = FaultyCore(cameras, shape_hw, full_rate_budget, background=background, model=model)
        core.faults = faults
        return core

    return make


@asynccontextmanager
async def serving(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.dependency_overrides[get_hub] = lambda: hub
    headers = await sign_in(app, hub.engine, Role.OPERATOR)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:
        yield c


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    out: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, object]]:
    answer = await client.get("/readyz")
    body: dict[str, object] = answer.json()
    return answer.status_code, body


def says(client: httpx.AsyncClient, status: int, reason: str = ""):  # type: ignore[no-untyped-def]
    async def probe() -> bool:
        code, body = await readyz(client)
        return code == status and any(reason in str(r) for r in [*body["reasons"], ""])  # type: ignore[misc]

    return probe


def hub_for(
    rtsp: RtspSimulator, settings: Settings, faults: Faults, tick: TickPolicy | None = None
) -> Hub:
    return Hub(
        settings,
        parse_config(CONFIG.format(port=rtsp.port)),
        core_factory=core_factory(faults),
        tick_policy=tick or TickPolicy(fail_after=3, stale_after_s=2.0),
        restart_policy=RestartPolicy(base_s=0.05, max_s=0.2, failed_after=3),
    )


@pytest.mark.timeout(240)
async def test_a_core_that_raises_then_hangs_is_seen_and_the_hub_recovers(
    rtsp: RtspSimulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    faults = Faults()
    caplog.set_level(logging.ERROR, logger="hub.runtime")
    hub = hub_for(rtsp, settings, faults)
    async with hub, serving(hub) as client:
        await eventually(lambda: hub.camera("calm").health.state == "streaming", what="camera")
        await eventually(says(client, 200), what="ready")

        faults.raising.set()
        await eventually(says(client, 503, "ticks failed in a row"), what="503 for the core")
        # Failed ticks are logged with the cameras they held (a fresh frame arrives each second).
        await eventually(
            lambda: any("[calm]" in r.getMessage() for r in caplog.records), what="calm named"
        )
        failing = await scrape(client)
        assert (value(failing, "riverwatch_detect_tick_errors_total") or 0) >= 3
        assert (await client.get("/api/nothing")).status_code == 404  # still serving
        first = [r for r in caplog.records if "tick failed (1 in a row)" in r.getMessage()]
        assert first and first[0].exc_info is not None  # the traceback, once per streak
        assert all("s3cret" not in r.getMessage() for r in caplog.records)

        faults.raising.clear()
        await eventually(says(client, 200), what="ready again after the core recovers")
        errors = value(await scrape(client), "riverwatch_detect_tick_errors_total") or 0
        ticks = value(await scrape(client), "riverwatch_core_ticks_total") or 0
        await eventually(
            lambda: hub.detect_figures().ticks > ticks + 2, what="ticks completing again"
        )
        after = await scrape(client)
        assert value(after, "riverwatch_detect_tick_errors_total") == errors  # no new errors
        assert (value(after, "riverwatch_detect_last_tick_age_seconds") or 99) < 2.0

        faults.stalling.set()
        await eventually(says(client, 503, "no tick completed"), what="503 for a stuck step")
        _, body = await readyz(client)
        assert body["detect"]["last_tick_age_s"] > 2.0  # type: ignore[index]
        faults.release.set()
        faults.stalling.clear()
        await eventually(says(client, 200), what="ready again after the step returns")
        exiting = time.monotonic()
    assert time.monotonic() - exiting < SHUTDOWN_BOUND_S


@pytest.mark.timeout(240)
async def test_a_detection_loop_that_cannot_start_is_restarted_counted_and_shown(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    faults = Faults()
    faults.unbuildable.set()
    hub = hub_for(rtsp, settings, faults, TickPolicy(fail_after=3, stale_after_s=600.0))
    async with hub, serving(hub) as client:
        await eventually(says(client, 503, "task hub:detect"), what="the task shown failed")
        _, body = await readyz(client)
        detect = next(t for t in body["tasks"] if t["name"] == "hub:detect")  # type: ignore[attr-defined]
        assert detect["last_error"] == "RuntimeError: core cannot start"
        failing = await scrape(client)
        assert (value(failing, "riverwatch_task_restarts_total", task="hub:detect") or 0) >= 2
        assert (value(failing, "riverwatch_task_crashes_total", task="hub:detect") or 0) >= 3
        assert value(failing, "riverwatch_task_up", task="alerts:publisher") == 1.0

        faults.unbuildable.clear()
        await eventually(says(client, 200), what="ready once the loop starts")
        await eventually(lambda: hub.detect_figures().ticks >= 2, what="ticks")
        assert value(await scrape(client), "riverwatch_task_up", task="hub:detect") == 1.0
        exiting = time.monotonic()
    assert time.monotonic() - exiting < SHUTDOWN_BOUND_S


@pytest.mark.timeout(240)
async def test_metrics_answer_while_redis_is_stopped(
    rtsp: RtspSimulator, settings: Settings, tmp_path: Path
) -> None:
    redis = RedisProcess(tmp_path / "redis")
    await asyncio.to_thread(redis.start)
    settings = settings.model_copy(update={"redis_url": SecretStr(redis.url)})
    hub = hub_for(rtsp, settings, Faults())
    try:
        async with hub, serving(hub) as client:
            up = await scrape(client)
            assert value(up, "riverwatch_alert_queue_length") is not None
            await asyncio.to_thread(redis.stop)
            down = await scrape(client)  # 200, or `scrape` fails
            assert value(down, "riverwatch_alert_queue_length") is None  # left out, not made up
            assert value(down, "riverwatch_alerts_pending") is not None
            await eventually(says(client, 503, "redis"), what="503 for Redis")
            exiting = time.monotonic()
        assert time.monotonic() - exiting < SHUTDOWN_BOUND_S
    finally:
        redis.close()
