"""The hub's steps and the work queue on their own: ``run_step`` is safe to run twice at once (two hubs on one SQLite
archive: one createDataQuery), an unexpected failure is stored and rescheduled, and ``LocalWorkQueue`` keeps one run
per step at the earliest time asked, survives a failing step and cancels what waits when closed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow, QueryRow
from ringvault.archive.store.portability_schedule import ScheduleStore
from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import ClientCredentials, PortabilityConfig
from ringvault.portability.notifications import QueryNotification
from ringvault.portability.renewal import is_expired
from ringvault.server.portability_hub import PortabilityHub
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.server.portability_work import STEPS, LocalWorkQueue, Step, check_step

APP = "amzn1.application-oa2-client.test"


class RecordingQueue:
    """A ``WorkQueue`` that only notes what the hub defers (the test runs the steps itself)."""

    def __init__(self) -> None:
        self.deferred: list[tuple[Step, str, float]] = []

    async def defer(self, step: Step, arg: str, *, delay_s: float = 0.0) -> None:
        self.deferred.append((step, arg, delay_s))

    async def aclose(self) -> None:
        pass


class FakeRunner:
    """The importer's create: slow enough for two steps to overlap; ``fail`` makes it raise what it holds."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.creates = 0
        self.fail: Exception | None = None

    async def create(self, client: PortabilityClient, grant: GrantRow) -> str:
        self.creates += 1
        if self.fail is not None:
            raise self.fail
        await asyncio.sleep(0.2)
        return self.store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability").id

    async def run(self, client: PortabilityClient, grant: GrantRow, query_id: str) -> None:
        raise AssertionError("not in these tests")

    def record(self, notification: QueryNotification) -> QueryRow | None:
        raise AssertionError("not in these tests")

    async def check_grant(self, client: PortabilityClient, grant: GrantRow) -> str:
        return grant.status


@pytest.fixture
def settings(tmp_path: Path) -> PortabilityServerSettings:
    credentials = ClientCredentials(APP, "secret", "http://127.0.0.1/portability/callback")
    return PortabilityServerSettings(config=PortabilityConfig(credentials=credentials, token_dir=tmp_path / "tokens"))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ArchiveStore, ArchiveStore]]:
    """Two stores on one SQLite archive, as two hubs of one app would open it."""
    with ArchiveStore.open(tmp_path / "archive") as one, ArchiveStore.open(tmp_path / "archive") as other:
        yield one, other


def _grant(store: ArchiveStore) -> GrantRow:
    return store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer="alice")


def test_two_hubs_running_one_export_at_once_create_one_query(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore]
) -> None:
    one, other = stores
    grant = _grant(one)
    runner = FakeRunner(one)
    queues = RecordingQueue(), RecordingQueue()

    async def scenario() -> None:
        hubs = [
            PortabilityHub(settings, store, runner, queue=queue) for store, queue in zip(stores, queues, strict=True)
        ]
        assert await hubs[0].request_export(grant)
        assert not await hubs[1].request_export(grant)  # queued already: it keeps its place
        await asyncio.gather(*(hub.run_step("export", str(grant.id)) for hub in hubs))
        await asyncio.gather(*(hub.run_step("export", str(grant.id)) for hub in hubs))  # and again: nothing to do
        for hub in hubs:
            await hub.aclose()

    asyncio.run(scenario())
    assert runner.creates == 1
    queries = one.portability.list_queries(grant_id=grant.id)
    schedule = ScheduleStore(other).get(grant.id)
    assert len(queries) == 1
    assert (schedule.step, schedule.arg, schedule.reason, schedule.running_since) == (
        "check", queries[0].id, "notification", None
    )  # fmt: skip
    assert ("check", queries[0].id) in [(step, arg) for step, arg, _ in queues[0].deferred + queues[1].deferred]


