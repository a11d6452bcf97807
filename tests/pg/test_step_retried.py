"""A worker SIGKILLed after its import step stored the query ``imported`` but before the customer's next export
reached ``procrastinate_jobs``, driven step by step on a real PostgreSQL: the sweeper's retry of the import job
queues that export (before the fix it found the query imported and returned; the 100-customer test once ended with
one customer imported and no recurring export job)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability_schedule import ScheduleStore
from ringvault.server.portability_hub import PortabilityHub
from ringvault.server.portability_jobs import QUEUE, open_jobs
from ringvault.server.portability_runner import ImporterRunner
from ringvault.server.portability_settings import PortabilityServerSettings
from tests.pg.test_jobs import rows
from tests.server.test_portability_work import APP, settings  # noqa: F401 (the fixture)


def test_an_import_job_retried_after_its_worker_died_past_the_import_queues_the_recurring_export(
    pg_url: str,
    tmp_path: Path,
    settings: PortabilityServerSettings,  # noqa: F811 (the fixture)
) -> None:
    archive = tmp_path / "archive"
    with ArchiveStore.open(archive, database_url=pg_url) as store:
        grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer="1")
        query = store.portability.add_query(str(uuid.uuid4()), grant_id=grant.id, scope_id="data-portability")
        # what the killed worker got to: the import step's row, and the importer's "imported"
        ScheduleStore(store).set(
            grant.id, step="import", arg=query.id, due_at=datetime.now(UTC), running_since=datetime.now(UTC),
            reason="importing", detail=f"importing query {query.id}",
        )  # fmt: skip
        store.portability.update_query(query.id, state="imported", status="COMPLETED", imported_at=datetime.now(UTC))

        async def retried() -> None:
            async with open_jobs(pg_url) as jobs:
                hub = PortabilityHub(settings, store, ImporterRunner(store, archive), queue=jobs.work_queue())
                await hub.run_step("import", query.id)  # the job the sweeper put back, run by another worker
                await hub.aclose()

        asyncio.run(retried())
        schedule = ScheduleStore(store).get(grant.id)
    assert (schedule.step, schedule.reason) == ("export", "recurring")
    waiting = rows(
        pg_url,
        "SELECT args->>'step', args->>'arg', scheduled_at > now() + interval '1 hour' FROM procrastinate_jobs "
        "WHERE queue_name = %s AND status = 'todo'",
        QUEUE,
    )
    assert waiting == [("export", str(grant.id), True)]
