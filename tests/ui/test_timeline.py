"""The timeline page: what it lists and counts equals the database for every filter, infinite scroll and the Load
more link page through every event once, in order, the filters and Load more are keyboard-reachable, and the live
indicator shows new events from ``/api/events/stream`` without moving the page."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy.dialects import sqlite

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.rows import encode_cursor
from ringvault.archive.store.timeline import DETECTION_WORDS, TimelineFilter, TimeWindow, count_query, page_query
from ringvault.cloud.push.events import detection_of
from ringvault.server import create_app
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.server.helpers import ServerThread
from tests.ui.conftest import PAGE_TIMEOUT_MS, UiPage, UiWorld
from tests.ui.timeline_helpers import (
    add_snapshot,
    db_count,
    db_events,
    db_zones,
    detection_sql,
    local_day_range,
    prepared_world,
    shown,
    sim_call,
)

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def ui_sim_config(media_cache: Path) -> SimConfig:
    """More events than the shared world (about five pages of 50) and both locations' time zones."""
    return SimConfig(seed=21, locations=2, events_per_device=20, recording_seconds=1.0, media_cache_dir=media_cache)


def _prepare(sim: SimServer) -> None:
    """Before the sync: a package and a vehicle detection (the generated world has none of the first), and a
    camera named like markup."""
    world = sim_call(sim, "GET", "/_sim/world")
    cameras = [d for d in world["devices"] if d["family"] in ("stickup_cams", "doorbots")]
    sim_call(sim, "POST", f"/_sim/devices/{cameras[0]['id']}/motion", {"detection": "package"})
    sim_call(sim, "POST", f"/_sim/devices/{cameras[1]['id']}/motion", {"detection": "vehicle"})
    sim_call(sim, "PATCH", f"/_sim/devices/{cameras[2]['id']}", {"description": HOSTILE})


#: event id → the snapshot id the timeline shows for it (None: too far from any snapshot, the placeholder)
IMAGES: dict[str, int | None] = {}


def _snapshots(world: UiWorld) -> None:
    """After the sync: device snapshots near some of the newest events (as ``ringvault snapshot --archive`` takes
    them): 20 s after one event and 60 s before another of the same camera (the nearer wins), and one 150 s after an
    event (too far: the placeholder)."""
    rows = db_events(world.archive)[:12]
    for index, row in enumerate(rows):
        if index % 3 == 0:
            IMAGES[row.id] = add_snapshot(world, row.device_id, row.created_at + timedelta(seconds=20))
            add_snapshot(world, row.device_id, row.created_at - timedelta(seconds=60))
        elif index % 3 == 1:
            add_snapshot(world, row.device_id, row.created_at + timedelta(seconds=150))
            IMAGES[row.id] = None


