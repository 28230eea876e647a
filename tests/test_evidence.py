"""Evidence on synthetic H.264: snapshots, clip selection and remux, the store, the recorder."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from alerts.errors import AlertsError
from alerts.evidence import (
    DiskFull,
    EvidencePolicy,
    EvidenceRecorder,
    EvidenceStore,
    MediaError,
    NotWritable,
    NoVideo,
    render_snapshot,
    select_clip,
    write_clip,
)
from alerts.evidence.clip import contiguous_runs, pts_trusted
from riverwatch.annexb import PPS, SPS, continues_picture, nal_type, nal_units, to_annexb
from riverwatch.ring import PacketRing, RingPacket, keyframe_run
from riverwatch.types import Alert, AlertPhase
from tests.evidence_fixtures import (
    FPS,
    STEP,
    TIME_BASE,
    avcc_source,
    encode,
    filled_ring,
    gop_level,
    mp4_samples,
    probe,
    ring_packets,
    slice_units,
    stream_info,
)

T0 = 1_700_000_000.0  # arrival time of the first synthetic packet
ANALYSIS_WH = (160, 96)


@pytest.fixture(scope="module")
def encoded() -> list[tuple[bytes, int, bool]]:
    """Four one-second GOPs at 480x272."""
    return encode(4 * FPS)


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image.astype(np.uint8, copy=False)


def is_red(pixel_bgr: npt.NDArray[np.uint8]) -> bool:
    b, g, r = (int(v) for v in pixel_bgr)
    return r > 180 and g < 90 and b < 90


def make_alert(at: float, box: tuple[int, int, int, int] = (40, 30, 100, 70)) -> Alert:
    return Alert(
        alert_id="0123456789abcdef01234567",
        camera_id="cam1",
        zone_id="ban",
        rule="vessel_in_zone",
        severity="high",
        started_at=at,
        observed_at=at,
        frame_seq=1,
        score=0.9,
        box_xyxy=box,
    )


# --- snapshots ----------------------------------------------------------------------------


def test_snapshot_is_full_resolution_with_the_box_scaled_and_drawn(
    encoded: list[tuple[bytes, int, bool]],
) -> None:
    packets = ring_packets(encoded, T0)
    box = (40, 30, 100, 70)  # analysis pixels at 160x96; the camera is 480x272
    shot = render_snapshot(packets, stream_info(), T0 + 1.5, [box], ANALYSIS_WH, quality=95)
    image = decode_jpeg(shot.jpeg)
    assert image.shape == (272, 480, 3) and (shot.width, shot.height) == (480, 272)
    sx, sy = 480 / 160, 272 / 96
    x0, y0, x1, y1 = round(40 * sx), round(30 * sy), round(100 * sx), round(70 * sy)
    mid_x, mid_y = (x0 + x1) // 2, (y0 + y1) // 2
    for x, y in [(mid_x, y0), (mid_x, y1), (x0, mid_y), (x1, mid_y)]:
        assert is_red(image[y, x]), (x, y, image[y, x])
    assert not is_red(image[mid_y, mid_x])  # the inside is the picture, not paint
    assert not is_red(image[y0 - 12, mid_x])  # nor is the outside


@pytest.mark.parametrize(
    ("at_s", "gop"),
    [
        (0.0, 0),  # exactly at the first keyframe
        (1.5, 1),  # inside the second GOP: its keyframe, not the nearer-after third
        (2.99, 2),
        (30.0, 3),  # after everything: the last keyframe
        (-5.0, 0),  # before everything: the first keyframe there is
    ],
)
def test_snapshot_decodes_the_keyframe_at_or_before(
    encoded: list[tuple[bytes, int, bool]], at_s: float, gop: int
) -> None:
    packets = ring_packets(encoded, T0)
    shot = render_snapshot(packets, stream_info(), T0 + at_s, [], ANALYSIS_WH)
    image = decode_jpeg(shot.jpeg)
    assert abs(float(np.median(image[100:, :, 1])) - gop_level(gop)) <= 4
    assert shot.taken_at == pytest.approx(T0 + gop)


def test_snapshot_without_keyframe_or_with_garbage_raises(
    encoded: list[tuple[bytes, int, bool]],
) -> None:
    packets = ring_packets(encoded, T0)
    deltas = [p for p in packets if not p.is_keyframe]
    with pytest.raises(NoVideo):
        render_snapshot(deltas, stream_info(), T0 + 1, [], ANALYSIS_WH)
    garbage = [dataclasses.replace(packets[0], data=b"\x00\x00\x00\x01\x65" + b"\xff" * 500)]
    with pytest.raises(MediaError):
        render_snapshot(garbage, stream_info(), T0, [], ANALYSIS_WH)
    with pytest.raises(NoVideo):
        render_snapshot([], stream_info(), T0, [], ANALYSIS_WH)


def test_snapshot_joins_a_keyframe_sent_as_several_slice_packets() -> None:
    encoded = encode(FPS, slices=4)
    packets = split_slices(ring_packets(encoded, T0))
    assert sum(p.pts == 0 for p in packets) > 1  # the keyframe really is several packets
    shot = render_snapshot(packets, stream_info(), T0, [], ANALYSIS_WH)
    image = decode_jpeg(shot.jpeg)
    # Every band of rows is picture, which needs every slice: a lone slice leaves grey-green.
    assert abs(float(np.median(image[-20:, :, 1])) - gop_level(0)) <= 4
    assert abs(float(np.median(image[120:140, :, 1])) - gop_level(0)) <= 4


def split_slices(packets: list[RingPacket]) -> list[RingPacket]:
    """Each slice of a keyframe in its own packet, as some cameras send them."""
    out: list[RingPacket] = []
    for packet in packets:
        if not packet.is_keyframe:
            out.append(packet)
            continue
        units = list(nal_units(packet.data))
        head = [u for u in units if (u[0] & 0x1F) not in (1, 5)]
        slices = [u for u in units if (u[0] & 0x1F) in (1, 5)]
        for n, unit in enumerate(slices):
            data = join(head + [unit]) if n == 0 else join([unit])
            out.append(dataclasses.replace(packet, data=data, is_keyframe=n == 0))
    return out


def join(units: list[bytes]) -> bytes:
    return to_annexb(units)


# --- clip selection -----------------------------------------------------------------------


def two_sessions(encoded: list[tuple[bytes, int, bool]]) -> list[RingPacket]:
    """Session A for 2 s, a 0.5 s reconnect, then session B whose pts restart and whose
    first keyframe has no timestamps (as FFmpeg's RTSP demuxer delivers it)."""
    first = ring_packets(encoded[: 2 * FPS], T0, pts0=5_000_000)
    second = ring_packets(encoded, T0 + 2.5)
    second[0] = dataclasses.replace(second[0], pts=None, dts=None)
    return first + second


def test_runs_split_where_the_timeline_restarts(encoded: list[tuple[bytes, int, bool]]) -> None:
    runs = contiguous_runs(two_sessions(encoded))
    assert [len(r) for r in runs] == [2 * FPS, 4 * FPS]
    assert runs[1][0].pts is None and runs[1][0].is_keyframe  # untimed key joins what follows


@pytest.mark.parametrize(
    ("name", "start", "end", "anchor", "first_at", "count"),
    [
        # B's packets arrive at 2.5 + n/15 s, keyframes at n = 0, 15, 30, 45
        ("alert in session B", 3.6, 5.0, 4.0, 3.5, 38 - 15),
        ("pre-roll reaching into A stays in B", 0.5, 3.9, 3.0, 2.5, 22),
        ("alert in session A", 0.5, 6.0, 1.0, 0.0, 2 * FPS),
        ("window before B's first keyframe", 0.0, 2.4, 2.6, None, 0),
    ],
)
def test_clip_is_one_run_from_a_keyframe(
    encoded: list[tuple[bytes, int, bool]],
    name: str,
    start: float,
    end: float,
    anchor: float,
    first_at: float | None,
    count: int,
) -> None:
    packets = two_sessions(encoded)
    if first_at is None:
        with pytest.raises(NoVideo):
            select_clip(packets, T0 + start, T0 + end, T0 + anchor)
        return
    chosen = select_clip(packets, T0 + start, T0 + end, T0 + anchor)
    assert chosen[0].is_keyframe, name
    assert chosen[0].received_at == pytest.approx(T0 + first_at), name
    assert len(chosen) == count, name


def test_select_clip_without_any_keyframe_raises(encoded: list[tuple[bytes, int, bool]]) -> None:
    deltas = [p for p in ring_packets(encoded, T0) if not p.is_keyframe]
    with pytest.raises(NoVideo):
        select_clip(deltas, T0, T0 + 10, T0 + 1)
    with pytest.raises(NoVideo):
        select_clip([], T0, T0 + 10, T0 + 1)


# --- remux --------------------------------------------------------------------------------


def test_clip_remux_is_playable_and_bit_exact(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    packets = ring_packets(encoded, T0)
    path = tmp_path / "clip.mp4"
    info = write_clip(packets, stream_info(), path)
    decoded, duration, width, height, codec = probe(path)
    assert (decoded, width, height, codec) == (len(packets), 480, 272, "h264")
    assert duration == pytest.approx(len(packets) / FPS, abs=0.01)
    assert info.frames == len(packets) and info.keyframes == 4
    assert info.duration_s == pytest.approx(len(packets) / FPS, abs=0.01)
    # Not re-encoded: every sample carries exactly the camera's slices, in order.
    assert mp4_samples(path) == [to_annexb(slice_units(p.data)) for p in packets]
    head = path.read_bytes()[:4096]
    assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # faststart
    assert not list(tmp_path.glob(".*.part"))


def test_clip_with_split_slices_missing_pts_and_dts(tmp_path: Path) -> None:
    encoded = encode(2 * FPS, slices=4)
    packets = split_slices(ring_packets(encoded, T0))
    packets = [dataclasses.replace(p, dts=None) for p in packets]  # RTSP often gives no dts
    # The session's first keyframe comes untimed (FFmpeg's RTSP demuxer), all its slices.
    packets = [dataclasses.replace(p, pts=None) if p.pts == 0 else p for p in packets]
    middle = next(i for i, p in enumerate(packets) if p.pts == 7 * STEP)
    packets[middle] = dataclasses.replace(packets[middle], pts=None)
    path = tmp_path / "clip.mp4"
    info = write_clip(packets, stream_info(), path)
    decoded, duration, *_ = probe(path)
    assert decoded == info.frames == 2 * FPS  # slices of one picture became one sample
    assert duration == pytest.approx(2.0, abs=0.01)


def test_clip_takes_parameter_sets_from_the_stream_when_not_in_band(tmp_path: Path) -> None:
    encoded = encode(FPS)
    units = list(nal_units(encoded[0][0]))
    setup = join([u for u in units if nal_type(u) in (SPS, PPS)])
    stripped = join([u for u in units if nal_type(u) not in (SPS, PPS)])
    packets = ring_packets([(stripped, 0, True), *encoded[1:]], T0)
    path = tmp_path / "clip.mp4"
    write_clip(packets, stream_info(extradata=setup), path)
    assert probe(path)[0] == FPS
    with pytest.raises(MediaError):
        write_clip(packets, stream_info(), tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists()


def test_clip_from_a_length_prefixed_source(tmp_path: Path) -> None:
    packets, info = avcc_source(2 * FPS)
    path = tmp_path / "clip.mp4"
    write_clip(packets, info, path)
    decoded, duration, width, _, _ = probe(path)
    assert (decoded, width) == (2 * FPS, 480)
    assert duration == pytest.approx(2.0, abs=0.01)


# --- cameras whose pts lie: pictures and timing ---------------------------------------------


def numbered(
    encoded: list[tuple[bytes, int, bool]],
    pts: list[int | None],
    arrivals: list[float] | None = None,
) -> list[RingPacket]:
    """Ring packets as ingest writes them: numbered pictures, arrival (monotonic) one frame
    apart unless given, the camera's `pts` and no dts (as RTSP delivers them)."""
    arrivals = arrivals or [n / FPS for n in range(len(encoded))]
    return [
        RingPacket(data, ts, None, TIME_BASE, key, T0 + at, 0, n, 500.0 + at)
        for n, ((data, _, key), ts, at) in enumerate(zip(encoded, pts, arrivals, strict=True))
    ]


def pictures(*stamps: int | None) -> list[list[RingPacket]]:
    """One-packet pictures with these pts, for the timing rule alone."""
    return [[RingPacket(b"", ts, None, TIME_BASE, False, 0.0, 0, n)] for n, ts in enumerate(stamps)]


@pytest.mark.parametrize(
    ("stamps", "trusted"),
    [
        pytest.param((0, 1, 2, 3), True, id="increasing"),
        pytest.param((None, 1, 2, None, 4), True, id="a few untimed pictures"),
        pytest.param((0, 3, 1, 2, 6, 4, 5), True, id="B-frames: back now and then"),
        pytest.param((0, 8, 4, 2, 1, 3, 6, 5, 7), True, id="B-pyramid: back as often as on"),
        pytest.param((90, 91, 92, 0, 1, 2, 3), True, id="one restart"),
        pytest.param((7, 7, 7, 7), False, id="constant"),
        pytest.param((0, 1, 1, 2), False, id="two pictures at one instant"),
        pytest.param((9, 8, 7, 6), False, id="backwards"),
        pytest.param((None, None, None), False, id="missing"),
        pytest.param((None, 5, None), False, id="a single timed picture"),
    ],
)
def test_pts_trusted_rule(stamps: tuple[int | None, ...], trusted: bool) -> None:
    assert pts_trusted(pictures(*stamps)) is trusted


LIES: dict[str, Callable[[int], int | None]] = {
    "constant": lambda n: 1234,
    "missing": lambda n: None,
    "backwards": lambda n: 10**7 - n * STEP,
}


@pytest.mark.parametrize("kind", LIES)
def test_clip_with_lying_pts_is_one_sample_per_picture_timed_by_arrival(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]], kind: str
) -> None:
    # Arrival jitters around the frame period; two pictures arrive at the same instant.
    arrivals = [n / FPS + (0.01 if n % 3 else 0.0) for n in range(len(encoded))]
    arrivals[20] = arrivals[19]
    packets = numbered(encoded, [LIES[kind](n) for n in range(len(encoded))], arrivals)
    assert len(contiguous_runs(packets)) == 1  # no restart read into a lying clock
    chosen = select_clip(packets, T0, T0 + 10, T0 + 1)
    assert len(chosen) == len(packets)
    path = tmp_path / "clip.mp4"
    info = write_clip(chosen, stream_info(), path)
    times = frame_times(path)
    assert len(times) == info.frames == len(packets)  # not one sample: one per picture
    ticks = [round(t * 90000) for t in times]
    expected = [round((a - arrivals[0]) * 90000) for a in arrivals]
    expected[20] = expected[19] + 1  # one tick apart: the muxer wants distinct times
    assert ticks == expected
    assert probe(path)[1] == pytest.approx(arrivals[-1] - arrivals[0] + 1 / FPS, abs=0.01)
    # The bytes are the camera's, in the order they came.
    assert mp4_samples(path) == [to_annexb(slice_units(p.data)) for p in packets]


def test_clip_with_good_pts_keeps_the_cameras_timing_not_arrival(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    arrivals = [n / FPS + (0.03 if n % 2 else 0.0) for n in range(len(encoded))]
    packets = numbered(encoded, [pts for _, pts, _ in encoded], arrivals)
    path = tmp_path / "clip.mp4"
    write_clip(packets, stream_info(), path)
    assert [round(t * 90000) for t in frame_times(path)] == [n * STEP for n in range(len(packets))]


def test_clip_with_b_frames_shows_pictures_in_order(tmp_path: Path) -> None:
    encoded = encode(2 * FPS, bframes=2)
    pts = [ts for _, ts, _ in encoded]
    assert pts != sorted(pts)  # really reordered: decode order is not display order
    path = tmp_path / "clip.mp4"
    info = write_clip(numbered(encoded, list(pts)), stream_info(), path)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == info.frames == 2 * FPS
    times = [float(f.pts * f.time_base) for f in frames]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert steps == pytest.approx([1 / FPS] * (2 * FPS - 1), abs=1e-3)  # display order, evenly
    # Each decoded frame is the picture shown at its time: the square moves 4 px a frame.
    squares = [int(np.argmax(f.to_ndarray(format="gray")[16] > 200)) for f in frames]
    assert squares == [(i * 4) % (480 - 16) for i in range(2 * FPS)]


def test_hevc_slices_after_the_first_continue_their_picture() -> None:
    """x265 with four slices a picture: each picture's first slice (after its VPS, SPS, PPS
    and SEI on a keyframe) starts a picture, the three after it continue it."""
    codec: Any = av.CodecContext.create("libx265", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base, codec.framerate = Fraction(1, FPS), Fraction(FPS)
    codec.options = {"preset": "ultrafast", "x265-params": "slices=4:log-level=error"}
    rng = np.random.default_rng(5)
    packets: list[bytes] = []
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), np.uint8), "rgb24")
        frame.pts = i
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    slices: list[bytes] = []  # one packet a slice; a keyframe's first carries its sets
    for packet in packets:
        units = list(nal_units(packet))
        first = next(i for i, u in enumerate(units) if (u[0] >> 1) & 0x3F < 32)
        slices += [b"".join(b"\x00\x00\x00\x01" + u for u in units[: first + 1])]
        slices += [b"\x00\x00\x00\x01" + u for u in units[first + 1 :]]
    assert len(slices) == 4 * len(packets) == 12
    assert [continues_picture(s, hevc=True) for s in slices] == [False, True, True, True] * 3
    aud = b"\x00\x00\x00\x01\x46\x01\x50"  # an access unit delimiter starts a picture
    assert not continues_picture(aud + slices[1], hevc=True)


