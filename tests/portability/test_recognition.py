"""How the importer tells which data set a file holds — title, file name, schema fields, the records themselves — and
what it does with a file it cannot place: kept raw on disk, imported as ``unknown``, reported with its name and
size, never dropped. The export runs over a scripted service (``FakeService``: the listing and the files are
exactly what each test needs) into a real SQLite archive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.portability.client import PortabilityClient
from ringvault.portability.importer import ImportResult, PortabilityImporter
from ringvault.portability.importer.recognition import object_name, recognise
from ringvault.portability.oauth import PortabilityAuth
from ringvault.portability.scopes import DATASETS
from tests.portability.datasets import SAMPLES, schema_for
from tests.portability.helpers import CREDENTIALS, FakeService, no_limits, valid_token

QUERY = "a1111111-b222-c333-d444-e55555555555"
BUCKET = "https://ring-data-portability-exports.s3.amazonaws.com"
HUB = "Ring.Alarm.HubData"
HISTORY = "Ring.Alarm.HistoryLog"
LIGHTING = "Ring.Alarm.SmartLightingHistoryLog"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened


def serve(service: FakeService, files: list[tuple[str, bytes, str, bytes]]) -> None:
    """List ``files`` (schema key, schema bytes, data key, data bytes) on one page and serve them."""
    records = []
    for schema_key, schema, data_key, data in files:
        service.files[f"/{schema_key}"] = schema
        service.files[f"/{data_key}"] = data
        records.append({"schema": f"{BUCKET}/{schema_key}?X-Amz-Expires=300", "file": f"{BUCKET}/{data_key}?X=1"})
    service.pages = [{"records": records}]


async def import_listed(store: ArchiveStore, service: FakeService, **options: Any) -> ImportResult:
    assert store.archive_dir is not None
    dp = store.portability
    grant = dp.upsert_grant(brand="ring", region="eu-west-1", client_id=CREDENTIALS.client_id, customer="default")
    dp.add_query(QUERY, grant_id=grant.id, scope_id="data-portability")
    dp.update_query(QUERY, state="notified", status="COMPLETED")
    auth = PortabilityAuth(CREDENTIALS, token=valid_token(service))
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        importer = PortabilityImporter(store, client, grant, archive_dir=store.archive_dir, **options)
        return await importer.import_query(QUERY)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


UNKNOWN_SCHEMA = dumps({"type": "array", "items": {"type": "object", "properties": {"colour": {}, "flavour": {}}}})
UNKNOWN_DATA = dumps([{"colour": "blue", "flavour": "mint"}, {"colour": "blue", "flavour": "mint"}])
CSV = b"colour,flavour\nblue,mint\n"


def listing() -> list[tuple[str, bytes, str, bytes]]:
    return [
        # named after its data set, untitled schema: recognised by its name
        (f"{QUERY}/{HUB}/schema.json", dumps(schema_for(HUB, title=False)), f"{QUERY}/{HUB}/part-00001.json",
         dumps(SAMPLES[HUB])),
        # a data set ringvault does not know (a new one at Ring): kept and imported as unknown, reported
        (f"{QUERY}/x7/schema.json", UNKNOWN_SCHEMA, f"{QUERY}/x7/part-00001.json", UNKNOWN_DATA),
        # the schema is not JSON and the name says nothing, but the records are the alarm history's
        (f"{QUERY}/x8/schema.json", b"<html>gateway error</html>", f"{QUERY}/x8/part-00001.json",
         dumps(SAMPLES[HISTORY])),
        # nothing tells: not JSON at all; kept raw, reported, its import fails alone
        (f"{QUERY}/x9/schema.json", b"not json", f"{QUERY}/x9/part-00001.json", CSV),
    ]  # fmt: skip


async def test_an_unrecognised_file_is_kept_raw_and_reported(store: ArchiveStore) -> None:
    service = FakeService()
    serve(service, listing())
    result = await import_listed(store, service)
    assert store.archive_dir is not None
    dp = store.portability
    files = dp.list_files(QUERY)
    assert [(f.dataset, f.recognised_by, f.state) for f in files] == [
        (HUB, "name", "imported"),
        ("unknown", None, "imported"),
        (HISTORY, "records", "imported"),
        ("unknown", None, "failed"),
    ]
    assert [f.name for f in files] == [data_key for _, _, data_key, _ in listing()]
    counts = dp.dataset_counts()
    assert counts == {HUB: len(SAMPLES[HUB]), "unknown": 2, HISTORY: len(SAMPLES[HISTORY])}  # the twins are kept
    # the unrecognised files are on disk as they were served
    for file, (_, _, _, body) in zip(files[1::2], listing()[1::2], strict=True):
        assert file.path is not None and (store.archive_dir / file.path).read_bytes() == body
    assert files[2].path is not None and files[2].path.endswith(f"0002-{HISTORY}.json")  # renamed once recognised
    # ... and reported: in the result, and in the query's summary (what `portability status` prints)
    assert [(u.ordinal, u.name, u.bytes, u.state) for u in result.unrecognised] == [
        (1, f"{QUERY}/x7/part-00001.json", len(UNKNOWN_DATA), "imported"),
        (3, f"{QUERY}/x9/part-00001.json", len(CSV), "failed"),
    ]
    query = dp.get_query(QUERY)
    assert query is not None and query.state == "imported" and query.error is not None
    assert "2 file(s) of an unrecognised data set" in query.error
    assert f"{QUERY}/x7/part-00001.json ({len(UNKNOWN_DATA)} bytes)" in query.error
    assert result.message == query.error and result.failed == 1


async def test_an_unrecognised_file_is_downloaded_even_with_only(store: ArchiveStore) -> None:
    """``--only`` leaves out the files of other data sets, never a file whose data set is unknown."""
    service = FakeService()
    serve(service, listing()[:2])
    result = await import_listed(store, service, only=["Ring.Alarm.AuditLog"])
    states = [(f.dataset, f.state) for f in store.portability.list_files(QUERY)]
    assert states == [(HUB, "skipped"), ("unknown", "imported")]
    assert [u.ordinal for u in result.unrecognised] == [1]
    assert store.portability.dataset_counts() == {"unknown": 2}


# -- recognition on its own ------------------------------------------------------------------------------------------


def seed_json_schema(name: str) -> dict[str, Any]:
    """A JSON Schema carrying seed 003's descriptions and examples for the two history logs, no title."""
    alarm = name == HISTORY
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "locationId": {"description": "The Ring location ID."},
                "eventDate": {"description": "The date when the event was generated."},
                "deviceType": {
                    "description": "The type of device.",
                    "examples": ["sensor.motion" if alarm else "switch.multilevel.beams"],
                },
                "initiatingEntityType": {"description": "The type of initiating entity."},
                "affectedEntityType": {"description": "The type of affected entity."},
                "impulseTypes": {
                    "description": f"The types of Ring {'Alarm' if alarm else 'Smart Lighting'} events.",
                },
            },
        },
    }


