"""The Data Portability tables of the archive: grants, the query lifecycle, files and idempotent record import."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringvault.archive.store import DB_FILENAME, ArchiveStore
from ringvault.archive.store.portability import ImportRecord


@pytest.fixture
def store(tmp_path: Path) -> ArchiveStore:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened  # type: ignore[misc]


def hub_records(count: int, start: int = 0) -> list[ImportRecord]:
    base = datetime(2025, 3, 1, tzinfo=UTC)
    return [
        ImportRecord(
            dataset="Ring.Alarm.DeviceLog",
            key=f"k{n}",
            event_date=base + timedelta(minutes=n),
            data={"locationId": "loc-1", "eventType": "AssetConnected", "n": n},
        )
        for n in range(start, start + count)
    ]


def test_grant_is_unique_per_brand_app_and_customer_and_login_reactivates_it(store: ArchiveStore) -> None:
    dp = store.portability
    first = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="default")
    dp.set_grant_status(first.id, "revoked")
    assert dp.get_grant(first.id) is not None and dp.get_grant(first.id).status == "revoked"  # type: ignore[union-attr]
    again = dp.upsert_grant(brand="ring", region="us-east-1", client_id="app", customer="default")
    other = dp.upsert_grant(brand="blink", region="eu-west-1", client_id="app", customer="default")
    assert again.id == first.id and again.region == "us-east-1" and again.status == "active"
    assert other.id != first.id
    assert [g.id for g in dp.list_grants()] == [first.id, other.id]


def test_query_lifecycle_is_persisted_step_by_step(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    query = dp.add_query("q-1", grant_id=grant.id, scope_id="data-portability", datasets=["Ring.Alarm.HubData"])
    assert (query.state, query.datasets, query.final) == ("created", ["Ring.Alarm.HubData"], False)
    assert dp.add_query("q-1", grant_id=grant.id, scope_id="data-portability").datasets == ["Ring.Alarm.HubData"]
    now = datetime.now(UTC)
    dp.update_query("q-1", state="notified", status="COMPLETED", notified_at=now)
    dp.update_query("q-1", state="listed", listed_at=now)
    assert [q.id for q in dp.list_queries(open_only=True)] == ["q-1"]
    done = dp.update_query("q-1", state="imported", imported_at=now, records_imported=7)
    assert (done.state, done.status, done.records_imported, done.final) == ("imported", "COMPLETED", 7, True)
    assert dp.list_queries(open_only=True) == []
    assert [q.id for q in dp.list_queries(grant_id=grant.id)] == ["q-1"]
    with pytest.raises(ValueError, match="unknown query state"):
        dp.update_query("q-1", state="finished")
    with pytest.raises(ValueError, match="unknown query fields"):
        dp.update_query("q-1", colour="red")
    with pytest.raises(KeyError):
        dp.update_query("missing", state="failed")


def test_files_keep_their_state_when_listed_again(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    dp.add_query("q-2", grant_id=grant.id, scope_id="data-portability")
    assert [f.state for f in dp.ensure_files("q-2", 3)] == ["listed", "listed", "listed"]
    dp.update_file("q-2", 1, state="imported", dataset="Ring.Alarm.HubData", path="dp/q-2/1.json", bytes=10, records=4)
    files = dp.ensure_files("q-2", 3)
    assert [f.state for f in files] == ["listed", "imported", "listed"]
    assert (files[1].dataset, files[1].records, files[1].bytes) == ("Ring.Alarm.HubData", 4, 10)
    with pytest.raises(KeyError):
        dp.update_file("q-2", 9, state="failed")
    with pytest.raises(ValueError, match="unknown file state"):
        dp.update_file("q-2", 0, state="done")


def test_importing_the_same_or_overlapping_records_stores_each_once(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    other = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c2")
    assert dp.import_records(grant.id, "q-a", hub_records(1200)) == 1200  # several batches
    assert dp.import_records(grant.id, "q-a", hub_records(1200)) == 0
    assert dp.import_records(grant.id, "q-b", hub_records(600, start=1000)) == 400  # overlapping query
    assert dp.import_records(other.id, "q-c", hub_records(10)) == 10  # another customer's records are theirs
    assert dp.dataset_counts(grant.id) == {"Ring.Alarm.DeviceLog": 1600}
    assert dp.dataset_counts() == {"Ring.Alarm.DeviceLog": 1610}
    # Duplicates inside one batch are collapsed too.
    twice = hub_records(3, start=5000) + hub_records(3, start=5000)
    assert dp.import_records(grant.id, "q-d", twice) == 3


def test_records_are_queryable_with_sqlite3(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    dp.import_records(grant.id, "q-a", hub_records(5))
    assert store.archive_dir is not None
    with sqlite3.connect(store.archive_dir / DB_FILENAME) as conn:
        rows = conn.execute(
            "select dataset, json_extract(data, '$.eventType'), event_date from portability_records order by id"
        ).fetchall()
    assert len(rows) == 5
    assert rows[0][:2] == ("Ring.Alarm.DeviceLog", "AssetConnected")
    assert str(rows[0][2]).startswith("2025-03-01 00:00:00")


def test_a_killed_import_resumes_without_duplicates(tmp_path: Path) -> None:
    """A child process imports batches and is killed (os._exit) half-way; the re-run adds exactly the rest."""
    archive = tmp_path / "archive"
    script = textwrap.dedent(
        f"""
        import os
        from datetime import UTC, datetime
        from ringvault.archive.store import ArchiveStore
        from ringvault.archive.store.portability import ImportRecord

        def records():
            for n in range(2000):
                if n == 1300:
                    os._exit(9)  # dies after two committed batches, in the middle of the third
                yield ImportRecord("Ring.Alarm.AuditLog", f"r{{n}}", datetime(2025, 1, 1, tzinfo=UTC), {{"n": n}})

        store = ArchiveStore.open({str(archive)!r})
        grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c")
        store.portability.import_records(grant.id, "q", records())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    with ArchiveStore.open(archive) as store:
        assert store.portability.dataset_counts() == {"Ring.Alarm.AuditLog": 1000}
        grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c")
        rest = [
            ImportRecord("Ring.Alarm.AuditLog", f"r{n}", datetime(2025, 1, 1, tzinfo=UTC), {"n": n})
            for n in range(2000)
        ]
        assert store.portability.import_records(grant.id, "q", rest) == 1000
        assert store.portability.dataset_counts() == {"Ring.Alarm.AuditLog": 2000}


