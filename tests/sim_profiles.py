"""One real RTSP simulator with a camera of every profile, for the probe and ingest tests.

Short loops (8 s; the smart codec's 13 s) of one scene, encoded once and kept in pytest's
cache directory, so only a fresh checkout pays for the H.265 encodes (about a minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.fleet import SimCamera, fleet_mounts
from simulator.profiles import PROFILES
from simulator.server import RtspSimulator

USER, PASSWORD = "probe-viewer", "Pr0be-s3cret-Pa55"
LOOP_S = 8
CAMERAS = [SimCamera(f"cam-{name}", name, "jinsha", "river_calm", name) for name in PROFILES]


def profile_simulator(config: pytest.Config, fallback: Path) -> RtspSimulator:
    """A simulator (not started) serving `CAMERAS`' main and sub streams, with basic auth.

    Encodes live in pytest's cache, or in `fallback` when the cache plugin is off.
    """
    store = getattr(config, "cache", None)
    cache = Path(store.mkdir("riverwatch-streams")) if store is not None else fallback
    mounts = fleet_mounts(CAMERAS, cache, duration_s=LOOP_S)
    return RtspSimulator(mounts, credentials=(USER, PASSWORD))


@pytest.fixture(scope="module")
def profile_sim(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtspSimulator]:
    """Every profile's camera on one real RTSP server, with basic auth (import it into a test
    module to use it there)."""
    with profile_simulator(pytestconfig, tmp_path_factory.mktemp("streams")) as sim:
        yield sim
