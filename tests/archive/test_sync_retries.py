"""No recording left behind: every state a recording can end a run in, and how a later run gets it out of there.

- ``failed`` (kept failing in a run): due again on the very next run, then after a growing delay;
- ``given_up`` (failed on too many runs): reported by every run, not retried until ``retry_failed``;
- ``pending`` (Ring has not prepared it): due again on the next run by default, counted even when not due;
- ``pending`` long after its event (Ring never prepares it): counts as a failed run, so it ends given up;
- ``no_media`` (no Ring Protect plan): fetched once the plan comes back.

Faults are the simulator's own (a path pattern matching one ding id makes its recording fail with HTTP 500); the
archive's clock is moved instead of waiting for the retry delays.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.sync import RetryPolicy
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, media_events, sim_json, sync_once


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(
        seed=13, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        device_families=["doorbots", "stickup_cams"],
    )  # fmt: skip


class Clock:
    """The archive's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _a_recording(sim: SimServer) -> str:
    device_events = next(iter(media_events(sim).values()))
    return str(device_events[0]["id_str"])


def _break(sim: SimServer, ding: str) -> None:
    """Every request for this recording (share/play and the storage host) answers 500."""
    sim_json(sim, "PATCH", "/_sim/faults", {"error_rate": 1.0, "path_pattern": ding})


def _heal(sim: SimServer) -> None:
    sim_json(sim, "PUT", "/_sim/faults", {})


def _requests_for(sim: SimServer, ding: str) -> int:
    log = sim_json(sim, "GET", "/_sim/requests?limit=10000")["requests"]
    return sum(1 for entry in log if ding in str(entry.get("path", "")))


def _event(archive: Path, ding: str) -> Any:
    with ArchiveStore.open(archive) as store:
        return store.get_event(ding)


def _total(sim: SimServer) -> int:
    return sum(len(events) for events in media_events(sim).values())


def test_a_failed_recording_is_fetched_by_the_next_run(sim: SimServer, tmp_path: Path) -> None:
    """Before the fix a failed recording was never selected again: the second run left it missing (exit 0)."""
    archive, ding = tmp_path / "archive", _a_recording(sim)
    _break(sim, ding)
    first = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(max_attempts=2)))
    assert (first.failed, first.failed_now, first.downloaded) == (1, 1, _total(sim) - 1)
    assert first.incomplete and any(ding in error for error in first.errors)
    stored = _event(archive, ding)
    assert stored.media_status is MediaStatus.FAILED and stored.media_failures == 1
    assert "HTTP 50" in (stored.media_last_error or "")

    _heal(sim)
    second = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options()))
    assert (second.downloaded, second.failed, second.failed_now, second.pending) == (1, 0, 0, 0)
    assert second.already_archived == _total(sim) - 1 and not second.incomplete
    stored = _event(archive, ding)
    assert stored.media_status is MediaStatus.DONE and stored.media_failures == 0


def test_failures_back_off_then_give_up_until_retry_failed(sim: SimServer, tmp_path: Path) -> None:
    archive, ding, clock = tmp_path / "archive", _a_recording(sim), Clock()
    policy = RetryPolicy(immediate_runs=1, backoff_s=3600, backoff_max_s=7200, give_up_after=4)
    options = fast_sync_options(max_attempts=1, retry=policy)

    def run(**overrides: Any) -> Any:
        chosen = fast_sync_options(max_attempts=1, retry=policy, **overrides) if overrides else options
        return asyncio.run(sync_once(sim, tmp_path, archive, chosen, clock=clock))

    _break(sim, ding)
    assert run().failed_now == 1  # failure 1: due on the next run
    second = run()  # failure 2: now it waits an hour
    assert (second.failed, second.failed_now) == (1, 1)
    stored = _event(archive, ding)
    assert (stored.media_failures, stored.media_next_attempt_at) == (2, clock.now + timedelta(hours=1))

    clock.advance(minutes=10)
    before = _requests_for(sim, ding)
    waiting = run()
    assert _requests_for(sim, ding) == before  # not due: not asked for
    assert (waiting.failed, waiting.failed_now, waiting.downloaded) == (1, 0, 0)
    assert waiting.incomplete  # a recording still failed is news for the script running the sync

    clock.advance(minutes=51)
    assert run().failed_now == 1  # failure 3: two hours (doubled; capped at backoff_max_s)
    assert _event(archive, ding).media_next_attempt_at == clock.now + timedelta(hours=2)
    clock.advance(hours=2, seconds=1)
    fourth = run()  # failure 4: given up
    assert (fourth.given_up_now, fourth.given_up, fourth.failed) == (1, 1, 0)
    assert fourth.incomplete
    assert _event(archive, ding).media_status is MediaStatus.GIVEN_UP

    _heal(sim)
    clock.advance(days=3)
    quiet = run()  # given up: not tried again by itself, but reported with its last error
    assert (quiet.downloaded, quiet.given_up, quiet.given_up_now) == (0, 1, 0)
    assert not quiet.incomplete
    (note,) = quiet.given_up_notes
    assert note.startswith(ding) and "HTTP 50" in note

    retried = run(retry_failed=True)
    assert (retried.retried, retried.downloaded, retried.given_up, retried.failed) == (1, 1, 0, 0)
    assert _event(archive, ding).media_status is MediaStatus.DONE