def test_constant_pts_slices_of_a_keyframe_stay_one_picture(tmp_path: Path) -> None:
    """A keyframe in several slice packets and constant pts: ingest numbered the pictures."""
    split = split_slices(ring_packets(encode(FPS, slices=4), T0))
    numbers = list(itertools.accumulate(not continues_picture(p.data) for p in split))
    packets = [
        dataclasses.replace(p, pts=0, dts=0, picture=n - 1, arrived_mono=float(n))
        for p, n in zip(split, numbers, strict=True)
    ]
    slices = sum(p.pts == 0 for p in split)
    assert slices > 1 and [p.picture for p in packets[: slices + 1]] == [0] * slices + [1]
    index, run = keyframe_run(packets)
    assert (index, len(run)) == (0, slices)  # the keyframe alone, not all sharing its pts
    path = tmp_path / "clip.mp4"
    assert write_clip(packets, stream_info(), path).frames == probe(path)[0] == FPS


def frame_times(path: Path) -> list[float]:
    """Presentation time (s) of each decoded frame."""
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


# --- store --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alert_id", ["../../etc", "ABCDEF0123", "abc", "0123456789/x", "", "g" * 12]
)
def test_store_refuses_ids_that_are_not_hex(tmp_path: Path, alert_id: str) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    with pytest.raises(ValueError):
        store.path_for(alert_id, T0, "jpg")