def test_an_archive_with_portability_data_is_migrated_with_its_data_and_references(tmp_path: Path) -> None:
    """Migrations that rebuild a referenced table (SQLite changes a CHECK that way) keep every row and reference,
    and leave foreign keys enforced afterwards; down and up again, on an archive full of Data Portability rows."""
    from sqlalchemy import text

    from ringvault.archive.store import current_revision, downgrade, head_revision

    with ArchiveStore.open(tmp_path) as store:
        dp = store.portability
        grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
        dp.add_query("q-1", grant_id=grant.id, scope_id="data-portability")
        dp.ensure_files("q-1", 3)
        assert dp.import_records(grant.id, "q-1", hub_records(25)) == 25
        # the store's own engine enforces foreign keys on every connection, as ringvault runs migrations
        downgrade(store.engine, "0002")  # rebuilds portability_grants (0004) and portability_files (0003)
        assert current_revision(store.engine) == "0002"
    with ArchiveStore.open(tmp_path) as store:  # upgrades to head
        assert current_revision(store.engine) == head_revision()
        dp = store.portability
        assert [(g.id, g.customer, g.status) for g in dp.list_grants()] == [(grant.id, "c1", "active")]
        assert [q.id for q in dp.list_queries(grant_id=grant.id)] == ["q-1"]
        assert len(dp.list_files("q-1")) == 3 and dp.dataset_counts(grant.id) == {"Ring.Alarm.DeviceLog": 25}
        dp.set_grant_status(grant.id, "refused")  # the status 0004 allows
        assert dp.get_grant(grant.id).status == "refused"  # type: ignore[union-attr]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(Exception, match="FOREIGN KEY"), store.engine.begin() as conn:
            conn.execute(text("INSERT INTO portability_queries (id, grant_id, scope_id, state, records_imported, "
                              "created_at, updated_at) VALUES ('q-x', 999, 's', 'created', 0, '2025-01-01', "
                              "'2025-01-01')"))  # fmt: skip
        downgrade(store.engine, "0003")  # a refused grant becomes active again for the older schema
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("SELECT status FROM portability_grants").fetchall() == [("active",)]


