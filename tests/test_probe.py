"""`riverwatch probe` on the real RTSP simulator: every camera profile measured as it is made.

One simulator serves every profile's main and sub streams (`tests.sim_profiles`: 8 s loops
of one scene, encoded once and kept in pytest's cache directory), and one concurrent probe
reads them all; the
tests then compare each report with the profile it came from. The probe stops after counting
two keyframe intervals per stream (its `seconds` is only a bound), so nothing here depends on
how much arrives within a wall-clock window.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from hub.cli import main
from ingest.probe import (
    ProbeReport,
    ProbeTarget,
    _backwards,
    _reordered,
    _Tally,
    _timestamps,
    probe_streams,
)
from ingest.session import SessionLimits
from riverwatch.secrets import Redactor
from simulator.fleet import fleet_config, write_fleet_config
from simulator.profiles import PROFILES
from simulator.server import RtspSimulator
from simulator.streams import StreamSpec
from tests.sim_profiles import CAMERAS, PASSWORD, USER, profile_sim

pytestmark = pytest.mark.timeout(600)  # the first run encodes ~1 min of H.265 on 2 cores

__all__ = ["profile_sim"]
LIMITS = SessionLimits(open_timeout_s=15, read_timeout_s=10, max_consecutive_decode_errors=1)


@pytest.fixture(scope="module")
def reports(profile_sim: RtspSimulator) -> dict[str, ProbeReport]:
    """One concurrent probe of every main and sub stream, by label (`<profile> main|sub`)."""
    targets = []
    for cam in CAMERAS:
        assert cam.sub_path is not None
        targets.append(ProbeTarget(f"{cam.profile} main", profile_sim.url(cam.mount_path, True)))
        targets.append(ProbeTarget(f"{cam.profile} sub", profile_sim.url(cam.sub_path, True)))
    found = probe_streams(targets, 60.0, LIMITS, Redactor([PASSWORD]), gops=2, workers=16)
    return {r.label: r for r in found}


def expected_streams() -> list[tuple[str, StreamSpec, bool]]:
    """(label, the stream first played there, constant timestamps) of every probed stream."""
    rows = []
    for name, profile in PROFILES.items():
        rows.append((f"{name} main", profile.main[0], profile.constant_timestamps))
        rows.append((f"{name} sub", profile.sub, profile.constant_timestamps))
    return rows


@pytest.mark.parametrize(("label", "spec", "constant"), expected_streams(), ids=lambda x: x)
def test_probe_measures_each_profile_as_made(
    reports: dict[str, ProbeReport], label: str, spec: StreamSpec, constant: bool
) -> None:
    report = reports[label]
    assert report.ok, report.error
    video, stamps = report.video, report.timestamps
    assert video is not None and stamps is not None
    codec = {"h264": "h264", "h265": "hevc"}[spec.codec]
    assert (video.codec, video.width, video.height) == (codec, spec.width, spec.height)
    assert video.bframes is (spec.bframes > 0)
    assert video.reorder_declared is (spec.bframes > 0)
    assert (report.audio is not None) is spec.audio
    if report.audio is not None:
        assert (report.audio.codec, report.audio.sample_rate) == ("aac", 16_000)
    assert len(video.gop_intervals_s) >= 2
    if spec.gop_s:
        assert all(abs(i - spec.gop_s) <= 0.25 for i in video.gop_intervals_s)
    else:  # the smart codec's 8 s loop: keyframes 4 s and 9 s apart, in turn
        assert all(min(abs(i - 4), abs(i - 9)) <= 0.25 for i in video.gop_intervals_s)
        assert max(video.gop_intervals_s) - min(video.gop_intervals_s) > 4
    assert stamps.constant is constant
    assert video.gop_by_frames is constant
    if not constant:
        assert stamps.problems == ()
        assert video.fps is not None and abs(video.fps - spec.fps) < 0.5
        # A bound, not a wall-clock window: the bitrate is bytes per frame x frame rate.
        assert video.kbps is not None and 0.5 * spec.kbps < video.kbps < 1.5 * spec.kbps


def test_codec_switch_camera_comes_back_as_h265_after_a_reconnect(
    reports: dict[str, ProbeReport], profile_sim: RtspSimulator
) -> None:
    first = reports["codec-switch main"].video
    assert first is not None and first.codec == "h264"
    url = profile_sim.url("/cam-codec-switch/main", True)
    # FFmpeg sends TEARDOWN without waiting for the answer, so a reconnect can, rarely, still
    # join the old session: the codec must change within a few reconnects, not on the first.
    codecs = []
    for _ in range(4):
        (again,) = probe_streams([ProbeTarget("again", url)], 5.0, LIMITS, Redactor(), gops=1)
        assert again.video is not None
        codecs.append(again.video.codec)
        if again.video.codec == "hevc":
            break
    assert codecs[-1] == "hevc", codecs


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_cli_probe_reports_every_stream_and_fails_only_for_the_dead_one(
    profile_sim: RtspSimulator, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"rtsp://admin:Dead-s3cret@127.0.0.1:{closed_port}/ch1"
    wrong_path = profile_sim.url("/no-such-camera", True)
    good = profile_sim.url("/cam-hd/sub", True)
    code = main(["probe", dead, wrong_path, good, "--seconds", "10", "--gops", "1"])
    out = capsys.readouterr().out
    assert code == 1
    blocks = out.split("\nrtsp://")
    assert "FAILED     cannot open stream: Connection refused" in blocks[1]
    assert "FAILED     the camera has no stream at this path" in blocks[2]
    assert "video      h264 640x360" in blocks[3]
    assert "1 of 3 stream(s) answered" in out
    for secret in ("Dead-s3cret", "admin", PASSWORD, USER):
        assert secret not in out


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_silent_server_times_out_on_its_own(profile_sim: RtspSimulator, silent_port: int) -> None:
    limits = SessionLimits(open_timeout_s=2, read_timeout_s=2, max_consecutive_decode_errors=1)
    targets = [
        ProbeTarget("silent", f"rtsp://127.0.0.1:{silent_port}/cam"),
        ProbeTarget("good", profile_sim.url("/cam-hd/sub", True)),
    ]
    silent, good = probe_streams(targets, 10.0, limits, Redactor([PASSWORD]), gops=1)
    assert silent.error is not None and silent.error.startswith("no answer within")
    assert good.ok and good.video is not None and good.video.codec == "h264"


def test_cli_wrong_password_is_named_without_echoing_it(
    profile_sim: RtspSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = profile_sim.url("/cam-hd/sub").replace("rtsp://", f"rtsp://{USER}:Wrong-pw-123@")
    assert main(["probe", url, "--seconds", "5"]) == 1
    out = capsys.readouterr().out
    assert "the camera refused the credentials" in out
    assert "Wrong-pw-123" not in out and USER not in out


def test_check_config_probe_reads_url_and_sub_url_without_printing_secrets(
    profile_sim: RtspSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "cams.yaml"
    cams = [c for c in CAMERAS if c.profile in ("hd", "restreamer", "gop4")]
    write_fleet_config(config, fleet_config(cams, profile_sim.port, with_auth=True))
    monkeypatch.setenv("RIVERWATCH_SIM_USER", USER)
    monkeypatch.setenv("RIVERWATCH_SIM_PASSWORD", PASSWORD)
    code = main(["check-config", str(config), "--probe", "--seconds", "10", "--gops", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for label in ("cam-hd url", "cam-hd sub_url", "cam-restreamer url", "cam-restreamer sub_url"):
        assert f"{label}: rtsp://***@127.0.0.1:{profile_sim.port}/" in out
    assert "bad timestamps: cam-restreamer url, cam-restreamer sub_url" in out
    # The 4 s GOP camera is too slow for its zone's 5 s (two keyframes take 8 s); the hd one is not.
    warnings = [line for line in out.splitlines() if line.startswith("WARNING camera ")]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING camera cam-gop4: GOP 4."), out
    assert "wants detection within 5 s" in warnings[0]
    assert PASSWORD not in out and USER not in out


# ---- the pure checks: packet sequences in, counts out --------------------------------------

TB = Fraction(1, 90_000)
F = 6000  # one frame at 15 fps in 90 kHz ticks


@pytest.mark.parametrize(
    ("pts", "reordered", "backwards"),
    [
        pytest.param([0, F, 2 * F, 3 * F], 0, 0, id="in order"),
        pytest.param([0, 3 * F, F, 2 * F, 6 * F, 4 * F, 5 * F], 4, 0, id="B-frames"),
        pytest.param([None, 0, F, None, 2 * F], 0, 0, id="missing"),
        pytest.param([0, 0, 0, 0], 0, 0, id="constant"),
        pytest.param([900_000, 906_000, 0, F, 2 * F], 0, 1, id="clock restarts"),
    ],
)
def test_reordering_and_backwards_jumps(
    pts: list[int | None], reordered: int, backwards: int
) -> None:
    assert _reordered(pts, TB) == reordered
    assert _backwards(pts, TB) == backwards


def tally_of(pts: list[int | None], fps: float = 15.0) -> _Tally:
    tally = _Tally()
    for i, p in enumerate(pts):
        tally.video(p, i % 30 == 0, 1000, 100.0 + i / fps)
    return tally


@pytest.mark.parametrize(
    ("pts", "problem"),
    [
        pytest.param([i * F for i in range(90)], None, id="a camera's clock"),
        pytest.param([None] + [0] * 89, "constant", id="a restreamer's constant clock"),
        pytest.param([i * F // 10 for i in range(90)], "media clock runs at 0.10x", id="slow"),
        pytest.param([None if i % 2 else i * F for i in range(90)], "missing", id="gaps"),
    ],
)
def test_timestamp_verdicts(pts: list[int | None], problem: str | None) -> None:
    check = _timestamps(TB, tally_of(pts))
    if problem is None:
        assert check.problems == ()
        assert check.clock_ratio is not None and abs(check.clock_ratio - 1.0) < 0.05
    else:
        assert any(problem in p for p in check.problems), check.problems
