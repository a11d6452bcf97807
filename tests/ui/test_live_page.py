"""The live view in a real browser (issue 14, Deliver 4): the camera page's Start button makes ``serve`` relay the
simulator's live view to Chromium over WebRTC (``server/live.py``, ``static/live.js``); Stop, a camera that is
offline, a forged request and a missing session, each checked at the simulator's side too (``GET /_sim/live``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.device_overview import DeviceOverview, device_overview
from ringvault.server.live import LiveRelays
from ringvault.server.ui.pages.live import has_live_view
from ringvault.sim.live.media import camera_colour
from tests.cloud.api_helpers import sim_get, sim_patch
from tests.server.helpers import ServerThread
from tests.ui.conftest import ServeUi, UiPage, UiWorld
from tests.ui.test_security import KEY, log_in, serve_evil_form, submit_evil_form

pytestmark = pytest.mark.timeout(180)

PageFactory = Callable[[str], UiPage]
#: an offer that passes the server's check (a video m-line): what Ring is asked for decides the rest
OFFER_WITH_VIDEO = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
)
#: the simulator's picture (its default live config)
WIDTH, HEIGHT = 320, 240


def cameras(ui_world: UiWorld) -> list[DeviceOverview]:
    """The archive's cameras that stream (online, by the archive's last sync)."""
    store = ArchiveStore.open(ui_world.archive)
    try:
        found = [d for d in device_overview(store) if has_live_view(d) and d.status.online is not False]
    finally:
        store.close()
    assert found, "the simulated world has no camera"
    return found


@pytest.fixture
def camera(ui_world: UiWorld) -> DeviceOverview:
    return cameras(ui_world)[0]


def live_state(ui_world: UiWorld) -> dict[str, Any]:
    state: dict[str, Any] = sim_get(ui_world.sim, "/_sim/live")
    return state


def closed_ids(ui_world: UiWorld) -> set[str]:
    return {c["id"] for c in live_state(ui_world)["closed"]}


def closed_since(state: dict[str, Any], before: set[str]) -> list[dict[str, Any]]:
    """The sessions closed since ``before`` was taken (the simulator lists the newest first)."""
    return [c for c in state["closed"] if c["id"] not in before]


def relays(server: ServerThread) -> LiveRelays:
    found: LiveRelays = server.app.state.ctx.live
    return found


def wait_until_all_closed(ui_world: UiWorld, server: ServerThread, within_s: float = 30) -> dict[str, Any]:
    """Both sides once every live view ended: no session, peer connection or task at the simulator, no relay or
    browser-facing peer connection in the server."""
    deadline = time.monotonic() + within_s
    while True:
        state = live_state(ui_world)
        live = relays(server)
        done = not state["sessions"] and state["peer_connections_open"] == 0 and state["tasks_running"] == 0
        if done and live.open == 0 and live.peer_connections_open == 0:
            return state
        assert time.monotonic() < deadline, (state, live.describe())
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def nothing_left_open(ui_world: UiWorld, ui_server: ServerThread) -> Iterator[None]:
    yield
    wait_until_all_closed(ui_world, ui_server)


def status(ui: UiPage) -> str:
    return str(ui.page.text_content("#live-status") or "")


def start_and_wait_for_picture(ui: UiPage, device_id: int) -> None:
    """Open the camera's page, press Start, wait until the video plays."""
    ui.open(f"/live/{device_id}")
    ui.page.click("#live-start")
    ui.page.wait_for_function(
        "() => { const v = document.getElementById('live-video'); return v.videoWidth > 0 && v.currentTime > 0.5; }"
    )
    assert status(ui) == "live"


