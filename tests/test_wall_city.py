"""The video wall with the city's cameras, in a real headless Chromium against a real hub on
the profile simulator: an H.265-only camera's large tile shows snapshots and says its codec
is not playable; a camera with an H.264 sub-stream plays it in the large tile and says the
H.265 main is not sent, and why; a camera with an 8 s GOP carries a long-GOP badge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.server import RtspSimulator
from tests.browser_fixtures import PASSWORD, HubServer, ServedHub, launch_chromium
from tests.sim_profiles import profile_simulator

pytestmark = pytest.mark.timeout(600)  # a fresh checkout encodes the profiles first
WAIT_MS = 90_000
CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
cameras:
  - {{id: only-main, name: H.265 only, group: jinsha, url: "{hd_main}"}}
  - {{id: roles, name: Main and sub, group: jinsha, url: "{hd_main}", sub_url: "{hd_sub}"}}
  - id: slow
    name: Keyframes every 8 s
    group: jinsha
    url: "{gop8_main}"
    sub_url: "{gop8_sub}"
    main_ring: never
    zones:
      - {{id: ban, kind: no_fishing, polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
"""


@pytest.fixture(scope="module")
def served(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedHub]:
    root = tmp_path_factory.mktemp("wall-city")
    settings = Settings(data_dir=root / "data", open_timeout_s=5, read_timeout_s=5,
                        stall_timeout_s=10, learn_s=5, analysis_width=160,
                        analysis_height=96)  # fmt: skip
    with profile_simulator(pytestconfig, root / "streams") as sim:
        urls = {f"{p}_{s}": _url(sim, p, s) for p in ("hd", "gop8") for s in ("main", "sub")}
        with HubServer(settings, parse_config(CONFIG.format(**urls), "wall")) as hub:
            yield hub


def _url(sim: RtspSimulator, profile: str, stream: str) -> str:
    return sim.url(f"/cam-{profile}/{stream}", True)


@pytest.fixture(scope="module")
def wall(served: ServedHub) -> Iterator[Page]:
    with launch_chromium() as browser:
        yield _signed_in(browser, served)


def _signed_in(browser: Browser, served: ServedHub) -> Page:
    context = browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(served.base_url + "/login")
    page.fill("#username", "olga")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url("**/wall")
    return page


def _focus(wall: Page, camera: str) -> None:
    wall.click(f"#grid .tile[data-camera='{camera}']")
    wall.wait_for_selector(f"#focus-tile[data-camera='{camera}']")


def test_an_h265_only_camera_shows_snapshots_and_says_its_codec_is_not_playable(
    wall: Page,
) -> None:
    wall.wait_for_selector("#grid .tile[data-camera='only-main'] .badge.streaming",
                           timeout=WAIT_MS)  # fmt: skip
    _focus(wall, "only-main")
    wall.wait_for_function(
        "document.querySelector('#focus-tile .mode').textContent.includes('codec not playable')",
        timeout=WAIT_MS,
    )
    assert "forwards H.264 only" in (wall.get_attribute("#focus-tile .mode", "title") or "")
    # Its snapshots are decoded by the hub: the main stream's own 1280x720.
    wall.wait_for_function(
        "document.querySelector('#focus-tile img').naturalWidth === 1280", timeout=WAIT_MS
    )


def test_the_large_tile_plays_the_sub_stream_and_says_why_not_the_main(wall: Page) -> None:
    wall.wait_for_selector("#grid .tile[data-camera='roles'] .badge.streaming", timeout=WAIT_MS)
    _focus(wall, "roles")
    wall.wait_for_selector("#focus-tile[data-live='live']", timeout=WAIT_MS)
    wall.wait_for_function(
        "document.querySelector('#focus-tile .mode').textContent === 'live · sub-stream'",
        timeout=WAIT_MS,
    )
    title = wall.get_attribute("#focus-tile .mode", "title") or ""
    assert "the main stream is hevc" in title, title
    assert wall.get_attribute("#focus-tile", "data-stream") == "sub"


def test_a_long_gop_camera_wears_its_warning(wall: Page) -> None:
    badge = "#grid .tile[data-camera='slow'] .badge.warning"
    wall.wait_for_selector(badge, timeout=WAIT_MS)
    # Timed by arrival: about 8 s (the simulator's loop splice can shorten one interval).
    assert re.fullmatch(r"⚠ long GOP [6-9]\.\d s", wall.text_content(badge) or ""), badge
    assert "wants detection within 5 s" in (wall.get_attribute(badge, "title") or "")
    path = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    wall.screenshot(path=str(path / "wall-city.png"))
