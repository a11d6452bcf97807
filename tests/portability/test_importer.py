"""The importer against the real simulator over HTTP: Login with Ring (consent answered by a test client, PKCE code
exchange), a data query, completion, paging, downloads and the import of all 15 data sets — and what goes wrong:
re-imports, overlapping queries, expired URLs, the 1-hour window, revocation, expiry, conflicts, interruptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.models import PortabilityRecord
from ringvault.archive.store.portability import GrantRow
from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.importer import (
    ExportCanceledError,
    ExportNotReadyError,
    ImportProgress,
    NotificationHub,
    PollPolicy,
    PortabilityImporter,
    export_dir,
    record_notification,
)
from ringvault.portability.notifications import parse_notification
from ringvault.portability.scopes import DATASETS
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.disk_helpers import small_disk
from tests.portability.flow import (
    CREDENTIALS,
    RECORDS_PER_FILE,
    advance,
    authorize,
    control,
    expected_counts,
    grants,
    import_sim_config,
    operation_count,
    revoke_all,
    sim_queries,
)
from tests.sim.portability.helpers import NotificationSink

FAST_POLL = PollPolicy(delays=(0.2,))
PAGE = 7  # files per records page: the ~160 files of an export take ~23 pages


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config)


@pytest.fixture
def config(sim: SimServer, tmp_path: Path) -> PortabilityConfig:
    return PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=tmp_path / "tokens")


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def store(archive: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(archive) as opened:
        yield opened


def grant_of(store: ArchiveStore, config: PortabilityConfig, customer: str = "default") -> GrantRow:
    return store.portability.upsert_grant(
        brand=config.brand, region=config.region, client_id=config.credentials.client_id, customer=customer
    )


def importer_for(
    store: ArchiveStore, client: PortabilityClient, grant: GrantRow, archive: Path, **options: Any
) -> PortabilityImporter:
    options.setdefault("poll", FAST_POLL)
    options.setdefault("page_size", 250)
    return PortabilityImporter(store, client, grant, archive_dir=archive, **options)


def stored_keys(store: ArchiveStore) -> tuple[int, int]:
    """(rows, distinct (grant, data set, key)) of portability_records."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(PortabilityRecord)).scalar_one()
        keys = select(PortabilityRecord.grant_id, PortabilityRecord.dataset, PortabilityRecord.record_key).distinct()
        distinct = conn.execute(select(func.count()).select_from(keys.subquery())).scalar_one()
    return int(rows), int(distinct)


async def first_poll(sim: SimServer) -> None:
    """Until the importer's first "is it completed?" call was answered QUERY_NOT_COMPLETED."""
    for _ in range(3000):
        if operation_count(sim, "listDataQueryRecords", "403") >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the importer never polled")


def query_note(store: ArchiveStore, query_id: str) -> str | None:
    query = store.portability.get_query(query_id)
    assert query is not None
    return query.error


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


class Interrupt(BaseException):
    """Stands for the process dying at a chosen point (not an Exception, so nothing catches it on the way)."""


# ---------------------------------------------------------------------------------------------------------------
# the whole flow


