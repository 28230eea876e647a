"""The labelling page in a real headless Chromium under its Content-Security-Policy: a reviewer
marks the detected box as a boat and drags a box around a boat that was missed; both reach
`GET /api/labels` in the snapshot's pixels."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from riverwatch.settings import Settings
from simulator.scenes import SceneFiles
from tests.browser_fixtures import ServedHub
from tests.test_pages_papercuts import _signed_in, browser, serve_calm_hub

__all__ = ["browser"]
WAIT_MS = 60_000
TOLERANCE_PX = 6  # snapshot pixels: a 640 px picture drawn at some other width, rounded


@pytest.fixture(scope="module")
def served(
    scenes: dict[str, SceneFiles], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedHub]:
    """A hub analysing at 160x96 with one incident whose snapshot is 640x384."""
    data_dir = tmp_path_factory.mktemp("label-page") / "data"
    settings = Settings(data_dir=data_dir, open_timeout_s=3, read_timeout_s=2,
                        backoff_base_s=0.2, backoff_max_s=1.0, learn_s=3600,
                        analysis_width=160, analysis_height=96)  # fmt: skip
    snapshot = data_dir / "evidence" / "day" / "incident.jpg"
    snapshot.parent.mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.full((384, 640, 3), 70, np.uint8))
    assert ok
    snapshot.write_bytes(jpeg.tobytes())
    with serve_calm_hub(
        scenes, settings, "1abe11ed1abe11ed1abe11ed", "evidence/day/incident.jpg"
    ) as hub:
        yield hub


def _at(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where the snapshot pixel (x, y) is on the screen."""
    rect = page.locator("#boxes").bounding_box()
    assert rect is not None
    return rect["x"] + x / 640 * rect["width"], rect["y"] + y / 384 * rect["height"]


def test_a_reviewer_marks_a_detected_box_and_draws_a_missed_boat(
    served: ServedHub, browser: Browser
) -> None:
    ticket = served.get("/api/incidents", "zhao.min")["items"][0]["ticket"]["id"]
    page = _signed_in(browser, served, "zhao.min", f"/label?ticket={ticket}", csp=True)
    page.wait_for_selector(f"body[data-loaded='{ticket}']", timeout=WAIT_MS)
    page.wait_for_selector(f"body[data-image='{ticket}']", timeout=WAIT_MS)
    assert page.locator("#incidents a").count() == 1

    page.mouse.click(*_at(page, 100, 80))  # inside the detected box (40, 40, 160, 120)
    page.click("#mark-boat")
    page.wait_for_selector("#marks li[data-label='boat']")

    page.mouse.move(*_at(page, 400, 200))
    page.mouse.down()
    page.mouse.move(*_at(page, 480, 260), steps=5)
    page.mouse.move(*_at(page, 560, 320), steps=5)
    page.mouse.up()
    page.wait_for_selector("#marks li[data-label-id]:nth-child(2)")

    samples = served.get(f"/api/labels?ticket={ticket}", "zhao.min")["samples"]
    assert [(s["label"], s["source"], s["user"]) for s in samples] == [
        ("boat", "page", "zhao.min"),
        ("boat", "page", "zhao.min"),
    ]
    assert samples[0]["box_xyxy"] == [40, 40, 160, 120]
    drawn = samples[1]["box_xyxy"]
    assert all(
        abs(a - b) <= TOLERANCE_PX for a, b in zip(drawn, [400, 200, 560, 320], strict=True)
    ), drawn
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
