"""The archive store against a real SQLite file and a real PostgreSQL server (the ``store`` fixture runs each test on
both): schema, idempotent upserts, ids, time zones, media states, pagination, migrations and concurrent writers."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from ringvault.archive.store import (
    DB_FILENAME,
    HEAD_REVISION,
    AccountRecord,
    ArchiveFileChangedError,
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    InvalidCursorError,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
    UnknownEventError,
    UnknownSchemaError,
    UpsertResult,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    migrate,
)
from ringvault.archive.store.models import Base

BIG_ID = "7407512345678901234"  # > 2^53: a float would turn it into 7407512345678901248
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEVICE = 987654321
TABLES = {
    "accounts", "locations", "devices", "events", "media", "sync_state",
    "portability_grants", "portability_queries", "portability_files", "portability_records",
    "portability_limits", "portability_schedule", "portability_subscriptions",
    "hub_devices", "hub_history", "hub_sync_state", "event_feed",
}  # fmt: skip


def _database_url(request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL database of this test (``None``: the archive directory's SQLite file)."""
    return str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return _database_url(request)


@pytest.fixture
def store(tmp_path: Path, database_url: str | None) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive", database_url=database_url) as opened:
        opened.upsert_location(LocationRecord(id="loc-1", name="Home", time_zone="Europe/Berlin"))
        opened.upsert_device(DeviceRecord(id=DEVICE, family="doorbots", kind="lpd_v4", location_id="loc-1"))
        yield opened


def is_postgres(store: ArchiveStore) -> bool:
    return store.engine.dialect.name == "postgresql"


def sql_row(store: ArchiveStore, query: str) -> tuple[Any, ...]:
    """One row of plain SQL, read on a connection of its own (whatever the database)."""
    with store.engine.connect() as conn:
        row = conn.execute(text(query)).one()
    return tuple(row)


def event(event_id: str, at: datetime, kind: str = "motion", **fields: Any) -> EventRecord:
    return EventRecord(id=event_id, created_at=at, kind=kind, location_id="loc-1", **fields)


def db_path(store: ArchiveStore) -> Path:
    assert store.archive_dir is not None
    return store.archive_dir / DB_FILENAME


def columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_open_creates_every_table_queryable_with_sqlite3(tmp_path: Path) -> None:
    archive = tmp_path / "nested" / "archive"
    with ArchiveStore.open(archive):
        pass
    db = archive / DB_FILENAME
    with sqlite3.connect(db) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(events)")}
    assert TABLES | {"alembic_version", "sqlite_sequence"} == names  # SQLite's own: event_feed is AUTOINCREMENT
    assert "ix_events_device_id_created_at" in indexes
    assert columns(db, "events")[:5] == ["id", "device_id", "location_id", "kind", "created_at"]
    assert {"duration_s", "answered", "person_detected", "detection_type", "cv_properties", "raw"} <= set(
        columns(db, "events")
    )
    assert {"media_status", "media_attempts", "media_next_attempt_at", "media_last_error"} <= set(columns(db, "events"))
    assert {"event_id", "kind", "path", "bytes", "sha256", "content_type", "validated", "downloaded_at"} <= set(
        columns(db, "media")
    )
    assert {"newest_event_id", "newest_created_at", "oldest_event_id", "last_sync_at", "last_full_scan_at"} <= set(
        columns(db, "sync_state")
    )


