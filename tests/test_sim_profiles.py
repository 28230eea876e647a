"""The simulator's fleets: which profile and scene each camera gets, its mounts, its config."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hub.cli import main
from simulator.fleet import fleet_config, plan_fleet
from simulator.profiles import CITY_BLOCK, PINNED_SCENES, PROFILES, camera_profiles
from simulator.scenes import SCENES
from simulator.server import Mount, MountSource
from simulator.streams import SMART_KEYFRAMES_S, StreamSpec, keyframe_times_s, loop_seconds


def test_classic_fleet_keeps_its_single_mount_urls() -> None:
    cameras = plan_fleet(3)
    assert [c.mount_path for c in cameras] == ["/sim-001", "/sim-002", "/sim-003"]
    assert all(c.sub_path is None for c in cameras)
    entries = fleet_config(cameras, 8554, with_auth=False)["cameras"]
    assert [e["url"] for e in entries] == [  # type: ignore[union-attr, index]
        "rtsp://127.0.0.1:8554/sim-001",
        "rtsp://127.0.0.1:8554/sim-002",
        "rtsp://127.0.0.1:8554/sim-003",
    ]
    assert all("sub_url" not in e for e in entries)  # type: ignore[union-attr]


def test_city_mix_is_mostly_proper_cameras_with_main_and_sub() -> None:
    cameras = plan_fleet(250, profile="city-mix")
    counts = Counter(c.profile for c in cameras)
    assert counts["hd"] / 250 == pytest.approx(0.72)
    assert set(counts) == set(PROFILES)
    assert cameras[0].mount_path == "/sim-001/main" and cameras[0].sub_path == "/sim-001/sub"
    for cam in cameras:
        if cam.profile in PINNED_SCENES:
            assert cam.scene == PINNED_SCENES[cam.profile]
    # As many encodes for 250 cameras as for 25: proper cameras play each scene, the odd
    # kinds their pinned one.
    pairs = {(c.scene, c.profile) for c in cameras}
    assert pairs == {(c.scene, c.profile) for c in plan_fleet(25, profile="city-mix")}
    assert len(pairs) <= len(SCENES) + len(PINNED_SCENES)
    entry = fleet_config(cameras[:1], 8554, with_auth=True)["cameras"][0]  # type: ignore[index]
    assert (
        entry["url"]
        == "rtsp://${RIVERWATCH_SIM_USER}:${RIVERWATCH_SIM_PASSWORD}@127.0.0.1:8554/sim-001/main"
    )
    assert entry["sub_url"].endswith("/sim-001/sub")


def test_a_single_profile_for_every_camera_and_unknown_names_refused() -> None:
    assert camera_profiles("gop8", 3) == ["gop8"] * 3
    assert camera_profiles("city-mix", 26)[25] == CITY_BLOCK[0]
    with pytest.raises(KeyError, match="unknown profile"):
        camera_profiles("4k", 1)


@pytest.mark.parametrize(
    ("gop_s", "scene_s", "loop_s", "keyframes"),
    [
        pytest.param(2, 30, 30, list(range(0, 30, 2)), id="2 s"),
        pytest.param(8, 30, 32, [0, 8, 16, 24], id="8 s: whole GOPs"),
        pytest.param(None, 12, 13, [0, 4], id="smart: 4 then 9"),
    ],
)
def test_loops_hold_whole_gops(
    gop_s: int | None, scene_s: int, loop_s: int, keyframes: list[int]
) -> None:
    spec = StreamSpec("h265", 1280, 720, 2500, gop_s)
    seconds = loop_seconds(spec, "river_calm", scene_s)
    assert seconds == loop_s
    assert keyframe_times_s(spec, seconds) == keyframes
    if gop_s is None:
        assert min(SMART_KEYFRAMES_S) >= 4 and max(SMART_KEYFRAMES_S) <= 10


def test_mount_spec_keeps_the_plain_format_for_plain_mounts() -> None:
    plain = Mount("/sim-001", Path("/x.ts"))
    assert plain.spec() == {"path": "/sim-001", "file": "/x.ts"}
    switching = Mount("/a/main", Path("/a.ts"), then=(MountSource(Path("/b.ts"), "h265", True),))
    assert switching.spec() == {
        "path": "/a/main",
        "sources": [
            {"file": "/a.ts", "video": "h264", "audio": False},
            {"file": "/b.ts", "video": "h265", "audio": True},
        ],
        "constant_timestamps": False,
    }


def test_simulate_refuses_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--profile", "4k", "--cameras", "1"]) == 2
    assert "unknown profile '4k'; profiles: classic, city-mix, hd" in capsys.readouterr().err
