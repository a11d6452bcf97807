"""``GET /api/events/stream`` against the real simulator, with ``ringvault serve`` as a real process on a logged-in
home: a ding pushed through the simulator's FCM stand-in reaches the stream, then the message that its recording
was archived; a client that disconnects and resumes with ``Last-Event-ID`` gets exactly what it missed; the ids
survive a restart of the server (the feed is in the archive database); an id the feed cannot resume from gets one
``reset``; a server without a login runs and says its watcher is off."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import archived, ding, doorbells
from tests.server.events_helpers import Serve, Stream, until

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(400)


def _no_repeats(stream: Stream, after: int = 0) -> None:
    """Every numbered message once, in order, all after ``after``."""
    ids = stream.numbered()
    assert ids == sorted(set(ids)), ids
    assert all(i > after for i in ids), (after, ids)


async def test_ding_recording_resume_and_restart(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    sim = cloud_env
    [camera] = doorbells(sim, 1)
    archive = tmp_path / "archive"
    server = Serve(sim, rv_home, archive, tmp_path, "serve-1")
    try:
        await until(lambda: server.status()["watcher"]["state"] == "on", "a running watcher")
        assert server.status()["watcher"]["mode"] == "push"
        first = server.stream()
        await until(lambda: bool(first.of("status")), "the status message", first)
        assert first.of("status")[0].data["state"] == "on" and first.of("status")[0].id is None

        # a ding: its event, then its archived recording, each with an id
        one = ding(sim, camera)
        await until(lambda: bool(first.dings(one)), "the ding on the stream", first)
        await until(lambda: bool(first.recordings(one)), "the archived recording on the stream", first)
        [event] = first.dings(one)
        assert event.data["device_id"] == str(camera) and event.data["kind"] == "ding"
        assert int(event.id or 0) < int(first.recordings(one)[0].id or 0)
        assert archived(archive)[one] == "done"
        _no_repeats(first)
        seen = first.last_id
        await first.close()

        # two dings while no client listens; a resume gets exactly those, once, then live ones
        missed = [ding(sim, camera), ding(sim, camera)]
        await until(lambda: all(archived(archive).get(d) == "done" for d in missed), "both archived")
        await until(lambda: server.status()["feed"]["newest_id"] >= int(seen) + 4, "the feed written")
        again = server.stream(seen)
        await until(lambda: all(again.recordings(d) for d in missed), "the missed messages", again)
        assert [len(again.dings(d)) for d in missed] == [1, 1]
        assert not again.dings(one) and not again.of("reset")
        _no_repeats(again, after=int(seen))
        live = ding(sim, camera)
        await until(lambda: bool(again.dings(live)), "a live ding after the backlog", again)
        assert len(again.dings(live)) == 1
        _no_repeats(again, after=int(seen))
        resume_at = again.last_id

        # a client still connected when the server stops is told so, and the server stops (exit 0)
        assert server.stop() == 0
        await until(lambda: again.ended, "the stream's end")
        assert again.of("shutdown"), again.events[-3:]
    finally:
        if server.proc.poll() is None:
            server.proc.kill()

    # after a restart the same ids resume: the old one from before the two dings, by query parameter
    restarted = Serve(sim, rv_home, archive, tmp_path, "serve-2")
    try:
        old = restarted.stream(seen, as_query=True)
        await until(lambda: all(old.dings(d) for d in [*missed, live]), "the messages from before the restart", old)
        assert [len(old.dings(d)) for d in [*missed, live]] == [1, 1, 1] and not old.of("reset")
        _no_repeats(old, after=int(seen))
        await old.close()
        newer = restarted.stream(resume_at)
        await until(lambda: server_watching(restarted), "the watcher after the restart")
        after = ding(sim, camera)
        await until(lambda: bool(newer.dings(after)), "a ding after the restart", newer)
        assert not newer.dings(live) and len(newer.dings(after)) == 1
        _no_repeats(newer, after=int(resume_at))
        await newer.close()

        # an id the feed no longer keeps, or never gave out: one reset (carrying the newest id), then live
        newest = restarted.status()["feed"]["newest_id"]
        with sqlite3.connect(archive / "archive.sqlite3") as db:  # what retention does to old rows
            db.execute("DELETE FROM event_feed WHERE id <= ?", (int(seen) + 1,))
        for stale in (seen, str(newest + 1000), "not-a-number"):
            reset = restarted.stream(stale)
            await until(lambda reset=reset: bool(reset.of("reset")), f"a reset for {stale!r}", reset)  # type: ignore[misc]
            [said] = reset.of("reset")
            assert int(said.id or 0) == said.data["newest"] >= newest  # (a recording may have been added since)
            assert not reset.of("ding")  # nothing old is replayed
            await reset.close()
        later = restarted.stream(seen)
        await until(lambda: bool(later.of("reset")), "the reset", later)
        final = ding(sim, camera)
        await until(lambda: bool(later.dings(final)), "a live ding after a reset", later)
        assert next(m.event for m in later.events if m.id is not None) == "reset"
        await later.close()
        assert restarted.stop() == 0
    finally:
        if restarted.proc.poll() is None:
            restarted.proc.kill()


def server_watching(server: Serve) -> bool:
    return bool(server.status()["watcher"]["state"] == "on")


async def test_not_logged_in_serve_runs_and_says_the_watcher_is_off(sim: SimServer, tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    server = Serve(sim, home, tmp_path / "archive", tmp_path, "serve")
    try:
        assert "watcher: off until `ringvault login`" in (tmp_path / "serve.out").read_text()
        assert server.get("/healthz").status_code == 200
        stream = server.stream()
        await until(lambda: bool(stream.of("status")), "the status message", stream)
        state = stream.of("status")[0].data
        assert state["state"] == "off" and "not logged in" in state["reason"], state
        assert server.status()["watcher"] == state
        await stream.close()
        assert server.stop() == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()


def test_no_watch_turns_it_off(cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path) -> None:
    sim = cloud_env
    server = Serve(sim, rv_home, tmp_path / "archive", tmp_path, "serve", "--no-watch")
    try:
        assert "watcher: off (--no-watch)" in (tmp_path / "serve.out").read_text()
        assert server.status()["watcher"] == {"state": "off", "mode": None, "reason": "--no-watch"}
        assert server.status()["feed"]["newest_id"] == 0
        assert server.stop() == 0
        # the watcher never started: no push registration, no Ring session of its own
        assert httpx.get(f"{sim.url}/_sim/push", timeout=10).json()["google"]["fcm_registrations"] == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