def test_migrations_match_the_models(store: ArchiveStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_is_a_noop_migration(tmp_path: Path) -> None:
    with ArchiveStore.open(tmp_path) as first:
        first.upsert_device(DeviceRecord(id=1, family="chimes"))
        assert current_revision(first.engine) == head_revision()
    db = tmp_path / DB_FILENAME
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with ArchiveStore.open(tmp_path) as second:
        assert current_revision(second.engine) == head_revision()
        assert [d.id for d in second.list_devices()] == [1]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before


def test_downgrade_and_upgrade_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rt.sqlite3'}"
    migrate(url)
    engine = create_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        downgrade(url, "base")
        with sqlite3.connect(tmp_path / "rt.sqlite3") as conn:
            left = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert left & TABLES == set()
        assert current_revision(engine) is None
        migrate(url)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    with ArchiveStore.open_url(url) as store:
        store.upsert_device(DeviceRecord(id=5, family="stickup_cams"))
        assert store.counts().devices == 1


def test_an_archive_from_a_newer_ringvault_is_refused(tmp_path: Path) -> None:
    with ArchiveStore.open(tmp_path):
        pass
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(UnknownSchemaError, match="9999"):
        ArchiveStore.open(tmp_path)


def test_the_migration_renders_for_postgresql() -> None:
    config = alembic_config("postgresql://ringvault@localhost/ringvault")
    config.output_buffer = buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    for table in TABLES:
        assert f"CREATE TABLE {table} (" in sql
    assert "created_at TIMESTAMP WITH TIME ZONE NOT NULL" in sql
    assert "id BIGINT NOT NULL" in sql and "cv_properties JSON" in sql
    # 0006: record versions; one current row per key is a partial unique index on both databases
    assert "ALTER TABLE portability_records ADD COLUMN is_current BOOLEAN DEFAULT true NOT NULL" in sql
    assert (
        "CREATE UNIQUE INDEX ux_portability_records_current ON portability_records (grant_id, dataset, record_key) "
        "WHERE is_current" in sql
    )
    assert (
        "CREATE INDEX ix_portability_records_history ON portability_records (grant_id, dataset, record_key, version) "
        "WHERE NOT is_current" in sql
    )
    assert "ALTER TABLE portability_grants ADD COLUMN key_scheme INTEGER DEFAULT '1' NOT NULL" in sql
    # 0008: the SNS subscriptions an app's server heard of, with a serial id and the kinds checked
    subscriptions = sql[sql.index("CREATE TABLE portability_subscriptions (") :].split(");", 1)[0]
    assert "id SERIAL NOT NULL" in subscriptions and "confirmed_at TIMESTAMP WITH TIME ZONE," in subscriptions
    assert "CHECK (kind IN ('confirmation', 'notification'))" in subscriptions
    assert (
        "CREATE INDEX ix_portability_subscriptions_client_id_received_at ON portability_subscriptions "
        "(client_id, received_at)" in sql
    )


def test_the_record_version_writes_render_for_postgresql_and_sqlite() -> None:
    """The statements of a batch of records are Core constructs: they compile for both databases, the insert of new
    records targeting the partial unique index of current rows."""
    from sqlalchemy.dialects import postgresql, sqlite

    from ringvault.archive.store.models import PortabilityRecord
    from ringvault.archive.store.portability_records import (
        current_rows_query,
        insert_new,
        mark_seen,
        merge_fields,
        supersede,
    )

    table = PortabilityRecord.__table__
    now = datetime(2025, 1, 1, tzinfo=UTC)
    for dialect, insert in ((postgresql.dialect(), postgresql.insert), (sqlite.dialect(), sqlite.insert)):
        sql = {
            name: str(stmt.compile(dialect=dialect))
            for name, stmt in {
                "select": current_rows_query(1, [("Ring.Alarm.HubData", "k1"), ("Ring.Alarm.HubData", "k2")]),
                "insert": insert_new(insert(table)),
                "seen": mark_seen([1, 2], now, "q"),
                "merge": merge_fields(now, "q"),
                "supersede": supersede([3], now),
            }.items()
        }
        assert "ON CONFLICT (grant_id, dataset, record_key) WHERE is_current DO NOTHING RETURNING" in sql["insert"]
        assert "is_current" in sql["select"] and "record_key IN" in sql["select"]
        assert "SET last_seen_at=" in sql["seen"] and "SET data=" in sql["merge"]
        assert "is_current=" in sql["supersede"] and "superseded_at=" in sql["supersede"]


def test_upserting_twice_never_duplicates(store: ArchiveStore) -> None:
    events = [event(str(7_000_000_000_000_000_000 + i), T0 + timedelta(minutes=i)) for i in range(30)]
    assert store.upsert_events(DEVICE, events) == UpsertResult(new=30, updated=0)
    first_seen = store.get_event(events[0].id)
    assert first_seen is not None
    assert store.upsert_events(DEVICE, [*events, event("1", T0)]) == UpsertResult(new=1, updated=30)
    assert store.upsert_events(DEVICE, [event("2", T0), event("2", T0, kind="ding")]) == UpsertResult(new=1)
    again = store.get_event(events[0].id)
    assert again is not None and again.first_seen_at == first_seen.first_seen_at
    assert store.counts().events == 32
    account = store.upsert_account(AccountRecord(email="Someone@Example.com", profile_id=42))
    assert store.upsert_account(AccountRecord(email="someone@example.com")) == account
    assert store.upsert_location(LocationRecord(id="loc-1", account_id=account)) is False
    assert store.upsert_device(DeviceRecord(id=DEVICE, family="doorbots", name="Front Door")) is False
    counts = store.counts()
    assert (counts.accounts, counts.locations, counts.devices) == (1, 1, 1)
    assert sql_row(store, "SELECT COUNT(*), COUNT(DISTINCT id) FROM events") == (32, 32)


def test_refresh_keeps_known_fields_and_media_state(store: ArchiveStore) -> None:
    store.upsert_events(DEVICE, [event(BIG_ID, T0, "ding", duration_s=12.5, person_detected=True, raw={"a": 1})])
    store.mark_event_media(BIG_ID, MediaStatus.DONE)
    store.upsert_events(DEVICE, [event(BIG_ID, T0, "ding", recording_status="ready", favorite=True)])
    stored = store.get_event(BIG_ID)
    assert stored is not None
    assert (stored.duration_s, stored.person_detected, stored.raw) == (12.5, True, {"a": 1})
    assert (stored.recording_status, stored.favorite, stored.media_status) == ("ready", True, MediaStatus.DONE)
    device = store.list_devices()[0]
    assert (device.kind, device.location_id) == ("lpd_v4", "loc-1")


def test_big_ids_stay_exact_text(store: ArchiveStore) -> None:
    raw = {"id": int(BIG_ID), "id_str": BIG_ID, "cv_properties": {"person_detected": True}}
    store.upsert_events(
        DEVICE,
        [event(BIG_ID, T0, "ding", raw=raw, cv_properties={"detection_type": "human"}, detection_type="human")],
    )
    stored = store.get_event(BIG_ID)
    assert stored is not None and stored.id == BIG_ID
    assert stored.raw == raw and stored.raw["id"] == 7407512345678901234
    assert store.get_event(str(int(BIG_ID) + 1)) is None
    if is_postgres(store):
        row = sql_row(store, "SELECT id, pg_typeof(id)::text, cv_properties->>'detection_type' FROM events")
    else:
        row = sql_row(store, "SELECT id, typeof(id), json_extract(cv_properties, '$.detection_type') FROM events")
    assert row == (BIG_ID, "text", "human")


def test_created_at_round_trips_as_aware_utc(store: ArchiveStore) -> None:
    berlin = timezone(timedelta(hours=2))
    local = datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=berlin)
    store.upsert_events(DEVICE, [event("10", local)])
    stored = store.get_event("10")
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC and stored.created_at.hour == 12
    assert stored.first_seen_at.tzinfo == UTC
    if is_postgres(store):  # timestamptz, shown in UTC
        assert sql_row(store, "SELECT created_at AT TIME ZONE 'UTC' FROM events") == (
            datetime(2024, 7, 1, 12, 30, 15, 123456),
        )
    else:  # text that sorts chronologically
        assert sql_row(store, "SELECT created_at FROM events") == ("2024-07-01 12:30:15.123456",)
    with pytest.raises(ValueError, match="aware"):
        store.upsert_events(DEVICE, [event("11", datetime(2024, 7, 1, 12))])