async def test_the_whole_flow_imports_all_15_data_sets(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    token_file = config.token_dir / "ring" / "default.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    grant = grant_of(store, config)
    events: list[ImportProgress] = []
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive, progress=events.append, page_size=PAGE)
        result = await importer.export(wait_timeout_s=60)

    expected = expected_counts(sim, result.query_id)
    assert set(expected) == set(DATASETS) and all(expected.values())
    assert store.portability.dataset_counts(grant.id) == expected
    assert {name: c.exported for name, c in result.datasets.items()} == expected
    assert {name: c.new for name, c in result.datasets.items()} == expected
    assert result.state == "imported" and result.status == "COMPLETED" and not result.resumed
    assert result.new_records == result.records == sum(expected.values())
    # paging happened: the files came in pages of PAGE, every file is accounted for and imported
    files = store.portability.list_files(result.query_id)
    pages = -(-len(files) // PAGE)
    assert len(files) >= sum(-(-n // RECORDS_PER_FILE) for n in expected.values()) and pages > 5
    assert operation_count(sim, "listDataQueryRecords", "200") >= pages
    assert {f.state for f in files} == {"imported"} and result.files == len(files)
    # the layout on disk: a data file and its schema per ordinal, and nothing else
    folder = export_dir(archive, "ring", "default", result.query_id)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 * len(files)
    for file in files:
        assert file.path == f"portability/ring/default/{result.query_id}/{file.ordinal:04d}-{file.dataset}.json"
        data = json.loads((archive / file.path).read_text())
        schema = json.loads((folder / f"{file.ordinal:04d}-{file.dataset}.schema.json").read_text())
        assert len(data) == file.records and "title" not in schema  # the simulator's default, as in the seed
        # recognised by the object key Ring gave the file ({query}/{data set}/part-N.json)
        assert file.recognised_by == "name" and file.name is not None
        assert file.name.startswith(f"{result.query_id}/{file.dataset}/part-")
    assert result.unrecognised == [] and query_note(store, result.query_id) is None
    # the lifecycle is stored
    query = store.portability.get_query(result.query_id)
    assert query is not None and query.state == "imported" and query.records_imported == sum(expected.values())
    assert query.notified_at is not None and query.listed_at is not None and query.imported_at is not None
    assert {ev.phase for ev in events} >= {"create", "wait", "list", "download", "import", "done"}
    assert events[-1].phase == "done" and max(ev.bytes for ev in events) > 0
    assert stored_keys(store)[0] == stored_keys(store)[1] == sum(expected.values())
    assert operation_count(sim, "createDataQuery") == 1


async def test_reimport_and_an_overlapping_second_query_add_nothing_twice(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        first = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
        # the same query imported again, from scratch: its files are read again, nothing is added
        for file in store.portability.list_files(first.query_id):
            store.portability.update_file(first.query_id, file.ordinal, state="downloaded")
        store.portability.update_query(first.query_id, state="downloaded")
        again = await importer_for(store, client, grant, archive).import_query(first.query_id)
        assert again.records == first.records and again.new_records == 0
        # two days later: a second query covers the first one's window and two more days
        advance(sim, 2 * 86400)
        second = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)

    before, after = expected_counts(sim, first.query_id), expected_counts(sim, second.query_id)
    assert second.query_id != first.query_id
    assert sum(after.values()) > sum(before.values())  # the window grew: there is something new
    assert store.portability.dataset_counts(grant.id) == after
    assert second.records == sum(after.values())
    assert second.new_records == sum(after.values()) - sum(before.values())
    rows, distinct = stored_keys(store)
    assert rows == distinct == sum(after.values())


async def test_only_imports_the_chosen_data_sets_and_records_the_others_as_skipped(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    chosen = ["Ring.Alarm.HubData", "ring.eventmanager.events"]
    async with PortabilityClient(auth) as client:
        result = await importer_for(store, client, grant, archive, only=chosen).export(wait_timeout_s=60)
    expected = expected_counts(sim, result.query_id)
    names = {"Ring.Alarm.HubData", "Ring.EventManager.Events"}
    assert store.portability.dataset_counts(grant.id) == {k: v for k, v in expected.items() if k in names}
    files = store.portability.list_files(result.query_id)
    assert {f.dataset for f in files if f.state == "imported"} == names
    skipped = [f for f in files if f.state == "skipped"]
    assert skipped and result.skipped == len(skipped) and all(f.dataset not in names for f in skipped)
    assert all(f.path is None for f in skipped)  # their data was never downloaded
    assert store.portability.get_query(result.query_id).datasets == sorted(names)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------
# waiting: notifications, conflicts, timeouts


async def test_a_notification_delivered_by_the_simulator_ends_the_wait(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    with NotificationSink() as sink:
        control(sim, "PATCH", f"/_sim/portability/apps/{CREDENTIALS.client_id}", {"notification_url": sink.url})
        control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
        auth = await authorize(sim, config)
        grant = grant_of(store, config)
        hub = NotificationHub()
        # polls would come an hour apart: only the notification can end this wait
        slow = PollPolicy(delays=(3600.0,))
        async with PortabilityClient(auth) as client:
            importer = importer_for(store, client, grant, archive, hub=hub, poll=slow)
            query = await importer.start()

            async def serve_notification() -> None:
                (message,) = await asyncio.to_thread(sink.wait_for, 1)
                envelope = next(m for m in sink.messages() if m.get("Type") == "Notification")
                assert message["id"] == query.id
                record_notification(store, parse_notification(json.dumps(envelope)), hub)

            waiting = asyncio.create_task(importer.wait(query.id, timeout_s=600))
            await first_poll(sim)
            control(sim, "POST", f"/_sim/portability/queries/{query.id}/complete")
            await serve_notification()
            ready = await waiting
            polls = operation_count(sim, "listDataQueryRecords")
            result = await importer.import_query(query.id)
    assert ready.state == "notified" and ready.status == "COMPLETED"
    assert polls == 1  # the one poll before completion answered QUERY_NOT_COMPLETED; the notification did the rest
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, query.id)
    assert result.state == "imported"


async def test_a_notification_stored_by_another_process_ends_the_wait(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive, poll=PollPolicy(delays=(3600.0,)))
        query = await importer.start()
        waiting = asyncio.create_task(importer.wait(query.id, timeout_s=600))
        await first_poll(sim)
        control(sim, "POST", f"/_sim/portability/queries/{query.id}/complete")
        # what `ringvault serve` does with the notification, in its own process: the database is the meeting point
        with ArchiveStore.open(archive) as other:
            note = parse_notification(
                {"Type": "Notification", "Subject": "Data Portability Notification 1.0",
                 "Message": json.dumps({"id": query.id, "version": "1.0", "status": "COMPLETED"})}
            )  # fmt: skip
            assert record_notification(other, note) is not None
        ready = await waiting
    assert ready.state == "notified" and operation_count(sim, "listDataQueryRecords") == 1


async def test_importing_a_query_before_it_completed_changes_nothing(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive)
        query = await importer.start()
        with pytest.raises(e.QueryNotCompletedError):
            await importer.import_query(query.id)
    stored = store.portability.get_query(query.id)
    assert stored is not None and stored.state == "created" and store.portability.list_files(query.id) == []


async def test_a_conflicting_query_nobody_stored_is_waited_out(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        orphan = await client.create_query()  # a run that died before storing the id
        result = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
    assert result.query_id != orphan and result.state == "imported"
    assert operation_count(sim, "createDataQuery", "409") >= 1
    assert store.portability.get_query(orphan) is None
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, result.query_id)


async def test_an_open_query_is_adopted_instead_of_creating_another(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        with pytest.raises(ExportNotReadyError) as caught:
            await importer_for(store, client, grant, archive).export(wait_timeout_s=0.5)
        assert "nothing is lost" in str(caught.value)
        (query,) = store.portability.list_queries(grant_id=grant.id)
        assert query.state == "created"
        control(sim, "POST", f"/_sim/portability/queries/{query.id}/complete")
        result = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
    assert result.query_id == query.id and result.resumed and result.state == "imported"
    assert operation_count(sim, "createDataQuery") == 1


# ---------------------------------------------------------------------------------------------------------------
# cancellation, revocation, expiry


async def test_a_silently_canceled_query_is_noticed_and_replaced(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    events: list[ImportProgress] = []
    async with PortabilityClient(auth) as client:
        first = await importer_for(store, client, grant, archive).start()
        # Ring cancels it, and nobody hears the notification: polls answer QUERY_NOT_COMPLETED as before
        control(sim, "POST", f"/_sim/portability/queries/{first.id}/cancel")
        control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 0.2})
        probing = PollPolicy(delays=(0.2,), probe_after_s=0.0)
        importer = importer_for(store, client, grant, archive, poll=probing, progress=events.append)
        result = await importer.export(wait_timeout_s=60)
    assert result.query_id != first.id and result.state == "imported"
    old = store.portability.get_query(first.id)
    assert old is not None and old.state == "canceled" and "new export" in (old.error or "")
    assert any(f"Ring canceled export {first.id}" in ev.message for ev in events)
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, result.query_id)


async def test_revocation_while_waiting_cancels_the_export(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive)
        query = await importer.start()
        revoke_all(sim)
        with pytest.raises(ExportCanceledError) as caught:
            await importer.wait(query.id, timeout_s=60)
    assert "ringvault portability login" in caught.value.one_line
    assert [q["status"] for q in sim_queries(sim)] == ["CANCELED"]
    stored = store.portability.get_query(query.id)
    assert stored is not None and (stored.state, stored.status) == ("canceled", "CANCELED")
    assert store.portability.get_grant(grant.id).status == "revoked"  # type: ignore[union-attr]


async def test_a_canceled_notification_marks_the_query_and_the_grant(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    hub = NotificationHub()
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive, hub=hub)
        query = await importer.start()
        revoke_all(sim)
        note = parse_notification(
            {"Subject": "Data Portability Notification 1.0",
             "Message": json.dumps({"id": query.id, "version": "1.0", "status": "CANCELED"})}
        )  # fmt: skip
        record_notification(store, note, hub)
        lists_before = operation_count(sim, "listDataQueryRecords")
        with pytest.raises(ExportCanceledError):
            await importer.export(wait_timeout_s=60)
        assert operation_count(sim, "listDataQueryRecords") == lists_before  # the notification said it all
    assert store.portability.get_query(query.id).state == "canceled"  # type: ignore[union-attr]
    assert store.portability.get_grant(grant.id).status == "revoked"  # type: ignore[union-attr]


async def test_an_expired_authorization_cancels_and_marks_the_grant_expired(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    auth = await authorize(sim, config, duration="30d")
    grant = grant_of(store, config)
    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive)
        query = await importer.start()
        advance(sim, 31 * 86400)
        assert [g["status"] for g in grants(sim)] == ["expired"]
        with pytest.raises(ExportCanceledError):
            await importer.wait(query.id, timeout_s=60)
        # and a later export cannot even start
        with pytest.raises(ExportCanceledError):
            await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
    assert store.portability.get_query(query.id).state == "canceled"  # type: ignore[union-attr]
    assert store.portability.get_grant(grant.id).status == "expired"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------
# the download window


async def test_expired_download_links_are_listed_again(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    moved: list[int] = []

    def on_progress(event: ImportProgress) -> None:
        # the first downloads took "6 minutes": every URL of that listing is dead now
        downloaded = event.phase == "download" and event.message.startswith("downloaded")
        if downloaded and event.files_done == 3 and not moved:
            moved.append(event.files_done)
            advance(sim, 360)

    async with PortabilityClient(auth) as client:
        result = await importer_for(store, client, grant, archive, progress=on_progress).export(wait_timeout_s=60)
    assert moved and result.state == "imported"
    assert operation_count(sim, "files", "403") >= 1  # an expired URL was tried once
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, result.query_id)


async def test_access_time_elapsed_fails_the_query_and_keeps_what_was_downloaded(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    auth = await authorize(sim, config)
    grant = grant_of(store, config)

    def on_progress(event: ImportProgress) -> None:
        if event.phase == "download" and event.message.startswith("downloaded") and event.files_done == 5:
            advance(sim, 3700)  # more than the hour after the notification: the URLs and the listing are gone

    async with PortabilityClient(auth) as client:
        importer = importer_for(store, client, grant, archive, progress=on_progress)
        with pytest.raises(e.AccessTimeElapsedError) as caught:
            await importer.export(wait_timeout_s=60)
        assert "create a new export" in caught.value.one_line.lower()
        (query,) = store.portability.list_queries(grant_id=grant.id)
        assert query.state == "failed" and "download window" in (query.error or "")
        files = store.portability.list_files(query.id)
        imported = [f for f in files if f.state == "imported"]
        # the files downloaded before the window closed (those in flight got through too) are imported
        assert len(imported) >= 5 and {f.state for f in files} == {"imported", "listed"}
        in_files: dict[str, int] = {}
        for file in imported:
            assert file.dataset is not None
            in_files[file.dataset] = in_files.get(file.dataset, 0) + file.records
        assert store.portability.dataset_counts(grant.id) == in_files
        # the next export is a new query, which imports everything
        again = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
    assert again.query_id != query.id and again.state == "imported"
    assert store.portability.dataset_counts(grant.id) == expected_counts(sim, again.query_id)


# ---------------------------------------------------------------------------------------------------------------
# interruptions


async def test_an_import_interrupted_mid_file_resumes_without_duplicates(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    control(sim, "PATCH", "/_sim/portability/config", {"records_per_file": 1200})
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    stops = iter([("download", 4), ("import", 1000), ("import", 500)])
    stop = next(stops)

    def die(event: ImportProgress) -> None:
        phase, point = stop
        if event.phase != phase:
            return
        reached = event.files_done if phase == "download" else event.records
        if reached >= point and (phase == "import" or event.message.startswith("downloaded")):
            raise Interrupt

    async with PortabilityClient(auth) as client:
        interrupted = 0
        while True:
            try:
                result = await importer_for(store, client, grant, archive, progress=die).export(wait_timeout_s=60)
                break
            except Interrupt:
                interrupted += 1
                stop = next(stops, ("never", 0))
                files = store.portability.list_files(store.portability.list_queries()[0].id)
                if stop[0] == "import" and interrupted == 2:
                    # the second stop hit a file half-way: some of its batches are committed, the file is not done
                    assert any(f.state == "downloaded" for f in files)
    assert interrupted == 3 and result.resumed
    expected = expected_counts(sim, result.query_id)
    assert store.portability.dataset_counts(grant.id) == expected
    rows, distinct = stored_keys(store)
    assert rows == distinct == sum(expected.values())
    assert operation_count(sim, "createDataQuery") == 1
    assert not [path for path in files_under(archive) if path.name.endswith(".part")]


async def test_a_full_disk_stops_the_export_in_one_line_and_the_next_run_resumes(
    sim: SimServer, config: PortabilityConfig, store: ArchiveStore, archive: Path
) -> None:
    """The export's disk fills up (a real 96 KiB tmpfs under ``portability/``): the download fails with one line
    saying so, no partial file is left, and once there is room the same query resumes and imports every record
    once."""
    auth = await authorize(sim, config)
    grant = grant_of(store, config)
    with small_disk(archive / "portability", "96k") as grow:
        async with PortabilityClient(auth) as client:
            with pytest.raises(e.DownloadWriteError) as full:
                await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
        assert "No space left on device" in full.value.one_line and "run the command again" in full.value.one_line
        (query,) = store.portability.list_queries(grant_id=grant.id)
        assert query.state in ("notified", "listed")  # kept for the next run, not failed
        assert not [p for p in (archive / "portability").rglob("*") if p.name.endswith(".part")]

        grow("64m")
        async with PortabilityClient(auth) as client:
            result = await importer_for(store, client, grant, archive).export(wait_timeout_s=60)
    assert result.query_id == query.id and result.state == "imported" and result.resumed
    expected = expected_counts(sim, query.id)
    assert store.portability.dataset_counts(grant.id) == expected
    assert stored_keys(store)[0] == stored_keys(store)[1] == sum(expected.values())
    assert operation_count(sim, "createDataQuery") == 1