def test_store_paths_and_checksums(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    stored = store.save_snapshot("00aa11bb22cc", T0, b"jpeg bytes")
    assert stored.path == "evidence/2023-11-14/00aa11bb22cc.jpg"
    assert (tmp_path / stored.path).read_bytes() == b"jpeg bytes"
    assert stored.sha256 == hashlib.sha256(b"jpeg bytes").hexdigest() and stored.size == 10

    def write(path: Path) -> str:
        path.write_bytes(b"x" * 3000)
        return "done"

    clip, result = store.save_clip("00aa11bb22cc", T0, write)
    assert result == "done" and clip.path.endswith("00aa11bb22cc.mp4")
    assert clip.sha256 == hashlib.sha256(b"x" * 3000).hexdigest() and clip.size == 3000


def test_retention_by_age_then_by_size_oldest_first(tmp_path: Path) -> None:
    now = time.time()
    store = EvidenceStore(tmp_path, max_age_s=3600, max_total_bytes=2500)
    ages = {"aaaaaaaa01": 7200, "aaaaaaaa02": 1800, "aaaaaaaa03": 1200, "aaaaaaaa04": 60}
    for alert_id, age in ages.items():
        path = tmp_path / store.save_snapshot(alert_id, now - age, b"x" * 1000).path
        os.utime(path, (now - age, now - age))
    old_day = tmp_path / "evidence" / "2001-01-01"
    old_day.mkdir()
    young_temp = tmp_path / store.path_for("aaaaaaaa05", now, "mp4")[1]
    young_temp = young_temp.with_name(".aaaaaaaa05.mp4.part")
    young_temp.write_bytes(b"")
    result = store.sweep(now)
    left = sorted(p.name for p in (tmp_path / "evidence").rglob("*.jpg"))
    # 01 is too old; then 02 goes to bring 3000 bytes under 2500; 03 and 04 stay.
    assert left == ["aaaaaaaa03.jpg", "aaaaaaaa04.jpg"]
    assert (result.removed_files, result.freed_bytes, result.kept_bytes) == (2, 2000, 2000)
    assert young_temp.exists() and not old_day.exists()
    assert store.usage_bytes() == 2000


def test_unwritable_data_dir_under_a_file(tmp_path: Path) -> None:
    """A data directory whose parent is a regular file: ENOTDIR for everyone, root too."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    store = EvidenceStore(blocker / "data", 3600, 10**9)
    with pytest.raises(NotWritable) as caught:
        store.save_snapshot("00aa11bb22cc", T0, b"jpeg")
    assert caught.value.errno == errno.ENOTDIR and isinstance(caught.value, AlertsError)
    with pytest.raises(NotWritable):
        store.save_clip("00aa11bb22cc", T0, lambda p: p.write_bytes(b"x"))
    assert store.sweep().removed_files == 0


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at `where` (tests run as root, where chmod stops nothing)."""
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) here")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_disk_full_is_a_clear_error_for_snapshot_and_clip(tmp_path: Path) -> None:
    encoded = encode(FPS, noise=True)
    assert sum(len(data) for data, _, _ in encoded) > 10 * 64 * 1024
    with tmpfs(tmp_path / "small", "size=64k") as data_dir:
        store = EvidenceStore(data_dir, 3600, 10**9)
        with pytest.raises(DiskFull) as caught:
            store.save_snapshot("00aa11bb22cc", T0, b"x" * 100_000)
        assert caught.value.errno == errno.ENOSPC
        packets = ring_packets(encoded, T0)
        with pytest.raises(DiskFull) as caught:
            store.save_clip("00aa11bb22cc", T0, lambda p: write_clip(packets, stream_info(), p))
        assert isinstance(caught.value.__cause__, av.error.FFmpegError)  # from the muxer
        assert not [p for p in data_dir.rglob("*") if p.is_file()]  # no partial files left


