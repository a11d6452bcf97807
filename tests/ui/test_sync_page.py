"""The Sync page in a real browser: a sync started from the page on a fresh archive over the simulator, its progress,
the last runs and the recordings left behind (pending, failed, given up) compared with the database; the way out of
given up (a sync that retries them); the one-line error when Ring is not logged in; a phone-sized window."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.sync import RetryPolicy
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, sim_json
from tests.ui.conftest import PAGE_TIMEOUT_MS, ServeUi, UiPage, UiWorld

#: how long one sync from the page may take on a busy 2-core machine (a safety net, not a performance goal)
SYNC_TIMEOUT_MS = 180_000


def _db(archive: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{archive / 'archive.sqlite3'}?mode=ro", uri=True)


def _status_counts(archive: Path) -> dict[str, int]:
    with _db(archive) as conn:
        rows = conn.execute("SELECT media_status, count(*) FROM events GROUP BY media_status").fetchall()
    counts = {"pending": 0, "failed": 0, "given_up": 0}
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def _event(archive: Path, event_id: str) -> tuple[str, int, int, str | None]:
    with _db(archive) as conn:
        row = conn.execute(
            "SELECT media_status, media_attempts, media_failures, media_last_error FROM events WHERE id = ?",
            (event_id,),
        ).fetchone()
    assert row is not None, f"event {event_id} is not in the archive"
    return str(row[0]), int(row[1]), int(row[2]), row[3]


def _recording_device_and_ding(sim: SimServer) -> tuple[int, str]:
    """A device with a Protect plan, and the oldest ding with a recording (it will serve an HTML page)."""
    world: dict[str, Any] = sim_json(sim, "GET", "/_sim/world?events=full")
    with_media = [d for d in world["devices"] if d["show_recordings"]]
    ding = min(str(e["id_str"]) for items in world["events"].values() for e in items if e["has_media"])
    return int(with_media[0]["id"]), ding


@pytest.fixture
def faults(ui_world: UiWorld) -> Iterator[Callable[..., None]]:
    """``faults(**knobs)``: PATCH the simulator's fault knobs; all off again after the test."""

    def _set(**knobs: Any) -> None:
        sim_json(ui_world.sim, "PATCH", "/_sim/faults", knobs)

    yield _set
    sim_json(ui_world.sim, "PUT", "/_sim/faults", {})


def _start(ui: UiPage, *, retry: bool = False) -> str:
    """Click "Start sync" (with "retry failed" ticked or not) and wait until the job ends; its id."""
    page = ui.page
    before = page.evaluate("document.body.dataset.syncFinished || ''")
    page.get_by_label("Retry failed and given-up recordings").set_checked(retry)
    page.get_by_role("button", name="Start sync").click()
    _wait_finished(ui, before)
    job_id: str = page.evaluate("document.body.dataset.syncFinished")
    return job_id


def _wait_finished(ui: UiPage, before: str = "") -> None:
    """Until the page says a job other than ``before`` ended (``data-sync-finished`` on the body; the page's CSP
    forbids the string evaluation ``wait_for_function`` would need)."""
    ui.page.wait_for_selector(
        f'body[data-sync-finished]:not([data-sync-finished="{before}"])', state="attached", timeout=SYNC_TIMEOUT_MS
    )


def _run_cells(ui: UiPage, job_id: str) -> dict[str, str]:
    row = ui.page.locator(f'#runs-body tr[data-job-id="{job_id}"]')
    return {field: row.locator(f'td[data-field="{field}"]').inner_text().strip() for field in (
        "new", "downloaded", "pending", "failed", "given_up")}  # fmt: skip


def _page_counts(ui: UiPage) -> dict[str, int]:
    return {
        status: int(ui.page.locator(f'[data-count="{status}"]').inner_text())
        for status in ("pending", "failed", "given_up")
    }


