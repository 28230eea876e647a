"""`/metrics` of a real hub on the RTSP simulator: the text parses with prometheus_client's own
parser, each camera has its state and decode mode series (a streaming camera and one whose
stream does not exist), the core's tick figures move, the alert counters move after a boat
raises an alert, and no label or value carries the cameras' URLs or credentials."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.deps import get_hub
from api.metrics import CONTENT_TYPE
from api.routes import metrics
from api.security import Role, Security, SecurityConfig
from api.security.deps import get_security
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import CameraState, DecodeMode
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually

CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
  - {{id: city, name: City, kind: street}}
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
  - id: gone
    name: A camera that is not there
    group: city
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/nowhere
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, labels); raises if the text is not valid exposition format."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(client: httpx.AsyncClient) -> tuple[str, Samples]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"] == CONTENT_TYPE
    return answer.text, parse(answer.text)


def holds(
    client: httpx.AsyncClient, check: Callable[[Samples], bool]
) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check((await scrape(client))[1])

    return probe


@pytest.mark.timeout(240)
async def test_metrics_of_a_running_hub(rtsp: RtspSimulator, settings: Settings) -> None:
    settings = settings.model_copy(update={"evidence_pre_roll_s": 1.0, "evidence_post_roll_s": 1.0})
    loaded = parse_config(CONFIG.format(port=rtsp.port), env=ENV)
    async with Hub(settings, loaded) as hub:
        app = FastAPI()
        app.include_router(metrics.router)
        app.dependency_overrides[get_hub] = lambda: hub
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            await _only_prometheus_and_operators(app, client, hub)
            client.headers.update(await sign_in(app, hub.engine, Role.OPERATOR))
            await _camera_states(client)
            await _core_ticks(client)
            before = (await scrape(client))[1]
            await eventually(
                holds(client, lambda s: (value(s, "riverwatch_tickets_applied_total") or 0) >= 1),
                timeout_s=150,
                what="the boat's alert applied to a ticket",
            )
            text, after = await scrape(client)
    _alert_counters_moved(before, after)
    _nothing_secret(text, after)


async def _only_prometheus_and_operators(app: FastAPI, client: httpx.AsyncClient, hub: Hub) -> None:
    """Prometheus' static token, or an operator's; nobody else."""
    token = "a prometheus scrape token, long enough"
    security = await Security.open(hub.engine, SecurityConfig(metrics_token=SecretStr(token)))
    app.dependency_overrides[get_security] = lambda: security
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer not the token"})
    assert wrong.status_code == 401
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200 and "riverwatch_" in scraped.text
    enforcement = await security.users.create(
        "metrics-enf", "a long test passphrase", Role.ENFORCEMENT
    )
    issued = await security.tokens.issue(enforcement)
    other = await client.get("/metrics", headers={"Authorization": f"Bearer {issued.token}"})
    assert other.status_code == 403


async def _camera_states(client: httpx.AsyncClient) -> None:
    def states(s: Samples) -> bool:
        boat = value(s, "riverwatch_camera_state", camera="boat", group="jinsha", state="streaming")
        gone = value(s, "riverwatch_camera_state", camera="gone", group="city", state="streaming")
        fps = value(s, "riverwatch_camera_input_fps", camera="boat", group="jinsha") or 0
        return boat == 1.0 and gone == 0.0 and fps > 0

    await eventually(holds(client, states), timeout_s=60, what="boat streaming, gone not")
    _, s = await scrape(client)
    for camera, group in (("boat", "jinsha"), ("gone", "city")):
        one_hot = [
            value(s, "riverwatch_camera_state", camera=camera, group=group, state=state)
            for state in ("connecting", "streaming", "stalled", "backing_off", "failed", "stopped")
        ]
        assert sorted(one_hot) == [0.0] * 5 + [1.0]
        modes = [
            value(s, "riverwatch_camera_decode_mode", camera=camera, group=group, mode=mode)
            for mode in ("keyframes", "full")
        ]
        assert sorted(modes) == [0.0, 1.0]
    assert value(s, "riverwatch_camera_last_frame_age_seconds", camera="boat", group="jinsha") >= 0
    assert value(s, "riverwatch_camera_last_frame_age_seconds", camera="gone", group="city") is None
    assert value(s, "riverwatch_cameras", state="streaming") == 1.0
    assert value(s, "riverwatch_camera_reconnects_total", camera="gone", group="city") is not None


async def _core_ticks(client: httpx.AsyncClient) -> None:
    def ticking(s: Samples) -> bool:
        return (value(s, "riverwatch_core_ticks_total") or 0) >= 3

    await eventually(holds(client, ticking), what="detection ticks")
    _, s = await scrape(client)
    assert (value(s, "riverwatch_core_tick_seconds") or 0) > 0
    assert value(s, "riverwatch_detect_tick_errors_total") == 0.0
    assert 0 <= (value(s, "riverwatch_detect_last_tick_age_seconds") or -1) < 30
    assert value(s, "riverwatch_task_up", task="hub:detect") == 1.0
    assert value(s, "riverwatch_task_restarts_total", task="hub:detect") == 0.0
    assert value(s, "riverwatch_task_up", task="hub:loop-lag") == 1.0
    assert (value(s, "riverwatch_event_loop_lag_max_seconds") or -1) >= 0
    assert value(s, "riverwatch_event_loop_late_total") is not None


def _alert_counters_moved(before: Samples, after: Samples) -> None:
    for name in (
        "riverwatch_alerts_spooled_total",
        "riverwatch_alerts_published_total",
        "riverwatch_alerts_consumed_total",
        "riverwatch_tickets_applied_total",
        "riverwatch_incidents_opened_total",
    ):
        assert (value(after, name) or 0) > (value(before, name) or 0), name
    assert value(after, "riverwatch_alerts_dropped_total") == 0.0
    assert value(after, "riverwatch_incidents_profiled_total") == 0.0  # no profile is on
    assert value(after, "riverwatch_alert_spool_durable") == 1.0
    assert (value(after, "riverwatch_alert_spool_bytes") or 0) > 0
    assert value(after, "riverwatch_live_feed_subscribers") == 0.0
    assert value(after, "riverwatch_alerts_pending") is not None
    assert value(after, "riverwatch_evidence_in_flight") is not None
    assert (value(after, "process_resident_memory_bytes") or 0) > 0


def _nothing_secret(text: str, samples: Samples) -> None:
    assert "s3cret" not in text and "viewer" not in text and "rtsp" not in text
    label_values = {v for name, labels in samples for _, v in labels if "_task_" not in name}
    tasks = {v for name, labels in samples for _, v in labels if "_task_" in name}
    assert {"hub:detect", "alerts:publisher", "alerts:spool-writer"} <= tasks
    assert all(re.fullmatch(r"[a-z]+(:[a-z0-9_-]+)+", t) for t in tasks), tasks
    assert label_values <= {
        "boat", "gone", "jinsha", "city", "push",  # the Web Push target, always there
        *(state.value for state in CameraState), *(mode.value for mode in DecodeMode),
    }  # fmt: skip
