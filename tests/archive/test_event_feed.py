"""The live feed's table (``event_feed``) on a real SQLite file and a real PostgreSQL server: ids that only grow
(also after the newest rows were deleted, and across a reopen), reads after an id, resumes that say when an id
cannot be resumed from, bounded retention that never drops the newest row, and migration 0018 both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from ringvault.archive.store import DB_FILENAME, HEAD_REVISION, ArchiveStore, current_revision, downgrade, migrate
from ringvault.archive.store.feed import FeedStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    with ArchiveStore.open(tmp_path / "archive", database_url=url) as opened:
        yield opened


def _append(feed: FeedStore, count: int) -> list[int]:
    return [feed.append("ding", json.dumps({"n": n})).id for n in range(count)]


def test_ids_grow_and_resume_reads_what_was_missed(store: ArchiveStore) -> None:
    feed = store.feed
    assert feed.bounds() == (0, 0) and feed.resume(0).known and feed.resume(0).messages == []
    assert not feed.resume(1).known  # never given out
    ids = _append(feed, 5)
    assert ids == sorted(ids) and len(set(ids)) == 5
    missed = feed.resume(ids[1])
    assert missed.known and [m.id for m in missed.messages] == ids[2:] and missed.newest == ids[-1]
    assert json.loads(missed.messages[0].data) == {"n": 2} and missed.messages[0].kind == "ding"
    assert feed.resume(ids[-1]).known and feed.resume(ids[-1]).messages == []
    assert not feed.resume(ids[-1] + 1).known and not feed.resume(-5).known


def test_retention_keeps_the_newest_and_says_when_an_id_is_too_old(store: ArchiveStore) -> None:
    feed = FeedStore(store, keep=3)
    ids = _append(feed, 6)
    assert feed.prune() == 3
    assert feed.bounds() == (ids[3], ids[5])
    assert not feed.resume(ids[1]).known  # ids[2] was pruned: the client would miss it
    assert [m.id for m in feed.resume(ids[2]).messages] == ids[3:]  # the one just before the oldest kept: fine
    aged = FeedStore(store, keep=1000, keep_age=timedelta(seconds=0))
    assert aged.prune() == 2 and aged.bounds() == (ids[5], ids[5])  # all too old, but the newest stays
    later = feed.append("motion", "{}").id
    assert later > ids[5]  # an id is never reused


def test_ids_are_never_reused_after_the_newest_rows_are_deleted(tmp_path: Path) -> None:
    """SQLite without AUTOINCREMENT would give the id of a deleted newest row again: a client that saw it would
    then skip the new message. The table is AUTOINCREMENT (PostgreSQL sequences never go back)."""
    archive = tmp_path / "archive"
    with ArchiveStore.open(archive) as store:
        ids = _append(store.feed, 3)
        with store._write() as session:
            from sqlalchemy import delete

            from ringvault.archive.store.models import EventFeedRow

            session.execute(delete(EventFeedRow))
    with ArchiveStore.open(archive) as reopened:
        assert reopened.feed.append("ding", "{}").id == ids[-1] + 1


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0018_goes_down_and_up(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> None:
    url = str(request.getfixturevalue("pg_url")) if database == "postgresql" else f"sqlite:///{tmp_path / DB_FILENAME}"
    with ArchiveStore.open_url(url) as store:
        store.feed.append("ding", "{}")
    downgrade(url, "0017_activity")
    engine = create_engine(url)
    try:
        assert "event_feed" not in inspect(engine).get_table_names()
        assert "hub_history" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    migrate(url)
    engine = create_engine(url)
    try:
        assert current_revision(engine) == HEAD_REVISION == "0018_event_feed"
    finally:
        engine.dispose()
    with ArchiveStore.open_url(url) as store:
        assert store.feed.bounds() == (0, 0)
        assert store.feed.append("ding", "{}").created_at <= datetime.now(UTC)