def test_a_sync_started_from_the_page_shows_progress_runs_and_what_is_left_behind(
    ui_page_factory: Callable[[str], UiPage], serve_ui: ServeUi, ui_world: UiWorld, tmp_path: Path,
    faults: Callable[..., None],
) -> None:  # fmt: skip
    sim = ui_world.sim
    device, html_ding = _recording_device_and_ding(sim)
    # one recording Ring has not prepared (a new event, recordings delayed an hour), one served as an HTML page,
    # and some latency so that the run lasts long enough to be watched
    faults(recording_delay_s=3600.0, html_media_ids=[html_ding], latency_ms=40)
    late = str(sim_json(sim, "POST", "/_sim/events", {"device_id": device, "kind": "ding"})["id_str"])
    archive = tmp_path / "fresh-archive"
    # two failed runs in a row give a recording up (instead of ten), so the test sees every state
    server = serve_ui(archive_dir=archive, sync_defaults=fast_sync_options(retry=RetryPolicy(give_up_after=2)))
    ui = ui_page_factory(server.url)
    ui.open("/sync")
    assert ui.page.title() == "Sync · ringvault"
    assert _page_counts(ui) == {"pending": 0, "failed": 0, "given_up": 0}  # a fresh archive

    # 1. the first sync: progress appears, the run finishes, its numbers are the database's
    ui.page.get_by_role("button", name="Start sync").click()
    ui.page.wait_for_selector('#sync-state[data-state="running"]', timeout=SYNC_TIMEOUT_MS)
    _wait_finished(ui)
    first = ui.page.evaluate("document.body.dataset.syncFinished")
    assert ui.page.locator("#sync-error").is_hidden()
    # the start went through the API with the CSRF header (the session layer fills in its value)
    posts = [headers for method, url, headers in ui.requests if method == "POST" and url.endswith("/api/sync")]
    assert len(posts) == 1 and "x-csrf-token" in posts[0]
    counts = _status_counts(archive)
    with _db(archive) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        recordings = conn.execute("SELECT count(*) FROM media WHERE kind = 'recording'").fetchone()[0]
    assert events > 0 and recordings > 0
    assert _run_cells(ui, first) == {
        "new": str(events), "downloaded": str(recordings), "pending": str(counts["pending"]),
        "failed": str(counts["failed"]), "given_up": str(counts["given_up"]),
    }  # fmt: skip
    assert "Finished:" in ui.page.locator("#sync-state").inner_text()
    # the left-behind section was refreshed after the run: counts per state are the database's
    assert _page_counts(ui) == {k: counts[k] for k in ("pending", "failed", "given_up")}
    assert counts["pending"] >= 1 and counts["failed"] == 1

    # the pending recording, with why: not ready at Ring yet, and its link to the event's page
    status, attempts, _failures, error = _event(archive, late)
    assert status == "pending" and error
    row = ui.page.locator(f'#left-table tr[data-event-id="{late}"]')
    assert "not ready at Ring yet" in row.locator('[data-field="why"]').inner_text()
    assert row.locator('[data-field="error"]').inner_text() == error
    assert row.locator('[data-field="attempts"]').inner_text() == str(attempts)
    assert row.get_by_role("link", name=late).get_attribute("href") == f"/events/{late}"

    # the failed one, with its error and attempts
    ui.page.get_by_role("link", name="Failed").click()
    ui.page.wait_for_selector('#left-table[data-status="failed"]', timeout=PAGE_TIMEOUT_MS)
    status, attempts, failures, error = _event(archive, html_ding)
    assert status == "failed" and failures == 1 and error
    row = ui.page.locator(f'#left-table tr[data-event-id="{html_ding}"]')
    assert row.locator('[data-field="error"]').inner_text() == error
    assert row.locator('[data-field="attempts"]').inner_text() == str(attempts)
    assert "failed 1 run(s) in a row" in row.locator('[data-field="why"]').inner_text()
    ui.screenshot("sync")

    # 2. a second run fails it again: given up, listed with its error and the count of failed runs
    second = _start(ui)
    assert second != first
    counts = _status_counts(archive)
    assert counts["given_up"] == 1 and _page_counts(ui) == {k: counts[k] for k in ("pending", "failed", "given_up")}
    assert _run_cells(ui, second)["given_up"] == "1"
    ui.page.get_by_role("link", name="Given up").click()
    ui.page.wait_for_selector('#left-table[data-status="given_up"]', timeout=PAGE_TIMEOUT_MS)
    status, _attempts, failures, error = _event(archive, html_ding)
    assert status == "given_up" and failures == 2
    row = ui.page.locator(f'#left-table tr[data-event-id="{html_ding}"]')
    assert row.locator('[data-field="error"]').inner_text() == error
    assert "given up after 2 failed runs" in row.locator('[data-field="why"]').inner_text()

    # 3. the way out: Ring serves the clips again, a sync with "retry failed and given-up" archives both
    faults(recording_delay_s=0.0, html_media_ids=[], latency_ms=0)
    third = _start(ui, retry=True)
    assert _event(archive, html_ding)[0] == "done" and _event(archive, late)[0] == "done"
    counts = _status_counts(archive)
    assert _page_counts(ui) == {k: counts[k] for k in ("pending", "failed", "given_up")}
    assert counts["given_up"] == 0 and counts["failed"] == 0
    assert _run_cells(ui, third)["given_up"] == "0"
    assert ui.page.locator("#left-table").count() == 0  # "No given up recording."