def test_watermark_only_moves_forward(store: ArchiveStore) -> None:
    assert store.get_sync_state(DEVICE) is None
    first = store.set_watermark(
        DEVICE, newest_event_id="30", newest_created_at=T0, oldest_event_id="10", oldest_created_at=T0 - timedelta(1)
    )
    assert (first.newest_event_id, first.oldest_event_id, first.last_full_scan_at) == ("30", "10", None)
    later = T0 + timedelta(hours=1)
    store.set_watermark(DEVICE, newest_event_id="20", newest_created_at=T0 - timedelta(hours=1), synced_at=later)
    store.set_watermark(DEVICE, oldest_event_id="15", oldest_created_at=T0, full_scan=True, synced_at=later)
    state = store.get_sync_state(DEVICE)
    assert state is not None
    assert (state.newest_event_id, state.newest_created_at) == ("30", T0)
    assert (state.oldest_event_id, state.last_sync_at, state.last_full_scan_at) == ("10", later, later)
    store.set_watermark(DEVICE, newest_event_id="40", newest_created_at=later.astimezone(timezone(timedelta(hours=-5))))
    moved = store.get_sync_state(DEVICE)
    assert moved is not None and moved.newest_event_id == "40" and moved.newest_created_at == later
    assert moved.newest_created_at is not None and moved.newest_created_at.tzinfo == UTC