@pytest.mark.parametrize("name", [HISTORY, LIGHTING])
def test_the_two_history_logs_are_told_apart_by_their_fields_documentation(name: str) -> None:
    found = recognise(seed_json_schema(name), [f"{QUERY}/set-08/part-00001.json"])
    assert (found.dataset, found.by) == (name, "fields")
    # the seed's "schema properties" table as rows, and its "sample schema" (example records)
    rows = [
        {
            "Schema Field Name": field,
            "Schema Field Description": doc.get("description", ""),
            "Example": doc.get("examples"),
        }
        for field, doc in seed_json_schema(name)["items"]["properties"].items()
    ]
    assert recognise(rows, []).dataset == name
    sample = [
        {
            "locationId": "l",
            "eventDate": "2019-04-03T10:00:01.00Z",
            "deviceType": "lock" if name == HISTORY else "group.light-group.beams",
            "affectedEntityType": "device",
            "impulseTypes": [],
        }
    ]
    assert recognise(sample, []).dataset == name


def test_fields_that_fit_two_data_sets_and_nothing_else_leave_the_file_unrecognised() -> None:
    found = recognise(schema_for(HISTORY, title=False), [])
    assert not found.recognised and found.dataset == "unknown"
    assert found.candidates == (HISTORY, LIGHTING) and "fit" in found.describe()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{QUERY}/Ring.Alarm.HubData/part-00001.json", HUB),
        (f"{QUERY}/exports/Ring.Alarm.SmartLightingHistoryLog-0001.json.gz", LIGHTING),
        (f"{QUERY}/HistoryLog/part-00001.json", HISTORY),
        (f"{QUERY}/ring.alarm.historylog.schema.json", HISTORY),
        (f"{QUERY}/set-03/part-00001.json", None),
    ],
)
def test_a_file_is_recognised_by_its_name(name: str, expected: str | None) -> None:
    found = recognise(None, [name])
    assert found.dataset == (expected or "unknown") and found.by == ("name" if expected else None)


def test_a_title_wins_and_names_come_from_the_url_path() -> None:
    assert recognise({"title": HUB}, [f"{QUERY}/{HISTORY}/part-00001.json"]).by == "title"
    url = f"http://127.0.0.1:9/ring-data-portability-exports.s3.amazonaws.com/{QUERY}/Ring.Alarm.HubData/p.json?X=1"
    assert object_name(url) == f"{QUERY}/Ring.Alarm.HubData/p.json"
    assert object_name(f"{BUCKET}/{QUERY}/a%20b.json?sig=1") == f"{QUERY}/a b.json"
    assert set(DATASETS) >= {HUB, HISTORY, LIGHTING}
