"""The pages in a real headless Chromium against a real hub on the RTSP simulator.

Contexts that wait on page state bypass the pages' Content-Security-Policy, since Playwright's
`wait_for_function` evaluates strings; the login test runs under it. One hub and one browser
serve the whole module; the tests run in file order, as the day
runs: the operator logs in and watches the wall, where the boat raises an alert and live
video plays; the enforcement officer walks the boat's ticket through the loop on a phone; the
reviewer replays the clip, gives a verdict and closes the loop; the stats count it.
Screenshots of each page land in test-output/screenshots/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from riverwatch.config import parse_config
from riverwatch.settings import Settings
from simulator.scenes import SceneFiles
from simulator.server import Mount, RtspSimulator
from tests.browser_fixtures import (
    PASSWORD,
    HubServer,
    ServedHub,
    launch_chromium,
    screenshot_dir,
)

CONFIG = """
groups:
  - {{id: jinsha, name: Jinsha, kind: river}}
  - {{id: heng, name: Heng, kind: river}}
cameras:
  - id: boat
    name: Jinsha boat crossing
    group: jinsha
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/boat
    zones:
      - {{id: ban, kind: no_fishing, severity: high,
          polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}
  - id: calm
    name: Heng calm water
    group: heng
    url: rtsp://${{CAM_USER}}:${{CAM_PASS}}@127.0.0.1:{port}/calm
sensors:
  sensors:
    - id: heng-turbidity-1
      kind: turbidity
      cameras: [{{camera_id: calm, position: downstream}}]
      thresholds: [{{id: turbid, above: 100, hysteresis: 10, severity: high}}]
profiles:
  - id: night
    name: Night
    when: [{{start: "22:00", end: "05:00", days: [sun]}}]
    overrides: [{{groups: [heng], rules: [vessel_in_zone], enabled: false}}]
"""
ENV = {"CAM_USER": "viewer", "CAM_PASS": "s3cret-Pa55"}
PHONE: ViewportSize = {"width": 390, "height": 844}
PNG = cv2.imencode(".png", np.full((16, 16, 3), 90, np.uint8))[1].tobytes()
WAIT_MS = 90_000
# Where the live picture sits in the large tile (object-fit: contain), in CSS pixels.
CONTENT_RECT = """() => {
    const v = document.querySelector('#focus-tile video');
    const s = Math.min(v.clientWidth / v.videoWidth, v.clientHeight / v.videoHeight);
    const w = v.videoWidth * s, h = v.videoHeight * s;
    return {x: (v.clientWidth - w) / 2, y: (v.clientHeight - h) / 2, w, h};
}"""
# The most opaque overlay pixel across the box's 3 px left stroke at (x, y) CSS pixels.
STROKE_PIXEL = """([x, y]) => {
    const c = document.querySelector('#focus-tile canvas.overlay');
    const r = window.devicePixelRatio || 1;
    const d = c.getContext('2d').getImageData(Math.round(x * r) - 2, Math.round(y * r), 5, 1).data;
    let best = [0, 0, 0, 0];
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > best[3]) best = [d[i], d[i + 1], d[i + 2], d[i + 3]];
    }
    return best;
}"""


@pytest.fixture(scope="module")
def served(
    scenes: dict[str, SceneFiles], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedHub]:
    """The hub and the app, for the whole module."""
    mounts = [
        Mount("/calm", scenes["river_calm"].video),
        Mount("/boat", scenes["river_boat_crossing"].video),
        Mount("/spare", scenes["river_calm"].video),  # a camera not added yet (admin page)
    ]
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("browser") / "data",
        open_timeout_s=3,
        read_timeout_s=2,
        stall_timeout_s=3,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
        tick_interval_s=0.1,
        # Long enough for the wall to be listening before the boat's first alert.
        learn_s=15,
        analysis_width=160,
        analysis_height=96,
        evidence_pre_roll_s=3.0,
        evidence_post_roll_s=3.0,
    )
    with RtspSimulator(mounts, credentials=("viewer", "s3cret-Pa55")) as sim:
        loaded = parse_config(CONFIG.format(port=sim.port), env=ENV)
        with HubServer(settings, loaded) as hub:
            yield hub


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def wall(served: ServedHub, browser: Browser) -> Iterator[Page]:
    """The operator's wall, opened as soon as the hub runs so it hears the first alert."""
    context = browser.new_context(viewport={"width": 1600, "height": 900}, bypass_csp=True)
    page = _page(context, served.base_url + "/login")
    _log_in(page, "olga")
    page.wait_for_url("**/wall")
    page.wait_for_function("document.body.dataset.feed === 'open'", timeout=WAIT_MS)
    yield page
    context.close()


