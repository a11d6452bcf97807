"""The Data Portability steps run as procrastinate jobs by ``ringvault worker`` processes (and by ``ringvault serve``'s
own worker) when the archive is on PostgreSQL.

A worker process holds what ``serve``'s hub holds — the archive store, the importer, the app's settings (the same
``RINGVAULT_PORTABILITY_*`` variables), the app's limits in the database — but no HTTP server: it takes the steps
``serve`` (or another worker) queued in ``procrastinate_jobs`` and runs each with ``PortabilityHub.run_step``. What
the step schedules next goes back into the same jobs table, so any worker, on any machine, may run it.

- Customers' tokens are files (``RINGVAULT_PORTABILITY_TOKEN_DIR``): workers on several machines need that directory
  shared with ``serve`` (it writes a customer's first token; steps refresh them).
- Downloaded export files go to the worker's archive directory; a step resumed on another machine downloads what its
  archive directory lacks again (the importer checks every file it did not import yet).
- ``hub.start()`` (putting every customer's next step back in the queue) is ``serve``'s job at start-up: the jobs
  themselves are stored in PostgreSQL and outlive any worker, so a worker starting or stopping changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ringvault.server.portability_work import check_step

if TYPE_CHECKING:
    from ringvault.server.portability_hub import PortabilityHub
    from ringvault.server.portability_jobs import ProcrastinateWorkQueue, StepRunner, WorkerSettings
    from ringvault.server.portability_settings import PortabilityServerSettings

__all__ = ["default_concurrency", "run_worker", "step_runner"]

log = logging.getLogger("ringvault.server.portability.worker")

#: steps a worker runs at once beyond its import slots (exports and checks are short; they must not wait behind
#: imports that hold every slot)
_EXTRA_STEPS = 2
#: a step name this version does not know (queued by a newer one) waits this long for a worker that does
_UNKNOWN_STEP_RETRY_S = 300.0


def default_concurrency(settings: PortabilityServerSettings) -> int:
    """Steps one process runs at once when not told: its import slots (``RINGVAULT_PORTABILITY_MAX_IMPORTS``) plus a
    few for the short steps. More would only queue imports on the slots while holding a database connection each."""
    return settings.max_concurrent + _EXTRA_STEPS


def step_runner(hub: PortabilityHub, queue: ProcrastinateWorkQueue) -> StepRunner:
    """The procrastinate task's ``run_step``: the hub's, for the steps this version knows (each logged with how long
    it took); a step of a newer version is put back for a worker that knows it, never dropped."""

    async def run(step: Any, arg: str) -> None:
        try:
            known = check_step(str(step))
        except ValueError as exc:
            log.warning("%s (queued by a newer ringvault?): left for another worker", exc)
            await queue.defer(step, arg, delay_s=_UNKNOWN_STEP_RETRY_S)
            return
        started = time.monotonic()
        log.info("step %s %s started", known, arg)
        await hub.run_step(known, arg)
        log.info("step %s %s done in %.1f s", known, arg, time.monotonic() - started)

    return run


async def run_worker(
    archive_dir: Path,
    database_url: str,
    settings: PortabilityServerSettings,
    worker: WorkerSettings,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the app's steps until SIGTERM/SIGINT: the store and the jobs are opened (the schema of each applied when
    missing), ``ready`` is told where, then procrastinate's worker runs; a clean stop waits ``shutdown_timeout_s`` for
    the running steps, then queues them again."""
    from ringvault.archive.store import ArchiveStore
    from ringvault.server.portability_hub import PortabilityHub
    from ringvault.server.portability_jobs import PortabilityJobs
    from ringvault.server.portability_runner import ImporterRunner

    store = await asyncio.to_thread(lambda: ArchiveStore.open(archive_dir, database_url=database_url))
    jobs = PortabilityJobs(database_url)
    try:
        await jobs.open()
        queue = jobs.work_queue(retry_s=worker.step_retry_s)
        hub = PortabilityHub(settings, store, ImporterRunner(store, archive_dir), queue=queue)
        try:
            if ready is not None:
                ready(jobs.label)
            await jobs.run_worker(step_runner(hub, queue), worker, queue=queue, name=f"ringvault-worker-{os.getpid()}")
        finally:
            await hub.aclose()
    finally:
        await jobs.aclose()
        await asyncio.to_thread(store.close)
