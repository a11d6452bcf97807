"""Two interleavings that lost a customer's export, driven step by step against a real SQLite archive (no timing):
each test puts the other party's move exactly where it hurt, and fails on the code before the fix.

1. A login (``request_export``) while an export step ends the customer's schedule: the step had read the grant
   (still ``refused``/``revoked``) and then stored its stop; the login in between found the export running or
   waiting, answered "queued already" and wrote nothing, so the export it queued found nothing to do (the rare
   120 s timeout of ``test_a_used_one_time_authorization_is_marked_refused_and_can_be_tried_again``).
2. A step whose worker died after it stored its result but before it queued the next step (a SIGKILLed ``ringvault
   worker``): the retried job found its work done and returned, so the next step was never queued (the rare
   failure of the PostgreSQL 100-customer test: one customer imported with no recurring export job at the end).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import GrantRow
from ringvault.archive.store.portability_schedule import ScheduleStore
from ringvault.portability.client import PortabilityClient
from ringvault.portability.importer import ExportCanceledError
from ringvault.server.portability_hub import PortabilityHub
from ringvault.server.portability_settings import PortabilityServerSettings
from tests.server.test_portability_work import APP, FakeRunner, RecordingQueue, settings  # noqa: F401 (fixture)


class RefusingRunner(FakeRunner):
    """createDataQuery refused as the real runner reports a used one-time authorization (the grant is marked
    ``refused`` unless a login changed it meanwhile) until ``refuse`` is turned off."""

    def __init__(self, store: ArchiveStore) -> None:
        super().__init__(store)
        self.refuse = True

    async def create(self, client: PortabilityClient, grant: GrantRow) -> str:
        if self.refuse:
            self.creates += 1
            current = self.store.portability.get_grant(grant.id)
            if current is not None and current.status == "active":
                self.store.portability.set_grant_status(grant.id, "refused", unless_changed_after=grant.updated_at)
            raise ExportCanceledError("Ring refused to start an export although the customer's token works")
        return await super().create(client, grant)


class LoginBeforeTheStop(PortabilityHub):
    """The hub, with the customer's login (``login``) landing at the one moment that lost the export: after the
    running step read the grant, just before it stores the customer's stop."""

    login: Callable[[], Awaitable[None]] | None = None

    async def _stop(self, grant: GrantRow, detail: str, **kwargs: Any) -> None:
        if self.login is not None:
            login, self.login = self.login, None
            await login()
        await super()._stop(grant, detail, **kwargs)


def _login(store: ArchiveStore, hub: PortabilityHub, answers: list[bool]) -> Callable[[], Awaitable[None]]:
    """What ``finish_login`` does once Ring gave the tokens: the grant re-activated, then an export asked for."""

    async def login() -> None:
        grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer="omar")
        answers.append(await hub.request_export(grant, detail="connected; waiting for a createDataQuery slot"))

    return login


def _omar(store: ArchiveStore) -> GrantRow:
    return store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer="omar")