def _page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")


def _shot(page: Page, name: str, full_page: bool = True) -> Path:
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _eventually(check: Callable[[], bool], timeout_s: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.25)


def test_login_refuses_a_wrong_password_and_lands_each_role_on_its_page(
    served: ServedHub, browser: Browser, wall: Page
) -> None:
    assert wall.url.endswith("/wall")
    assert wall.text_content("#role") == "operator"
    context = browser.new_context()  # under the pages' own CSP: they need nothing it forbids
    page = _page(context, served.base_url + "/")
    page.wait_for_url("**/login")
    _log_in(page, "li.wei", "not the password")
    page.wait_for_selector("#error:not([hidden])")
    assert "Wrong username or password" in (page.text_content("#error") or "")
    _shot(page, "login")
    _log_in(page, "li.wei")
    page.wait_for_url("**/inbox")
    assert page.evaluate("JSON.parse(sessionStorage.getItem('riverwatch.session')).role") == (
        "enforcement"
    )
    page.click("#logout")
    # On the login page; a poll that met the revoked token may have added `?next=` first.
    page.wait_for_url(re.compile(r".*/login(\?next=.*)?$"))
    page.goto(served.base_url + "/inbox")  # no session: back to the login page, then here
    page.wait_for_url("**/login?next=%2Finbox")
    _log_in(page, "zhao.min")
    page.wait_for_url("**/inbox")
    context.close()


def test_the_wall_shows_a_tile_per_camera_with_its_live_status(wall: Page) -> None:
    wall.wait_for_selector("#grid .tile[data-camera='boat'] .badge.streaming", timeout=WAIT_MS)
    wall.wait_for_selector("#grid .tile[data-camera='calm'] .badge.streaming", timeout=WAIT_MS)
    badge = wall.text_content("#grid .tile[data-camera='calm'] .badge") or ""
    assert badge.startswith("streaming ") and badge[-1] == "s", badge
    assert wall.locator("#grid .tile").count() == 4  # layout 4: two cameras, two empty
    wall.click("#layouts button[data-layout='9']")
    assert wall.locator("#grid .tile").count() == 9
    wall.select_option("#group", "heng")
    wall.wait_for_function(
        "document.querySelectorAll('#grid .tile[data-camera=\"boat\"]').length === 0"
    )
    assert wall.locator("#grid .tile[data-camera='calm']").count() == 1
    wall.select_option("#group", "")
    wall.click("#layouts button[data-layout='1']")
    assert wall.get_attribute("#wall", "class") == "wall single"
    assert wall.text_content("#page-info") == "page 1/2"
    wall.click("#next")
    wall.wait_for_selector("#focus-tile[data-camera='calm']")
    wall.click("#layouts button[data-layout='4']")
    # Snapshots fill the tiles that are not live: a JPEG of the newest keyframe.
    wall.wait_for_function(
        "[...document.querySelectorAll('#grid .tile img')].some(i => i.naturalWidth === 320)",
        timeout=WAIT_MS,
    )
    assert not wall.errors  # type: ignore[attr-defined]