def test_read_only_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as data_dir:
        store = EvidenceStore(data_dir, 3600, 10**9)
        with pytest.raises(NotWritable) as caught:
            store.save_snapshot("00aa11bb22cc", T0, b"jpeg")
        assert caught.value.errno == errno.EROFS


# --- recorder -----------------------------------------------------------------------------


async def feed_live(
    ring: PacketRing,
    encoded: list[tuple[bytes, int, bool]],
    stop: asyncio.Event,
    fed: list[RingPacket],
) -> None:
    """Append packets as a camera would, a frame period apart, looping the GOPs.

    Timestamps follow the wall clock, so a late wake-up on a busy machine shows as a longer
    frame, as it would from a camera, never as a shorter clip.
    """
    n, origin = 0, time.time()
    while not stop.is_set():
        data, _, key = encoded[n % len(encoded)]
        now = time.time()
        pts = round((now - origin) * 90000)
        packet = RingPacket(data, pts, pts, TIME_BASE, key, now)
        ring.append(packet)
        fed.append(packet)
        n += 1
        await asyncio.sleep(1 / FPS)


@contextlib.asynccontextmanager
async def live_ring(
    encoded: list[tuple[bytes, int, bool]],
    ring_seconds: float,
    fed: list[RingPacket] | None = None,
) -> AsyncIterator[PacketRing]:
    ring = PacketRing(ring_seconds, 50_000_000)
    ring.open_stream(stream_info())
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed_live(ring, encoded, stop, [] if fed is None else fed))
    try:
        yield ring
    finally:
        stop.set()
        await feeder


