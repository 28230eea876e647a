"""Cameras, zones and tripwires changed through the API on a running hub, against the real RTSP
simulator: a camera added starts streaming and alerting without a restart, a refused change
names its field and changes nothing, another admin's change in between is a 409, a deleted
camera stops, and a change survives a restart of the hub (the unchanged file is not imported
over it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.security import Role
from simulator.fleet import scene_zone
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests import api_fixtures
from tests.api_fixtures import ApiServer, default_security, sign_in_roles, start_server
from tests.conftest import wait_for

PASSWORD = "s3cret-Pa55"
GROUP = {"id": "lower", "name": "Lower river", "kind": "river"}
WIRE = {"id": "gate", "line": [[0.5, 0.05], [0.5, 0.95]], "direction": "both"}


@pytest.fixture(scope="module", name="module_rtsp")
def module_rtsp_fixture(scenes: dict[str, SceneFiles]) -> Iterator[RtspSimulator]:
    """The hub's calm camera, and a boat crossing for the camera an admin adds."""
    mounts = [
        Mount("/calm", scenes["river_calm"].video),
        Mount("/boat", scenes["river_boat_crossing"].video),
    ]
    with RtspSimulator(mounts, credentials=("viewer", PASSWORD)) as sim:
        yield sim


@pytest.fixture(scope="module", name="server")
def server_fixture(
    tmp_path_factory: pytest.TempPathFactory, module_rtsp: RtspSimulator
) -> Iterator[ApiServer]:
    data = tmp_path_factory.mktemp("config-api") / "data"
    server, stop = start_server(data, module_rtsp, default_security)
    try:
        sign_in_roles(server)
        server.add_user("second-admin", Role.ADMIN)
        yield server
    finally:
        stop()


def _boat(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": "boat",
        "name": "Lower reach",
        "group": "lower",
        "url": f"rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat",
        "zones": [scene_zone("river")],
        "tripwires": [WIRE],
        **extra,
    }


def _config(admin: httpx.Client) -> dict[str, Any]:
    answer = admin.get("/api/config")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _entry(config: dict[str, Any], camera_id: str) -> dict[str, Any]:
    return next(c for c in config["cameras"] if c["camera"]["id"] == camera_id)


def test_an_admin_adds_a_camera_that_streams_and_alerts_without_a_restart(
    server: ApiServer, module_rtsp: RtspSimulator
) -> None:
    hub_before = server.hub
    with server.client(Role.ADMIN) as admin:
        start = _config(admin)
        groups = admin.put(
            "/api/config/groups",
            json={"expected_version": start["groups_version"], "groups": [*start["groups"], GROUP]},
        )
        assert groups.status_code == 200, groups.text
        added = admin.post("/api/config/cameras", json={"camera": _boat(module_rtsp.port)})
        assert added.status_code == 201, added.text
        body = added.json()
        assert body["applied"]["added"] == ["boat"] and body["version"] == start["version"] + 2
        assert PASSWORD not in added.text and "***@" in body["camera"]["camera"]["url"]

        def streaming() -> bool:
            answer = admin.get("/api/cameras/boat")
            return answer.status_code == 200 and answer.json()["state"] == "streaming"

        wait_for(streaming, "the added camera to stream")

        def alerts(rule: str) -> list[dict[str, Any]]:
            found = admin.get("/api/alerts", params={"limit": 200}).json()
            return [a for a in found if a["camera_id"] == "boat" and a["rule"] == rule]

        in_zone = wait_for(lambda: alerts("vessel_in_zone"), "an alert in the drawn zone")
        assert {a["zone_id"] for a in in_zone} == {"ban"}
        crossing = wait_for(lambda: alerts("line_crossing"), "a tripwire crossing")
        assert {a["zone_id"] for a in crossing} == {"gate"}
    assert server.hub is hub_before  # the same hub all along: nothing restarted

    with server.client(Role.ADMIN) as admin:
        audit = admin.get("/api/audit", params={"action": "camera.add"}).json()
        assert audit and audit[0]["target"] == "boat" and PASSWORD not in str(audit)


def test_a_bad_field_is_named_and_nothing_is_applied(
    server: ApiServer, module_rtsp: RtspSimulator
) -> None:
    with server.client(Role.ADMIN) as admin:
        before = _config(admin)
        calm = _entry(before, "calm")
        broken = dict(calm["camera"])
        broken["zones"] = [{"id": "ban", "polygon": [[0.1, 0.1], [0.9, 0.1]]}]
        broken["analysis"] = {**broken["analysis"], "detect_fps": 99}
        answer = admin.put(
            "/api/config/cameras/calm",
            json={"expected_version": calm["version"], "camera": broken},
        )
        assert answer.status_code == 422, answer.text
        where = {tuple(d["loc"]) for d in answer.json()["detail"]}
        assert ("body", "camera", "zones", 0, "polygon") in where
        assert ("body", "camera", "analysis", "detect_fps") in where
        after = _config(admin)
        assert after["version"] == before["version"]
        assert _entry(after, "calm") == calm


def test_groups_are_changed_from_their_own_version_and_a_bad_one_is_named(
    server: ApiServer,
) -> None:
    with server.client(Role.ADMIN) as admin:
        config = _config(admin)
        assert config["groups_version"] < config["version"]  # cameras changed since
        bad = [*config["groups"], {"id": "Not An Id", "name": "x"}]
        answer = admin.put(
            "/api/config/groups",
            json={"expected_version": config["groups_version"], "groups": bad},
        )
        assert answer.status_code == 422, answer.text
        index = len(config["groups"])
        assert ("body", "groups", index, "id") in {tuple(d["loc"]) for d in answer.json()["detail"]}
        orphaned = admin.put(  # a camera's group cannot go
            "/api/config/groups", json={"expected_version": config["groups_version"], "groups": []}
        )
        assert orphaned.status_code == 422 and "not one of the declared groups" in orphaned.text


