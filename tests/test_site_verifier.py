"""The site's verifier: trained from the reviewers' labelled boxes on generated snapshots,
kept in versions, refused activation when it scores worse, swapped live at the next call,
and its API on a real hub (roles, bad requests, train and activate, audit)."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from alerts.labels import Draft, Image, Label, SampleStore, Source
from api.routes.verifier import labelled_boxes
from api.security import Role
from detectors.regions import Regions
from detectors.site_verifier import (
    ACTIVE_FILE,
    LabelledBox,
    NotEnoughLabels,
    SiteVerifiers,
    WorseModel,
    train_from_boxes,
)
from detectors.verifier import SwappableVerifier, Verifier
from tests.api_fixtures import ApiServer, api_server_fixture, module_rtsp_fixture

__all__ = ["api_server_fixture", "module_rtsp_fixture"]

WH = (640, 360)
SHAPE_HW = (180, 320)


def _snapshot(path: Path, rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Noisy water with one dark hull and one patch of bright glint; (hull box, glint box)."""
    img = np.clip(rng.normal(110, 6, (WH[1], WH[0])), 0, 255).astype(np.uint8)
    w, h = int(rng.integers(40, 80)), int(rng.integers(12, 20))
    x, y = int(rng.integers(10, WH[0] - w - 10)), int(rng.integers(60, 140))
    img[y : y + h, x : x + w] = rng.integers(30, 60)
    size = int(rng.integers(24, 40))
    gx, gy = int(rng.integers(10, WH[0] - size - 10)), int(rng.integers(200, 300))
    patch = img[gy : gy + size, gx : gx + size]
    patch[rng.random((size, size)) < 0.25] = 250
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path.write_bytes(data.tobytes())
    return (x, y, x + w, y + h), (gx, gy, gx + size, gy + size)


async def _store(
    root: Path, images: int, seed: int = 1, start: int = 1_000, flipped: int = 0
) -> None:
    """A label store like the reviewers leave it: a boat and a not-boat box per snapshot,
    labelled from `start` (seconds); the first `flipped` snapshots' labels are swapped."""
    clock = iter(range(start, start + 100_000, 10))
    store = SampleStore(root, clock=lambda: float(next(clock)))
    rng = np.random.default_rng(seed)
    for i in range(images):
        name = f"images/{seed}-{i:03d}.jpg"
        hull, glint = _snapshot(root / name, rng)
        image = Image(name, WH)
        boat, other = (Label.NOT_BOAT, Label.BOAT) if i < flipped else (Label.BOAT, Label.NOT_BOAT)
        for box, label in ((hull, boat), (glint, other)):
            await store.add(Draft("calm", image, box, label, Source.PAGE, "zhao.min", i + 1))


def _boxes(tmp_path: Path, images: int = 30, seed: int = 1) -> list[LabelledBox]:
    asyncio.run(_store(tmp_path / "labels", images, seed))
    return labelled_boxes(tmp_path / "labels")


def test_training_from_site_labels_separates_hulls_from_glint(tmp_path: Path) -> None:
    boxes = _boxes(tmp_path)
    assert len(boxes) == 60 and sum(b.vessel for b in boxes) == 30
    trained = train_from_boxes(boxes, SHAPE_HW)
    held = trained.verifier.manifest.held_out
    assert held is not None and held.regions == len(trained.held_label_k) >= 16
    assert held.f1 >= 0.9 and held.accuracy >= 0.9
    # The later snapshots were held out (the split is by time).
    assert trained.held_ts_k.min() > sorted(b.ts for b in boxes)[41]
    assert trained.verifier.manifest.counts.per_label == {"other": 30, "vessel": 30}
    # Unseen snapshots: every hull scores above every glint patch.
    fresh = _boxes(tmp_path / "fresh", images=6, seed=9)
    from detectors.site_verifier import _rows

    features_kf, label_k, _, _ = _rows(fresh, SHAPE_HW)
    score = trained.verifier.vessel_score(features_kf)
    assert score[label_k == 1].min() > score[label_k == 0].max()


