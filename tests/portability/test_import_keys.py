"""How the importer keys records: identical records within a file stay apart (occurrence numbers, counted exactly in
bounded memory), unknown data sets are kept, and a broken file fails alone. No network: the files are already on
disk, as a previous run left them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow
from ringvault.portability.client import PortabilityClient
from ringvault.portability.importer import OccurrenceCounter, PortabilityImporter, export_dir
from ringvault.portability.oauth import PortabilityAuth
from tests.portability.helpers import CREDENTIALS

QUERY = "a1111111-b222-c333-d444-e55555555555"
LOG = {"locationId": "loc-1", "eventDate": "2025-02-18T05:51:56.00Z", "eventType": "AssetConnected"}


def test_occurrences_are_counted_exactly_in_memory_and_after_spilling(tmp_path: Path) -> None:
    keys = ["a", "b", "a", "a", "c", "b", "d", "a"]
    expected = [0, 0, 1, 2, 0, 1, 0, 3]
    with OccurrenceCounter(tmp_path) as small:
        assert [small.next(k) for k in keys] == expected and not small.spilled
    with OccurrenceCounter(tmp_path, max_in_memory=2) as spilling:
        assert [spilling.next(k) for k in keys] == expected and spilling.spilled
        assert len(list(tmp_path.glob(".occurrences-*.part"))) == 1
    assert list(tmp_path.iterdir()) == []  # the spill file is gone


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened


def downloaded_query(store: ArchiveStore, files: list[tuple[str, list[Any] | bytes]]) -> GrantRow:
    """A query whose files are on disk and marked downloaded, as a run killed before importing leaves it."""
    assert store.archive_dir is not None
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id=CREDENTIALS.client_id, customer="default")
    dp.add_query(QUERY, grant_id=grant.id, scope_id="data-portability")
    dp.ensure_files(QUERY, len(files))
    folder = export_dir(store.archive_dir, "ring", "default", QUERY)
    folder.mkdir(parents=True)
    for ordinal, (name, content) in enumerate(files):
        path = folder / f"{ordinal:04d}-{name}.json"
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        dp.update_file(
            QUERY, ordinal, state="downloaded", dataset=name, path=path.relative_to(store.archive_dir).as_posix(),
            bytes=path.stat().st_size,
        )  # fmt: skip
    dp.update_query(QUERY, state="downloaded", status="COMPLETED")
    return grant


async def import_again(store: ArchiveStore, grant: GrantRow) -> Any:
    assert store.archive_dir is not None
    async with PortabilityClient(PortabilityAuth(CREDENTIALS)) as client:  # never called: nothing to download
        return await PortabilityImporter(store, client, grant, archive_dir=store.archive_dir).import_query(QUERY)


async def test_identical_records_of_one_export_are_all_kept_once(store: ArchiveStore) -> None:
    """Occurrences are counted per export: identical records within a file and across two files of the same export
    are all kept; importing the same export again adds nothing."""
    other = {**LOG, "eventType": "AssetDisconnected"}
    grant = downloaded_query(
        store,
        [
            ("Ring.Alarm.DeviceLog", [LOG, LOG, other, LOG]),
            ("Ring.Alarm.DeviceLog", [LOG, other]),  # the export goes on in a second file: two more records
        ],
    )
    result = await import_again(store, grant)
    assert result.state == "imported" and result.records == 6 and result.new_records == 6
    assert store.portability.dataset_counts(grant.id) == {"Ring.Alarm.DeviceLog": 6}
    for file in store.portability.list_files(QUERY):
        store.portability.update_file(QUERY, file.ordinal, state="downloaded")
    store.portability.update_query(QUERY, state="downloaded")
    again = await import_again(store, grant)
    assert again.new_records == 0 and again.changed_records == 0
    assert store.portability.dataset_counts(grant.id, history=True) == {"Ring.Alarm.DeviceLog": 6}


async def test_an_unknown_data_set_is_kept_and_a_broken_file_fails_alone(store: ArchiveStore) -> None:
    grant = downloaded_query(
        store,
        [
            ("Ring.Future.Thing", [{"x": 1}, {"x": 2}, {"x": 1}]),
            ("Ring.Alarm.HubData", b'[{"locationId": "l", "deviceName": "Alarm"}, {"locationId": '),
            ("Ring.Alarm.DeviceLog", [LOG]),
        ],
    )
    result = await import_again(store, grant)
    counts = store.portability.dataset_counts(grant.id)
    assert counts["Ring.Future.Thing"] == 3 and counts["Ring.Alarm.DeviceLog"] == 1
    files = store.portability.list_files(QUERY)
    assert [f.state for f in files] == ["imported", "failed", "imported"]
    assert "not valid JSON" in (files[1].error or "")
    assert result.failed == 1 and result.state == "imported"
    assert result.message is not None and "1 file(s) could not be read" in result.message
