"""The site-verifier section of the labelling page in a real headless Chromium under its
Content-Security-Policy: a reviewer labels a box, retrains, and reads the new version's held-out
score; a second retraining shows its score beside the active model's on the same held-out boxes
and says whether it was activated (the page's text agrees with `GET /api/verifier`)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser

from tests.browser_fixtures import ServedHub
from tests.test_label_page import WAIT_MS, _at, served
from tests.test_pages_papercuts import _signed_in, browser
from tests.test_site_verifier import _store

__all__ = ["browser", "served"]
TRAIN_MS = 180_000  # a forest on a few dozen snapshots; seconds here, but CI machines are slow
F1 = r"held-out F1 (\d\.\d\d) on (\d+) boxes"


def test_a_reviewer_labels_retrains_and_sees_the_held_out_scores(
    served: ServedHub, browser: Browser
) -> None:
    # Snapshots the reviewers labelled earlier: a hull (boat) and glint (not boat) on each.
    served.run(_store(served.hub.data_dir / "labels", 24, seed=5))
    ticket = served.get("/api/incidents", "zhao.min")["items"][0]["ticket"]["id"]
    page = _signed_in(browser, served, "zhao.min", f"/label?ticket={ticket}", csp=True)
    page.wait_for_selector(f"body[data-loaded='{ticket}']", timeout=WAIT_MS)
    page.wait_for_selector(f"body[data-image='{ticket}']", timeout=WAIT_MS)

    # One more label, in the browser: the detected box (40, 40, 160, 120) is a boat.
    page.mouse.click(*_at(page, 100, 80))
    page.click("#mark-boat")
    page.wait_for_selector("#marks li[data-label='boat']")
    labels = served.get("/api/verifier", "zhao.min")["labels"]
    assert labels == {"boat": 25, "not_boat": 24}, labels

    page.click("#retrain")
    page.wait_for_selector("body[data-trained='v0001']", timeout=TRAIN_MS)
    first = page.text_content("#retrain-result") or ""
    match = re.fullmatch(rf"v0001: {F1}\. Activated\.", first)
    assert match, first
    assert float(match[1]) >= 0.9 and int(match[2]) > 0, first
    row = page.locator("#versions li[data-version='v0001']")
    row.wait_for(timeout=WAIT_MS)
    assert row.get_attribute("data-state") == "active"
    assert re.search(rf"^v0001 · active · {F1}", row.text_content() or ""), row.text_content()
    assert "Active: v0001" in (page.text_content("#verifier-facts") or "")

    page.click("#retrain")
    page.wait_for_selector("body[data-trained='v0002']", timeout=TRAIN_MS)
    second = page.text_content("#retrain-result") or ""
    match = re.fullmatch(
        rf"v0002: {F1}; the active model scores F1 (\d\.\d\d) on the same boxes\. "
        r"(Activated\.|Kept, not activated: .+)",
        second,
    )
    assert match, second
    new_f1, active_f1, said = float(match[1]), float(match[3]), match[4]
    activated = said == "Activated."
    # The page says what the hub did: a worse model is kept, the other becomes active (equal
    # scores to two places can be either way round unrounded).
    if new_f1 != active_f1:
        assert activated == (new_f1 > active_f1), second
    status = served.get("/api/verifier", "zhao.min")
    states = {v["version"]: v["state"] for v in status["versions"]}
    assert states == (
        {"v0001": "kept", "v0002": "active"} if activated else {"v0001": "active", "v0002": "kept"}
    ), states
    page.locator(f"#versions li[data-version='v0002'][data-state='{states['v0002']}']").wait_for(
        timeout=WAIT_MS
    )
    page.locator(f"#versions li[data-version='v0001'][data-state='{states['v0001']}']").wait_for(
        timeout=WAIT_MS
    )
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