def test_pending_to_done_lifecycle(store: ArchiveStore) -> None:
    store.upsert_events(DEVICE, [event("1", T0), event("2", T0 + timedelta(minutes=1))])
    store.upsert_events(DEVICE, [EventRecord(id="3", created_at=T0, media_status=MediaStatus.NO_MEDIA)])
    now = T0 + timedelta(minutes=5)
    assert [p.event_id for p in store.events_needing_media(now=now)] == ["1", "2"]

    retry_at = now + timedelta(minutes=10)
    store.mark_event_media("1", MediaStatus.PENDING, error="recording not ready (404)", next_attempt_at=retry_at)
    assert [p.event_id for p in store.events_needing_media(DEVICE, now=now)] == ["2"]
    due = store.events_needing_media(now=retry_at)
    assert [p.event_id for p in due] == ["1", "2"]
    assert (due[0].attempts, due[0].next_attempt_at, due[0].last_error) == (1, retry_at, "recording not ready (404)")

    media_id = store.add_media(
        MediaRecord(
            kind=MediaKind.RECORDING, path="loc-1/987654321/2024/05/01/1.mp4", bytes=1234, sha256="ab" * 32,
            device_id=DEVICE, event_id="1", content_type="video/mp4", validated=True, captured_at=T0,
        ),
        mark_event_done=True,
    )  # fmt: skip
    store.mark_event_media("2", "failed", error="HTTP 500", failures=1)
    assert [p.event_id for p in store.events_needing_media(now=retry_at)] == ["2"]  # a failure is retried
    store.mark_event_media("2", "given_up", error="gone from history", failures=10)
    assert store.events_needing_media(now=retry_at) == []
    done = store.get_event("1")
    assert done is not None
    assert (done.media_status, done.media_attempts, done.media_last_error, done.media_next_attempt_at) == (
        MediaStatus.DONE, 2, None, None
    )  # fmt: skip
    media = store.get_media(media_id)
    assert media is not None and media.validated and media.bytes == 1234 and media.captured_at == T0
    assert store.counts().media_by_status == {"done": 1, "given_up": 1, "no_media": 1}
    with pytest.raises(UnknownEventError):
        store.mark_event_media("404", MediaStatus.DONE)


def test_add_media_is_idempotent(store: ArchiveStore) -> None:
    store.upsert_events(DEVICE, [event("1", T0)])
    recording = MediaRecord(kind=MediaKind.RECORDING, path="a/1.mp4", bytes=10, sha256="x", event_id="1")
    first = store.add_media(recording)
    assert store.add_media(recording) == first
    assert store.add_media(MediaRecord(MediaKind.RECORDING, "a/1-again.mp4", 11, "y", event_id="1")) == first
    snapshot = MediaRecord(kind=MediaKind.SNAPSHOT, path="snaps/1.jpg", bytes=5, sha256="z", device_id=DEVICE)
    snap_id = store.add_media(snapshot)
    assert store.add_media(snapshot) == snap_id != first
    counts = store.counts()
    assert (counts.media, counts.media_bytes) == (2, 16)
    assert [m.path for m in store.media_for_event("1")] == ["a/1-again.mp4"]