def test_an_unexpected_failure_is_stored_and_the_step_rescheduled(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore]
) -> None:
    store = stores[0]
    grant = _grant(store)
    runner = FakeRunner(store)
    runner.fail = RuntimeError("the disk is on fire")
    queue = RecordingQueue()

    async def scenario() -> None:
        hub = PortabilityHub(settings, store, runner, queue=queue)
        await hub.request_export(grant)
        await hub.run_step("export", str(grant.id))
        await hub.aclose()

    asyncio.run(scenario())
    schedule = ScheduleStore(store).get(grant.id)
    assert (schedule.step, schedule.reason, schedule.failures, schedule.running_since) == ("export", "retry", 1, None)
    assert "the disk is on fire" in (schedule.last_error or "") and "trying again at" in (schedule.detail or "")
    assert queue.deferred[-1] == ("export", str(grant.id), settings.export_retry_s[0])


class ExpiringRunner(FakeRunner):
    """An import Ring answers ACCESS_TIME_ELAPSED: as the importer does, what was downloaded is imported and the
    query marked failed with what happened (``note``), then the error is raised — itself, or as the cause of another
    error (``wrapped``)."""

    def __init__(self, store: ArchiveStore, *, note: str | None, wrapped: bool) -> None:
        super().__init__(store)
        self.note = note
        self.wrapped = wrapped

    async def run(self, client: PortabilityClient, grant: GrantRow, query_id: str) -> None:
        if self.note is not None:
            self.store.portability.update_query(query_id, state="failed", error=self.note)
        elapsed = e.AccessTimeElapsedError("Create a new query", status=403)
        if not self.wrapped:
            raise elapsed
        raise e.PortabilityResponseError(f"listing export {query_id} failed") from elapsed


@pytest.mark.parametrize("wrapped", [False, True], ids=["elapsed", "caused-by-elapsed"])
def test_an_import_ring_says_is_too_late_expires_the_query_and_queues_a_new_export(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore], wrapped: bool
) -> None:
    """One rule for dead queries (``errors.is_query_dead`` / ``renewal.expire_query``, the CLI's too): a query whose
    listing window ran out during its import is closed as ``failed``/``EXPIRED`` — the importer's account of what
    it imported is kept — and a new export is queued; an error raised *from* ACCESS_TIME_ELAPSED counts the same
    (before, it was retried as an import failure until nothing could ever list the query)."""
    store = stores[0]
    grant = _grant(store)
    query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
    store.portability.update_query(query.id, state="notified", status="COMPLETED")
    note = None if wrapped else "the download window of export x is over; files downloaded before were imported"
    queue = RecordingQueue()

    async def scenario() -> None:
        hub = PortabilityHub(settings, store, ExpiringRunner(store, note=note, wrapped=wrapped), queue=queue)
        assert await hub.resume(query)
        await hub.run_step("import", query.id)
        await hub.aclose()

    asyncio.run(scenario())
    closed = store.portability.get_query(query.id)
    assert closed is not None and is_expired(closed)
    expected = note or "expired: Ring's hour for listing this export ran out before it was imported"
    assert closed.error is not None and closed.error.startswith(expected)
    schedule = ScheduleStore(store).get(grant.id)
    assert (schedule.step, schedule.reason, schedule.running_since) == ("export", "listing_window", None)
    assert queue.deferred[-1] == ("export", str(grant.id), 0.0)


def test_a_restart_while_a_notification_is_being_confirmed_keeps_confirming_it(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore]
) -> None:
    """A server stopped while it waited to re-check a COMPLETED notification (``confirming``) resumes that re-check at
    its time on start-up: a poll instead would send the poll's call, which Ring may still answer from its cache."""
    store = stores[0]
    grant = _grant(store)
    query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
    due = datetime.now(UTC) + timedelta(seconds=300)
    ScheduleStore(store).set(
        grant.id, step="check", arg=query.id, due_at=due, reason="confirming", detail="asking again later"
    )
    queue = RecordingQueue()

    async def scenario() -> None:
        hub = PortabilityHub(settings, store, FakeRunner(store), queue=queue)
        await hub.start()
        await hub.aclose()

    asyncio.run(scenario())
    [(step, arg, delay)] = queue.deferred
    assert (step, arg) == ("check", query.id) and 250 < delay <= 300
    schedule = ScheduleStore(store).get(grant.id)
    assert (schedule.reason, schedule.due_at) == ("confirming", due)


