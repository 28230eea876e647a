"""A real RTSP server for simulated cameras: GStreamer's gst-rtsp-server looping MPEG-TS files.

Runs under the *system* Python 3 (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0), not in
the project's environment, so it imports nothing from the project. Each mount loops one
pre-encoded file without decoding or encoding it:

    multifilesrc loop=true ! tsdemux ! h264parse ! rtph264pay                 (H.264)
    ... tsdemux ! h265parse ! rtph265pay, tsdemux ! aacparse ! rtpmp4gpay      (H.265 + AAC)

MPEG-TS is used because tsdemux keeps timestamps continuous across the loop; a raw H.264
file loses its PTS and a looping MP4 cannot be demuxed in push mode.

Usage: python3 gst_rtsp_server.py --port 8554 --mounts mounts.json
mounts.json: [{"path": "/cam001", "file": "/abs/scene.ts"}, ...], where a mount may instead
give "sources": [{"file": ..., "video": "h264" | "h265", "audio": true | false}, ...] (each new
media, i.e. the next client after all have left, plays the next source: a camera that
switches codec after a reconnect) and "constant_timestamps": true (a broken restreamer: every
RTP packet carries the same timestamp; the stream is still paced at its frame rate).
Basic auth is on when RIVERWATCH_SIM_USER and RIVERWATCH_SIM_PASSWORD are set (never argv).
Prints "READY <port>" on stdout once it listens.
"""

import argparse
import json
import os
import signal
import sys
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( multifilesrc location={location} loop=true ! tsdemux ! h264parse "
    "! rtph264pay name=pay0 pt=96 config-interval=0 )"
)
VIDEO = {"h264": ("h264parse", "rtph264pay"), "h265": ("h265parse", "rtph265pay")}


def is_plain(source: dict[str, Any]) -> bool:
    """An H.264 file without audio: the camera every mount was before profiles."""
    return source.get("video", "h264") == "h264" and not source.get("audio")


def launch_line(source: dict[str, Any], constant_timestamps: bool) -> str:
    """The media pipeline for one source file."""
    video = source.get("video", "h264")
    if is_plain(source) and not constant_timestamps:
        return PIPELINE.format(location=source["file"])  # the plain camera, as it always was
    parse, pay = VIDEO[video]
    # identity paces the stream by its own timestamps before they are taken away, since the
    # server's sinks cannot pace buffers that have none.
    pace = " ! identity sync=true" if constant_timestamps else ""
    line = (
        f"( multifilesrc location={source['file']} loop=true ! tsdemux name=demux "
        f"demux. ! queue ! {parse}{pace} ! {pay} name=pay0 pt=96 config-interval=0"
    )
    if source.get("audio"):
        line += " demux. ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97"
    return line + " )"


def _strip_timestamps(_pad: Any, info: Any) -> Any:
    # A payloader given a buffer without a timestamp reuses the last RTP timestamp, so every
    # packet of the session carries the first one: what a broken restreamer sends.
    buffer = info.get_buffer()
    if buffer is not None:
        buffer.pts = Gst.CLOCK_TIME_NONE
        buffer.dts = Gst.CLOCK_TIME_NONE
    return Gst.PadProbeReturn.OK


def _not_seekable(_pad: Any, info: Any) -> Any:
    # A camera cannot seek. The server seeks a seekable media to the PLAY request's range
    # start (FFmpeg asks for npt=0) unless it is already there; a stream that starts at a
    # B-frame's later pts, or has no timestamps at all, is not, and the failed seek answers
    # PLAY with 503. Saying "not seekable" makes the server skip it.
    query = info.get_query()
    if query is not None and query.type == Gst.QueryType.SEEKING:
        return Gst.PadProbeReturn.HANDLED  # answered, as made: seekable false
    return Gst.PadProbeReturn.OK


class MountFactory(GstRtspServer.RTSPMediaFactory):  # type: ignore[misc]
    """A shared media factory that plays its sources in turn, one per new media."""

    def __init__(self, sources: list[dict[str, Any]], constant_timestamps: bool) -> None:
        super().__init__()
        self._lines = [launch_line(s, constant_timestamps) for s in sources]
        self._constant = constant_timestamps
        self._next = 0

    def do_create_element(self, url: Any) -> Any:
        line = self._lines[self._next % len(self._lines)]
        self._next += 1
        element = Gst.parse_launch_full(line, None, Gst.ParseFlags.PLACE_IN_BIN)
        for name in ("pay0", "pay1"):
            pay = element.get_by_name(name)
            if pay is not None:
                pay.get_static_pad("src").add_probe(
                    Gst.PadProbeType.QUERY_UPSTREAM, _not_seekable
                )
        if self._constant:
            pay = element.get_by_name("pay0")
            pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, _strip_timestamps)
        return element


def make_factory(mount: dict[str, Any], permissions: Any) -> Any:
    sources = mount.get("sources") or [{"file": mount["file"]}]
    constant = bool(mount.get("constant_timestamps"))
    # Always ours, never a bare launch line: its payloaders say "not seekable", so a second
    # viewer of a shared media already playing (an admin's "test this URL" beside the hub) is
    # not answered 503 for a seek to its PLAY range. No Python runs per buffer either way.
    factory = MountFactory(sources, constant)
    factory.set_shared(True)  # one pipeline per mount, whatever the number of viewers
    if permissions is not None:
        factory.set_permissions(permissions)
    return factory


def make_auth(user: str, password: str) -> tuple[Any, Any]:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("viewer", "media.factory.access", True)
    permissions.add_permission_for_role("viewer", "media.factory.construct", True)
    return auth, permissions


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mounts", required=True)
    args = parser.parse_args()
    with open(args.mounts, encoding="utf-8") as fh:
        mounts = json.load(fh)
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.set_backlog(1024)
    permissions = None
    user, password = os.environ.get("RIVERWATCH_SIM_USER"), os.environ.get("RIVERWATCH_SIM_PASSWORD")
    if user and password:
        auth, permissions = make_auth(user, password)
        server.set_auth(auth)
    points = server.get_mount_points()
    for mount in mounts:
        points.add_factory(mount["path"], make_factory(mount, permissions))
    if server.attach(None) == 0:
        sys.stderr.write(f"cannot listen on port {args.port}\n")
        return 2
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, loop.quit)
    sys.stdout.write(f"READY {args.port}\n")
    sys.stdout.flush()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