def test_webrtc_video_plays_in_the_large_tile(served: ServedHub, wall: Page) -> None:
    wall.wait_for_selector("#focus-tile[data-live='live']", timeout=WAIT_MS)
    first = _video_state(wall, "#focus-tile video")
    assert first["width"] == 320 and first["height"] == 180, first
    frames = wall.evaluate(
        """() => new Promise((resolve) => {
            const v = document.querySelector('#focus-tile video');
            let n = 0;
            const count = () => { n += 1; if (n < 10) v.requestVideoFrameCallback(count);
                                  else resolve(n); };
            v.requestVideoFrameCallback(count);
            setTimeout(() => resolve(n), 20000);
        })"""
    )
    assert frames >= 10, f"only {frames} video frames were presented"
    later = _video_state(wall, "#focus-tile video")
    assert later["time"] > first["time"]
    stats = served.get("/api/live/stats", "olga")
    assert stats, "the hub reports no live viewers"
    _shot(wall, "wall")


def _video_state(page: Page, selector: str) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """(sel) => { const v = document.querySelector(sel);
            return {width: v.videoWidth, height: v.videoHeight, time: v.currentTime}; }""",
        selector,
    )
    return state


def test_an_alert_pops_its_camera_into_the_large_tile_with_the_box(
    served: ServedHub, wall: Page
) -> None:
    wall.click("#layouts button[data-layout='4']")
    wall.click("#grid .tile[data-camera='calm']")  # watch the calm camera; the boat will call
    wall.wait_for_selector("#focus-tile[data-camera='calm']")
    wall.wait_for_selector("#alarm .alarm-item", timeout=WAIT_MS)
    wall.wait_for_selector("#focus-tile[data-camera='boat']")
    assert "alarm" in (wall.get_attribute("#focus-tile", "class") or "")
    overlay = "#focus-tile canvas.overlay"
    drawn = wall.get_attribute(overlay, "data-box")
    assert drawn, "no box drawn over the large tile"
    x1, y1, x2, y2 = (int(v) for v in drawn.split(","))
    assert x2 > x1 and y2 > y1
    red = wall.evaluate(STROKE_PIXEL, [x1, (y1 + y2) // 2])
    assert red[0] > 200 and red[1] < 80 and red[3] > 200, red  # the box's red stroke
    assert int(wall.get_attribute("body", "data-beeps") or 0) >= 1
    assert wall.locator("#ticker li[data-phase='open'][data-camera='boat']").count() >= 1
    # Once the boat's live video plays in the large tile, the box sits on the picture.
    wall.wait_for_selector("#focus-tile[data-live='live']", timeout=WAIT_MS)
    x1, y1, x2, y2 = (int(v) for v in (wall.get_attribute(overlay, "data-box") or "").split(","))
    inside = wall.evaluate(CONTENT_RECT)
    assert inside["x"] - 1 <= x1 < x2 <= inside["x"] + inside["w"] + 1, (drawn, inside)
    assert inside["y"] - 1 <= y1 < y2 <= inside["y"] + inside["h"] + 1, (drawn, inside)
    _shot(wall, "wall-alarm")
    # The alert stays until acknowledged, whatever else happens on the wall.
    wall.click("#layouts button[data-layout='9']")
    assert wall.locator("#alarm .alarm-item").count() >= 1
    while wall.locator("#alarm .alarm-item").count():
        wall.click("#alarm .alarm-item button.ack")
    assert "alarm" not in (wall.get_attribute("#focus-tile", "class") or "")

    # ... and the acknowledgement is on record: who, which alert.
    def acked() -> bool:
        rows = served.get("/api/audit?action=alert.ack", "zhao.min")
        return any(e["username"] == "olga" for e in rows)

    deadline = time.monotonic() + 20
    while not acked():
        assert time.monotonic() < deadline, "no alert.ack in the audit log"
        time.sleep(0.5)


def test_the_sensor_panel_charts_a_sensor_that_raised_an_alert(
    served: ServedHub, wall: Page
) -> None:
    now = time.time()
    readings = [
        {"sensor_id": "heng-turbidity-1", "value": v, "unit": "NTU", "ts": now - 20 + i}
        for i, v in enumerate((20.0, 24.0, 31.0, 140.0, 155.0, 150.0))
    ]
    answer = httpx.post(
        served.base_url + "/api/sensors/readings",
        json=readings,
        headers={"Authorization": "Bearer " + served.token("gateway")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    wall.wait_for_selector(
        "#ticker li[data-phase='open'][data-alert-id]:has-text('heng-turbidity-1')",
        timeout=WAIT_MS,
    )
    panel = "#sensors .sensor[data-sensor='heng-turbidity-1']"
    # The panel may list the sensor before its alert; the alert makes it chart the reading.
    wall.wait_for_selector(f"{panel} .value:has-text('150 NTU')", timeout=WAIT_MS)
    drawn = wall.evaluate(
        """(sel) => { const c = document.querySelector(sel + ' canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
            return n; }""",
        panel,
    )
    assert drawn > 20, "the sparkline drew nothing"
    _shot(wall, "wall-sensors")
    while wall.locator("#alarm .alarm-item").count():
        wall.click("#alarm .alarm-item button.ack")


def test_enforcement_walks_the_boat_ticket_through_the_loop_on_a_phone(
    served: ServedHub, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    page = _page(context, served.base_url + "/login")
    _log_in(page, "li.wei")
    page.wait_for_url("**/inbox")
    card = "#tickets li.ticket[data-state='received'][data-source='boat']"
    page.wait_for_selector(card, timeout=WAIT_MS)
    assert "due in" in (page.text_content(f"{card} .sla") or "")
    _shot(page, "inbox-phone")
    ticket_id = int(page.get_attribute(card, "data-ticket-id") or 0)
    _wait_for_evidence(served, ticket_id)
    page.click(card)
    page.wait_for_selector("#detail-title")
    assert page.is_hidden("#list-pane")  # on a phone the detail takes the screen
    page.wait_for_function("document.querySelector('#snapshot')?.naturalWidth === 320")
    page.wait_for_function("document.querySelector('#clip')?.readyState >= 1", timeout=WAIT_MS)
    page.click("#accept")
    page.wait_for_selector("#detail-title[data-state='assigned']")
    photo = tmp_path / "boat-towed.png"
    photo.write_bytes(PNG)
    page.fill("#handled-note", "boat towed to the pier, net seized")
    page.set_input_files("#photos", str(photo))
    _shot(page, "inbox-phone-detail")
    page.click("#handled")
    page.wait_for_selector("#detail-title[data-state='handled']")
    page.select_option("#satisfaction", "5")
    page.fill("#feedback-note", "reporter satisfied")
    page.click("#feedback")
    page.wait_for_selector("#detail-title[data-state='feedback']")
    assert "waiting for a reviewer" in (page.text_content("#detail") or "")
    detail = served.get(f"/api/tickets/{ticket_id}", "li.wei")
    moves = [(h["to_state"], h["actor"]) for h in detail["history"][1:]]
    assert moves == [("assigned", "li.wei"), ("handled", "li.wei"), ("feedback", "li.wei")]
    (attachment,) = detail["attachments"]
    assert attachment["original_name"] == "boat-towed.png"
    assert not page.errors  # type: ignore[attr-defined]
    context.close()


def test_the_inbox_installs_as_an_app_whose_worker_shows_a_pushed_incident(
    served: ServedHub, browser: Browser
) -> None:
    """The inbox links its manifest and registers its service worker for the whole site; a
    push delivered to that worker (through Chromium's DevTools, as a push service would) is
    shown as a notification, page closed or not."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.grant_permissions(["notifications"], origin=served.base_url)
    page = _page(context, served.base_url + "/login")
    _log_in(page, "li.wei")
    page.wait_for_url("**/inbox")
    assert page.is_visible("#push")  # "Alerts on this phone"
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == served.base_url + "/"
    manifest = page.evaluate(
        "fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"
    )
    assert manifest["start_url"] == "/inbox" and manifest["display"] == "standalone"
    assert manifest["icons"][0]["src"] == "/static/icon.svg"
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(
        e["registrations"]))  # fmt: skip
    cdp.send("ServiceWorker.enable")
    for _ in range(120):  # events arrive while Playwright runs: wait through it
        if any(not r.get("isDeleted") for r in registrations):
            break
        page.wait_for_timeout(250)
    registrations = [r for r in registrations if not r.get("isDeleted")]
    assert registrations, "the worker's registration was not reported"
    payload = {"title": "New high: vessel_in_zone at Boat crossing", "body": "zone ban",
               "url": "/inbox?alert=abc123", "tag": "abc123"}  # fmt: skip
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": served.base_url, "registrationId": registrations[0]["registrationId"],
        "data": json.dumps(payload)})  # fmt: skip
    shown = """navigator.serviceWorker.ready.then((r) => r.getNotifications())
        .then((ns) => ns.map((n) => [n.title, n.body, n.tag, n.data.url]))"""
    _eventually(lambda: bool(page.evaluate(shown)), timeout_s=30, what="the notification")
    assert page.evaluate(shown) == [[payload["title"], "zone ban", "abc123", "/inbox?alert=abc123"]]
    assert not page.errors  # type: ignore[attr-defined]
    context.close()


def test_an_admin_manages_users_tests_a_camera_switches_a_profile_and_reads_the_audit(
    served: ServedHub, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = _page(context, served.base_url + "/login")
    _log_in(page, "chief")
    page.wait_for_url("**/wall")
    page.goto(served.base_url + "/admin")
    page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
    assert page.eval_on_selector("tr[data-user='gateway'] select", "s => s.value") == (
        "sensor-gateway"
    )  # every role is shown as it is
    # A bad field is shown beside it, and nothing is added.
    page.fill("#new-username", "zhang.officer")
    page.select_option("#new-role", "enforcement")
    page.fill("#new-password", "short")
    page.click("#add")
    page.wait_for_function("document.querySelector('[data-for=password]').textContent !== ''")
    assert "12" in (page.text_content("[data-for=password]") or "")
    assert page.query_selector("tr[data-user='zhang.officer']") is None
    page.fill("#new-password", "a long enough passphrase")
    page.click("#add")
    row = "tr[data-user='zhang.officer']"
    page.wait_for_selector(row)
    page.select_option(f"{row} select", "reviewer")
    page.wait_for_function(
        "[...document.querySelectorAll('#audit tr')].some((r) => r.dataset.action === 'user.role')"
    )
    page.click(f"{row} button.toggle")
    page.wait_for_selector("tr[data-user='zhang.officer'][data-disabled='true']")
    # Test the spare camera's URL: its figures and first picture, never its password.
    sim_port = served.get("/api/cameras", "chief")[0]["stream"].rsplit(":", 1)[1].split("/")[0]
    page.fill("#probe-url", f"rtsp://viewer:s3cret-Pa55@127.0.0.1:{sim_port}/spare")
    page.click("#probe-run")
    page.wait_for_selector("#probe-result[data-ok='true']", timeout=WAIT_MS)
    page.wait_for_function("document.querySelector('#probe-snapshot').naturalWidth > 0")
    assert "h264" in (page.text_content("#probe-result [data-name='Video']") or "")
    assert "s3cret-Pa55" not in (page.text_content("#probe-card") or "")
    # A profile switched by hand.
    page.click("tr[data-profile='night'] button.switch-on")
    page.wait_for_selector("tr[data-profile='night'][data-active='true']")
    assert "by hand" in (page.text_content("tr[data-profile='night'] .state") or "")
    page.click("tr[data-profile='night'] button.switch-schedule")
    page.wait_for_selector("tr[data-profile='night'] .state:has-text('by schedule')")
    page.wait_for_function(
        """() => {
            const seen = [...document.querySelectorAll('#audit tr[data-action]')]
                .map((r) => r.dataset.action);
            return ['user.create', 'user.role', 'camera.probe', 'profile.switch']
                .every((a) => seen.includes(a));
        }""",
        timeout=WAIT_MS,
    )
    _shot(page, "admin")
    assert not page.errors  # type: ignore[attr-defined]
    user = served.get("/api/users", "chief")
    assert {"username": "zhang.officer", "role": "reviewer", "disabled": True}.items() <= next(
        u for u in user if u["username"] == "zhang.officer"
    ).items()
    context.close()


def _wait_for_evidence(served: ServedHub, ticket_id: int) -> None:
    def ready() -> bool:
        ticket = served.get(f"/api/tickets/{ticket_id}", "li.wei")["ticket"]
        return bool(ticket["clip"] and ticket["snapshot"])

    _eventually(ready, timeout_s=90, what="the ticket's snapshot and clip")


def test_a_reviewer_replays_the_clip_gives_a_verdict_and_closes_the_loop(
    served: ServedHub, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = _page(context, served.base_url + "/login")
    _log_in(page, "zhao.min")
    page.wait_for_url("**/replay")
    page.select_option("#f-camera", "boat")
    page.select_option("#f-state", "feedback")
    page.click("#search")
    page.wait_for_selector("#incidents[data-query*='state=feedback']")  # the filtered answer
    row = "#incidents tbody tr[data-ticket-id]"
    page.wait_for_selector(row)
    assert page.locator(row).count() == 1
    _shot(page, "replay-list")
    page.click(row)
    page.wait_for_url("**/incident?id=*")
    page.wait_for_function("document.querySelector('#clip').readyState >= 1", timeout=WAIT_MS)
    duration = page.evaluate("document.querySelector('#clip').duration")
    assert duration > 4, duration  # 3 s pre-roll + 3 s post-roll, give or take a GOP
    page.evaluate("document.querySelector('#clip').play()")
    page.wait_for_function("document.querySelector('#clip').currentTime > 1", timeout=30_000)
    # Scrub: a seek into the middle lands there (the clip is served with range requests).
    page.evaluate(
        """() => new Promise((resolve) => { const v = document.querySelector('#clip');
            v.pause(); v.addEventListener('seeked', resolve, {once: true});
            v.currentTime = v.duration / 2; })"""
    )
    middle = page.evaluate("document.querySelector('#clip').currentTime")
    assert abs(middle - duration / 2) < 1.0
    page.wait_for_selector("#track[data-points]")
    assert int(page.get_attribute("#track", "data-points") or 0) >= 1
    assert page.locator("#timeline li[data-to='feedback']").count() == 1
    page.check("input[name='verdict'][value='confirmed']")
    page.fill("#verdict-note", "a fishing boat in the ban zone")
    page.click("#give-verdict")
    page.wait_for_selector("#current-verdict[data-verdict='confirmed']")
    page.click("#move-verified")
    page.wait_for_selector("body[data-ticket-state='verified']")
    _shot(page, "incident")
    ticket_id = int(page.url.rsplit("=", 1)[1])
    incident = served.get(f"/api/incidents/{ticket_id}", "zhao.min")
    assert incident["verdict"]["verdict"] == "confirmed"
    assert incident["verdict"]["actor"] == "zhao.min"
    assert incident["ticket"]["state"] == "verified"
    assert not page.errors  # type: ignore[attr-defined]
    context.close()


def test_the_stats_page_shows_the_loop_figures(served: ServedHub, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = _page(context, served.base_url + "/login?next=/stats")
    _log_in(page, "zhao.min")
    page.wait_for_url("**/stats")
    page.wait_for_selector("body[data-loaded='1']")
    figures = served.get("/api/stats/loop", "zhao.min")
    assert figures["closed"] >= 1
    assert page.text_content("#fig-received .big") == str(figures["received"])
    assert page.text_content("#fig-closed .big") == str(figures["closed"])
    assert page.locator("#chart-camera svg rect").count() >= 2
    _shot(page, "stats")
    assert not page.errors  # type: ignore[attr-defined]
    context.close()


def test_pages_are_revalidated_and_static_files_stay_inside_the_web_root(
    served: ServedHub,
) -> None:
    with httpx.Client(base_url=served.base_url, timeout=10) as client:
        page = client.get("/wall")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = client.get("/static/js/wall.js")
        assert script.headers["content-type"].startswith("text/javascript")
        again = client.get("/static/js/wall.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304 and not again.content
        for bad in ("/static/../routes/pages.py", "/static/%2e%2e/app.py", "/static/js/nope.js"):
            assert client.get(bad).status_code == 404, bad
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