def test_left_behind_recordings_are_paged_without_gap_or_duplicate(
    ui_page_factory: Callable[[str], UiPage], serve_ui: ServeUi, ui_world: UiWorld, tmp_path: Path
) -> None:
    """Every pending recording of a metadata-only archive, page after page (50 a page), exactly once, newest first."""
    from ringvault.archive.store import ArchiveStore
    from tests.archive.sync_helpers import sync_once
    from tests.ui.conftest import run_async

    archive = tmp_path / "metadata-archive"
    run_async(sync_once(ui_world.sim, ui_world.base, archive, fast_sync_options(metadata_only=True)))
    with ArchiveStore.open(archive):
        pass
    with _db(archive) as conn:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM events WHERE media_status = 'pending' ORDER BY created_at DESC, id DESC"
            )
        ]
    assert len(expected) > 50, "more than one page"
    server = serve_ui(archive_dir=archive)
    ui = ui_page_factory(server.url)
    ui.open("/sync?status=pending")
    assert _page_counts(ui)["pending"] == len(expected)
    seen: list[str] = []
    while True:
        seen += ui.page.locator("#left-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
        why = set(ui.page.locator('#left-table [data-field="why"]').all_inner_texts())
        assert why == {"not tried yet: the next sync downloads it"}
        older = ui.page.locator("#left-next")
        if older.count() == 0:
            break
        older.click()
        ui.page.wait_for_load_state("networkidle")
    assert seen == expected


def test_not_logged_in_shows_the_one_line_error_after_start_and_a_login_gets_out_of_it(
    ui_page_factory: Callable[[str], UiPage], serve_ui: ServeUi, ui_world: UiWorld, tmp_path: Path
) -> None:
    token_file = tmp_path / "tokens" / "token.json"  # no login yet
    server = serve_ui(archive_dir=tmp_path / "archive", token_file=token_file)
    ui = ui_page_factory(server.url)
    ui.open("/sync")
    ui.page.get_by_role("button", name="Start sync").click()
    error = ui.page.locator("#sync-error")
    error.wait_for(state="visible", timeout=SYNC_TIMEOUT_MS)
    text = error.inner_text()
    assert "ringvault login" in text and "\n" not in text.strip()
    with server.client() as client:
        (job,) = client.get("/api/jobs").json()
    assert job["state"] == "failed" and job["error"] == text.strip()
    assert ui.page.locator("#sync-state").inner_text() == "The sync failed."
    # the failed run is in the table with its error, and the button works again
    assert job["error"] in ui.page.locator(f'#runs-body tr[data-job-id="{job["id"]}"]').inner_text()
    assert ui.page.get_by_role("button", name="Start sync").is_enabled()

    # `ringvault login` (here: the same login through the client) and Start again: no restart needed
    from tests.cloud.http_helpers import logged_in_auth
    from tests.ui.conftest import run_async

    run_async(logged_in_auth(ui_world.sim, tmp_path))
    assert token_file.exists()
    second = _start(ui)
    assert second != job["id"] and ui.page.locator("#sync-error").is_hidden()
    assert ui.page.locator('#sync-state[data-state="done"]').count() == 1
    with _db(tmp_path / "archive") as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert events > 0 and _run_cells(ui, second)["new"] == str(events)


def test_the_sync_page_fits_a_phone(ui_page_factory: Callable[[str], UiPage], ui_server: Any) -> None:
    ui = ui_page_factory(ui_server.url)
    ui.page.set_viewport_size({"width": 390, "height": 844})
    ui.open("/sync")
    width = ui.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide in a 390 px window"
    # every control has a label (found by it), and the table headers are hidden in favour of per-cell labels
    for label in ("Only the last … days", "Kind", "Newest recordings first", "Events only (download no recording)"):
        assert ui.page.get_by_label(label).is_visible()
    assert ui.page.locator("#runs thead").is_hidden()
