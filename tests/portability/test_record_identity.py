"""Records across exports, against the real simulator over HTTP and a real SQLite archive: a record Ring changed
between two exports ends as one current row plus its history, an unchanged one stays one row, a field Ring adds
changes nothing, identical records split over two files of one export are all kept, and schema files without a
title (or named after nothing) still import the right data set."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow
from ringvault.archive.store.portability_records import content_digest
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.importer import ImportResult, PollPolicy, PortabilityImporter
from ringvault.portability.oauth import PortabilityAuth
from ringvault.portability.scopes import DATASETS
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.portability.flow import CREDENTIALS, advance, authorize, control, expected_counts, import_sim_config

HUB = "Ring.Alarm.HubData"
DEVICE = "Ring.RingDeviceRegistry.Device"
SHARING = "Ring.Alarm.ModeSharingPreference"
HISTORY = "Ring.Alarm.HistoryLog"
LIGHTING = "Ring.Alarm.SmartLightingHistoryLog"
#: data sets that describe the account as it is (the same records in every export unless something changed)
REGISTRY = (
    "Ring.RGDS.DeviceLocationMapReference",
    "Ring.RingDeviceRegistry.Location",
    "Ring.RingDeviceRegistry.Authorization",
    DEVICE,
    "Ring.RingDeviceRegistry.Group",
    "Ring.Alarm.DeviceInformation",
    "Ring.Alarm.ModeSettingPreference",
    SHARING,
    HUB,
)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config)


@pytest.fixture
def config(sim: SimServer, tmp_path: Path) -> PortabilityConfig:
    return PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=tmp_path / "tokens")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened


def knobs(sim: SimServer, **values: Any) -> None:
    control(sim, "PATCH", "/_sim/portability/config", values)


async def export(store: ArchiveStore, auth: PortabilityAuth, grant: GrantRow, **options: Any) -> ImportResult:
    assert store.archive_dir is not None
    async with PortabilityClient(auth) as client:
        importer = PortabilityImporter(
            store, client, grant, archive_dir=store.archive_dir, poll=PollPolicy(delays=(0.2,)), **options
        )
        return await importer.export(wait_timeout_s=60)


async def first_export(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, **options: Any
) -> tuple[PortabilityAuth, GrantRow, ImportResult]:
    auth = await authorize(sim, config)
    grant = store.portability.upsert_grant(
        brand="ring", region=config.region, client_id=config.credentials.client_id, customer="default"
    )
    return auth, grant, await export(store, auth, grant, **options)


def current_rows(store: ArchiveStore, grant: GrantRow, dataset: str) -> list[Any]:
    return store.portability.list_records(grant_ids=[grant.id], dataset=dataset, limit=10_000).records


def all_rows(store: ArchiveStore, grant: GrantRow, dataset: str) -> list[Any]:
    return store.portability.list_records(grant_ids=[grant.id], dataset=dataset, limit=10_000, history=True).records


# ---------------------------------------------------------------------------------------------------------------
# changes between exports


async def test_a_changed_record_is_one_current_row_plus_its_history_and_unchanged_ones_stay_one_row(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore
) -> None:
    auth, grant, first = await first_export(sim, config, store)
    assert first.changed_records == 0
    hub_before = {r.data["deviceName"]: r for r in current_rows(store, grant, HUB) if r.data["status"] == "ok"}
    device_before = current_rows(store, grant, DEVICE)
    sensor = sorted(name for name in hub_before if name.startswith("Motion Detector"))[0]
    camera = device_before[0].data
    # between the two exports, at Ring: a hub sensor went offline, a camera was renamed and its retention changed
    knobs(
        sim,
        record_changes=[
            {"dataset": HUB, "where": {"deviceName": sensor}, "set": {"status": "offline", "room": "Garage"}},
            {
                "dataset": DEVICE,
                "where": {"deviceId": camera["deviceId"]},
                "set": {"deviceName": "Renamed Camera", "maxDaysVideoIsStored": 7},
            },
        ],
    )
    advance(sim, 3600)
    feed = store.portability.list_records(grant_ids=[grant.id], limit=100_000)
    second = await export(store, auth, grant)
    assert second.query_id != first.query_id and second.state == "imported"
    assert second.changed_records == 2 and second.datasets[HUB].changed == 1 and second.datasets[DEVICE].changed == 1

    # the changed hub sensor: one current row with the new status, its first version kept as history
    versions = [r for r in all_rows(store, grant, HUB) if r.key == hub_before[sensor].key]
    assert [(r.version, r.current, r.data["status"]) for r in versions] == [(1, False, "ok"), (2, True, "offline")]
    old, new = versions
    assert old.superseded_at is not None and old.query_id == first.query_id and new.query_id == second.query_id
    history = store.portability.record_history(grant.id, HUB, new.key)
    assert [v.row.version for v in history] == [1, 2] and history[1].changed == ["room", "status"]
    # the renamed camera keeps its key (its device id), with a new version
    renamed = [r for r in current_rows(store, grant, DEVICE) if r.data["deviceId"] == camera["deviceId"]]
    assert len(renamed) == 1 and renamed[0].version == 2 and renamed[0].data["deviceName"] == "Renamed Camera"
    assert store.portability.record_history(grant.id, DEVICE, renamed[0].key)[1].changed == [
        "deviceName",
        "maxDaysVideoIsStored",
    ]

    # every registry record is still one current row; only the two changed ones have a history
    expected = expected_counts(sim, second.query_id)
    counts = store.portability.dataset_counts(grant.id)
    with_history = store.portability.dataset_counts(grant.id, history=True)
    for name in REGISTRY:
        assert counts[name] == expected[name], name
        assert with_history[name] == counts[name] + (1 if name in (HUB, DEVICE) else 0), name
    # an unchanged record was seen again by the second export: one row, version 1, last seen in the second export
    unchanged = next(r for r in current_rows(store, grant, HUB) if r.data["deviceName"] != sensor)
    assert (unchanged.version, unchanged.query_id, unchanged.last_query_id) == (1, first.query_id, second.query_id)
    # the change feed: what the first export's cursor has not seen yet is exactly the two new versions plus the
    # records the later window brought (event-like data sets), never an unchanged record again
    fresh = store.portability.list_records(grant_ids=[grant.id], cursor=feed.cursor, limit=100_000).records
    assert {(r.dataset, r.version) for r in fresh if r.dataset in REGISTRY} == {(HUB, 2), (DEVICE, 2)}
    assert all(r.query_id == second.query_id for r in fresh)


async def test_a_field_ring_adds_changes_nothing(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore
) -> None:
    auth, grant, _ = await first_export(sim, config, store)
    feed = store.portability.list_records(grant_ids=[grant.id], limit=100_000)
    # Ring starts sending a field the seed does not document, on every device and hub component
    knobs(
        sim,
        record_changes=[
            {"dataset": DEVICE, "set": {"firmwareChannel": "beta"}},
            {"dataset": HUB, "set": {"batteryLevel": 80}},
        ],
    )
    advance(sim, 3600)
    second = await export(store, auth, grant)
    assert second.changed_records == 0
    for name, field in ((DEVICE, "firmwareChannel"), (HUB, "batteryLevel")):
        rows = all_rows(store, grant, name)
        assert len(rows) == expected_counts(sim, second.query_id)[name]  # one row per record, no history
        assert {(r.version, r.current) for r in rows} == {(1, True)}
        assert all(field in r.data for r in rows)  # the new field is kept: merged into the current row
        assert {r.last_query_id for r in rows} == {second.query_id}
    fresh = store.portability.list_records(grant_ids=[grant.id], cursor=feed.cursor, limit=100_000).records
    assert not [r for r in fresh if r.dataset in (DEVICE, HUB)]  # not news for the change feed
    # a field Ring then changes is a change: a new version, the old value kept in the history
    knobs(sim, record_changes=[{"dataset": DEVICE, "set": {"firmwareChannel": "stable"}}])
    advance(sim, 3600)
    third = await export(store, auth, grant)
    assert third.datasets[DEVICE].changed == len(current_rows(store, grant, DEVICE))
    assert {r.data["firmwareChannel"] for r in all_rows(store, grant, DEVICE)} == {"beta", "stable"}


async def test_an_export_repeated_unchanged_adds_no_row(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore
) -> None:
    auth, grant, first = await first_export(sim, config, store)
    before = store.portability.dataset_counts(grant.id, history=True)
    second = await export(store, auth, grant)  # at once: the same window, the same records
    assert second.query_id != first.query_id
    assert second.new_records == 0 and second.changed_records == 0
    assert store.portability.dataset_counts(grant.id, history=True) == before
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, second.query_id)


# ---------------------------------------------------------------------------------------------------------------
# occurrences per export


async def test_identical_records_across_two_files_of_one_export_are_all_kept(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore
) -> None:
    """Every location's sharing preference made identical, one record per file: the export has N identical
    records in N files. Counted per file (before), all but one were lost."""
    knobs(
        sim,
        records_per_file=1,
        log_records_per_day=0,
        record_changes=[
            {
                "dataset": SHARING,
                "set": {"locationId": "same-location", "eventDate": "2025-01-01T00:00:00.00Z"},
            },
            {"dataset": SHARING, "set": {"sharedUsersEnabled": True}},
        ],
    )
    auth, grant, first = await first_export(sim, config, store, only=[SHARING])
    expected = expected_counts(sim, first.query_id)
    assert expected[SHARING] >= 2
    files = [f for f in store.portability.list_files(first.query_id) if f.dataset == SHARING]
    assert len(files) == expected[SHARING]
    rows = current_rows(store, grant, SHARING)
    assert len(rows) == expected[SHARING] and len({r.key for r in rows}) == len(rows)
    assert len({str(sorted(r.data.items())) for r in rows}) == 1  # identical records, all kept
    # the same export imported again (a second export of the same records) adds nothing
    second = await export(store, auth, grant, only=[SHARING])
    assert second.new_records == 0 and len(all_rows(store, grant, SHARING)) == expected[SHARING]


# ---------------------------------------------------------------------------------------------------------------
# schema files


@pytest.mark.parametrize(
    ("schema_style", "file_names", "recognised_by"),
    [
        ("json-schema", "dataset", "name"),  # the simulator's default: no title, the data set in the object key
        ("json-schema", "opaque", "fields"),  # no title, a name that says nothing: the fields decide
        ("sample", "opaque", "fields"),  # the seed's "sample schema" shape: example records
        ("titled", "opaque", "title"),
    ],
)
async def test_schema_files_without_a_title_import_the_right_data_set(
    sim: SimServer,
    config: PortabilityConfig,
    store: ArchiveStore,
    schema_style: str,
    file_names: str,
    recognised_by: str,
) -> None:
    """Before, a schema without a title made the two alarm history logs (same fields) both ``unknown``."""
    knobs(sim, schema_style=schema_style, file_names=file_names)
    _, grant, result = await first_export(sim, config, store)
    expected = expected_counts(sim, result.query_id)
    assert store.portability.dataset_counts(grant.id) == expected
    assert expected[HISTORY] and expected[LIGHTING]
    files = store.portability.list_files(result.query_id)
    assert {f.recognised_by for f in files} == {recognised_by}
    assert {f.dataset for f in files} == set(DATASETS)
    assert result.unrecognised == []
    if file_names == "opaque":
        assert all(f.name and "Ring." not in f.name for f in files)


# ---------------------------------------------------------------------------------------------------------------
# an archive of an older ringvault


def legacy_archive(archive: Path, reference: ArchiveStore, grant_of_reference: GrantRow) -> None:
    """An archive at revision 0005 holding what the older ringvault stored for the reference export: one row per
    record under a key of its own (content hashes), plus an older version of one location stored as a second
    record (how a change between exports was duplicated before)."""
    from ringvault.archive.store import DB_FILENAME, migrate

    archive.mkdir()
    migrate(f"sqlite:///{archive / DB_FILENAME}", "0005")
    rows = reference.portability.list_records(grant_ids=[grant_of_reference.id], limit=1_000_000).records
    location = next(r for r in rows if r.dataset == "Ring.RingDeviceRegistry.Location")
    older = {**location.data, "timezone": "Europe/Dublin"}
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        conn.execute(
            "INSERT INTO portability_grants (id, brand, region, client_id, customer, status, created_at, updated_at) "
            "VALUES (1, 'ring', ?, ?, 'default', 'active', '2025-01-01 00:00:00', '2025-01-01 00:00:00')",
            (CREDENTIALS_REGION, CREDENTIALS.client_id),
        )
        conn.execute(
            "INSERT INTO portability_records (grant_id, dataset, record_key, event_date, data, query_id, imported_at) "
            "VALUES (1, ?, ?, NULL, ?, 'older-export', '2025-01-01 00:00:00')",
            (location.dataset, content_digest(older), json.dumps(older)),
        )
        conn.executemany(
            "INSERT INTO portability_records (grant_id, dataset, record_key, event_date, data, query_id, imported_at) "
            "VALUES (1, ?, ?, ?, ?, 'legacy-export', '2025-02-01 00:00:00')",
            [
                (
                    r.dataset,
                    content_digest({"n": n, "data": r.data}),
                    r.event_date.strftime("%Y-%m-%d %H:%M:%S.%f") if r.event_date else None,
                    json.dumps(r.data),
                )
                for n, r in enumerate(rows)
            ],
        )


CREDENTIALS_REGION = "eu-west-1"


async def test_an_archive_of_an_older_ringvault_is_upgraded_and_a_re_export_duplicates_nothing(
    sim: SimServer, config: PortabilityConfig, tmp_path: Path
) -> None:
    """The older ringvault's rows (keys of its own, a changed location stored twice) are kept by migration 0006 as
    current versions; the next export re-keys them with the natural keys first, so the same records exported
    again match them: nothing is duplicated, the older location becomes the history of the current one, and the
    hub sensor changed since becomes a new version."""
    auth = await authorize(sim, config)
    with ArchiveStore.open(tmp_path / "reference") as reference:
        grant = reference.portability.upsert_grant(
            brand="ring", region=CREDENTIALS_REGION, client_id=config.credentials.client_id, customer="default"
        )
        first = await export(reference, auth, grant)
        legacy_archive(tmp_path / "archive", reference, grant)
        first_rows = sum(reference.portability.dataset_counts(grant.id).values())
    sensor = "Keypad"
    knobs(sim, record_changes=[{"dataset": HUB, "where": {"deviceName": sensor}, "set": {"status": "error"}}])

    with ArchiveStore.open(tmp_path / "archive") as store:  # migrated to head on open
        [old_grant] = store.portability.list_grants()
        assert old_grant.key_scheme == 1
        assert sum(store.portability.dataset_counts(old_grant.id).values()) == first_rows + 1  # nothing lost
        second = await export(store, auth, old_grant)
        grant_now = store.portability.get_grant(old_grant.id)
        assert grant_now is not None and grant_now.key_scheme == 2
        expected = expected_counts(sim, second.query_id)
        counts = store.portability.dataset_counts(old_grant.id)
        for name in REGISTRY:  # the same records as before: matched, not duplicated
            assert counts[name] == expected[name], name
        assert second.datasets[HUB].changed == len(
            [r for r in current_rows(store, old_grant, HUB) if r.data["deviceName"] == sensor]
        )
        # the location the older ringvault had twice: one current row, the older one its history
        locations = all_rows(store, old_grant, "Ring.RingDeviceRegistry.Location")
        assert len(locations) == expected["Ring.RingDeviceRegistry.Location"] + 1
        older = next(r for r in locations if not r.current)
        assert older.query_id == "older-export" and older.data["timezone"] == "Europe/Dublin"
        history = store.portability.record_history(old_grant.id, older.dataset, older.key)
        assert [v.row.query_id for v in history] == ["older-export", "legacy-export"]
        assert history[1].changed == ["timezone"] and history[1].row.last_query_id == second.query_id
        assert first.query_id != second.query_id