def test_too_few_or_one_sided_labels_are_refused_with_a_reason(tmp_path: Path) -> None:
    boxes = _boxes(tmp_path, images=10)
    with pytest.raises(NotEnoughLabels, match="need at least 8 with both labels"):
        train_from_boxes(boxes[:4], SHAPE_HW)
    with pytest.raises(NotEnoughLabels, match=r"20 boat, 0 not boat"):
        train_from_boxes([replace(b, vessel=True) for b in boxes], SHAPE_HW)


def test_a_version_trained_for_review_waits_as_a_candidate_with_both_scores(
    tmp_path: Path,
) -> None:
    boxes = _boxes(tmp_path, images=40)
    holder = SwappableVerifier()
    site = SiteVerifiers(tmp_path / "verifier", holder)
    first = site.train(boxes, SHAPE_HW, activate=False)
    assert (first.version, first.activated, first.state) == ("v0001", False, "candidate")
    assert first.comparison.new is not None and first.comparison.new.f1 >= 0.9
    assert site.active_version() is None and holder.inner is None
    (info,) = site.versions()
    assert info.state == "candidate" and info.reason.startswith("awaiting review: ")
    assert site.activate("v0001").state == "active" and holder.inner is not None
    good = holder.inner
    # A worse candidate shows the active model's score beside its own and stays out.
    rng = np.random.default_rng(3)
    cut = int(len(boxes) * 0.7)
    scrambled = [replace(b, vessel=bool(rng.random() < 0.5)) for b in boxes[:cut]] + boxes[cut:]
    second = site.train(scrambled, SHAPE_HW, activate=False)
    assert (second.state, second.activated) == ("candidate", False)
    c = second.comparison
    assert c.worse and c.new is not None and c.active is not None and c.new.f1 < c.active.f1
    assert "awaiting review: worse: " in {v.version: v for v in site.versions()}["v0002"].reason
    with pytest.raises(WorseModel):
        site.activate("v0002")
    assert site.active_version() == "v0001" and holder.inner is good
    states = {v.version: v.state for v in SiteVerifiers(tmp_path / "verifier").versions()}
    assert states == {"v0001": "active", "v0002": "candidate"}


def test_a_worse_model_is_kept_not_activated_and_refused_unless_forced(tmp_path: Path) -> None:
    boxes = _boxes(tmp_path, images=40)
    holder = SwappableVerifier()
    site = SiteVerifiers(tmp_path / "verifier", holder)
    first = site.train(boxes, SHAPE_HW)
    assert (first.version, first.activated) == ("v0001", True)
    assert site.active_version() == "v0001" and holder.inner is not None
    good = holder.inner
    # Reviewers' early labels scrambled: a model learnt from them scores worse on the later
    # (true) labels than the active one does on the same boxes.
    rng = np.random.default_rng(3)
    cut = int(len(boxes) * 0.7)
    scrambled = [replace(b, vessel=bool(rng.random() < 0.5)) for b in boxes[:cut]] + boxes[cut:]
    second = site.train(scrambled, SHAPE_HW)
    assert (second.version, second.activated) == ("v0002", False)
    c = second.comparison
    assert c.worse and c.new is not None and c.active is not None and c.new.f1 < c.active.f1
    assert c.rows == c.new.regions == c.active.regions > 0
    assert site.active_version() == "v0001" and holder.inner is good
    versions = {v.version: v for v in site.versions()}
    assert versions["v0001"].state == "active"
    assert versions["v0002"].state == "kept" and "not activated: worse" in versions["v0002"].reason
    with pytest.raises(WorseModel, match="v0002 scores worse than the active v0001"):
        site.activate("v0002")
    assert site.active_version() == "v0001"
    forced = site.activate("v0002", force=True)
    assert forced.activated and site.active_version() == "v0002"
    assert holder.inner is not good and holder.inner is not None
    assert (tmp_path / "verifier" / ACTIVE_FILE).read_text() == '{"version": "v0002"}\n'
    # A new registry (a restarted hub) reads the same active version.
    reopened = SiteVerifiers(tmp_path / "verifier").load_active()
    assert reopened is not None and reopened.manifest == holder.inner.manifest
    states = {v.version: v.state for v in site.versions()}
    assert states == {"v0001": "kept", "v0002": "active"}


def _regions(n: int) -> Regions:
    xyxy = np.array([[10, 10, 40, 20]] * n, np.int32)
    return Regions(np.zeros(n, np.intp), xyxy, np.full(n, 2, np.int32),
                   np.zeros(n, np.float32), np.zeros(n, np.float32))  # fmt: skip


