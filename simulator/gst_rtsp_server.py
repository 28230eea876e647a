"""A real RTSP server for simulated cameras: GStreamer's gst-rtsp-server looping MPEG-TS files.

Runs under the *system* Python 3 (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0), not in
the project's environment, so it imports nothing from the project. Each mount loops one
pre-encoded H.264 file without decoding or encoding it:

    multifilesrc loop=true ! tsdemux ! h264parse ! rtph264pay

MPEG-TS is used because tsdemux keeps timestamps continuous across the loop; a raw H.264
file loses its PTS and a looping MP4 cannot be demuxed in push mode.

Usage: python3 gst_rtsp_server.py --port 8554 --mounts mounts.json
mounts.json: [{"path": "/cam001", "file": "/abs/scene.ts"}, ...]
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


def make_factory(location: str, permissions: Any) -> Any:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(location=location))
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
        points.add_factory(mount["path"], make_factory(mount["file"], permissions))
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