def mp4_pts(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == TIME_BASE  # the camera's clock kept, no rescaling loss
        return [int(p.pts or 0) for p in container.demux(stream) if p.size]


def policy(**overrides: float) -> EvidencePolicy:
    values: dict[str, object] = {
        "pre_roll_s": 1.0,
        "post_roll_s": 4.0,
        "analysis_wh": ANALYSIS_WH,
        "poll_s": 0.5,
        "drain_budget_s": 10.0,
    }
    values.update(overrides)
    return EvidencePolicy(**values)  # type: ignore[arg-type]


async def test_recorder_gathers_a_post_roll_longer_than_the_ring(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    recorder = EvidenceRecorder(store, policy())
    fed: list[RingPacket] = []
    async with live_ring(encoded, ring_seconds=2.0, fed=fed) as ring:
        await asyncio.sleep(2.5)  # one full GOP and more before the alert
        alert = make_alert(time.time())
        evidence = await recorder.capture(alert, ring)
    assert evidence.problems == ()
    assert evidence.snapshot is not None and evidence.clip is not None
    clip_path = tmp_path / evidence.clip.path
    assert hashlib.sha256(clip_path.read_bytes()).hexdigest() == evidence.clip.sha256
    decoded, duration, *_ = probe(clip_path)
    # 1 s pre-roll from the keyframe at or before it, plus 4 s post-roll ...
    keys = [p.received_at for p in fed if p.is_keyframe]
    gop_s = max(b - a for a, b in zip(keys, keys[1:], strict=False))
    assert 5.0 - 0.3 <= duration <= 5.0 + gop_s + 0.3
    # ... and not one frame lost in between, although the ring only ever held 2 s.
    pts = mp4_pts(clip_path)
    relative = [p - pts[0] for p in pts]
    runs = (
        [(f.pts or 0) - (fed[k].pts or 0) for f in fed[k : k + len(pts)]]
        for k in range(len(fed))
        if fed[k].is_keyframe
    )
    assert relative in runs
    assert decoded == len(pts)
    message = evidence.apply(alert)
    assert message.phase is AlertPhase.EVIDENCE and message.message_id.endswith(":evidence:0")
    assert message.clip == evidence.clip.path and message.snapshot_sha256
    stats = recorder.stats()
    assert (stats.snapshots, stats.clips, stats.dropped_clips) == (1, 1, 0)


async def test_recorder_drops_clips_beyond_its_bound_and_counts_them(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    recorder = EvidenceRecorder(store, policy(max_in_flight=1, post_roll_s=1.5))
    async with live_ring(encoded, ring_seconds=5.0) as ring:
        await asyncio.sleep(1.2)
        first = make_alert(time.time())
        second = dataclasses.replace(first, alert_id="fedcba9876543210")
        results = await asyncio.gather(
            recorder.capture(first, ring), recorder.capture(second, ring)
        )
    clips = [r.clip is not None for r in results]
    assert sorted(clips) == [False, True]
    dropped = results[clips.index(False)]
    assert any("clip dropped" in p for p in dropped.problems)
    assert recorder.stats().dropped_clips == 1


async def test_close_cuts_the_post_roll_short_and_still_delivers(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    recorder = EvidenceRecorder(store, policy(post_roll_s=60.0))
    delivered: list[Alert] = []

    async def on_evidence(message: Alert) -> None:
        delivered.append(message)

    async with live_ring(encoded, ring_seconds=5.0) as ring:
        await asyncio.sleep(1.5)
        assert recorder.start(make_alert(time.time()), ring, on_evidence)
        await asyncio.sleep(1.0)
        await recorder.close()
        assert not recorder.start(make_alert(time.time()), ring, on_evidence)
    assert len(delivered) == 1 and delivered[0].clip and delivered[0].snapshot
    _, duration, *_ = probe(tmp_path / delivered[0].clip)
    assert 1.0 <= duration < 10.0  # what had arrived, not the 60 s asked for
    assert recorder.stats().in_flight == 0


async def test_cancelled_capture_writes_what_it_has(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    store = EvidenceStore(tmp_path, 3600, 10**9)
    recorder = EvidenceRecorder(store, policy(post_roll_s=60.0))
    async with live_ring(encoded, ring_seconds=5.0) as ring:
        await asyncio.sleep(1.5)
        alert = make_alert(time.time())
        task = asyncio.create_task(recorder.capture(alert, ring))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    clip_path, _ = store.path_for(alert.alert_id, alert.started_at, "mp4")
    decoded, duration, *_ = probe(clip_path)
    assert decoded > FPS and duration < 10.0


async def test_unwritable_store_still_yields_the_alert_without_files(
    tmp_path: Path, encoded: list[tuple[bytes, int, bool]]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    recorder = EvidenceRecorder(EvidenceStore(blocker, 3600, 10**9), policy(post_roll_s=0.5))
    ring = filled_ring(ring_packets(encoded, time.time() - 4.0), stream_info(), 30.0)
    alert = make_alert(time.time() - 1.0)
    evidence = await recorder.capture(alert, ring)
    message = evidence.apply(alert)
    assert (message.snapshot, message.clip, message.snapshot_sha256) == ("", "", "")
    assert "cannot write" in message.note and message.phase is AlertPhase.EVIDENCE
    assert recorder.stats().storage_errors == 2


async def test_a_broken_stream_still_yields_the_alert(tmp_path: Path) -> None:
    """The middle stage raises (garbage packets): the alert comes out with the reasons."""
    garbage = [
        RingPacket(
            b"\x00\x00\x00\x01\x65" + os.urandom(300),
            i * STEP,
            i * STEP,
            TIME_BASE,
            i % FPS == 0,
            time.time() - 3 + i / FPS,
        )
        for i in range(2 * FPS)
    ]
    recorder = EvidenceRecorder(EvidenceStore(tmp_path, 3600, 10**9), policy(post_roll_s=0.2))
    no_stream = PacketRing(10, 10**6)
    evidence = await recorder.capture(make_alert(time.time()), no_stream)
    assert evidence.problems == ("no video from the camera yet",)
    ring = filled_ring(garbage, stream_info(), 30.0)
    evidence = await recorder.capture(make_alert(time.time() - 1), ring)
    assert evidence.snapshot is None and any("snapshot" in p for p in evidence.problems)
    assert recorder.stats().failures >= 2