class _Fixed(Verifier):
    """A stand-in model that keeps the first `keep` regions (only to count calls and swaps)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep

    def judge(self, frames_nhw: np.ndarray, regions: Regions, earlier: object = None) -> np.ndarray:  # type: ignore[override]
        return np.arange(len(regions)) < self.keep


def test_the_holder_swaps_at_the_next_call() -> None:
    holder = SwappableVerifier()
    frames = np.zeros((1, 32, 64), np.uint8)
    plan: list[Verifier | None] = [None, _Fixed(2), None, _Fixed(0), _Fixed(1)]
    kept = []
    for model in plan:  # one swap between ticks, then one tick
        holder.swap(model)
        kept.append(len(holder.confirm(frames, _regions(3))))
    assert kept == [3, 2, 3, 0, 1]


def test_a_swap_during_a_tick_takes_effect_at_the_next_tick() -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    class Slow(_Fixed):
        def judge(
            self, frames_nhw: np.ndarray, regions: Regions, earlier: object = None
        ) -> np.ndarray:  # type: ignore[override]
            started.set()
            release.wait(5)
            return super().judge(frames_nhw, regions)

    holder = SwappableVerifier(Slow(1))
    frames = np.zeros((1, 32, 64), np.uint8)
    out: list[int] = []
    tick = threading.Thread(target=lambda: out.append(len(holder.confirm(frames, _regions(3)))))
    tick.start()
    assert started.wait(5)
    holder.swap(_Fixed(3))  # while the tick runs
    release.set()
    tick.join(5)
    assert out == [1]  # the tick in flight finished with the model it started with
    assert len(holder.confirm(frames, _regions(3))) == 3


def test_a_hub_config_naming_the_site_verifier_loads_the_active_version(tmp_path: Path) -> None:
    from hub.runtime import load_region_model
    from riverwatch.config import load_config

    config = tmp_path / "hub.yaml"
    config.write_text(
        "verifier: site\ncameras:\n- {id: dock, name: Dock, group: river, url: 'file:///dev/null'}\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    empty = load_region_model(loaded, tmp_path / "data")
    assert isinstance(empty, SwappableVerifier) and empty.inner is None
    SiteVerifiers(tmp_path / "data" / "verifier").train(_boxes(tmp_path, 20), SHAPE_HW)
    model = load_region_model(loaded, tmp_path / "data")
    assert isinstance(model, SwappableVerifier) and model.inner is not None


def test_a_version_activated_on_one_hub_runs_on_the_others_sharing_the_files(
    tmp_path: Path,
) -> None:
    from hub.runtime import site_verifiers

    root = tmp_path / "shared" / "verifier"
    here, there = site_verifiers(root), site_verifiers(root)  # two hubs, one files root
    assert here.holder is not None and there.holder is not None
    assert there.follow() is None and there.holder.inner is None  # nothing active yet
    outcome = here.train(_boxes(tmp_path, 20), SHAPE_HW)
    assert outcome.activated and here.holder.inner is not None
    assert there.follow() == outcome.version  # the other hub swaps it in
    assert there.holder.inner is not None
    assert there.follow() is None  # once
    running = there.holder.inner
    shutil.copytree(root / outcome.version, root / "v0002")
    (root / "v0002" / "model.xml").write_text("broken")  # a version it cannot load
    (root / "active.json").write_text('{"version": "v0002"}')
    assert there.follow() is None and there.holder.inner is running  # keeps what it runs
    assert there.problem is not None and "v0002" in there.problem


def test_an_older_riverwatchs_active_version_is_not_run_and_a_retrain_replaces_it(
    tmp_path: Path,
) -> None:
    from hub.runtime import site_verifiers

    root = tmp_path / "verifier"
    boxes = _boxes(tmp_path, 20)
    SiteVerifiers(root).train(boxes, SHAPE_HW)
    manifest = root / "v0001" / "manifest.json"
    raw = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**raw, "feature_spec": "riverwatch-crop-v1"}))
    site = site_verifiers(root)  # the hub starts: every region kept, the reason kept
    assert site.holder is not None and site.holder.inner is None
    assert site.problem is not None and "train the model again" in site.problem
    outcome = site.train(boxes, SHAPE_HW)
    assert outcome.activated and site.active_version() == "v0002" and site.problem is None
    assert site.holder.inner is not None


# ---- the API on a real hub ------------------------------------------------------------------


def test_the_verifier_api_trains_activates_refuses_and_audits(api_server: ApiServer) -> None:
    with api_server.client(Role.OPERATOR) as client:
        for method, url in (("GET", ""), ("POST", "/train"), ("POST", "/activate")):
            answer = client.request(method, f"/api/verifier{url}", json={"version": "v0001"})
            assert answer.status_code == 403, answer.text
            assert "operator role may not do this" in answer.json()["detail"]
    labels = api_server.hub.data_dir / "labels"
    with api_server.client(Role.REVIEWER) as client:
        answer = client.post("/api/verifier/train")
        assert answer.status_code == 422 and "need at least 8" in answer.json()["detail"]
        for body in ({"version": "../x"}, {"version": "v0001", "extra": 1}, {}):
            assert client.post("/api/verifier/activate", json=body).status_code == 422
        answer = client.post("/api/verifier/activate", json={"version": "v0042"})
        assert answer.status_code == 404 and "no verifier version 'v0042'" in answer.text

        api_server.run(_store(labels, 24, seed=5))
        answer = client.post("/api/verifier/train")
        assert answer.status_code == 201, answer.text
        trained = answer.json()
        assert trained["version"] == "v0001" and trained["activated"] is True
        assert trained["held_out"]["f1"] >= 0.9 and trained["active_held_out"] is None

        status = client.get("/api/verifier").json()
        assert status["active"] == "v0001" and status["live"] is False
        assert status["labels"] == {"boat": 24, "not_boat": 24}
        (version,) = status["versions"]
        assert version["state"] == "active" and version["held_out"]["f1"] >= 0.9
        assert version["per_label"] == {"other": 24, "vessel": 24}

        answer = client.post("/api/verifier/train")
        assert answer.status_code == 201, answer.text
        again = answer.json()
        assert again["version"] == "v0002" and again["active_held_out"] is not None
        assert "on the same" in again["reason"]
        for body, field in (({"activate": "sometimes"}, "activate"), ({"x": 1}, "x")):
            answer = client.post("/api/verifier/train", json=body)
            assert answer.status_code == 422 and field in answer.text, answer.text
        answer = client.post("/api/verifier/train", json={"activate": "review"})
        assert answer.status_code == 201, answer.text
        review = answer.json()
        assert (review["version"], review["state"], review["activated"]) == (
            "v0003", "candidate", False
        )  # fmt: skip
        assert review["held_out"] is not None and review["active_held_out"] is not None
        states = {v["version"]: v["state"] for v in client.get("/api/verifier").json()["versions"]}
        assert states["v0003"] == "candidate" and "active" in states.values()
        answer = client.post("/api/verifier/activate", json={"version": "v0001", "force": True})
        assert answer.status_code == 200 and answer.json()["activated"] is True
    with api_server.client(Role.ADMIN) as client:
        entries = client.get("/api/audit", params={"limit": 500}).json()
    items = entries["items"] if isinstance(entries, dict) else entries
    actions = {(e["action"], e["target"]) for e in items}
    assert ("verifier.train", "verifier:v0001") in actions
    assert ("verifier.activate", "verifier:v0001") in actions


def test_the_cli_trains_a_model_folder_from_a_label_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import main

    asyncio.run(_store(tmp_path / "labels", 20))
    out = tmp_path / "site.verifier"
    assert main(["verifier", "train", "--labels", str(tmp_path / "labels"), "--out", str(out)]) == 0
    model = Verifier.load(out)
    assert model.manifest.counts.per_label == {"other": 20, "vessel": 20}
    assert model.manifest.held_out is not None and "wrote" in capsys.readouterr().out
    assert main(["verifier", "train", "--out", str(out)]) == 2
    assert "needs --labels DIR, or --footage" in capsys.readouterr().err
    empty = tmp_path / "empty"
    assert main(["verifier", "train", "--labels", str(empty), "--out", str(out)]) == 2
    assert "0 labelled boxes" in capsys.readouterr().err
