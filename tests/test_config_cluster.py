"""A configuration change reaches every hub of a cluster: two real `riverwatch run` processes on
one Redis and one PostgreSQL; a camera added on one hub's API streams on exactly one hub and
both hubs run the new version; a camera deleted on the other hub stops wherever it ran."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests.conftest import wait_for
from tests.db_fixtures import PostgresCluster
from tests.queue_fixtures import (  # noqa: F401  (the *_fixture names register fixtures)
    RedisProcess,
    redis_proc_fixture,
)
from tests.test_cluster_hubs import HubProcess, cluster_env

CAMERAS = ["cam-a", "cam-b", "cam-c"]


@pytest.fixture
def fleet(scenes: dict[str, SceneFiles]) -> Any:
    mounts = [Mount(f"/{cam}", scenes["river_calm"].video) for cam in [*CAMERAS, "added"]]
    with RtspSimulator(mounts) as sim:
        yield sim


def _api(hub: HubProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    hub.cameras()  # signs in
    return httpx.request(
        method,
        f"http://127.0.0.1:{hub.port}{path}",
        headers={"Authorization": f"Bearer {hub.token()}"},
        timeout=30,
        **kwargs,
    )


def test_a_camera_added_on_one_hub_runs_on_exactly_one_and_both_run_the_new_version(
    fleet: RtspSimulator,
    redis_proc: RedisProcess,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
) -> None:
    database = asyncio.run(postgres_cluster.create_database())
    config = tmp_path / "hub.yaml"
    rows = "\n".join(
        f"  - {{id: {c}, name: {c}, group: river, url: 'rtsp://127.0.0.1:{fleet.port}/{c}'}}"
        for c in CAMERAS
    )
    config.write_text(f"cameras:\n{rows}\n")
    env = cluster_env(redis_proc.url, postgres_cluster.url(database))
    hubs = [HubProcess(h, config, env, tmp_path) for h in ("hub-a", "hub-b")]
    try:
        wait_for(lambda: _streams_once(hubs, CAMERAS), "each camera on one hub", 180)
        a, b = hubs
        version = _api(a, "GET", "/api/config").json()["version"]
        assert _api(b, "GET", "/api/config").json()["version"] == version  # one import

        camera = {"id": "added", "name": "Added", "group": "river",
                  "url": f"rtsp://127.0.0.1:{fleet.port}/added"}  # fmt: skip
        answer = _api(a, "POST", "/api/config/cameras", json={"camera": camera})
        assert answer.status_code == 201, answer.text
        new = answer.json()["version"]
        wait_for(
            lambda: _api(b, "GET", "/api/config").json()["version"] == new, "hub-b to follow", 60
        )
        wait_for(lambda: _streams_once(hubs, [*CAMERAS, "added"]), "the new camera", 120)

        stamp = next(
            c["version"]
            for c in _api(b, "GET", "/api/config").json()["cameras"]
            if c["camera"]["id"] == "cam-a"
        )
        gone = _api(b, "DELETE", "/api/config/cameras/cam-a", params={"expected_version": stamp})
        assert gone.status_code == 200, gone.text

        def stopped() -> bool:
            found = _placed(hubs)
            return found is not None and "cam-a" not in found

        wait_for(stopped, "cam-a to stop on every hub", 60)
        assert _streams_once(hubs, ["cam-b", "cam-c", "added"])
    finally:
        for hub in hubs:
            hub.stop()


def _placed(hubs: list[HubProcess]) -> dict[str, list[str]] | None:
    """camera -> the hubs it streams on; None while a hub does not answer."""
    placed: dict[str, list[str]] = {}
    for hub in hubs:
        running = hub.running()
        if running is None:
            return None
        for camera in running:
            placed.setdefault(camera, []).append(hub.hub_id)
    return placed


def _streams_once(hubs: list[HubProcess], cameras: list[str]) -> bool:
    found = _placed(hubs)
    return found is not None and all(len(found.get(c, [])) == 1 for c in cameras)
