"""The archive on a real PostgreSQL server: chosen by ``RINGVAULT_DATABASE_URL``, migrated once when several processes
open a new database together, safe for concurrent first writes, text PostgreSQL cannot store as such, and one-line
errors (never showing the password) when the server is unreachable or refuses the login.

The store's whole API runs on PostgreSQL in ``tests/archive/test_store.py`` (its ``store`` fixture has a
``postgresql`` parameter); these are the PostgreSQL-only concerns."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ringvault.archive.store import (
    DB_FILENAME,
    HEAD_REVISION,
    ArchiveDatabaseError,
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    LocationRecord,
    UnknownSchemaError,
    current_revision,
    database_label,
    downgrade,
    migrate,
)
from ringvault.archive.store.portability import ImportRecord
from tests.pg.server import PostgresServer, free_port

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_the_database_url_of_the_environment_is_the_archive(tmp_path: Path, pg_env: str) -> None:
    """Every command opens the archive with ``ArchiveStore.open(directory)``: with the URL set, that is PostgreSQL
    (the directory keeps the files, and no SQLite file appears), shared by every directory and process."""
    with ArchiveStore.open(tmp_path / "a") as store:
        assert store.engine.dialect.name == "postgresql" and store.db_path is None
        store.upsert_device(DeviceRecord(id=1, family="doorbots", name="Front"))
        store.verify_file()  # not a file: nothing to check, nothing raised
    assert (tmp_path / "a").is_dir() and not (tmp_path / "a" / DB_FILENAME).exists()
    with ArchiveStore.open(tmp_path / "b") as other:
        assert [d.name for d in other.list_devices()] == ["Front"]
        assert current_revision(other.engine) == HEAD_REVISION
    label = database_label(tmp_path / "a")
    assert label.startswith("postgresql+psycopg://postgres:***@127.0.0.1:") and pg_env.split("@")[0] not in label


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_plain_postgresql_url_means_the_psycopg_driver(tmp_path: Path, pg_url: str, scheme: str) -> None:
    url = pg_url.replace("postgresql+psycopg://", f"{scheme}://")
    with ArchiveStore.open(tmp_path, database_url=url) as store:
        assert store.engine.dialect.driver == "psycopg"
        assert store.counts().devices == 0


def test_an_unsupported_url_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ArchiveDatabaseError, match="supports SQLite and PostgreSQL, not mysql"):
        ArchiveStore.open(tmp_path, database_url="mysql://u:p@127.0.0.1/db")
    with pytest.raises(ArchiveDatabaseError, match="psycopg 3 driver, not psycopg2"):
        ArchiveStore.open(tmp_path, database_url="postgresql+psycopg2://u:p@127.0.0.1/db")
    with pytest.raises(ArchiveDatabaseError, match="not a database URL"):
        ArchiveStore.open(tmp_path, database_url="not a url")


def _refused(tmp_path: Path, url: str) -> str:
    with pytest.raises(ArchiveDatabaseError) as caught:
        ArchiveStore.open(tmp_path, database_url=url)
    line = str(caught.value)
    assert "\n" not in line
    return line


def test_a_wrong_password_is_one_line_that_never_shows_it(tmp_path: Path, pg_server: PostgresServer) -> None:
    secret = "not-the-password-4711"
    url = pg_server.url().replace(f":{pg_server.password}@", f":{secret}@")
    line = _refused(tmp_path, url)
    assert 'password authentication failed for user "postgres"' in line
    assert "check the user and password in RINGVAULT_DATABASE_URL" in line
    assert secret not in line and "postgres:***@" in line


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    secret = "sekrit-password-0815"
    line = _refused(tmp_path, f"postgresql+psycopg://ringvault:{secret}@127.0.0.1:{free_port()}/archive")
    assert "Connection refused" in line and "check that the PostgreSQL server is running" in line
    assert secret not in line


def test_a_missing_database_is_one_line(tmp_path: Path, pg_server: PostgresServer) -> None:
    line = _refused(tmp_path, pg_server.url("no_such_db"))
    assert 'database "no_such_db" does not exist' in line and "createdb" in line


def test_the_cli_says_it_in_one_line(tmp_path: Path, pg_server: PostgresServer) -> None:
    """A command on a refused login ends with the one line (exit 1), no traceback, no password."""
    secret = "wrong-password-1234"
    env = {**os.environ, "RINGVAULT_DATABASE_URL": pg_server.url().replace(f":{pg_server.password}@", f":{secret}@")}
    done = subprocess.run(
        [sys.executable, "-m", "ringvault", "portability", "status", "--archive", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the archive database at postgresql+psycopg://")
    assert "password authentication failed" in lines[0] and secret not in done.stderr + done.stdout


def test_processes_opening_a_new_database_together_migrate_it_once(tmp_path: Path, pg_url: str) -> None:
    """``serve`` and three workers started at once on an empty database: one migrates, the others wait for it and
    find it at head (without the lock, the losers fail on 'relation already exists')."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            barrier.wait(timeout=60)
            with ArchiveStore.open(tmp_path, database_url=pg_url) as store:
                store.counts()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = create_engine(pg_url)
    try:
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_the_first_watermarks_of_a_device_written_at_once_do_not_collide(tmp_path: Path, pg_url: str) -> None:
    """Two processes syncing the same new devices: nothing serialises writers on PostgreSQL, so the first sync
    state row of a device must not be inserted twice."""
    with ArchiveStore.open(tmp_path, database_url=pg_url) as setup:
        setup.upsert_devices(DeviceRecord(id=n, family="doorbots") for n in range(1, 41))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            with ArchiveStore.open(tmp_path, database_url=pg_url) as store:
                for device in range(1, 41):
                    barrier.wait(timeout=60)
                    store.set_watermark(device, newest_event_id=f"{offset}", newest_created_at=T0 + timedelta(offset))
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with ArchiveStore.open(tmp_path, database_url=pg_url) as store:
        states = store.sync_states(range(1, 41))
        assert len(states) == 40 and {state.newest_event_id for state in states.values()} == {"2"}


