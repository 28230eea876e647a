"""Live view: a real aiortc client watches a camera of the real RTSP simulator through a real
hub. The video decodes at the camera's size, the client receives the camera's own H.264
bytes (no re-encode), viewers share one relay per camera, caps and bad input are refused
with a message, and snapshots decode once per keyframe however many tiles ask."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from typing import Any

import aiortc.rtcrtpreceiver
import cv2
import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import get_decoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from fastapi import FastAPI

from api.live import LiveLimits, LiveService, NoPicture
from api.live.relay import Relays, _Timeline
from api.routes import live as live_routes
from api.security.users import Role
from hub.runtime import Hub
from riverwatch.config import parse_config
from riverwatch.ring import PacketRing, RingPacket
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.api_fixtures import sign_in
from tests.conftest import eventually

CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - {{id: calm, name: Calm water, group: jinsha,
      url: "rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/calm"}}
  - {{id: boat, name: Boat crossing, group: jinsha,
      url: "rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat"}}
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}
SIZE = (320, 180)


class Recorder:
    """What the client's H.264 decoder was given: the depacketized frames, Annex B."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self._lock = threading.Lock()

    def decoder(self, codec: Any) -> Any:
        real = get_decoder(codec)
        recorder = self

        class Recording:
            def decode(self, encoded_frame: Any) -> Any:
                with recorder._lock:
                    recorder.frames.append(bytes(encoded_frame.data))
                return real.decode(encoded_frame)

        return Recording()


class Viewer:
    """A WebRTC client as a browser would be: a recvonly video transceiver, frames decoded."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        self.sizes: list[tuple[int, int]] = []
        self.ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        @self.pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            self._task = asyncio.create_task(self._consume(track))

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        local = self.pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    async def connect(
        self, http: httpx.AsyncClient, camera_id: str, query: str = ""
    ) -> httpx.Response:
        answer = await http.post(f"/api/live/{camera_id}/offer{query}", json=await self.offer())
        if answer.status_code == 200:
            body = answer.json()
            await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return answer

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.sizes.append((frame.width, frame.height))  # type: ignore[union-attr]
        except MediaStreamError:
            self.ended.set()

    async def close(self) -> None:
        await self.pc.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@contextlib.asynccontextmanager
async def running(
    rtsp: RtspSimulator, settings: Settings, limits: LiveLimits | None = None
) -> AsyncIterator[tuple[Hub, LiveService, httpx.AsyncClient]]:
    """A hub on the simulator, its live service, and an HTTP client of the live router."""
    loaded = parse_config(CONFIG.format(port=rtsp.port), env=ENV)
    async with (
        Hub(settings, loaded) as hub,
        LiveService(hub.ring, limits) as live,
        live_http(hub, live) as http,
    ):
        await eventually(
            lambda: (
                hub.ring("calm").newest_keyframe()[0] >= 0
                and hub.ring("boat").newest_keyframe()[0] >= 0
            ),
            what="a keyframe from each camera",
        )
        yield hub, live, http


@contextlib.asynccontextmanager
async def live_http(hub: Hub, live: LiveService) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's HTTP client of the live routes, served by `live` on `hub`."""
    app = FastAPI()
    app.include_router(live_routes.router)
    app.dependency_overrides[live_routes.get_live] = lambda: live
    headers = await sign_in(app, hub.engine, Role.OPERATOR)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hub", headers=headers
    ) as http:
        yield http


def nal_units(annex_b: bytes) -> list[bytes]:
    """NAL units of an Annex B stream, without start codes or trailing zero bytes."""
    return [n.rstrip(b"\x00") for n in annex_b.split(b"\x00\x00\x01") if n.rstrip(b"\x00")]


