"""The site's labels: the sample store on disk, verdicts becoming samples, and the label API
on a real hub (good and bad boxes, roles, audit)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from alerts.labels import (
    BadSample,
    Draft,
    Image,
    Label,
    SampleNotFound,
    SampleStore,
    Source,
    read_samples,
    verdict_drafts,
)
from alerts.labels.jpeg import jpeg_size
from alerts.labels.store import SAMPLES_FILE
from alerts.tickets import Ticket, TrackPoint, Verdict
from api.security import Role
from tests.api_fixtures import ApiServer, api_server_fixture, module_rtsp_fixture

__all__ = ["api_server_fixture", "module_rtsp_fixture"]

IMAGE = Image("images/a.jpg", (640, 384))


def _draft(box: tuple[int, int, int, int], label: Label, source: Source = Source.PAGE,
           ticket: int | None = 7) -> Draft:  # fmt: skip
    return Draft("calm", IMAGE, box, label, source, "zhao.min", ticket, "a")


def _jpeg(path: Path, wh: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", np.full((wh[1], wh[0], 3), 90, np.uint8))
    assert ok
    path.write_bytes(data.tobytes())


# ---- the store ------------------------------------------------------------------------------


async def test_samples_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "labels", clock=lambda: 100.0)
    boat = await store.add(_draft((10, 20, 90, 60), Label.BOAT))
    swan = await store.add(_draft((100, 100, 140, 130), Label.NOT_BOAT, Source.VERDICT))
    other = await store.add(
        replace(_draft((0, 0, 5, 5), Label.BOAT), image=Image("images/b.jpg", (640, 384)))
    )
    await store.remove(other.id, "zhao.min")

    assert await store.for_image("images/a.jpg") == [boat, swan]
    assert await store.for_image("images/b.jpg") == []
    reopened = SampleStore(tmp_path / "labels")
    assert await reopened.all() == [boat, swan]
    assert read_samples(tmp_path / "labels") == [boat, swan]
    assert boat.box_xyxy == (10, 20, 90, 60) and boat.image_wh == (640, 384) and boat.ts == 100.0
    counts = await reopened.counts()
    assert (counts.total, counts.by_label, counts.by_source) == (
        2, {"boat": 1, "not_boat": 1}, {"verdict": 1, "page": 1},
    )  # fmt: skip
    assert counts.by_label_source == {"boat": {"page": 1}, "not_boat": {"verdict": 1}}
    with pytest.raises(SampleNotFound):
        await reopened.remove(other.id, "zhao.min")


async def test_a_torn_last_line_is_skipped_and_later_appends_still_read(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    kept = await store.add(_draft((1, 1, 9, 9), Label.BOAT))
    with (tmp_path / SAMPLES_FILE).open("a") as f:
        f.write('{"op": "add", "id": "dead')  # a crash in the middle of a write
    after = await SampleStore(tmp_path).add(_draft((2, 2, 8, 8), Label.NOT_BOAT))
    assert read_samples(tmp_path) == [kept, after]


@pytest.mark.parametrize(
    "box",
    [(0, 0, 0, 10), (5, 5, 4, 9), (-1, 0, 10, 10), (0, 0, 641, 10), (0, 0, 10, 385)],
)
def test_a_box_outside_its_image_or_empty_is_refused(box: tuple[int, int, int, int]) -> None:
    with pytest.raises(BadSample):
        _draft(box, Label.BOAT)


def test_the_jpeg_size_comes_from_its_header(tmp_path: Path) -> None:
    _jpeg(tmp_path / "x.jpg", (321, 123))
    assert jpeg_size(tmp_path / "x.jpg") == (321, 123)
    (tmp_path / "y.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(BadSample):
        jpeg_size(tmp_path / "y.jpg")


async def test_replace_swaps_the_picked_samples_in_one_append(tmp_path: Path) -> None:
    store = SampleStore(tmp_path)
    page = await store.add(_draft((1, 1, 9, 9), Label.BOAT))
    first = await store.add(_draft((2, 2, 8, 8), Label.BOAT, Source.VERDICT))
    new = await store.replace(
        lambda s: s.ticket_id == 7 and s.source is Source.VERDICT,
        [_draft((2, 2, 8, 8), Label.NOT_BOAT, Source.VERDICT)],
    )
    assert await store.all() == [page, *new]
    assert first not in read_samples(tmp_path)
    ops = [json.loads(line)["op"] for line in (tmp_path / SAMPLES_FILE).read_text().splitlines()]
    assert ops == ["add", "add", "remove", "add"]


def test_a_verdict_labels_the_opening_box_scaled_to_the_snapshot() -> None:
    track = [TrackPoint(10.0, (10, 10, 40, 30)), TrackPoint(11.0, (20, 12, 50, 32)),
             TrackPoint(30.0, (100, 50, 150, 90))]  # fmt: skip
    ticket = _ticket(created_at=11.5, box=(100, 50, 150, 90))
    drafts = verdict_drafts(ticket, track, Verdict.CONFIRMED, (160, 96), IMAGE, "zhao.min")
    # The open's box (the last point before the ticket existed), times 4 (640/160, 384/96).
    assert [(d.box_xyxy, d.label, d.source) for d in drafts] == [
        ((80, 48, 200, 128), Label.BOAT, Source.VERDICT)
    ]
    false = verdict_drafts(ticket, [], Verdict.FALSE_ALARM, (160, 96), IMAGE, "zhao.min")
    assert [(d.box_xyxy, d.label) for d in false] == [((400, 200, 600, 360), Label.NOT_BOAT)]


def _ticket(created_at: float, box: tuple[int, int, int, int]) -> Ticket:
    # Only the fields the verdict helpers read are real; the rest are never looked at.
    blank: dict[str, Any] = dict.fromkeys(Ticket.__dataclass_fields__)
    fields = {"id": 7, "alert_id": "a", "camera_id": "calm", "created_at": created_at}
    return Ticket(**{**blank, **fields, "box_xyxy": box})


# ---- the API on a real hub ------------------------------------------------------------------


def _ticket_with_snapshot(server: ApiServer, name: str) -> int:
    # The fixture's hub analyses at 160x96; its alert box is (10, 10, 40, 30).
    _jpeg(server.hub.data_dir / "evidence" / "labels" / f"{name}.jpg", (640, 384))
    return server.ticket(snapshot=f"evidence/labels/{name}.jpg")


def _verdict(server: ApiServer, ticket: int, verdict: str) -> None:
    with server.client(Role.REVIEWER) as client:
        answer = client.post(f"/api/incidents/{ticket}/verdict", json={"verdict": verdict})
    assert answer.status_code == 200, answer.text


def _labels(server: ApiServer, ticket: int) -> dict[str, Any]:
    with server.client(Role.REVIEWER) as client:
        answer = client.get("/api/labels", params={"ticket": ticket})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_verdicts_become_samples_and_a_changed_verdict_replaces_them(
    api_server: ApiServer,
) -> None:
    ticket = _ticket_with_snapshot(api_server, "verdict")
    assert _labels(api_server, ticket)["detected"] == [[40, 40, 160, 120]]
    _verdict(api_server, ticket, "confirmed")
    samples = _labels(api_server, ticket)["samples"]
    assert [(s["label"], s["source"], s["box_xyxy"], s["user"]) for s in samples] == [
        ("boat", "verdict", [40, 40, 160, 120], "reviewer-1")
    ]
    _verdict(api_server, ticket, "false_alarm")
    samples = _labels(api_server, ticket)["samples"]
    assert [(s["label"], s["source"]) for s in samples] == [("not_boat", "verdict")]
    on_disk = read_samples(api_server.hub.data_dir / "labels")
    mine = [s for s in on_disk if s.ticket_id == ticket]
    assert [(s.label, s.box_xyxy, s.image_wh) for s in mine] == [
        (Label.NOT_BOAT, (40, 40, 160, 120), (640, 384))
    ]
    assert (api_server.hub.data_dir / "labels" / mine[0].image).is_file()


def test_the_label_api_adds_refuses_bad_boxes_removes_and_audits(api_server: ApiServer) -> None:
    ticket = _ticket_with_snapshot(api_server, "page")
    body = {"ticket_id": ticket, "box_xyxy": [300, 200, 420, 260], "label": "boat"}
    with api_server.client(Role.REVIEWER) as client:
        before = client.get("/api/labels/counts").json()
        added = client.post("/api/labels", json=body)
        assert added.status_code == 201, added.text
        assert added.json()["source"] == "page"
        for bad, words in (
            ({**body, "box_xyxy": [600, 10, 700, 50]}, "not inside the 640x384 image"),
            ({**body, "box_xyxy": [50, 50, 40, 60]}, "empty"),
            ({**body, "box_xyxy": [1, 2, 3]}, "box_xyxy"),
            ({**body, "label": "swan"}, "label"),
        ):
            answer = client.post("/api/labels", json=bad)
            assert answer.status_code == 422, answer.text
            assert words in answer.text
        after = client.get("/api/labels/counts").json()
        assert after["by_label"]["boat"] == before["by_label"]["boat"] + 1
        assert after["by_source"]["page"] == before["by_source"]["page"] + 1
        label_id = added.json()["id"]
        assert client.delete(f"/api/labels/{label_id}").status_code == 204
        assert client.delete(f"/api/labels/{label_id}").status_code == 404
        assert _labels(api_server, ticket)["samples"] == []
    with api_server.client(Role.OPERATOR) as client:
        assert client.post("/api/labels", json=body).status_code == 403
        assert client.get("/api/labels", params={"ticket": ticket}).status_code == 403
    with api_server.client(Role.ADMIN) as client:
        entries = client.get("/api/audit", params={"limit": 500}).json()
    items = entries["items"] if isinstance(entries, dict) else entries
    actions = {(e["action"], e["target"]) for e in items}
    assert ("label.add", f"label:{label_id}") in actions
    assert ("label.remove", f"label:{label_id}") in actions