def test_the_local_queue_runs_each_step_once_at_the_earliest_time_asked() -> None:
    async def scenario() -> list[tuple[str, str, float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        ran: list[tuple[str, str, float]] = []
        done = asyncio.Event()

        async def run(step: Step, arg: str) -> None:
            ran.append((step, arg, loop.time() - start))
            if arg == "boom":
                raise RuntimeError("a step that fails")
            if len(ran) == 3:
                done.set()

        queue = LocalWorkQueue(run)
        await queue.defer("check", "q1", delay_s=0.5)
        await queue.defer("check", "q1", delay_s=0.1)  # earlier: replaces the first
        await queue.defer("check", "q1", delay_s=0.3)  # later: the earlier one is kept
        await queue.defer("import", "boom")
        await queue.defer("export", "7", delay_s=0.2)
        await queue.defer("export", "never", delay_s=60.0)
        await asyncio.wait_for(done.wait(), 30)
        assert set(queue.due()) == {("export", "never")}
        await queue.aclose()
        assert queue.busy == 0
        await queue.defer("export", "after close")  # ignored
        assert queue.busy == 0
        return ran

    ran = asyncio.run(scenario())
    assert [(step, arg) for step, arg, _ in ran] == [("import", "boom"), ("check", "q1"), ("export", "7")]
    assert ran[1][2] < 0.3


def test_steps_are_checked_by_name() -> None:
    assert [check_step(name) for name in STEPS] == list(STEPS)
    with pytest.raises(ValueError, match="unknown Data Portability step 'recur'"):
        check_step("recur")


def _customer(store: ArchiveStore, name: str) -> GrantRow:
    return store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer=name)


def test_completed_queries_of_others_are_listed_before_a_new_query_is_created(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore]
) -> None:
    """Imports first: while as many completed queries wait to be listed as there are import slots, an export waits
    (and creates nothing); once they are listed, it goes."""
    store = stores[0]
    waiting = [_customer(store, f"done{n}") for n in range(settings.backlog_limit)]
    for grant in waiting:
        query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
        store.portability.update_query(query.id, state="notified", status="COMPLETED")
    grant = _customer(store, "next")
    runner = FakeRunner(store)
    queue = RecordingQueue()

    async def scenario() -> tuple[str | None, str | None]:
        hub = PortabilityHub(settings, store, runner, queue=queue)
        await hub.request_export(grant)
        await hub.run_step("export", str(grant.id))
        schedule = ScheduleStore(store).get(grant.id)
        for query in store.portability.list_queries(open_only=True):
            store.portability.update_query(query.id, state="listed")  # the imports got their listing
        await asyncio.sleep(queue.deferred[-1][2])  # the export's next look is due
        await hub.run_step("export", str(grant.id))
        await hub.aclose()
        return schedule.reason, schedule.detail

    reason, detail = asyncio.run(scenario())
    assert reason == "imports_first" and f"{settings.backlog_limit} completed exports" in (detail or "")
    assert runner.creates == 1  # only the second run created
    assert ScheduleStore(store).get(grant.id).step == "check"


def test_a_customer_who_asked_later_waits_for_one_who_asked_earlier(
    settings: PortabilityServerSettings, stores: tuple[ArchiveStore, ArchiveStore]
) -> None:
    store = stores[0]
    early, late = _customer(store, "early"), _customer(store, "late")
    runner = FakeRunner(store)
    queue = RecordingQueue()

    async def scenario() -> str | None:
        hub = PortabilityHub(settings, store, runner, queue=queue)
        await hub.request_export(early)
        await hub.request_export(late)
        await hub.run_step("export", str(late.id))  # the later customer's step happens to run first
        reason = ScheduleStore(store).get(late.id).reason
        await hub.run_step("export", str(early.id))
        wait = max(delay for step, arg, delay in queue.deferred if (step, arg) == ("export", str(late.id)))
        assert wait > 0
        await asyncio.sleep(wait)  # the later customer's next look is due
        await hub.run_step("export", str(late.id))
        await hub.aclose()
        return reason

    assert asyncio.run(scenario()) == "queued"
    first, second = (store.portability.list_queries(grant_id=g.id) for g in (early, late))
    assert len(first) == len(second) == 1 and first[0].created_at <= second[0].created_at