def test_a_change_made_while_another_admin_changed_the_camera_is_refused(
    server: ApiServer,
) -> None:
    with (
        server.client(Role.ADMIN) as first,
        server.client(token=server.token("second-admin")) as second,
    ):
        mine, theirs = _entry(_config(first), "calm"), _entry(_config(second), "calm")
        renamed = {**theirs["camera"], "name": "Calm water (upstream)"}
        ok = second.put(
            "/api/config/cameras/calm",
            json={"expected_version": theirs["version"], "camera": renamed},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["applied"]["restarted"] == []  # a new name restarts nothing

        late = first.put(
            "/api/config/cameras/calm",
            json={"expected_version": mine["version"], "camera": {**mine["camera"], "name": "x"}},
        )
        assert late.status_code == 409, late.text
        assert "second-admin" in late.json()["detail"]
        assert _entry(_config(first), "calm")["camera"]["name"] == "Calm water (upstream)"
        # The camera shows its password nowhere, and sent back as shown it keeps it.
        assert PASSWORD not in str(_config(first))
        assert admin_probe_ok(first)


def admin_probe_ok(admin: httpx.Client) -> bool:
    """The stored URL (with its password) still opens the stream: probed by camera id."""
    answer = admin.post("/api/probe", json={"camera_id": "calm", "seconds": 4})
    assert answer.status_code == 200, answer.text
    assert PASSWORD not in answer.text
    assert answer.json()["ok"], answer.text
    return True


def test_deleting_a_camera_stops_it_and_the_export_keeps_placeholders_never_passwords(
    server: ApiServer, module_rtsp: RtspSimulator
) -> None:
    with server.client(Role.ADMIN) as admin:
        config = _config(admin)
        if not any(c["camera"]["id"] == "boat" for c in config["cameras"]):
            pytest.skip("needs the camera the first test adds")  # run alone: nothing to delete
        boat = _entry(config, "boat")
        gone = admin.delete(
            "/api/config/cameras/boat", params={"expected_version": boat["version"]}
        )
        assert gone.status_code == 200, gone.text
        assert gone.json()["applied"]["removed"] == ["boat"]
        assert admin.get("/api/cameras/boat").status_code == 404
        calm = _entry(_config(admin), "calm")
        literal = f"rtsp://viewer:Lit3ral-Pa55@127.0.0.1:{module_rtsp.port}/calm"
        typed = admin.put(  # a password typed into the URL, not a placeholder
            "/api/config/cameras/calm",
            json={"expected_version": calm["version"], "camera": {**calm["camera"],
                                                                  "sub_url": literal}},
        )  # fmt: skip
        assert typed.status_code == 200 and "Lit3ral-Pa55" not in typed.text
        exported = admin.get("/api/config/export")
        assert exported.status_code == 200
        assert "${CAM_PASS}" in exported.text and PASSWORD not in exported.text
        assert "Lit3ral-Pa55" not in exported.text and ":***@127.0.0.1" in exported.text
        assert [c["id"] for c in yaml.safe_load(exported.text)["cameras"]] == ["calm"]
        history = admin.get("/api/config/versions").json()
        assert history[1]["version"] == gone.json()["version"] and history[1]["author"] == "admin-1"


def test_a_change_made_in_the_browser_survives_a_restart(
    tmp_path: Path, module_rtsp: RtspSimulator
) -> None:
    data = tmp_path / "data"
    server, stop = start_server(data, module_rtsp, default_security)
    try:
        sign_in_roles(server)
        with server.client(Role.ADMIN) as admin:
            calm = _entry(_config(admin), "calm")
            renamed = {**calm["camera"], "name": "Renamed in the browser"}
            answer = admin.put(
                "/api/config/cameras/calm",
                json={"expected_version": calm["version"], "camera": renamed},
            )
            assert answer.status_code == 200, answer.text
    finally:
        stop()
    server, stop = start_server(data, module_rtsp, default_security)  # the same file
    try:
        with server.client(token=server.token("admin-1")) as admin:
            assert _entry(_config(admin), "calm")["camera"]["name"] == "Renamed in the browser"
    finally:
        stop()


def test_a_stored_version_a_hub_cannot_run_is_named_in_readyz_and_the_file_runs(
    tmp_path: Path, module_rtsp: RtspSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setitem(api_fixtures.ENV, "OTHER_PASS", "another-Pa55")
    server, stop = start_server(data, module_rtsp, default_security)
    try:
        sign_in_roles(server)
        with server.client(Role.ADMIN) as admin:
            calm = _entry(_config(admin), "calm")
            url = f"rtsp://viewer:${{OTHER_PASS}}@127.0.0.1:{module_rtsp.port}/calm"
            changed = {**calm["camera"], "sub_url": url}
            answer = admin.put(
                "/api/config/cameras/calm",
                json={"expected_version": calm["version"], "camera": changed},
            )
            assert answer.status_code == 200, answer.text
    finally:
        stop()
    monkeypatch.delitem(api_fixtures.ENV, "OTHER_PASS")  # this hub has no such secret
    server, stop = start_server(data, module_rtsp, default_security)
    try:
        with server.client(token=server.token("admin-1")) as admin:
            ready = admin.get("/readyz").json()
            assert ready["checks"]["config"] is False
            assert any("OTHER_PASS" in reason for reason in ready["reasons"]), ready
            assert _entry(_config(admin), "calm")["camera"]["sub_url"] is None  # the file's
    finally:
        stop()
