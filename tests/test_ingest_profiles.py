"""The hub's ingest on the city's kinds of main stream (H.265 with B-frames and AAC, 1080p,
a smart codec's long GOPs, a restreamer's constant RTP timestamps), from the real simulator.

The hub still analyses a camera's `url` (its main stream) until stream roles arrive; these
tests hold what already works there. Counted by state: each camera streams with the right
codec and analyses keyframes; its ring keeps the video packets (no audio) for evidence.
"""

from __future__ import annotations

import pytest

from ingest import CameraSpec, IngestSupervisor
from riverwatch.secrets import Redactor, redact_url
from riverwatch.settings import Settings
from riverwatch.types import CameraState, DecodeMode
from simulator.server import RtspSimulator
from tests.conftest import eventually
from tests.sim_profiles import PASSWORD, profile_sim

__all__ = ["profile_sim"]
pytestmark = pytest.mark.timeout(600)  # a fresh checkout encodes the profiles first

MAINS = {"hd": "hevc", "fullhd": "hevc", "smart": "hevc", "restreamer": "h264"}


@pytest.fixture(scope="module")
def sim(profile_sim: RtspSimulator) -> RtspSimulator:
    return profile_sim


def spec(camera_id: str, url: str) -> CameraSpec:
    return CameraSpec(camera_id, lambda: url, redact_url(url), DecodeMode.KEYFRAMES, 5.0)


async def test_ingest_streams_every_kind_of_main_stream(
    sim: RtspSimulator, settings: Settings
) -> None:
    specs = [spec(name, sim.url(f"/cam-{name}/main", True)) for name in MAINS]
    async with IngestSupervisor(specs, settings, Redactor([PASSWORD])) as ingest:
        for name, codec in MAINS.items():
            await eventually(
                lambda n=name: (  # type: ignore[misc]
                    ingest.camera_health(n).state is CameraState.STREAMING
                    and ingest.camera_health(n).analysed_frames >= 2
                ),
                timeout_s=60,
                what=f"{name} to analyse two keyframes",
            )
            health = ingest.camera_health(name)
            assert health.codec == codec
            ring = ingest.ring(name)
            assert ring.stream is not None and ring.stream.codec == codec
            assert len(ring) > 0
