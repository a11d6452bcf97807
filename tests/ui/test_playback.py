"""The playback page: a recording plays in the page (``currentTime`` advances) over the Range endpoint, a seek asks for
a byte range, the download link saves the archived file, a pending or failed recording says why instead of showing a
player, and previous/next follow the events' order in time (with the timeline's filters)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.archive.store import DB_FILENAME
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.server.helpers import ServerThread
from tests.ui.conftest import UiPage, UiWorld
from tests.ui.timeline_helpers import db_events, large_mp4, prepared_world, sim_call

#: what the tests learn about the events made before the sync
MADE: dict[str, str] = {}


@pytest.fixture(scope="module")
def ui_sim_config(media_cache: Path) -> SimConfig:
    """Few events with longer recordings (20 s: the browser has to ask for more than the first bytes to seek)."""
    return SimConfig(seed=34, locations=1, events_per_device=3, recording_seconds=20.0, media_cache_dir=media_cache)


def _prepare(sim: SimServer) -> None:
    """A recording Ring has not prepared (recordings take an hour to be ready: a new event stays pending) and one
    whose storage host answers an HTML page instead of the MP4 (an old event: the sync fails to validate it)."""
    world = sim_call(sim, "GET", "/_sim/world")
    with_recordings = [d for d in world["devices"] if d.get("show_recordings") and d["family"] != "chimes"]
    now = float(sim_call(sim, "GET", "/_sim/clock")["now"])
    broken = sim_call(sim, "POST", "/_sim/events", {"device_id": with_recordings[0]["id"], "at": now - 7200})
    pending = sim_call(sim, "POST", "/_sim/events", {"device_id": with_recordings[1]["id"]})
    sim_call(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 3600, "html_media_ids": [broken["id_str"]]})
    MADE.update(pending=str(pending["id_str"]), broken=str(broken["id_str"]))


@pytest.fixture(scope="module")
def ui_world(ui_sim_config: SimConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    with prepared_world(ui_sim_config, tmp_path_factory.mktemp("playback-world"), _prepare) as world:
        yield world


def _event(archive: Path, event_id: str) -> dict[str, Any]:
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        assert row is not None, event_id
        return dict(row)


def _recording(archive: Path) -> tuple[str, int, str, str]:
    """(event id, media id, path, sha256) of the newest archived recording."""
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        row = conn.execute(
            "SELECT e.id, m.id, m.path, m.sha256 FROM events e JOIN media m ON m.event_id = e.id "
            "AND m.kind = 'recording' WHERE e.media_status = 'done' ORDER BY e.created_at DESC, e.id DESC LIMIT 1"
        ).fetchone()
    assert row is not None, "the archive has a recording"
    return str(row[0]), int(row[1]), str(row[2]), str(row[3])


def test_a_recording_plays_in_the_page(ui_page: UiPage, ui_world: UiWorld) -> None:
    event_id, media_id, _path, _sha = _recording(ui_world.archive)
    ui_page.open(f"/timeline/{event_id}")
    video = ui_page.page.locator("video#player")
    assert video.get_attribute("src") == f"/api/media/{media_id}"
    assert video.get_attribute("preload") == "metadata"
    assert video.get_attribute("controls") is not None
    ui_page.page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    ui_page.page.wait_for_function("() => document.getElementById('player').currentTime > 0.5")
    assert ui_page.page.evaluate("() => document.getElementById('player').error") is None
    ui_page.screenshot("playback")


def test_a_seek_asks_for_a_byte_range(ui_page: UiPage, ui_world: UiWorld) -> None:
    """On a recording as large as Ring's (megabytes: the oldest recording's file is swapped for one for this test),
    the browser reads the start, and a seek near the end asks for the bytes from there (206, Content-Range)."""
    with sqlite3.connect(ui_world.archive / DB_FILENAME) as conn:
        row = conn.execute(
            "SELECT e.id, m.id, m.path FROM events e JOIN media m ON m.event_id = e.id AND m.kind = 'recording' "
            "ORDER BY e.created_at, e.id LIMIT 1"
        ).fetchone()
    event_id, media_id, path = str(row[0]), int(row[1]), ui_world.archive / str(row[2])
    kept = path.read_bytes()
    size = large_mp4(path)
    assert size > 2_000_000
    answers: list[tuple[int, str]] = []
    ui_page.page.on(
        "response",
        lambda r: answers.append((r.status, r.headers.get("content-range", "")))
        if f"/api/media/{media_id}" in r.url else None,
    )  # fmt: skip
    try:
        ui_page.open(f"/timeline/{event_id}")
        ui_page.page.wait_for_function("() => document.getElementById('player').readyState >= 1")  # metadata
        duration = ui_page.page.evaluate("() => document.getElementById('player').duration")
        assert duration > 10
        before = len([r for r in ui_page.requests if f"/api/media/{media_id}" in r[1]])
        ui_page.page.evaluate(
            "(at) => new Promise((done) => { const v = document.getElementById('player');"
            " v.addEventListener('seeked', () => done(v.currentTime), { once: true }); v.currentTime = at; })",
            duration - 1,
        )
        media_requests = [h for _m, url, h in ui_page.requests if f"/api/media/{media_id}" in url]
        assert len(media_requests) > before, "the seek made the browser ask for more of the file"
        assert all("range" in headers for headers in media_requests), "every request names a byte range"
        seek_range = media_requests[-1]["range"]
        assert seek_range.startswith("bytes=") and not seek_range.startswith("bytes=0-"), seek_range
        for _ in range(100):  # the response events reach the test a moment later
            if any(status == 206 and not content.startswith("bytes 0-") for status, content in answers):
                break
            ui_page.page.wait_for_timeout(200)
        assert any(status == 206 and not content.startswith("bytes 0-") for status, content in answers), answers
    finally:
        ui_page.page.goto("about:blank")
        path.write_bytes(kept)


def test_the_download_link_saves_the_archived_file(ui_page: UiPage, ui_server: ServerThread, ui_world: UiWorld) -> None:
    event_id, _media_id, path, sha256 = _recording(ui_world.archive)
    ui_page.open(f"/timeline/{event_id}")
    href = ui_page.page.locator("a#download").get_attribute("href")
    assert href is not None
    response = httpx.get(ui_server.url + href, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert Path(path).name in response.headers["content-disposition"]
    assert hashlib.sha256(response.content).hexdigest() == sha256
    assert response.content == (ui_world.archive / path).read_bytes()
    with ui_page.page.expect_download() as download:
        ui_page.page.locator("a#download").click()
    assert download.value.suggested_filename == Path(path).name


def test_a_pending_recording_says_why_and_shows_no_player(ui_page: UiPage, ui_world: UiWorld) -> None:
    row = _event(ui_world.archive, MADE["pending"])
    assert row["media_status"] == "pending", row
    ui_page.open(f"/timeline/{MADE['pending']}")
    assert ui_page.page.locator("video").count() == 0
    assert ui_page.page.locator("a#download").count() == 0
    why = ui_page.page.locator("#no-recording-why").inner_text()
    assert "No recording to play: pending" in ui_page.page.locator("#no-recording").inner_text()
    if row["media_last_error"]:
        assert row["media_last_error"] in why
    else:
        assert "Ring has not prepared the recording yet" in why or "not downloaded yet" in why
    details = ui_page.page.locator("#event-details").inner_text()
    assert f"Attempts\t{row['media_attempts']}" in details


def test_a_failed_recording_says_why_and_shows_no_player(ui_page: UiPage, ui_world: UiWorld) -> None:
    row = _event(ui_world.archive, MADE["broken"])
    assert row["media_status"] in ("failed", "given_up"), row
    assert row["media_last_error"]
    ui_page.open(f"/timeline/{MADE['broken']}")
    assert ui_page.page.locator("video").count() == 0
    assert row["media_last_error"] in ui_page.page.locator("#no-recording-why").inner_text()
    assert row["media_last_error"] in ui_page.page.locator("#event-details").inner_text()
    # and the timeline's row says the same in short
    ui_page.open("/timeline")
    cell = ui_page.page.locator(f"tr[data-event-id='{MADE['broken']}'] td[data-label=Recording]").inner_text()
    assert "failed" in cell and row["media_last_error"] in cell


def test_a_recording_whose_file_is_gone_says_so(ui_page: UiPage, ui_world: UiWorld) -> None:
    with sqlite3.connect(ui_world.archive / DB_FILENAME) as conn:
        row = conn.execute(
            "SELECT e.id, m.path FROM events e JOIN media m ON m.event_id = e.id AND m.kind = 'recording' "
            "ORDER BY e.created_at LIMIT 1"
        ).fetchone()
    event_id, path = str(row[0]), str(row[1])
    file = ui_world.archive / path
    kept = file.read_bytes()
    file.unlink()
    try:
        ui_page.open(f"/timeline/{event_id}")
        assert ui_page.page.locator("video").count() == 0
        assert f"its file {path} is missing" in ui_page.page.locator("#no-recording-why").inner_text()
    finally:
        file.write_bytes(kept)


def test_previous_and_next_follow_the_order_in_time(ui_page: UiPage, ui_world: UiWorld) -> None:
    rows = db_events(ui_world.archive)  # newest first
    middle = len(rows) // 2
    ui_page.open(f"/timeline/{rows[middle].id}")
    ui_page.page.locator("a#event-older").click()
    ui_page.page.wait_for_url(f"**/timeline/{rows[middle + 1].id}")
    ui_page.page.locator("a#event-newer").click()
    ui_page.page.wait_for_url(f"**/timeline/{rows[middle].id}")
    ui_page.page.locator("a#event-newer").click()
    ui_page.page.wait_for_url(f"**/timeline/{rows[middle - 1].id}")
    # the newest has no newer event, the oldest no older one
    ui_page.open(f"/timeline/{rows[0].id}")
    assert ui_page.page.locator("a#event-newer").count() == 0 and "No newer event" in ui_page.page.inner_text("main")
    ui_page.open(f"/timeline/{rows[-1].id}")
    assert ui_page.page.locator("a#event-older").count() == 0


def test_previous_and_next_keep_the_timelines_filters(ui_page: UiPage, ui_world: UiWorld) -> None:
    motion = [r for r in db_events(ui_world.archive) if r.kind == "motion"]
    assert len(motion) >= 3
    ui_page.open(f"/timeline/{motion[1].id}?kind=motion")
    assert ui_page.page.locator("a#event-older").get_attribute("href") == f"/timeline/{motion[2].id}?kind=motion"
    assert ui_page.page.locator("a#event-newer").get_attribute("href") == f"/timeline/{motion[0].id}?kind=motion"
    assert (
        ui_page.page.get_by_role("link", name="Back to the timeline").get_attribute("href") == "/timeline?kind=motion"
    )


def test_an_unknown_event_is_a_404_page(ui_page: UiPage) -> None:
    ui_page.allow_console_error("404")
    ui_page.open("/timeline/123456789", status=404)
    assert "There is no event 123456789 in the archive." in ui_page.page.inner_text("main")


def test_events_links_lead_to_the_playback_page(ui_page: UiPage, ui_server: ServerThread, ui_world: UiWorld) -> None:
    """The Sync page links a recording as ``/events/{id}``: that is the playback page."""
    event_id = db_events(ui_world.archive)[0].id
    response = httpx.get(f"{ui_server.url}/events/{event_id}?kind=motion", timeout=60)
    assert response.status_code == 307 and response.headers["location"] == f"/timeline/{event_id}?kind=motion"
    ui_page.open(f"/events/{event_id}")
    assert ui_page.page.url.endswith(f"/timeline/{event_id}")
    assert ui_page.page.locator("#event-details").is_visible()
