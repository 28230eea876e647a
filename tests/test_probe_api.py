"""The admin's "test this URL" (`POST /api/probe`) against the real RTSP simulator: codec,
size, GOP and a first picture come back, the password never does; a dead camera is a clear
answer, a URL of another scheme a 422."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from api.security import Role
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests.api_fixtures import ApiServer, api_server_fixture, module_rtsp_fixture
from tests.notify_fixtures import closed_port

__all__ = ["api_server_fixture", "module_rtsp_fixture"]


@pytest.fixture
def camera(scenes: dict[str, SceneFiles]) -> Iterator[RtspSimulator]:
    """A camera the hub does not run yet: the one being added."""
    mounts = [Mount("/new", scenes["river_boat_crossing"].video)]
    with RtspSimulator(mounts, credentials=("viewer", "s3cret-Pa55")) as sim:
        yield sim


def test_an_admin_sees_what_a_stream_sends_and_never_its_password(
    api_server: ApiServer, camera: RtspSimulator
) -> None:
    url = camera.url("/new", with_credentials=True)
    with api_server.client(Role.ADMIN) as admin:
        answer = admin.post("/api/probe", json={"url": url, "seconds": 6})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert "s3cret-Pa55" not in answer.text and "viewer:" not in answer.text
        assert found["ok"] and found["codec"] == "h264" and found["gop_s"]
        assert (found["width"], found["height"]) == (320, 180)
        jpeg = base64.b64decode(found["snapshot"].removeprefix("data:image/jpeg;base64,"))
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (180, 320, 3)
        dead = admin.post(
            "/api/probe", json={"url": f"rtsp://u:pw-XYZ@127.0.0.1:{closed_port()}/x"}
        )
        assert dead.status_code == 200 and not dead.json()["ok"] and dead.json()["error"]
        assert "pw-XYZ" not in dead.text
        bad = admin.post("/api/probe", json={"url": "gopher://camera/1"})
        assert bad.status_code == 422 and "rtsp://" in bad.text
    with api_server.client(Role.OPERATOR) as operator:
        assert operator.post("/api/probe", json={"url": url}).status_code == 403