async def test_a_viewer_decodes_the_cameras_own_h264_and_its_relay_stops_after(
    rtsp: RtspSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    # Only the client's receiver decodes: the hub sends and has no receiver to touch.
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", recorder.decoder)
    async with running(rtsp, settings) as (hub, live, http):
        viewer = Viewer()
        answer = await viewer.connect(http, "calm")
        assert answer.status_code == 200, answer.text
        assert answer.json()["type"] == "answer" and "H264" in answer.json()["sdp"]
        await eventually(lambda: len(viewer.sizes) > 30, timeout_s=60, what="30 decoded frames")
        ring_nals = {n for p in hub.ring("calm").snapshot() for n in nal_units(p.data)}
        stats = (await http.get("/api/live/stats")).json()
        assert stats["total_viewers"] == 1 and stats["cameras"]["calm"]["viewers"] == 1
        await viewer.close()
        await eventually(lambda: live.relay_count == 0, what="the relay to stop")
        assert (await http.get("/api/live/stats")).json()["total_viewers"] == 0
    assert set(viewer.sizes) == {SIZE}
    received = [n for frame in recorder.frames for n in nal_units(frame)]
    slices = [n for n in received if n[0] & 0x1F in (1, 5)]
    assert len(slices) > 30 and any(n[0] & 0x1F == 5 for n in slices)  # IDR and P slices
    # Every NAL unit the client decoded, slices included, is byte for byte one the camera
    # sent: an encoder in between could not reproduce the camera's x264 bitstream.
    assert all(n in ring_nals for n in received)


async def test_two_viewers_share_one_relay_and_shutdown_closes_them(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    async with running(rtsp, settings) as (_, live, http):
        viewers = [Viewer(), Viewer()]
        for viewer in viewers:
            assert (await viewer.connect(http, "boat")).status_code == 200
        await eventually(
            lambda: all(len(v.sizes) > 15 for v in viewers), timeout_s=60, what="both decode"
        )
        assert live.relay_count == 1 and live.stats().relays_started == 1
        figures = (await http.get("/api/live/stats")).json()["cameras"]["boat"]
        assert figures["viewers"] == 2 and len(figures["tracks"]) == 2
        await viewers[0].close()
        await eventually(lambda: live.viewers("boat") == 1, what="one viewer left")
        assert live.relay_count == 1
        await live.aclose()  # what the lifespan does on shutdown
        assert live.relay_count == 0 and live.stats().total_viewers == 0
        await eventually(
            lambda: (
                viewers[1].pc.connectionState in ("closed", "failed") or viewers[1].ended.is_set()
            ),
            what="the hub's side to go away",
        )
        await viewers[1].close()
    assert all(set(v.sizes) == {SIZE} for v in viewers)


async def test_caps_unknown_cameras_bad_offers_and_unconnected_viewers_are_refused(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    limits = LiveLimits(max_viewers_per_camera=1, max_viewers_total=2, connect_timeout_s=2)
    async with running(rtsp, settings, limits) as (_, live, http):
        client = Viewer()
        offer = await client.offer()
        assert (await http.post("/api/live/calm/offer", json=offer)).status_code == 200
        second = await http.post("/api/live/calm/offer", json=offer)
        assert second.status_code == 503 and "calm" in second.json()["detail"]
        assert (await http.post("/api/live/boat/offer", json=offer)).status_code == 200
        third = await http.post("/api/live/boat/offer", json=offer)
        assert third.status_code == 503 and "at most 2" in third.json()["detail"]
        # Nobody applied those answers: the connect timeout closes them and frees the caps.
        await eventually(lambda: live.stats().total_viewers == 0, what="unconnected viewers")
        await eventually(lambda: live.relay_count == 0, what="relays of nobody to stop")

        anonymous = await http.post(
            "/api/live/calm/offer", json=offer, headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401
        assert (await http.get("/api/live/stats", headers={"Authorization": ""})).status_code == 401
        unknown = await http.post("/api/live/nope/offer", json=offer)
        assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
        assert (await http.get("/api/live/nope/snapshot.jpg")).status_code == 404
        audio_only = RTCPeerConnection()
        audio_only.addTransceiver("audio", direction="recvonly")
        await audio_only.setLocalDescription(await audio_only.createOffer())
        bad = [
            {"sdp": "hello", "type": "offer"},
            {"sdp": "m=video x", "type": "offer"},
            {"sdp": audio_only.localDescription.sdp, "type": "offer"},
            {"sdp": offer["sdp"], "type": "answer"},
            {"sdp": offer["sdp"].replace("a=ice-ufrag", "a=x-ufrag"), "type": "offer"},
        ]
        for body in bad:
            answer = await http.post("/api/live/calm/offer", json=body)
            assert answer.status_code == 422, (body["sdp"][:20], answer.text)
            assert answer.json()["detail"]
        await audio_only.close()
        await client.close()
        assert live.stats().total_viewers == 0 and live.relay_count == 0


async def test_snapshot_is_the_newest_keyframe_decoded_once_for_many_tiles(
    rtsp: RtspSimulator, settings: Settings
) -> None:
    async with running(rtsp, settings) as (hub, live, http):
        for _ in range(5):  # a keyframe may land mid-burst; then the burst is tried again
            seq = hub.ring("boat").newest_keyframe()[0]
            before = live.snapshots.decodes
            tiles = await asyncio.gather(
                *(http.get("/api/live/boat/snapshot.jpg") for _ in range(12))
            )
            if hub.ring("boat").newest_keyframe()[0] == seq:
                break
        assert live.snapshots.decodes - before == 1
        assert all(t.status_code == 200 for t in tiles)
        assert tiles[0].headers["content-type"] == "image/jpeg"
        assert len({t.content for t in tiles}) == 1
        picture = cv2.imdecode(np.frombuffer(tiles[0].content, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape == (SIZE[1], SIZE[0], 3)


async def test_an_empty_ring_has_no_snapshot() -> None:
    live = LiveService(lambda _: PacketRing(10, 1_000_000))
    with pytest.raises(NoPicture, match="no keyframe"):
        await live.snapshots.jpeg("calm")
    await live.aclose()


# --- the relay as a sequence: packets in, packets per viewer out -------------------------

TB = Fraction(1, 90_000)


def packet(pts: int | None, key: bool = False) -> RingPacket:
    return RingPacket(b"\x00\x00\x00\x01\x09\xf0", pts, pts, TB, key, time.time())


def test_ring_followers_see_sequence_numbers_and_gaps() -> None:
    ring = PacketRing(max_seconds=60, max_bytes=10 * 6)  # holds ten packets
    assert ring.newest_seq == -1 and ring.newest_keyframe() == (-1, [])
    for i in range(25):
        ring.append(packet(i * 6000, key=i % 10 == 0))
    assert ring.newest_seq == 24
    first, packets = ring.packets_after(21)
    assert first == 22 and [p.pts for p in packets] == [22 * 6000, 23 * 6000, 24 * 6000]
    first, packets = ring.packets_after(3)  # 4..14 were evicted: the caller sees the gap
    assert first == 15 and len(packets) == 10
    assert ring.packets_after(24) == (25, [])
    seq, keyframe = ring.newest_keyframe()
    assert seq == 20 and [p.pts for p in keyframe] == [20 * 6000]


@pytest.mark.parametrize(
    ("pts", "pictures", "arrivals", "out"),
    [
        pytest.param(  # the camera's steps, not the jittery arrival
            [0, 6000, 12000], [0, 1, 2], [0.0, 0.1, 0.12], [0, 6000, 12000], id="good pts"
        ),
        pytest.param(
            [0, 0, 6000], [0, 0, 1], [0.0, 0.001, 0.07], [0, 0, 6000], id="slices share one"
        ),
        pytest.param(
            [7, 7, 7, 7], [0, 1, 2, 3], [0.0, 0.1, 0.2, 0.3], [0, 9000, 18000, 27000], id="constant"
        ),
        pytest.param(
            [0, -6000, -12000], [0, 1, 2], [0.0, 0.05, 0.1], [0, 4500, 9000], id="backwards"
        ),
        pytest.param(
            [None, None, None], [0, 1, 2], [0.0, 0.1, 0.2], [0, 9000, 18000], id="missing"
        ),
        pytest.param(
            [0, 6000, 900_000_000, 900_006_000],
            [0, 1, 2, 3],
            [0.0, 0.1, 2.1, 2.2],
            [0, 6000, 186_000, 192_000],
            id="a jump: bridged by arrival",
        ),
        pytest.param(
            [7, 7, 7], [0, 1, 2], [1.0, 1.0, 1.0], [0, 1, 2], id="a burst: one tick apart"
        ),
        pytest.param(
            [0, 0, 6000], [None, None, None], [0.0, 0.0, 0.1], [0, 0, 6000], id="not numbered"
        ),
    ],
)
def test_timeline_moves_on_once_per_picture(
    pts: list[int | None], pictures: list[int | None], arrivals: list[float], out: list[int]
) -> None:
    timeline = _Timeline()
    packets = [
        RingPacket(b"\x00\x00\x00\x01\x09\xf0", ts, ts, TB, False, 0.0, 1, n, at)
        for ts, n, at in zip(pts, pictures, arrivals, strict=True)
    ]
    assert [timeline.next(p) for p in packets] == out


async def test_a_slow_viewer_drops_and_resyncs_at_a_keyframe() -> None:
    ring = PacketRing(max_seconds=60, max_bytes=1_000_000)
    relays = Relays(max_packets=3)
    fast, slow = relays.subscribe("cam", ring), relays.subscribe("cam", ring)
    got: list[int | None] = []

    def forwarded(count: int) -> Callable[[], bool]:
        return lambda: relays.stats()[0].forwarded == count

    for i in range(7):  # one at a time, so the fast viewer never holds more than one
        ring.append(packet(i * 6000, key=i in (1, 5)))  # the first is not a keyframe
        await eventually(forwarded(i + 1), what="the relay to forward it")
        while fast._queue:
            got.append((await fast.recv()).pts)
    # fast started at the first keyframe and took everything after it; slow overflowed at
    # the fourth packet (3 queued + that one dropped), waited for the next keyframe, and
    # holds the last two.
    assert got == [6000, 12000, 18000, 24000, 30000, 36000]
    assert slow.stats().dropped == 4
    assert [(await slow.recv()).pts for _ in range(2)] == [30000, 36000]
    fast.stop()
    slow.stop()
    assert len(relays) == 0
    await relays.aclose()