def test_records_page_in_stored_order_filter_and_the_cursor_is_a_change_feed(store: ArchiveStore) -> None:
    from ringvault.archive.store.portability import InvalidRecordCursorError

    dp = store.portability
    alice = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="alice")
    bob = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="bob")
    assert dp.import_records(alice.id, "q-a", hub_records(25)) == 25
    assert dp.import_records(bob.id, "q-b", hub_records(5)) == 5

    seen: list[str] = []
    cursor = None
    while True:
        page = dp.list_records(grant_ids=[alice.id], limit=10, cursor=cursor)
        seen += [r.key for r in page.records]
        assert all(r.grant_id == alice.id and r.query_id == "q-a" for r in page.records)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"k{n}" for n in range(25)]  # each once, in the order stored
    assert len(dp.list_records(limit=100).records) == 30
    assert dp.list_records(dataset="Ring.Alarm.HubData").records == []

    # since/until on the record's date: k5..k9 (one minute apart from 2025-03-01 00:00)
    base = datetime(2025, 3, 1, tzinfo=UTC)
    window = dp.list_records(
        grant_ids=[alice.id], since=base + timedelta(minutes=5), until=base + timedelta(minutes=10)
    ).records
    assert [r.key for r in window] == ["k5", "k6", "k7", "k8", "k9"]
    assert window[0].data["n"] == 5 and window[0].event_date == base + timedelta(minutes=5)

    # the last page's cursor, kept and asked again later, gives exactly what was imported since
    last = dp.list_records(grant_ids=[alice.id], limit=1000)
    assert last.next_cursor is None and dp.list_records(grant_ids=[alice.id], cursor=last.cursor).records == []
    assert dp.import_records(alice.id, "q-a2", hub_records(30)) == 5  # k25..k29 are new, the rest known
    fresh = dp.list_records(grant_ids=[alice.id], cursor=last.cursor)
    assert [r.key for r in fresh.records] == [f"k{n}" for n in range(25, 30)]

    for bad in ("nonsense!", "cjFh", "eDEy"):  # not base64, "r1a", "x12"
        with pytest.raises(InvalidRecordCursorError):
            dp.list_records(cursor=bad)
    with pytest.raises(ValueError):
        dp.list_records(limit=0)


# -- versions ------------------------------------------------------------------------------------------------------


def device(name: str, status: str, **extra: object) -> ImportRecord:
    """A hub component keyed by its name; ``fingerprint`` stands for its documented fields (name and status)."""
    data = {"deviceName": name, "status": status, **extra}
    return ImportRecord(
        dataset="Ring.Alarm.HubData",
        key=f"key-{name}",
        event_date=None,
        data=data,
        fingerprint=f"{name}|{status}",
        content_hash=f"{name}|{status}|{sorted(extra.items())}",
    )


