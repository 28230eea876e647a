"""A hub started while its Redis is down still starts, watches its cameras, spools its alerts,
and delivers them into the ticket store once Redis answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.conftest import eventually
from tests.queue_fixtures import RedisProcess, make_alert

CONFIG = """
cameras:
  - id: calm
    name: Calm water
    group: jinsha
    url: rtsp://viewer:s3cret-Pa55@127.0.0.1:{port}/calm
"""


async def test_a_hub_starts_without_redis_and_delivers_once_it_is_back(
    rtsp: RtspSimulator, settings: Settings, tmp_path: Path
) -> None:
    redis = RedisProcess(tmp_path / "redis")  # not started yet
    settings = settings.model_copy(update={"redis_url": SecretStr(redis.url)})
    loaded = parse_config(CONFIG.format(port=rtsp.port))
    try:
        async with Hub(settings, loaded) as hub:
            assert await hub.ready() == {"redis": False}
            alert = make_alert(1)
            hub.desk.send(alert)
            await eventually(lambda: hub.desk.publisher.spooled == 1, what="the alert spooled")
            await eventually(
                lambda: hub.camera("calm").health.state == "streaming", what="the camera"
            )
            await asyncio.to_thread(redis.start)

            async def ticketed() -> bool:
                return await hub.tickets().get_by_alert(alert.alert_id) is not None

            await eventually(ticketed, timeout_s=60, what="the spooled alert as a ticket")
            assert await hub.ready() == {"redis": True}
            assert hub.desk.publisher.published == 1
    finally:
        redis.close()