def test_a_login_while_a_refused_export_is_stopping_gets_its_export(
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The customer's one-time authorization was used: the operator's export is refused (the grant stays
    ``refused``); the customer connects again after the running step read the grant, before it stored its stop.
    Before the fix the login answered "queued already" (the export was running), the stop was stored over it and the
    customer ended ``active`` with nothing scheduled; now the login's export runs with the new authorization."""
    with ArchiveStore.open(tmp_path / "archive") as store:
        grant = _omar(store)
        store.portability.set_grant_status(grant.id, "refused")  # the first refusal, before
        grant = store.portability.get_grant(grant.id)
        assert grant is not None
        runner, queue, answers = RefusingRunner(store), RecordingQueue(), list[bool]()

        async def scenario() -> None:
            hub = LoginBeforeTheStop(settings, store, runner, queue=queue)
            assert await hub.export(grant)  # the operator tries again
            hub.login = _login(store, hub, answers)
            await hub.run_step("export", str(grant.id))  # refused; the login lands before the stop
            assert hub.login is None, "the step did not stop the customer: the interleaving was not driven"
            assert ("export", str(grant.id), 0.0) in queue.deferred[1:]  # the login's export is queued ...
            runner.refuse = False  # ... and Ring accepts the new authorization
            await hub.run_step("export", str(grant.id))
            await hub.aclose()

        asyncio.run(scenario())
        schedule = ScheduleStore(store).get(grant.id)
        queries = store.portability.list_queries(grant_id=grant.id)
        assert len(queries) == 1, (answers, schedule)
        assert (schedule.step, schedule.arg) == ("check", queries[0].id)
        current = store.portability.get_grant(grant.id)
        assert current is not None and current.status == "active"


def test_a_login_while_an_export_stops_for_a_revoked_grant_gets_its_export(
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The same moment for an export that finds the grant revoked before it runs (nothing claimed: the login finds
    it waiting, "queued already"): the stop is stored, and the grant read again after it shows the login."""
    with ArchiveStore.open(tmp_path / "archive") as store:
        grant = _omar(store)
        queue, answers = RecordingQueue(), list[bool]()

        async def scenario() -> None:
            hub = LoginBeforeTheStop(settings, store, FakeRunner(store), queue=queue)
            assert await hub.request_export(grant)
            store.portability.set_grant_status(grant.id, "revoked")  # Ring refused the token meanwhile
            hub.login = _login(store, hub, answers)
            await hub.run_step("export", str(grant.id))  # revoked: stopping; the login lands before the stop
            assert hub.login is None, "the step did not stop the customer: the interleaving was not driven"
            await hub.run_step("export", str(grant.id))
            await hub.aclose()

        asyncio.run(scenario())
        schedule = ScheduleStore(store).get(grant.id)
        queries = store.portability.list_queries(grant_id=grant.id)
        assert len(queries) == 1, (answers, schedule)
        assert (schedule.step, schedule.arg) == ("check", queries[0].id)


def _imported_query(store: ArchiveStore, grant: GrantRow) -> str:
    """A query the importer has stored as ``imported`` (what a killed worker's import step got to)."""
    query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
    store.portability.update_query(query.id, state="imported", status="COMPLETED", imported_at=datetime.now(UTC))
    return query.id


def test_an_import_retried_after_its_worker_died_past_the_import_queues_the_recurring_export(
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The worker stored the query ``imported`` and was killed before ``_imported`` wrote the next export; the
    sweeper retries the import job. Before the fix it found the query imported and returned: no next export, ever."""
    with ArchiveStore.open(tmp_path / "archive") as store:
        grant = _omar(store)
        query_id = _imported_query(store, grant)
        ScheduleStore(store).set(
            grant.id, step="import", arg=query_id, due_at=datetime.now(UTC), running_since=datetime.now(UTC),
            reason="importing", detail=f"importing query {query_id}",
        )  # fmt: skip
        queue = RecordingQueue()

        async def scenario() -> None:
            hub = PortabilityHub(settings, store, FakeRunner(store), queue=queue)
            await hub.run_step("import", query_id)  # the retried job
            await hub.aclose()

        asyncio.run(scenario())
        schedule = ScheduleStore(store).get(grant.id)
        every = settings.recur_every_s
        assert every is not None
        assert (schedule.step, schedule.reason, schedule.running_since) == ("export", "recurring", None)
        assert queue.deferred == [("export", str(grant.id), every)]


def test_a_step_retried_after_its_worker_died_before_queueing_the_next_one_queues_it(
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The worker stored the next step (the recurring export after an import; the check after a create) and was
    killed before it queued its job. The retried job finds the customer moved on and queues what the schedule holds
    (the queue keeps one run per step, so when the job was queued after all this changes nothing)."""
    with ArchiveStore.open(tmp_path / "archive") as store:
        grant = _omar(store)
        query_id = _imported_query(store, grant)
        schedules = ScheduleStore(store)
        queue = RecordingQueue()

        async def scenario() -> None:
            hub = PortabilityHub(settings, store, FakeRunner(store), queue=queue)
            await hub._imported(grant, store.portability.get_query(query_id))  # type: ignore[arg-type]
            queue.deferred.clear()  # as if the worker died before this job reached the queue
            await hub.run_step("import", query_id)  # the retried import job
            assert [(step, arg) for step, arg, _ in queue.deferred] == [("export", str(grant.id))]
            assert queue.deferred[0][2] > 0.9 * (settings.recur_every_s or 0)
            # the same for an export whose create was stored (the check written) but whose check job never queued
            created = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
            schedules.set(grant.id, step="check", arg=created.id, due_at=datetime.now(UTC), running_since=None,
                          reason="notification", detail="waiting")  # fmt: skip
            queue.deferred.clear()
            await hub.run_step("export", str(grant.id))  # the retried export job
            assert [(step, arg) for step, arg, _ in queue.deferred] == [("check", created.id)]
            await hub.aclose()

        asyncio.run(scenario())


def test_an_import_retried_after_its_worker_died_past_a_failed_import_queues_a_new_export(
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """The same for an import the importer stored as ``failed`` (Ring's files unusable): the retried job queues the
    new export the killed run would have queued after it."""
    with ArchiveStore.open(tmp_path / "archive") as store:
        grant = _omar(store)
        query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
        store.portability.update_query(query.id, state="failed", error="the export's files could not be read")
        ScheduleStore(store).set(
            grant.id, step="import", arg=query.id, due_at=datetime.now(UTC), running_since=datetime.now(UTC),
            reason="importing", detail=f"importing query {query.id}",
        )  # fmt: skip
        queue = RecordingQueue()

        async def scenario() -> None:
            hub = PortabilityHub(settings, store, FakeRunner(store), queue=queue)
            await hub.run_step("import", query.id)  # the retried job
            await hub.aclose()

        asyncio.run(scenario())
        schedule = ScheduleStore(store).get(grant.id)
        assert (schedule.step, schedule.reason, schedule.running_since) == ("export", "retry", None)
        assert "the export's files could not be read" in (schedule.last_error or "")
        assert queue.deferred == [("export", str(grant.id), settings.export_retry_s[0])]