def collect(store: ArchiveStore, *, newest_first: bool, insert_newer: bool = False) -> list[tuple[datetime, str]]:
    seen: list[tuple[datetime, str]] = []
    cursor: str | None = None
    while True:
        page = store.query_events(device_id=DEVICE, limit=40, cursor=cursor, newest_first=newest_first)
        assert len(page.events) <= 40
        seen.extend((e.created_at, e.id) for e in page.events)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
        if insert_newer:  # a sync storing new events meanwhile must not shift the pages being read
            store.upsert_events(DEVICE, [event(f"9{len(seen):018d}", T0 + timedelta(days=1))])


def test_keyset_pagination_returns_each_event_once_in_order(store: ArchiveStore) -> None:
    # 250 events, three per second, so the id breaks ties; another device's events must not leak in.
    events = [event(str(7407512345678900000 + i), T0 + timedelta(seconds=i // 3)) for i in range(250)]
    store.upsert_events(DEVICE, events)
    store.upsert_device(DeviceRecord(id=2, family="stickup_cams"))
    store.upsert_events(2, [event("999", T0)])
    expected = sorted((e.created_at, e.id) for e in events)

    assert collect(store, newest_first=False) == expected
    assert collect(store, newest_first=True) == expected[::-1]
    assert collect(store, newest_first=True, insert_newer=True) == expected[::-1]

    window = store.query_events(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=20), limit=1000)
    assert len(window.events) == 30 and window.next_cursor is None
    assert store.query_events(kind="ding").events == []
    with pytest.raises(InvalidCursorError):
        store.query_events(cursor="not-a-cursor")


def test_concurrent_writers_wait_instead_of_failing(tmp_path: Path, database_url: str | None) -> None:
    with ArchiveStore.open(tmp_path, database_url=database_url) as setup:
        setup.upsert_device(DeviceRecord(id=1, family="doorbots"))
        setup.upsert_device(DeviceRecord(id=2, family="doorbots"))
    errors: list[BaseException] = []

    def writer(device_id: int) -> None:
        try:
            # like a second process: its own engine and connections
            with ArchiveStore.open(tmp_path, database_url=database_url) as store:
                for batch in range(20):
                    records = [event(f"{device_id}-{batch}-{i}", T0 + timedelta(seconds=i)) for i in range(25)]
                    store.upsert_events(device_id, records)
                    store.upsert_events(device_id, records[:5])
                    store.set_watermark(device_id, newest_event_id=records[-1].id, newest_created_at=T0)
                    store.mark_event_media(records[0].id, MediaStatus.DONE)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(device_id,)) for device_id in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with ArchiveStore.open(tmp_path, database_url=database_url) as store:
        counts = store.counts()
        assert counts.events == 2 * 20 * 25
        assert counts.media_by_status == {"done": 40, "pending": 960}


# -- retries, due recordings, counts (issue 9) ----------------------------------------------------------------------


def test_the_head_revision_constant_is_the_migration_scripts_head() -> None:
    """``HEAD_REVISION`` lets an archive at head open without importing Alembic; it must follow the scripts."""
    assert head_revision() == HEAD_REVISION


def _imports_alembic_when_opening(archive: Path) -> bool:
    code = (
        "import sys; from pathlib import Path; from ringvault.archive.store import ArchiveStore; "
        f"ArchiveStore.open(Path({str(archive)!r})).close(); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


def test_opening_an_archive_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    assert _imports_alembic_when_opening(tmp_path / "new")  # a new archive: its schema is created by Alembic
    assert not _imports_alembic_when_opening(tmp_path / "new")  # at head: one SELECT, no Alembic
    url = f"sqlite:///{tmp_path / 'new' / DB_FILENAME}"
    downgrade(url, "0004")
    assert _imports_alembic_when_opening(tmp_path / "new")  # a migration is due again
    assert current_revision(create_engine(url)) == HEAD_REVISION


def _plan(store: ArchiveStore, stmt: Any) -> str:
    sql = str(stmt.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def test_due_recordings_and_counts_use_indexes_not_a_table_scan(tmp_path: Path) -> None:
    """A re-sync must cost O(what is due), not O(archive): neither query may scan the events table (SQLite's plan;
    PostgreSQL's planner picks by table statistics, so a test table proves nothing there)."""
    from sqlalchemy import func, select

    from ringvault.archive.store.models import Event
    from ringvault.archive.store.rows import DUE_COLUMNS

    with ArchiveStore.open(tmp_path) as store:
        due = store._due_query(DUE_COLUMNS, [DEVICE, 2], T0, ["ding"], {DEVICE: (T0, None), 2: (None, None)})
        counts = select(Event.media_status, func.count()).where(Event.device_id.in_([DEVICE, 2]))
        for stmt in (due, counts.group_by(Event.media_status)):
            plan = _plan(store, stmt)
            assert "USING" in plan and "SCAN events" not in plan.replace("USING COVERING INDEX", ""), plan


def test_due_recordings_follow_status_time_kind_and_window(store: ArchiveStore) -> None:
    store.upsert_device(DeviceRecord(id=2, family="stickup_cams"))
    store.upsert_events(
        DEVICE, [event(str(i), T0 + timedelta(hours=i), "ding" if i % 2 else "motion") for i in range(8)]
    )
    store.upsert_events(2, [event("20", T0), EventRecord(id="21", created_at=T0, media_status=MediaStatus.NO_MEDIA)])
    now = T0 + timedelta(days=1)
    store.mark_event_media("0", MediaStatus.DONE)
    store.mark_event_media("1", MediaStatus.FAILED, "HTTP 500", failures=1)  # due on the next run
    store.mark_event_media("2", MediaStatus.FAILED, "HTTP 500", now + timedelta(hours=1), failures=4)  # waiting
    store.mark_event_media("3", MediaStatus.GIVEN_UP, "HTTP 500", failures=10)
    store.mark_event_media("4", MediaStatus.PENDING, "not ready", now - timedelta(minutes=1))  # due
    store.mark_event_media("5", MediaStatus.PENDING, "not ready", now + timedelta(minutes=1))  # not yet

    ids = [r.id for r in store.due_recordings(now=now)]
    assert ids == ["20", "1", "4", "6", "7"]  # oldest first (T0 ties by id)
    assert [r.id for r in store.due_recordings(now=now, newest_first=True)] == ids[::-1]
    assert [r.id for r in store.due_recordings([DEVICE], now=now, kinds=["ding"])] == ["1", "7"]
    window = {DEVICE: (T0 + timedelta(hours=4), T0 + timedelta(hours=7)), 2: (None, None)}
    assert [r.id for r in store.due_recordings(now=now, windows=window)] == ["20", "4", "6"]
    assert store.count_due(now=now, windows=window) == 3
    (failed,) = [r for r in store.due_recordings(now=now) if r.id == "1"]
    assert (failed.media_status, failed.media_failures, failed.media_last_error) == (MediaStatus.FAILED, 1, "HTTP 500")

    counts = store.media_state_counts([DEVICE])
    assert counts == {
        MediaStatus.PENDING: 4, MediaStatus.DONE: 1, MediaStatus.FAILED: 2, MediaStatus.GIVEN_UP: 1,
        MediaStatus.NO_MEDIA: 0,
    }  # fmt: skip
    assert store.media_state_counts()[MediaStatus.NO_MEDIA] == 1
    assert [r.id for r in store.failed_recordings()] == ["3"]
    assert [e.id for e in store.query_events(media_status="given_up").events] == ["3"]

    assert store.retry_failed([DEVICE]) == 3  # "1", "2" and "3" are due now, with a fresh budget
    assert [r.id for r in store.due_recordings(now=now)] == ["20", "1", "2", "3", "4", "6", "7"]
    assert {store.get_event(i).media_failures for i in ("1", "2", "3")} == {0}  # type: ignore[union-attr]


def test_a_no_media_event_comes_back_when_its_recording_appears(store: ArchiveStore) -> None:
    store.upsert_events(DEVICE, [EventRecord(id="1", created_at=T0, media_status=MediaStatus.NO_MEDIA)])
    store.upsert_events(DEVICE, [EventRecord(id="1", created_at=T0, media_status=MediaStatus.NO_MEDIA)])
    assert store.get_event("1").media_status is MediaStatus.NO_MEDIA  # type: ignore[union-attr]
    store.upsert_events(DEVICE, [EventRecord(id="1", created_at=T0)])  # pending: Ring shows a recording now
    assert store.get_event("1").media_status is MediaStatus.PENDING  # type: ignore[union-attr]
    store.mark_event_media("1", MediaStatus.DONE)
    store.upsert_events(DEVICE, [EventRecord(id="1", created_at=T0, media_status=MediaStatus.NO_MEDIA)])
    assert store.get_event("1").media_status is MediaStatus.DONE  # type: ignore[union-attr]  # never undone


def test_a_database_file_deleted_or_replaced_is_detected(tmp_path: Path) -> None:
    with ArchiveStore.open(tmp_path / "a") as store:
        store.verify_file()
        other = tmp_path / "other.sqlite3"
        other.write_bytes((tmp_path / "a" / DB_FILENAME).read_bytes())
        other.replace(tmp_path / "a" / DB_FILENAME)
        with pytest.raises(ArchiveFileChangedError, match="was replaced while it was open"):
            store.verify_file()
    with ArchiveStore.open(tmp_path / "b") as store:
        (tmp_path / "b" / DB_FILENAME).unlink()
        with pytest.raises(ArchiveFileChangedError, match="was deleted while it was open"):
            store.verify_file()


def test_sns_subscriptions_are_kept_bounded_without_losing_a_regions_proof(store: ArchiveStore) -> None:
    """``portability_subscriptions`` receives what an unauthenticated endpoint is sent: a flood of refused
    confirmations keeps the newest ``KEEP_CONFIRMATIONS`` and never pushes out the newest confirmed one of a region;
    notifications are one row per region; every app sees only its own rows."""
    from ringvault.archive.store.portability_subscriptions import KEEP_CONFIRMATIONS, SubscriptionStore

    kept = SubscriptionStore(store)
    arn = "arn:aws:sns:eu-west-1:123456789012:ring"
    first = kept.add_confirmation(
        "app", topic_arn=arn, region="eu-west-1", subscribe_url="https://sns.eu-west-1.amazonaws.com/?Token=a",
        confirmed=True, http_status=200,
    )  # fmt: skip
    assert first.confirmed_at is not None and first.received_at.tzinfo is not None and first.http_status == 200
    for n in range(KEEP_CONFIRMATIONS + 5):
        kept.add_confirmation(
            "app", topic_arn=arn, region=None, subscribe_url=f"http://evil.example/{n}", confirmed=False,
            error="the SubscribeURL is not https ('http')",
        )  # fmt: skip
    kept.add_confirmation("other-app", topic_arn=None, region=None, subscribe_url=None, confirmed=False, error="x")
    rows = kept.rows("app", "confirmation")
    assert len(rows) == KEEP_CONFIRMATIONS + 1 and rows[0].id == first.id and rows[0].confirmed_at is not None
    assert rows[-1].subscribe_url == f"http://evil.example/{KEEP_CONFIRMATIONS + 4}"  # the newest, oldest first
    assert {row.subscribe_url for row in rows[1:]} == {f"http://evil.example/{n}" for n in range(5, 55)}
    kept.note_notification("app", topic_arn=arn, region="eu-west-1")
    kept.note_notification("app", topic_arn=arn.replace("ring", "ring2"), region="eu-west-1")
    notes = kept.rows("app", "notification")
    assert [(n.region, n.topic_arn) for n in notes] == [("eu-west-1", arn.replace("ring", "ring2"))]
    assert [row.client_id for row in kept.rows("other-app")] == ["other-app"]
