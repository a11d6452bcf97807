"""The hub tables of the archive (``hub_devices``, ``hub_history``, ``hub_sync_state``) on a real SQLite file and a
real PostgreSQL server (the ``store`` fixture runs each test on both): item keys and times, hostile text and huge
numbers, devices kept and marked when the hubs stop listing them, keyset pages, and migration 0009 both ways."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from ringvault.archive.store import (
    DB_FILENAME,
    HEAD_REVISION,
    ArchiveStore,
    HubDeviceRecord,
    InvalidCursorError,
    current_revision,
    downgrade,
    history_record,
    migrate,
)
from ringvault.archive.store.hub_records import MAX_EVENT_MS, canonical_json, item_key, item_time_ms

T0_MS = 1_733_400_000_000  # 2024-12-05
SEEN_MS = 1_733_500_000_000
HUB_TABLES = {"hub_devices", "hub_history", "hub_sync_state"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    with ArchiveStore.open(tmp_path / "archive", database_url=url) as opened:
        yield opened


def is_postgres(store: ArchiveStore) -> bool:
    return store.engine.dialect.name == "postgresql"


def item(
    n: int,
    *,
    at: Any = "auto",
    event_id: Any = "auto",
    zid: str = "zid-contact",
    impulse: str = "security-panel.mode-switched.some",
) -> dict[str, Any]:
    """An rs/history item shaped as ring-mqtt reads them (plus the [sim] eventId)."""
    context: dict[str, Any] = {
        "eventOccurredTsMs": T0_MS + n * 1000 if at == "auto" else at,
        "initiatingEntityType": "user",
        "initiatingEntityName": "Test User",
    }
    if event_id == "auto":
        context["eventId"] = f"ev-{n:04d}"
    elif event_id is not None:
        context["eventId"] = event_id
    return {
        "msg": "DataUpdate",
        "datatype": "DeviceInfoDocType",
        "body": [
            {
                "general": {"v2": {"zid": zid, "name": "Front Door"}},
                "device": {"v1": {"faulted": n % 2 == 0}},
                "impulse": {"v1": [{"impulseType": impulse, "data": {}}]},
            }
        ],
        "context": context,
    }


def records(items: list[dict[str, Any]], category: str = "alarm") -> list[Any]:
    return [history_record(entry, category, SEEN_MS) for entry in items]


# -- item keys, times and fields -------------------------------------------------------------------------------------


def test_an_item_is_keyed_by_its_event_id_else_by_the_hash_of_its_canonical_json() -> None:
    assert item_key(item(1)) == "ev-0001"
    assert item_key(item(1, event_id=7407512345678901234)) == "7407512345678901234"  # a number: its exact digits
    bare = item(1, event_id=None)
    expected = hashlib.sha256(json.dumps(bare, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert item_key(bare) == f"sha256:{expected}"
    # the same item with its keys in another order is the same item
    reordered = {key: bare[key] for key in reversed(list(bare))}
    assert item_key(reordered) == item_key(bare)
    assert canonical_json(reordered) == canonical_json(bare)
    # anything else that is not a usable id falls back to the hash too
    for odd in ("", "   ", True, {"a": 1}, "x" * 1000):
        assert item_key(item(1, event_id=odd)).startswith("sha256:")


def test_the_time_is_ring_s_when_usable_else_when_first_seen() -> None:
    assert item_time_ms(item(1)) == T0_MS + 1000
    assert item_time_ms(item(1, at=str(T0_MS))) == T0_MS  # numbers as strings happen
    assert item_time_ms(item(1, at=float(T0_MS) + 0.5)) == T0_MS
    for unusable in (True, -5, 10**30, "soon", None, float("nan"), [1]):
        assert item_time_ms(item(1, at=unusable)) is None, unusable
    assert item_time_ms(item(1, at=MAX_EVENT_MS)) == MAX_EVENT_MS
    kept = history_record(item(1), "alarm", SEEN_MS)
    assert (kept.event_ms, kept.time_source) == (T0_MS + 1000, "event")
    huge = history_record(item(2, at=10**30), "alarm", SEEN_MS)
    assert (huge.event_ms, huge.time_source) == (SEEN_MS, "first_seen")
    assert "1000000000000000000000000000000" in huge.raw  # the raw item keeps Ring's number, digit for digit


def test_the_device_impulses_and_datatype_are_read_tolerantly() -> None:
    record = history_record(item(1), "beams", SEEN_MS)
    assert (record.category, record.datatype, record.zid) == ("beams", "DeviceInfoDocType", "zid-contact")
    assert record.impulse_types == ["security-panel.mode-switched.some"]
    # no body: the [sim] context.affectedEntityId names the device; nothing else is guessed
    sparse = history_record({"context": {"affectedEntityId": "zid-panel"}, "body": "not a list"}, "alarm", SEEN_MS)
    assert (sparse.zid, sparse.impulse_types, sparse.datatype) == ("zid-panel", None, None)
    odd = history_record({"msg": 5, "body": [None, 3, {"impulse": {"v1": [{"impulseType": 9}]}}]}, "alarm", SEEN_MS)
    assert (odd.zid, odd.impulse_types, odd.time_source) == (None, None, "first_seen")


# -- history ---------------------------------------------------------------------------------------------------------


def test_history_items_are_stored_once_whatever_how_often_they_are_read(store: ArchiveStore) -> None:
    batch = records([item(n) for n in range(30)] + [item(100, event_id=None)])
    assert store.hub.add_history("loc-1", batch) == 31
    assert store.hub.add_history("loc-1", batch) == 0
    # a shifted page: half held already, half new, the held ones repeated within the batch too
    shifted = records([item(n) for n in range(20, 40)] + [item(25)])
    assert store.hub.add_history("loc-1", shifted) == 10
    assert store.hub.history_count("loc-1") == 41
    # the same key at another location is another item
    assert store.hub.add_history("loc-2", records([item(1)])) == 1
    assert store.hub.known_keys("loc-1", ["ev-0001", "ev-0039", "ev-9999"]) == {"ev-0001", "ev-0039"}
    newest, second = store.hub.query_history("loc-1", limit=2).items
    assert newest.item_key.startswith("sha256:") and newest.item() == item(100, event_id=None)
    assert second.item_key == "ev-0039" and second.item() == item(39)


def test_history_pages_newest_first_by_keyset_with_filters(store: ArchiveStore) -> None:
    items = [item(n, zid="zid-a" if n % 3 else "zid-b") for n in range(25)]
    store.hub.add_history("loc-1", records(items[:20]))
    store.hub.add_history("loc-1", records([item(200 + n) for n in range(5)], "beams"))
    page = store.hub.query_history("loc-1", category="alarm", limit=7)
    seen = [row.item_key for row in page.items]
    # items stored between two pages (newer ones) do not shift the pages that follow
    store.hub.add_history("loc-1", records(items[20:]))
    while page.next_cursor is not None:
        page = store.hub.query_history("loc-1", category="alarm", limit=7, cursor=page.next_cursor)
        seen.extend(row.item_key for row in page.items)
    assert seen == [f"ev-{n:04d}" for n in reversed(range(20))]
    by_zid = store.hub.query_history(zid="zid-b", limit=100).items
    assert {row.zid for row in by_zid} == {"zid-b"} and len(by_zid) == 9
    window = store.hub.query_history(since_ms=T0_MS + 5000, until_ms=T0_MS + 8000, limit=100).items
    assert [row.event_ms for row in window] == [T0_MS + 7000, T0_MS + 6000, T0_MS + 5000]
    assert [row.category for row in store.hub.query_history(category="beams", limit=100).items] == ["beams"] * 5
    assert window[0].event_at == datetime.fromtimestamp((T0_MS + 7000) / 1000, UTC)


def test_a_cursor_the_store_did_not_make_is_refused(store: ArchiveStore) -> None:
    # not base64, [1] (a device cursor), ["a",1], [10**22,1] (beyond 64 bits: no database error, a refusal)
    for cursor in ("garbage!", "WzFd", "WyJhIiwxXQ", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwLDFd"):
        with pytest.raises(InvalidCursorError):
            store.hub.query_history(cursor=cursor)
    # garbage, ["a",1], [10**22], [true]
    for cursor in ("garbage!", "WyJhIiwxXQ", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ", "W3RydWVd"):
        with pytest.raises(InvalidCursorError):
            store.hub.list_devices(cursor=cursor)


def test_hostile_text_and_huge_numbers_are_stored_as_received(store: ArchiveStore) -> None:
    hostile = "\x1b[2J\x1b]0;owned\x07Front\nerror: fake line\u202e\x00"
    entry = item(1, zid=hostile, impulse=hostile)
    entry["context"]["initiatingEntityName"] = hostile
    entry["context"]["accountId"] = 2**70
    entry["body"][0]["general"]["v2"]["lone"] = "\ud800"
    store.hub.add_history("loc-1", records([entry]))
    (row,) = store.hub.query_history(limit=5).items
    back = row.item()
    assert back["context"]["initiatingEntityName"] == hostile  # the raw JSON text escapes nothing away
    assert back["context"]["accountId"] == 2**70
    assert back["body"][0]["general"]["v2"]["lone"] == "\ud800"
    nul = "\ufffd" if is_postgres(store) else "\x00"  # PostgreSQL text cannot hold NUL (engine.py's rule)
    assert row.zid == hostile.replace("\x00", nul)
    assert row.impulse_types == [hostile]  # JSON escapes NUL: both databases keep it there


# -- devices ---------------------------------------------------------------------------------------------------------


def device(zid: str, name: str = "Sensor", **data: Any) -> HubDeviceRecord:
    return HubDeviceRecord(
        zid=zid, name=name, device_type="sensor.contact", asset_uuid="asset-1", kind="contact_sensor",
        type_label="alarm sensor", category_id=5, data={"zid": zid, "name": name, "faulted": False, **data},
    )  # fmt: skip


def test_devices_the_hubs_stop_listing_are_kept_and_marked_and_come_back(store: ArchiveStore) -> None:
    first = store.hub.upsert_devices("loc-1", [device("a"), device("b"), device("c"), device("a")])
    assert (first.new, first.seen, first.removed) == (3, 0, 0)
    renamed = store.hub.upsert_devices("loc-1", [device("a", "Front Door"), device("b")])
    assert (renamed.new, renamed.seen, renamed.removed) == (0, 2, 1)
    listed = {d.zid: d for d in store.hub.list_devices("loc-1").devices}
    assert listed["a"].name == "Front Door" and listed["a"].data == {"zid": "a", "name": "Front Door", "faulted": False}
    assert listed["c"].removed_at is not None and listed["a"].removed_at is None
    assert [d.zid for d in store.hub.list_devices("loc-1", removed=True).devices] == ["c"]
    # a list that is not complete (a hub did not answer) marks nothing
    partial = store.hub.upsert_devices("loc-1", [device("a")], complete=False)
    assert partial.removed == 0 and store.hub.device_count() == 2
    back = store.hub.upsert_devices("loc-1", [device("a"), device("b"), device("c")])
    assert (back.returned, back.removed) == (1, 0)
    assert store.hub.device_count() == 3 and store.hub.device_count(removed=True) == 0
    assert store.hub.list_devices("loc-1").devices[2].first_seen_at == listed["c"].first_seen_at
    # another location's device with the same zid is another device
    assert store.hub.upsert_devices("loc-2", [device("a")]).new == 1
    assert len(store.hub.list_devices(limit=1000).devices) == 4


def test_device_pages_are_keyset_and_huge_numbers_survive(store: ArchiveStore) -> None:
    store.hub.upsert_devices("loc-1", [device(f"z{n:02d}", serial=2**80 + n) for n in range(12)])
    page = store.hub.list_devices(limit=5)
    zids = [d.zid for d in page.devices]
    while page.next_cursor is not None:
        page = store.hub.list_devices(limit=5, cursor=page.next_cursor)
        zids.extend(d.zid for d in page.devices)
    assert zids == [f"z{n:02d}" for n in range(12)]
    assert store.hub.list_devices(limit=1).devices[0].data["serial"] == 2**80  # type: ignore[index]


def test_the_sync_state_moves_forward_and_forgets_completeness_on_a_cut_short_run(store: ArchiveStore) -> None:
    assert store.hub.state("loc-1", "alarm") is None
    store.hub.note_run("loc-1", "alarm", error="the hub did not answer")
    state = store.hub.state("loc-1", "alarm")
    assert state is not None and state.complete_at is None and state.last_error == "the hub did not answer"
    assert state.through_ms is None
    store.hub.note_run("loc-1", "alarm", finished=True, through_ms=T0_MS)
    done = store.hub.state("loc-1", "alarm")
    assert done is not None and done.complete_at is not None and done.last_error is None
    assert done.through_ms == T0_MS
    store.hub.note_run("loc-1", "alarm", finished=True, through_ms=T0_MS - 5)  # never backwards
    assert (store.hub.state("loc-1", "alarm") or done).through_ms == T0_MS
    # a run cut short: the next one must read on to through_ms, so the state says it did not finish
    store.hub.note_run("loc-1", "alarm", through_ms=T0_MS + 99)
    cut = store.hub.state("loc-1", "alarm")
    assert cut is not None and cut.complete_at is None and cut.through_ms == T0_MS
    store.hub.note_run("loc-1", "alarm", finished=True, through_ms=T0_MS + 99, error="refused")
    failed = store.hub.state("loc-1", "alarm")
    assert failed is not None and failed.complete_at is None and failed.through_ms == T0_MS


# -- the migration ---------------------------------------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0009_goes_down_and_up_keeping_the_rest(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    url = str(request.getfixturevalue("pg_url")) if database == "postgresql" else f"sqlite:///{tmp_path / DB_FILENAME}"
    with ArchiveStore.open_url(url) as store:
        store.hub.add_history("loc-1", records([item(1)]))
        store.hub.upsert_devices("loc-1", [device("a")])
    assert _tables(url) >= HUB_TABLES
    downgrade(url, "0008_portability_subscriptions")
    assert not HUB_TABLES & _tables(url) and "events" in _tables(url)
    migrate(url)
    engine = create_engine(url)
    try:
        assert current_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM hub_history")).scalar_one() == 0
            # the uniqueness that keeps an item once is the database's, not only the store's
            insert = text(
                "INSERT INTO hub_history (location_id, category, item_key, event_ms, time_source, raw, first_seen_at)"
                " VALUES ('l', 'alarm', 'k', 1, 'event', '{}', :now)"
            )
            conn.execute(insert, {"now": datetime.now(UTC)})
            with pytest.raises(IntegrityError):
                conn.execute(insert, {"now": datetime.now(UTC)})
    finally:
        engine.dispose()
    if database == "sqlite":
        with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(hub_history)")]
        assert columns[:5] == ["id", "location_id", "category", "item_key", "event_ms"]