def test_a_pending_recording_is_due_on_the_next_run_and_always_counted(sim: SimServer, tmp_path: Path) -> None:
    """Before the fix a pending recording waited 15 minutes (``pending_retry_s``) and the summary said 0 pending."""
    archive = tmp_path / "archive"
    asyncio.run(sync_once(sim, tmp_path, archive))
    device_id = next(iter(media_events(sim)))
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 600})
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    ding = str(created.get("id_str") or created["id"])

    first = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (first.new, first.pending, first.downloaded, first.failed) == (1, 1, 0, 0)
    assert not first.incomplete  # not ready is not a failure
    stored = _event(archive, ding)
    assert stored.media_status is MediaStatus.PENDING and stored.media_failures == 0

    sim_json(sim, "POST", "/_sim/clock", {"advance_s": 700})  # Ring has prepared it now
    second = asyncio.run(sync_once(sim, tmp_path, archive))  # at once: the default makes it due on the next run
    assert (second.downloaded, second.pending) == (1, 0)

    # A knob that spaces pending retries still counts what it holds back.
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    spaced = fast_sync_options(pending_retry_s=3600)
    assert asyncio.run(sync_once(sim, tmp_path, archive, spaced)).pending == 1
    held = asyncio.run(sync_once(sim, tmp_path, archive, spaced))
    assert (held.pending, held.downloaded) == (1, 0)


def test_a_recording_never_prepared_ends_given_up(sim: SimServer, tmp_path: Path) -> None:
    """Not ready a day after the event: each such run counts as failed, so it is given up, not retried forever."""
    archive, clock = tmp_path / "archive", Clock()
    asyncio.run(sync_once(sim, tmp_path, archive, clock=clock))
    device_id = next(iter(media_events(sim)))
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 10 * 86400})
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    ding = str(created.get("id_str") or created["id"])
    options = fast_sync_options(retry=RetryPolicy(immediate_runs=2, give_up_after=2))

    fresh = asyncio.run(sync_once(sim, tmp_path, archive, options, clock=clock))
    assert (fresh.pending, fresh.failed) == (1, 0)  # young: just not ready yet
    clock.advance(days=1)
    late = asyncio.run(sync_once(sim, tmp_path, archive, options, clock=clock))
    assert (late.pending, late.failed, late.failed_now) == (0, 1, 1)
    assert "Ring still has no recording" in (_event(archive, ding).media_last_error or "")
    last = asyncio.run(sync_once(sim, tmp_path, archive, options, clock=clock))
    assert (last.given_up, last.given_up_now) == (1, 1)


def test_no_media_events_are_fetched_once_the_plan_is_back(sim: SimServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    world = sim_json(sim, "GET", "/_sim/world?events=full")
    no_plan = [d for d in world["devices"] if not d["show_recordings"] and world["events"].get(str(d["id"]))]
    assert no_plan, "the world needs a camera without a Ring Protect plan"
    device_id = str(no_plan[0]["id"])
    dings = {str(e["id_str"]) for e in world["events"][device_id]}

    first = asyncio.run(sync_once(sim, tmp_path, archive))
    assert first.no_media == len(dings)
    assert {_event(archive, d).media_status for d in dings} == {MediaStatus.NO_MEDIA}

    sim_json(sim, "PATCH", f"/_sim/devices/{device_id}", {"show_recordings": True})
    second = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (second.downloaded, second.no_media, second.failed) == (len(dings), 0, 0)
    assert {_event(archive, d).media_status for d in dings} == {MediaStatus.DONE}


def test_an_older_archive_retries_what_it_marked_failed(sim: SimServer, tmp_path: Path) -> None:
    """An archive made before retries existed (schema 0004) had ``failed`` as an end state; the upgrade makes those
    recordings due, and the next run fetches them."""
    import sqlite3

    from ringvault.archive.store import downgrade, migrate

    archive, ding = tmp_path / "archive", _a_recording(sim)
    _break(sim, ding)
    asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(max_attempts=1)))
    url = f"sqlite:///{archive / 'archive.sqlite3'}"
    downgrade(url, "0004")
    with sqlite3.connect(archive / "archive.sqlite3") as conn:  # as 0004's ringvault left it: failed, final
        assert conn.execute("SELECT media_status FROM events WHERE id = ?", (ding,)).fetchone() == ("failed",)
    migrate(url)
    _heal(sim)
    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (summary.downloaded, summary.failed) == (1, 0)


def _tally_matches_database(archive: Path, summary: Any) -> None:
    with ArchiveStore.open(archive) as store:
        counts = store.media_state_counts()
    assert summary.pending == counts[MediaStatus.PENDING]
    assert summary.already_archived + summary.downloaded == counts[MediaStatus.DONE]
    assert summary.no_media == counts[MediaStatus.NO_MEDIA]


def test_summary_words_mean_what_they_say(sim: SimServer, tmp_path: Path) -> None:
    """``already archived`` is what earlier runs archived (not every known event, as "skipped" counted)."""
    archive = tmp_path / "archive"
    total = _total(sim)
    kind = str(next(iter(media_events(sim).values()))[0]["kind"])
    wanted = sum(1 for events in media_events(sim).values() for e in events if e["kind"] == kind)
    first = asyncio.run(sync_once(sim, tmp_path, archive, fast_sync_options(kinds=[kind])))
    assert (first.downloaded, first.already_archived, first.pending) == (wanted, 0, total - wanted)
    _tally_matches_database(archive, first)

    second = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (second.new, second.downloaded, second.already_archived, second.pending) == (0, total - wanted, wanted, 0)
    third = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (third.new, third.downloaded, third.already_archived) == (0, 0, total)