@pytest.fixture(scope="module")
def ui_world(ui_sim_config: SimConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    with prepared_world(ui_sim_config, tmp_path_factory.mktemp("timeline-world"), _prepare, _snapshots) as world:
        yield world


def _get(server: ServerThread, path: str) -> str:
    response = httpx.get(server.url + path, timeout=60)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.text


def test_the_first_page_lists_the_newest_events_and_counts_them_all(ui_page: UiPage, ui_world: UiWorld) -> None:
    rows = db_events(ui_world.archive)
    assert len(rows) > 150, "the world has several pages of events"
    ui_page.open("/timeline")
    ids = ui_page.page.locator("tr[data-event-id]").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    assert ids == [r.id for r in rows[:50]]
    assert ui_page.page.locator("#timeline-count").get_attribute("data-count") == str(len(rows))
    assert f"{len(rows):,} events in the archive" in ui_page.page.locator("#timeline-count").inner_text()
    # every state of a recording the page shows says which it is
    states = set(ui_page.page.locator("tr[data-event-id] .state").all_text_contents())
    assert states <= {"archived", "pending", "failed", "given up", "no recording", "missing"}
    assert "each device's own local time" in ui_page.page.locator("#timeline-zone-note").inner_text()
    ui_page.screenshot("timeline")


def test_each_event_shows_the_snapshot_nearest_to_it_or_a_placeholder(ui_page: UiPage) -> None:
    ui_page.open("/timeline")
    checked = 0
    for event_id, media_id in IMAGES.items():
        if ui_page.page.locator(f"tr[data-event-id='{event_id}']").count() == 0:
            continue  # another snapshot's neighbour pushed it off the first page (not with this world)
        cell = ui_page.page.locator(f"tr[data-event-id='{event_id}'] td[data-label=Image]")
        if media_id is None:
            assert cell.locator("img").count() == 0 and cell.inner_text() == "No image", event_id
        else:
            image = cell.locator("img")
            assert image.get_attribute("src") == f"/api/media/{media_id}", event_id
            assert (image.get_attribute("alt") or "").startswith("Snapshot of ")
            image.scroll_into_view_if_needed()
            ui_page.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        checked += 1
    assert checked == len(IMAGES) >= 6


def test_every_filter_shows_the_databases_count_and_rows(ui_server: ServerThread, ui_world: UiWorld) -> None:
    archive = ui_world.archive
    rows = db_events(archive)
    checked = 0

    def check(params: dict[str, str], where: str, args: tuple[object, ...] = ()) -> None:
        nonlocal checked
        count, ids = shown(_get(ui_server, "/timeline?" + urlencode(params)))
        expected = db_count(archive, where, args)
        assert count == expected, (params, count, expected)
        with_ids = f"SELECT id FROM events WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 50"
        with sqlite3.connect(archive / "archive.sqlite3") as conn:
            assert ids == [r[0] for r in conn.execute(with_ids, args)], params
        checked += 1

    for device_id in sorted({r.device_id for r in rows}):
        check({"device": str(device_id)}, "device_id = ?", (device_id,))
    for kind in sorted({r.kind for r in rows if r.kind}):
        check({"kind": kind}, "kind = ?", (kind,))
    total = 0
    for name in ("person", "vehicle", "package", "other"):
        check({"detection": name}, detection_sql(name))
        total += db_count(archive, detection_sql(name))
    assert total == len(rows), "the detection classes split the events without overlap or gap"
    assert db_count(archive, detection_sql("package")) >= 1 and db_count(archive, detection_sql("vehicle")) >= 1
    device = rows[0].device_id
    check({"device": str(device), "kind": "motion", "detection": "person"},
          f"device_id = ? AND kind = 'motion' AND {detection_sql('person')}", (device,))  # fmt: skip
    assert checked >= 10


def test_a_day_range_is_each_devices_own_days(ui_server: ServerThread, ui_world: UiWorld) -> None:
    """Counted here in Python from every event's local day in its device's zone (New York and Rome)."""
    rows = db_events(ui_world.archive)
    zones = db_zones(ui_world.archive)
    assert len({str(z) for z in zones.values()}) >= 2, "the world has devices in two time zones"
    newest = rows[0].created_at.date()
    day = timedelta(days=1)
    for since, until in ((newest - 3 * day, newest), (newest - 10 * day, newest - 2 * day), (newest, newest)):
        expected = local_day_range(rows, zones, since, until)
        count, ids = shown(_get(ui_server, f"/timeline?since={since}&until={until}"))
        assert count == len(expected), (since, until)
        assert ids == [r.id for r in expected[:50]]
        # with a device and a kind as well
        device = expected[0].device_id if expected else rows[0].device_id
        both = [r for r in expected if r.device_id == device and r.kind == "motion"]
        count, ids = shown(_get(ui_server, f"/timeline?since={since}&until={until}&device={device}&kind=motion"))
        assert (count, ids) == (len(both), [r.id for r in both[:50]])


def test_a_bad_filter_says_what_is_wrong_in_one_line(ui_server: ServerThread, ui_world: UiWorld) -> None:
    total = len(db_events(ui_world.archive))
    for query, message in (
        ("since=yesterday", "is not a day; use YYYY-MM-DD"),
        ("since=2026-12-05&until=2026-12-01", "the first day is after the last day"),
        ("device=12ab", "is not a device id"),
        ("device=1", "there is no device 1"),
        ("detection=cat", "is not one of person, vehicle, package, other"),
        ("cursor=not-a-cursor", "that page link is broken"),
    ):
        response = httpx.get(f"{ui_server.url}/timeline?{query}", timeout=60)
        assert response.status_code == 200
        assert message in response.text, query
        assert "Traceback" not in response.text
        count, _ = shown(response.text)
        assert count == total, "the page falls back to every event"
    assert httpx.get(f"{ui_server.url}/timeline?kind={'k' * 600}", timeout=60).status_code in (400, 422)
    # the rows the scroll fetches: a broken link is a 400 whose message the script shows
    rows = httpx.get(f"{ui_server.url}/timeline/rows?cursor=not-a-cursor", timeout=60)
    assert rows.status_code == 400 and 'data-error="that page link is broken' in rows.text


def _ids_in_dom(ui: UiPage) -> list[str]:
    ids: list[str] = ui.page.locator("tr[data-event-id]").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    return ids


def _wait_for_more_than(ui: UiPage, count: int) -> None:
    """Until the table has more than ``count`` rows, or the Load more link is gone (the end)."""
    ui.page.wait_for_function(
        "(n) => document.querySelectorAll('tr[data-event-id]').length > n || !document.getElementById('timeline-more')",
        arg=count,
    )


def test_infinite_scroll_loads_every_event_once_in_order(ui_page: UiPage, ui_world: UiWorld) -> None:
    expected = [r.id for r in db_events(ui_world.archive)]
    ui_page.open("/timeline")
    for _ in range(100):
        if ui_page.page.locator("#timeline-more").count() == 0:
            break
        before = len(_ids_in_dom(ui_page))
        ui_page.page.mouse.wheel(0, 100_000)
        _wait_for_more_than(ui_page, before)
    assert ui_page.page.locator("#timeline-more").count() == 0, "the scroll reached the end"
    assert _ids_in_dom(ui_page) == expected, "every event once, newest first, no gap"
    assert "that is all of them" in ui_page.page.locator("#timeline-status").inner_text()
    rows_requests = [url for _m, url, _h in ui_page.requests if "/timeline/rows?" in url]
    assert len(rows_requests) == (len(expected) - 1) // 50


def test_scrolling_a_filtered_timeline_keeps_the_filter(ui_page: UiPage, ui_world: UiWorld) -> None:
    expected = [r.id for r in db_events(ui_world.archive) if r.kind == "motion"]
    assert len(expected) > 50
    ui_page.open("/timeline?kind=motion")
    while ui_page.page.locator("#timeline-more").count():
        before = len(_ids_in_dom(ui_page))
        # the link works as a button with JavaScript; scrolling it into view for the click wakes the infinite scroll,
        # which may replace the link (or, on the last page, remove it) before the click lands: it loads the same next
        # page, once
        with contextlib.suppress(PlaywrightTimeoutError):
            ui_page.page.locator("#timeline-more").click(timeout=5_000)
        _wait_for_more_than(ui_page, before)
    assert _ids_in_dom(ui_page) == expected


def test_load_more_is_a_plain_link_without_javascript(
    browser: Browser, ui_server: ServerThread, ui_world: UiWorld
) -> None:
    expected = [r.id for r in db_events(ui_world.archive) if r.kind == "motion"]
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(f"{ui_server.url}/timeline?kind=motion")
        seen: list[str] = []
        while True:
            seen += page.locator("tr[data-event-id]").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
            assert page.locator("#timeline-count").get_attribute("data-count") == str(len(expected))
            more = page.locator("#timeline-more")
            if more.count() == 0:
                break
            more.click()
            page.wait_for_load_state()
        assert seen == expected
    finally:
        context.close()


def test_the_filters_and_load_more_are_reachable_with_the_keyboard(ui_page: UiPage) -> None:
    ui_page.open("/timeline")
    reached: list[str] = []
    for _ in range(40):
        ui_page.page.keyboard.press("Tab")
        reached.append(ui_page.page.evaluate(
            "() => { const e = document.activeElement; return e.id || e.name || e.tagName.toLowerCase(); }"
        ))  # fmt: skip
        if reached[-1] == "timeline-skip":
            break
    assert {"device", "kind", "detection", "since", "until", "button"} <= set(reached), reached
    assert reached[-1] == "timeline-skip", "past the filters, a link skips the list of events"
    # Enter on it: the focus is on Load more, below the list; Enter there loads the next page
    ui_page.page.keyboard.press("Enter")
    ui_page.page.wait_for_function("() => document.activeElement && document.activeElement.id === 'timeline-more'")
    before = len(_ids_in_dom(ui_page))
    ui_page.page.keyboard.press("Enter")
    ui_page.page.wait_for_function("(n) => document.querySelectorAll('tr[data-event-id]').length > n", arg=before)
    assert ui_page.page.evaluate("() => document.activeElement.id") == "timeline-more", "the focus stays on Load more"


def test_filtering_through_the_form(ui_page: UiPage, ui_world: UiWorld) -> None:
    rows = db_events(ui_world.archive)
    device = rows[0].device_id
    expected = [r for r in rows if r.device_id == device and r.kind == "motion"]
    ui_page.open("/timeline")
    ui_page.page.select_option("select[name=device]", str(device))
    ui_page.page.select_option("select[name=kind]", "motion")
    ui_page.page.locator("#timeline-filters button[type=submit]").click()
    ui_page.page.wait_for_url("**/timeline?*")
    assert ui_page.page.locator("#timeline-count").get_attribute("data-count") == str(len(expected))
    assert _ids_in_dom(ui_page) == [r.id for r in expected[:50]]
    # the event links carry the filters to the playback page
    href = ui_page.page.locator("tr[data-event-id] a").first.get_attribute("href") or ""
    assert f"device={device}" in href and "kind=motion" in href


def test_a_device_named_like_markup_is_text(ui_page: UiPage, ui_world: UiWorld) -> None:
    dialogs: list[str] = []
    ui_page.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    ui_page.open("/timeline")
    option = ui_page.page.locator("select[name=device] option", has_text=HOSTILE)
    assert option.count() == 1
    device = option.get_attribute("value")
    ui_page.open(f"/timeline?device={device}")
    cells = ui_page.page.locator("tr[data-event-id] td[data-label=Device]").all_text_contents()
    assert cells and set(cells) == {HOSTILE}
    assert ui_page.page.locator("main img[src=x]").count() == 0
    assert not dialogs


def test_usable_on_a_phone(ui_page: UiPage) -> None:
    ui_page.page.set_viewport_size({"width": 390, "height": 844})
    ui_page.open("/timeline")
    width = ui_page.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    assert ui_page.page.locator("tr[data-event-id] td[data-label=Device]").first.is_visible()


def test_the_live_indicator_stays_off_without_the_stream(
    ui_page_factory: Callable[[str], UiPage], ui_world: UiWorld
) -> None:
    """A server without ``GET /api/events/stream`` (before it existed, or an app built without it): the page asks
    for nothing there, so the browser logs no 404, and the indicator stays hidden."""
    app = create_app(ui_world.settings())
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/api/events/stream"]
    server = ServerThread(app).start()
    try:
        ui = ui_page_factory(server.url)
        ui.open("/timeline")
        assert ui.page.locator("#timeline-new").get_attribute("data-stream") == ""
        ui.page.wait_for_timeout(2500)  # past the moment the script would open the stream
        assert ui.page.locator("#timeline-new").is_hidden()
        assert not [url for _m, url, _h in ui.requests if "/api/events/stream" in url]
    finally:
        server.stop()


def _with_stream(app: FastAPI, messages: list[str]) -> FastAPI:
    """``app`` with a stand-in ``GET /api/events/stream`` in h-events' wire format (named events with ids), sending
    ``messages`` a second apart once a browser connects, then holding the stream open."""

    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b'event: status\ndata: {"watching": true}\n\n'
            for n, kind in enumerate(messages, start=1):
                await asyncio.sleep(1.0)
                yield f'id: {n}\nevent: {kind}\ndata: {{"kind": "{kind}"}}\n\n'.encode()
            await asyncio.sleep(60)

        return StreamingResponse(body(), media_type="text/event-stream")

    app.router.routes.insert(0, APIRoute("/api/events/stream", stream, methods=["GET"]))
    return app


def test_the_live_indicator_counts_new_events_without_moving_the_page(
    ui_page_factory: Callable[[str], UiPage], ui_world: UiWorld
) -> None:
    server = ServerThread(_with_stream(create_app(ui_world.settings()), ["ding", "recording", "motion"])).start()
    try:
        ui = ui_page_factory(server.url)
        ui.page.goto(server.url + "/timeline", wait_until="load")
        ui.page.mouse.wheel(0, 600)
        ui.page.wait_for_function("() => window.scrollY > 0")
        first_row = ui.page.locator("tr[data-event-id]").nth(20)
        top_before, scroll_before = first_row.bounding_box()["y"], ui.page.evaluate("window.scrollY")  # type: ignore[index]
        button = ui.page.locator("#timeline-new-button")
        button.wait_for(state="visible")
        ui.page.wait_for_function(
            "() => document.getElementById('timeline-new-button').textContent.startsWith('2 new')"
        )
        assert button.inner_text() == "2 new events — show", "a ding and a motion; the recording is not an event"
        assert ui.page.evaluate("window.scrollY") == scroll_before
        assert first_row.bounding_box()["y"] == top_before  # type: ignore[index]
        button.click()
        ui.page.wait_for_load_state("load")
        assert ui.page.evaluate("window.scrollY") == 0
        assert ui.page.locator("#timeline-new").is_hidden()
    finally:
        server.stop()


def test_the_detection_words_are_those_ring_events_are_read_with() -> None:
    for name, words in DETECTION_WORDS.items():
        for word in words:
            assert detection_of(word) == name, word
    for word in ("motion", "other_motion", "null", "stream_broken", ""):
        assert detection_of(word) is None


def test_no_filter_reads_the_events_table_to_count_or_sorts_to_page(ui_world: UiWorld) -> None:
    """Every filter's count is answered from an index (EXPLAIN QUERY PLAN), never by scanning the table's rows."""
    with ArchiveStore.open(ui_world.archive) as store:
        device = store.list_devices()[0].id
        start = datetime.now(UTC) - timedelta(days=5)
        end = start + timedelta(days=3)
        shifted = timedelta(hours=6)
        days = (TimeWindow((device,), start, end), TimeWindow((device,), start - shifted, end - shifted, exclude=True))
        filters = [
            TimelineFilter(), TimelineFilter(device_id=device), TimelineFilter(kind="ding"),
            TimelineFilter(detection="package"), TimelineFilter(detection="other"), TimelineFilter(windows=days),
            TimelineFilter(device_id=device, kind="motion", detection="person", windows=days),
        ]  # fmt: skip
        for flt in filters:
            plan = _plan(store, count_query(flt))
            assert all("INDEX" in line for line in plan if "events" in line), (flt, plan)
            # the page walks an index in the list's order: no sort of the matching rows, whatever their number
            plan = _plan(store, page_query(flt, limit=50, cursor=encode_cursor(datetime.now(UTC), "9")))
            assert not [line for line in plan if "TEMP B-TREE" in line], (flt, plan)
            assert all("INDEX" in line for line in plan if "events" in line), (flt, plan)


def _plan(store: ArchiveStore, stmt: Any) -> list[str]:
    sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        return [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
