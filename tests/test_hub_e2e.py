"""End to end: simulated RTSP cameras -> ingest -> frame diff -> alert -> Redis stream -> API."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from alerts import ID_KEY_PREFIX, EmbeddedRedis
from api import create_app
from api.deps import get_hub
from api.security import Role
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import Alert
from simulator.server import RtspSimulator, free_port
from tests.api_fixtures import sign_in
from tests.conftest import eventually

CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - id: boat
    name: Boat crossing
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
  - id: calm
    name: Calm water
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/calm
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}
ADMIN_PASSWORD = "first admin's long passphrase"


async def test_boat_raises_an_alert_in_the_redis_stream_and_the_api(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    loaded = parse_config(CONFIG.format(port=rtsp.port), env=ENV)
    async with Hub(settings, loaded) as hub:  # no REDIS_URL: the embedded Redis starts
        app = create_app(lambda: contextlib.nullcontext(hub))
        app.dependency_overrides[get_hub] = lambda: hub
        headers = await sign_in(app, hub.engine, Role.OPERATOR)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hub", headers=headers
        ) as client:

            async def alerts_listed() -> bool:
                answer = await client.get("/api/alerts")
                return answer.status_code == 200 and len(answer.json()) > 0

            await eventually(alerts_listed, timeout_s=60, what="an alert in /api/alerts")
            alerts = (await client.get("/api/alerts")).json()
            cameras = (await client.get("/api/cameras")).json()
            one = await client.get("/api/cameras/boat")
            missing = await client.get("/api/cameras/nope")
            bad_limit = await client.get("/api/alerts", params={"limit": "many"})
            bad_mode = await client.put("/api/cameras/boat/decode-mode", json={"mode": "x"})
            switched = await client.put("/api/cameras/calm/decode-mode", json={"mode": "full"})
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
    assert {a["camera_id"] for a in alerts} == {"boat"}
    first = alerts[-1]
    assert first["zone_id"] == "ban" and first["rule"] == "vessel_in_zone"
    assert first["severity"] == "high" and len(first["alert_id"]) == 24
    assert {c["id"]: c["state"] for c in cameras} == {"boat": "streaming", "calm": "streaming"}
    assert cameras[0]["stream"] == f"rtsp://***@127.0.0.1:{rtsp.port}/boat"
    assert one.status_code == 200 and one.json()["health"]["codec"] == "h264"
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert bad_limit.status_code == 422 and bad_mode.status_code == 422
    assert switched.json()["health"]["decode_mode"] == "full"
    assert health.json() == {"status": "ok"} and ready.json()["ready"] is True
    for answer in (alerts, cameras):
        assert "s3cret-Pa55" not in repr(answer)


async def test_same_alert_published_twice_lands_once(redis_server: EmbeddedRedis) -> None:
    from redis.asyncio import Redis

    from alerts import AlertPublisher

    client = Redis.from_url(redis_server.url)
    alert = Alert("a" * 24, "cam", "zone", "zone_activity", "high", 1.0, 2.0, 3, 0.5, (1, 2, 3, 4))
    async with AlertPublisher(client, "test:alerts") as publisher:
        publisher.publish(alert)
        publisher.publish(alert)
        await eventually(lambda: publisher.published + publisher.duplicates == 2, what="both")
        recent = await publisher.recent(10)
    assert publisher.published == 1 and publisher.duplicates == 1
    assert [a for _, a in recent] == [alert]
    assert await client.exists(ID_KEY_PREFIX + alert.message_id) == 1
    await client.aclose()


async def test_alerts_wait_while_redis_is_down_and_arrive_once_it_is_back(
    tmp_path: Path,
) -> None:
    from redis.asyncio import Redis

    from alerts import AlertPublisher

    server = EmbeddedRedis(tmp_path / "r")
    server.start()
    client = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    alerts = [
        Alert(f"{i:024d}", "cam", "z", "zone_activity", "high", i, i, i, 0.5, (0, 0, 1, 1))
        for i in range(5)
    ]
    try:
        async with AlertPublisher(client, "test:alerts") as publisher:
            server.stop()
            for alert in alerts:
                publisher.publish(alert)
            await eventually(lambda: publisher.failures >= 1, what="a failed delivery")
            assert publisher.pending >= 4
            server.start()
            await eventually(lambda: publisher.published == 5, timeout_s=40, what="delivery")
            recent = await publisher.recent(10)
        assert [a for _, a in reversed(recent)] == alerts  # all, once, in order
    finally:
        await client.aclose()
        server.stop()


@pytest.mark.timeout(180)
def test_riverwatch_run_serves_cameras_over_http_without_leaking_credentials(
    rtsp: RtspSimulator, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(CONFIG.format(port=rtsp.port))
    port = free_port()
    env = {
        **os.environ,
        **ENV,
        "REDIS_URL": redis_server.url,
        "RIVERWATCH_DATA_DIR": str(tmp_path / "data"),
        "RIVERWATCH_LOG_LEVEL": "DEBUG",
        "RIVERWATCH_LEARN_S": "5",  # a shorter learning minute, so the alert comes quickly
        "RIVERWATCH_ADMIN_USER": "first-admin",
        "RIVERWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    log = (tmp_path / "hub.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "run",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cameras = _wait_for_streaming(port, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    output = (tmp_path / "hub.log").read_text()
    assert proc.returncode in (0, -15), output  # uvicorn re-raises SIGTERM after shutting down
    assert {c["id"] for c in cameras} == {"boat", "calm"}
    assert "s3cret-Pa55" not in output and "s3cret-Pa55" not in repr(cameras)
    assert ADMIN_PASSWORD not in output
    assert "hub: stopped" in output  # shutdown ran its phases
    stream = redis.Redis.from_url(redis_server.url).xlen("riverwatch:alerts")
    assert stream >= 1


def _wait_for_streaming(port: int, proc: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    deadline = time.monotonic() + 120
    base = f"http://127.0.0.1:{port}"
    headers: dict[str, str] = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the hub exited early"
        try:
            if not headers:  # the first admin, made from the environment at start
                login = {"username": "first-admin", "password": ADMIN_PASSWORD}
                token = httpx.post(f"{base}/api/auth/login", json=login, timeout=5).json()
                headers = {"Authorization": f"Bearer {token['token']}"}
            anonymous = httpx.get(f"{base}/api/cameras", timeout=5)
            assert anonymous.status_code == 401
            cameras: list[dict[str, object]] = httpx.get(
                f"{base}/api/cameras", headers=headers, timeout=5
            ).json()
            alerts = httpx.get(f"{base}/api/alerts", headers=headers, timeout=5).json()
            if all(c["state"] == "streaming" for c in cameras) and alerts:
                return cameras
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("cameras did not all stream with an alert within 120 s")