def test_a_changed_record_becomes_a_new_version_and_the_old_one_its_history(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    first = dp.apply_records(grant.id, "q-1", [device("Alarm", "ok"), device("Keypad", "ok")])
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    again = dp.apply_records(grant.id, "q-2", [device("Alarm", "ok"), device("Keypad", "ok")])
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    changed = dp.apply_records(grant.id, "q-3", [device("Alarm", "ok"), device("Keypad", "error")])
    assert (changed.new, changed.changed, changed.unchanged) == (0, 1, 1)

    assert dp.dataset_counts(grant.id) == {"Ring.Alarm.HubData": 2}
    assert dp.dataset_counts(grant.id, history=True) == {"Ring.Alarm.HubData": 3}
    current = {r.key: r for r in dp.list_records(grant_ids=[grant.id]).records}
    assert current["key-Keypad"].data["status"] == "error" and current["key-Keypad"].version == 2
    alarm = current["key-Alarm"]  # unchanged: one row, first seen by q-1, last seen by q-3
    assert (alarm.version, alarm.query_id, alarm.last_query_id, alarm.current) == (1, "q-1", "q-3", True)
    history = dp.record_history(grant.id, "Ring.Alarm.HubData", "key-Keypad")
    assert [(v.row.version, v.row.current, v.row.data["status"], v.changed) for v in history] == [
        (1, False, "ok", []),
        (2, True, "error", ["status"]),
    ]
    assert history[0].row.superseded_at is not None and history[0].row.last_query_id == "q-2"
    # changed back: a third version (the history keeps every state it was seen in)
    dp.apply_records(grant.id, "q-4", [device("Keypad", "ok")])
    assert [v.row.data["status"] for v in dp.record_history(grant.id, "Ring.Alarm.HubData", "key-Keypad")] == [
        "ok",
        "error",
        "ok",
    ]


def test_a_record_that_only_gained_a_field_is_merged_into_its_current_row(store: ArchiveStore) -> None:
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    dp.apply_records(grant.id, "q-1", [device("Alarm", "ok")])
    feed = dp.list_records(grant_ids=[grant.id])
    merged = dp.apply_records(grant.id, "q-2", [device("Alarm", "ok", batteryLevel=80)])
    assert (merged.new, merged.changed, merged.merged) == (0, 0, 1)
    [row] = dp.list_records(grant_ids=[grant.id], history=True).records
    assert row.version == 1 and row.data == {"deviceName": "Alarm", "status": "ok", "batteryLevel": 80}
    assert row.last_query_id == "q-2"
    assert dp.list_records(grant_ids=[grant.id], cursor=feed.cursor).records == []  # not news for the feed
    # the added field changing its value is a change (the old value kept), as is its disappearance
    assert dp.apply_records(grant.id, "q-3", [device("Alarm", "ok", batteryLevel=40)]).changed == 1
    assert dp.apply_records(grant.id, "q-4", [device("Alarm", "ok")]).changed == 1
    assert [v.row.data.get("batteryLevel") for v in dp.record_history(grant.id, "Ring.Alarm.HubData", "key-Alarm")] == [
        80,
        40,
        None,
    ]
    fresh = dp.list_records(grant_ids=[grant.id], cursor=feed.cursor).records
    assert [(r.version, r.current) for r in fresh] == [(3, True)]  # the feed: the current version, once
    assert [r.version for r in dp.list_records(grant_ids=[grant.id], cursor=feed.cursor, history=True).records] == [
        2,
        3,
    ]


def test_records_without_hashes_compare_by_their_whole_content(store: ArchiveStore) -> None:
    """A caller that knows nothing of the data set gives no fingerprint: every field counts, so the same data is
    the same record and any other data (a field more included) a new version."""
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c1")
    plain = [ImportRecord("Ring.Future.Thing", "k", None, {"a": 1})]
    assert dp.import_records(grant.id, "q-1", plain) == 1
    assert dp.apply_records(grant.id, "q-2", plain).unchanged == 1
    more = [ImportRecord("Ring.Future.Thing", "k", None, {"a": 1, "b": 2})]
    assert dp.apply_records(grant.id, "q-3", more).changed == 1
    assert dp.dataset_counts(grant.id) == {"Ring.Future.Thing": 1}
    assert dp.dataset_counts(grant.id, history=True) == {"Ring.Future.Thing": 2}


def test_the_0006_migration_keeps_every_record_of_an_older_archive_as_its_current_version(tmp_path: Path) -> None:
    """An archive made by the schema before 0006 (one row per key, no versions) is upgraded: every row stays, as the
    current version 1 of itself, last seen when it was imported, keyed with scheme 1 until the importer re-keys it;
    its grant says so. Down again, the current rows are what the older schema expects."""
    from ringvault.archive.store import current_revision, downgrade, head_revision, migrate

    url = f"sqlite:///{tmp_path / DB_FILENAME}"
    migrate(url, "0005")
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO portability_grants (id, brand, region, client_id, customer, status, created_at, updated_at) "
            "VALUES (1, 'ring', 'eu-west-1', 'app', 'c1', 'active', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
        conn.executemany(
            "INSERT INTO portability_records (grant_id, dataset, record_key, event_date, data, query_id, imported_at) "
            "VALUES (1, ?, ?, ?, ?, ?, ?)",
            [
                ("Ring.Alarm.DeviceLog", f"legacy-{n}", f"2025-01-0{1 + n % 9} 00:00:00.000000",
                 f'{{"n": {n}}}', f"q-{n % 3}", f"2025-02-0{1 + n % 9} 12:00:00.000000")
                for n in range(40)
            ] + [("Ring.Alarm.HubData", "legacy-hub", None, '{"deviceName": "Alarm"}', None, "2025-02-01 12:00:00")],
        )  # fmt: skip
        before = conn.execute("SELECT id, dataset, record_key, data, query_id FROM portability_records").fetchall()
    with ArchiveStore.open(tmp_path) as store:
        assert current_revision(store.engine) == head_revision()  # 0006 and every later migration
        dp = store.portability
        [grant] = dp.list_grants()
        assert grant.key_scheme == 1  # its rows carry the keys of the older ringvault: re-keyed at the next import
        rows = dp.list_records(limit=1000).records
        assert [(r.id, r.dataset, r.key, r.query_id) for r in rows] == [(b[0], b[1], b[2], b[4]) for b in before]
        assert all(r.current and r.version == 1 and r.superseded_at is None for r in rows)
        assert all(r.last_seen_at == r.imported_at and r.last_query_id == r.query_id for r in rows)
        assert rows[0].data == {"n": 0} and dp.dataset_counts(grant.id) == {
            "Ring.Alarm.DeviceLog": 40,
            "Ring.Alarm.HubData": 1,
        }
        # a brand-new grant needs no re-keying
        assert dp.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="c2").key_scheme == 2
        # a new version of one, then down to 0005: the history goes, the current rows stay
        dp.apply_records(
            grant.id, "q-new", [ImportRecord("Ring.Alarm.HubData", "legacy-hub", None, {"deviceName": "X"})]
        )
        downgrade(store.engine, "0005")
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        left = dict(
            conn.execute("SELECT record_key, data FROM portability_records WHERE dataset = 'Ring.Alarm.HubData'")
        )
        assert left == {"legacy-hub": '{"deviceName": "X"}'}
        assert conn.execute("SELECT count(*) FROM portability_records").fetchone()[0] == 41