def test_text_with_control_characters_is_stored(tmp_path: Path, pg_url: str) -> None:
    """Ring's text is stored as received; PostgreSQL text cannot hold NUL (SQLite can), so NUL alone becomes U+FFFD
    there, and JSON keeps it exactly (escaped as \\u0000)."""
    name = "Front\x00Door \x1b[31mred\x1b[0m\ttab\u2028line"
    raw = {"name": name, "nested": ["\x00", "\x07bell"]}
    with ArchiveStore.open(tmp_path, database_url=pg_url) as store:
        store.upsert_location(LocationRecord(id="loc\x00-1", name=name, raw=raw))
        store.upsert_device(DeviceRecord(id=7, family="doorbots", name=name, raw=raw, location_id="loc\ufffd-1"))
        store.upsert_events(7, [EventRecord(id="1", created_at=T0, kind="ding\x00x", raw=raw)])
        (device,) = store.list_devices()
        assert device.name == name.replace("\x00", "\ufffd") and device.raw == raw
        stored = store.get_event("1")
        assert stored is not None and stored.kind == "ding\ufffdx" and stored.raw == raw
        grant = store.portability.upsert_grant(brand="ring", region="us", client_id="app", customer="c\x00")
        record = ImportRecord(dataset="HistoryLog", key="k\x00", event_date=None, data=raw)
        assert store.portability.import_records(grant.id, None, [record]) == 1
        assert store.portability.import_records(grant.id, None, [record]) == 0  # the same key again: not new
        (row,) = store.portability.list_records().records
        assert row.data == raw and row.key == "k\ufffd"


def test_big_ids_keep_every_digit(tmp_path: Path, pg_url: str) -> None:
    """Device ids are BIGINT, ding ids text: both above 2^53 come back exact."""
    big_device = 2**62 + 12345
    ding = "7407512345678901234"
    with ArchiveStore.open(tmp_path, database_url=pg_url) as store:
        store.upsert_device(DeviceRecord(id=big_device, family="doorbots"))
        store.upsert_events(big_device, [EventRecord(id=ding, created_at=T0, raw={"id": int(ding)})])
        stored = store.get_event(ding)
        assert stored is not None and stored.device_id == big_device and stored.raw == {"id": 7407512345678901234}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT max(id) FROM devices")).scalar_one() == big_device


def test_downgrade_and_upgrade_round_trip(pg_url: str) -> None:
    migrate(pg_url)
    downgrade(pg_url, "base")
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
        assert set(tables) <= {"alembic_version"}
        migrate(pg_url)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_an_archive_from_a_newer_ringvault_is_refused(tmp_path: Path, pg_url: str) -> None:
    with ArchiveStore.open(tmp_path, database_url=pg_url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UnknownSchemaError, match="9999"):
        ArchiveStore.open(tmp_path, database_url=pg_url)
