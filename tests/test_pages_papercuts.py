"""Papercuts a new user met on the pages, in a real headless Chromium against a real hub.

The wall loads under its Content-Security-Policy without a console error; the replay list
draws its evidence icons as SVG (no emoji, which show as empty boxes without emoji fonts);
the stats page says "none due yet" for a ticket not due yet, keys its false-alarm charts with
a legend and draws their labels at a readable size. One hub on one calm camera serves them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from riverwatch.config import parse_config
from riverwatch.settings import Settings
from riverwatch.types import Alert, AlertPhase
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests.browser_fixtures import PASSWORD, HubServer, ServedHub, launch_chromium

CONFIG = """
groups:
  - {{id: heng, name: Heng, kind: river}}
cameras:
  - id: calm
    name: Heng calm water
    group: heng
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/calm
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}
WAIT_MS = 60_000
# Symbol and emoji blocks: arrows, technical, dingbats, misc symbols, and the astral emoji.
EMOJI_RANGES = [(0x2190, 0x2BFF), (0x1F000, 0x1FAFF)]
# Screenshots for a person to look at; outside the repository unless told otherwise.
SHOTS = Path(os.environ.get("RIVERWATCH_SHOTS", "/tmp/riverwatch-shots"))


@pytest.fixture(scope="module")
def served(
    scenes: dict[str, SceneFiles], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedHub]:
    """The hub and the app, with one ticket received just now (due in an hour)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("papercuts") / "data",
        open_timeout_s=3,
        read_timeout_s=2,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
        learn_s=3600,  # no alert of its own: the tickets are the ones made here
        analysis_width=160,
        analysis_height=96,
        ticket_sla_s=3600,
    )
    with serve_calm_hub(scenes, settings, "5a11c0ffee5a11c0ffee5a11", "evidence/x.jpg",
                        clip="evidence/x.mp4") as hub:  # fmt: skip
        yield hub


@contextlib.contextmanager
def serve_calm_hub(
    scenes: dict[str, SceneFiles],
    settings: Settings,
    alert_id: str,
    snapshot: str,
    clip: str | None = None,
) -> Iterator[ServedHub]:
    """A hub on one calm camera, served, with one ticket received just now from `alert_id`."""
    with RtspSimulator(
        [Mount("/calm", scenes["river_calm"].video)], credentials=("viewer", "s3cret-Pa55")
    ) as sim:
        loaded = parse_config(CONFIG.format(port=sim.port), env=ENV)
        with HubServer(settings, loaded) as hub:
            now = time.time()
            alert = Alert(
                alert_id, "calm", "ban", "vessel_in_zone", "high", now, now,
                1, 0.9, (10, 10, 40, 30), phase=AlertPhase.EVIDENCE, group="heng",
                snapshot=snapshot, clip=clip,
            )  # fmt: skip
            assert hub.run(hub.hub.tickets().apply(alert)) is not None
            yield hub


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with launch_chromium() as chromium:
        yield chromium


def _signed_in(browser: Browser, served: ServedHub, user: str, path: str, csp: bool) -> Page:
    """A page signed in as `user` on `path`; console errors and page errors collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=not csp)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{served.base_url}/login?next={path}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url("**" + path)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_wall_loads_under_its_csp_without_console_errors(
    served: ServedHub, browser: Browser
) -> None:
    page = _signed_in(browser, served, "olga", "/wall", csp=True)
    page.wait_for_selector("body[data-feed='open']", timeout=WAIT_MS)
    page.wait_for_selector("#grid .tile", timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    _shot(page, "wall")
    # A refused inline style is a console error ("Refused to apply inline style ...").
    assert page.errors == []  # type: ignore[attr-defined]
    # The width now comes from the stylesheet: 5em of the input's own font size.
    width, font = page.eval_on_selector(
        "#tour-s", "e => [getComputedStyle(e).width, getComputedStyle(e).fontSize].map(parseFloat)"
    )
    assert width == pytest.approx(5 * font)
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        assert " style=" not in client.get("/wall").text
    page.context.close()


def _emoji(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if any(lo <= ord(c) <= hi for lo, hi in EMOJI_RANGES)]


def test_the_replay_list_draws_svg_icons_and_serves_no_emoji(
    served: ServedHub, browser: Browser
) -> None:
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        for path in ("/replay", "/static/js/replay.js"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert _emoji(answer.text) == [], path
    page = _signed_in(browser, served, "zhao.min", "/replay", csp=False)
    row = page.locator("#incidents tbody tr[data-ticket-id]")
    row.first.wait_for()
    icons = row.first.locator("td.evidence-icons svg.icon")
    assert [icons.nth(i).get_attribute("data-icon") for i in range(icons.count())] == [
        "snapshot",
        "clip",
    ]
    assert _emoji(page.inner_text("#incidents")) == []
    _shot(page, "replay")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_stats_say_none_due_yet_and_key_the_false_alarm_charts(
    served: ServedHub, browser: Browser
) -> None:
    figures = served.get("/api/stats/loop", "zhao.min")
    assert (figures["received"], figures["sla_due"], figures["sla_compliance"]) == (1, 0, None)
    page = _signed_in(browser, served, "zhao.min", "/stats", csp=False)
    page.wait_for_selector("body[data-loaded='1']")
    assert page.text_content("#fig-sla .big") == "none due yet"
    for chart in ("#chart-camera", "#chart-rule"):
        items = page.locator(f"{chart} .legend .legend-item")
        assert items.all_text_contents() == ["received", "false alarms"]
        assert page.locator(f"{chart} .legend svg rect").count() == 2
    # Labels as drawn on screen: the CSS size times the chart's scale to the screen.
    sizes = page.eval_on_selector_all(
        "svg.chart text",
        """els => els.map(t => parseFloat(getComputedStyle(t).fontSize)
                                * t.ownerSVGElement.getScreenCTM().a)""",
    )
    assert sizes and min(sizes) >= 12, sizes
    _shot(page, "stats")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