def test_start_plays_the_camera_s_picture_and_stop_ends_both_sides(
    ui_world: UiWorld, ui_server: ServerThread, ui_page: UiPage, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    ui = ui_page
    ui.open("/")
    link = ui.page.locator(f'li[data-device-id="{camera.id}"] a.live-link')
    with ui.page.expect_navigation(wait_until="networkidle"):
        link.click()
    assert ui.page.url == ui.base_url + f"/live/{camera.id}"
    assert status(ui) == "stopped"
    ui.page.focus("#live-start")
    ui.page.keyboard.press("Enter")  # a real button: the keyboard starts it
    ui.page.wait_for_function(
        "() => { const v = document.getElementById('live-video'); return v.videoWidth > 0 && v.currentTime > 1.0; }"
    )
    assert status(ui) == "live"
    size = ui.page.evaluate(
        "() => { const v = document.getElementById('live-video'); return [v.videoWidth, v.videoHeight]; }"
    )
    assert size == [WIDTH, HEIGHT]
    first = float(ui.page.evaluate("() => document.getElementById('live-video').currentTime"))
    ui.page.wait_for_function(f"() => document.getElementById('live-video').currentTime > {first + 1.0}")
    # the decoded picture: the camera's own colour in the square at the top left of the simulator's pattern
    pixel = ui.page.evaluate(
        "() => { const v = document.getElementById('live-video'); const c = document.createElement('canvas');"
        " c.width = v.videoWidth; c.height = v.videoHeight; const g = c.getContext('2d');"
        " g.drawImage(v, 0, 0); return Array.from(g.getImageData(24, 24, 1, 1).data.slice(0, 3)); }"
    )
    want = camera_colour(camera.id)
    assert all(abs(a - b) <= 40 for a, b in zip(pixel, want, strict=True)), (pixel, want)
    ui.screenshot("live")
    state = live_state(ui_world)
    (session,) = state["sessions"]
    assert session["camera_id"] == camera.id and session["state"] == "connected" and session["activated"]
    assert relays(ui_server).open == 1 and relays(ui_server).peer_connections_open == 1
    # one live view per camera per browser: a second start is refused with one line, and starts nothing
    ui.allow_console_error("429")
    second = ui.page.evaluate(
        "async (id) => { try { await ringvault.api('/api/live/' + id, {method: 'POST', body: {sdp: 'v=0',"
        " type: 'offer'}}); return 'started'; } catch (e) { return e.message; } }",
        camera.id,
    )
    assert "already watches" in second, second
    assert len(live_state(ui_world)["sessions"]) == 1 and relays(ui_server).open == 1

    ui.page.click("#live-stop")
    ui.page.wait_for_function("() => document.getElementById('live-status').textContent === 'stopped'")
    state = wait_until_all_closed(ui_world, ui_server)
    closed = closed_since(state, before)
    assert [(c["camera_id"], c["closed_by"]) for c in closed] == [(camera.id, "client")]
    assert ui.page.evaluate("() => document.getElementById('live-video').srcObject === null")
    assert ui.page.is_enabled("#live-start") and not ui.page.is_enabled("#live-stop")


def test_an_offline_camera_shows_the_one_line_error_and_starts_nothing(
    ui_world: UiWorld, ui_page: UiPage, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    sim_patch(ui_world.sim, f"/_sim/devices/{camera.id}", {"offline": True})
    try:
        ui = ui_page
        ui.allow_console_error("409")  # the browser logs the refused POST
        ui.page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
        ui.open(f"/live/{camera.id}")
        assert ui.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        box = ui.page.locator("#live-video").bounding_box()
        assert box is not None and box["width"] <= 390
        ui.page.click("#live-start")
        ui.page.wait_for_function("() => document.getElementById('live-status').textContent.startsWith('error')")
    finally:
        sim_patch(ui_world.sim, f"/_sim/devices/{camera.id}", {"offline": False})
    text = status(ui)
    assert "offline" in text and "\n" not in text, text
    assert ui.page.is_enabled("#live-start") and not ui.page.is_enabled("#live-stop")
    assert closed_since(live_state(ui_world), before) == []  # refused before any ticket or socket


def test_a_forged_post_is_refused_and_starts_nothing(
    ui_world: UiWorld, ui_server: ServerThread, ui_page: UiPage, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    ui = ui_page
    ui.allow_console_error("403")
    serve_evil_form(ui, ui_server.url + f"/api/live/{camera.id}", {"sdp": "v=0", "type": "offer"})
    assert submit_evil_form(ui) == 403
    # a page of this server whose token is wrong
    ui.open(f"/live/{camera.id}")
    refused = ui.page.evaluate(
        "async (id) => (await fetch('/api/live/' + id, {method: 'POST', headers: {'Content-Type':"
        " 'application/json', 'X-CSRF-Token': 'forged'}, body: JSON.stringify({sdp: 'v=0', type: 'offer'})})).status",
        camera.id,
    )
    assert refused == 403
    state = live_state(ui_world)
    assert state["sessions"] == [] and closed_since(state, before) == []
    assert relays(ui_server).open == 0


def test_with_an_api_key_no_session_is_401_and_a_session_needs_the_token(
    ui_world: UiWorld, serve_ui: ServeUi, ui_page_factory: PageFactory, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    server = serve_ui(api_key=KEY)
    offer = {"sdp": "v=0", "type": "offer"}
    answer = httpx.post(server.url + f"/api/live/{camera.id}", json=offer, timeout=30)
    assert answer.status_code == 401, answer.text
    answer = httpx.delete(server.url + "/api/live/sessions/anything", timeout=30)
    assert answer.status_code == 401, answer.text
    ui = ui_page_factory(server.url)
    ui.allow_console_error("403")
    log_in(ui, path=f"/live/{camera.id}")
    assert ui.page.url == server.url + f"/live/{camera.id}"
    refused = ui.page.evaluate(
        "async (id) => (await fetch('/api/live/' + id, {method: 'POST', headers: {'Content-Type':"
        " 'application/json'}, body: JSON.stringify({sdp: 'v=0', type: 'offer'})})).status",
        camera.id,
    )
    assert refused == 403  # the session cookie alone is not enough
    state = live_state(ui_world)
    assert state["sessions"] == [] and closed_since(state, before) == []


def test_the_camera_s_session_ending_ends_the_browser_s_view(
    ui_world: UiWorld, ui_server: ServerThread, ui_page: UiPage, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    start_and_wait_for_picture(ui_page, camera.id)
    closing = httpx.post(ui_world.sim.url + "/_sim/live/close", json={"camera_id": camera.id}, timeout=30)
    assert closing.json() == {"closed": 1}, (closing.text, live_state(ui_world))
    ui_page.page.wait_for_function("() => document.getElementById('live-status').textContent.startsWith('ended')")
    state = wait_until_all_closed(ui_world, ui_server)
    assert [c["closed_by"] for c in closed_since(state, before)] == ["server: control"]
    assert ui_page.page.is_enabled("#live-start")


def test_closing_the_tab_ends_the_camera_s_session(
    ui_world: UiWorld, ui_server: ServerThread, ui_page: UiPage, camera: DeviceOverview
) -> None:
    before = closed_ids(ui_world)
    start_and_wait_for_picture(ui_page, camera.id)
    ui_page.page.close(run_before_unload=True)
    state = wait_until_all_closed(ui_world, ui_server)
    assert [(c["camera_id"], c["closed_by"]) for c in closed_since(state, before)] == [(camera.id, "client")]


def test_the_bounds_in_all_and_in_time(ui_world: UiWorld, serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    """At most ``live_max_relays`` relays (429, one line, nothing started); a relay ends at ``live_max_duration_s``."""
    first, second = cameras(ui_world)[:2]
    before = closed_ids(ui_world)
    server = serve_ui(live_max_relays=1, live_max_duration_s=6.0)
    ui = ui_page_factory(server.url)
    start_and_wait_for_picture(ui, first.id)
    refused = httpx.post(server.url + f"/api/live/{second.id}", json={"sdp": "v=0", "type": "offer"}, timeout=30)
    assert refused.status_code == 429 and "stop one first" in refused.json()["error"], refused.text
    assert [s["camera_id"] for s in live_state(ui_world)["sessions"]] == [first.id]
    ui.page.wait_for_function("() => document.getElementById('live-status').textContent.startsWith('ended')")
    state = wait_until_all_closed(ui_world, server)
    assert [(c["camera_id"], c["closed_by"]) for c in closed_since(state, before)] == [(first.id, "client")]


@pytest.mark.parametrize(
    "offer",
    [
        {"sdp": "v=0", "type": "offer"},
        {
            "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
            "type": "offer",
        },
        {"sdp": "v=0", "type": "answer"},
        {"sdp": "x" * 40_000, "type": "offer"},
    ],
    ids=["no-media", "no-video", "not-an-offer", "too-long"],
)
def test_an_unusable_offer_is_400_and_starts_nothing(
    ui_world: UiWorld, ui_server: ServerThread, camera: DeviceOverview, offer: dict[str, str]
) -> None:
    before = closed_ids(ui_world)
    answer = httpx.post(ui_server.url + f"/api/live/{camera.id}", json=offer, timeout=30)
    assert answer.status_code == 400 and "\n" not in answer.json()["error"], answer.text
    state = live_state(ui_world)
    assert state["sessions"] == [] and closed_since(state, before) == [] and relays(ui_server).open == 0


def test_an_unknown_device_is_404(ui_server: ServerThread) -> None:
    answer = httpx.post(ui_server.url + "/api/live/1", json={"sdp": OFFER_WITH_VIDEO, "type": "offer"}, timeout=30)
    assert answer.status_code == 404 and answer.json()["error"] == "no device 1 at Ring", answer.text
    assert relays(ui_server).open == 0
