"""Data Portability steps as procrastinate jobs on the archive's PostgreSQL: what lets any number of ``ringvault
worker`` processes, on any number of machines, share one app's customers.

- :func:`open_jobs` opens a procrastinate ``App`` on ``RINGVAULT_DATABASE_URL`` and applies procrastinate's schema
  when the database has none yet (idempotent: an advisory lock makes the first process apply it and the others
  find it there). The tables (``procrastinate_jobs``, ``procrastinate_workers``, ...) live beside the archive's.
- :class:`ProcrastinateWorkQueue` is the hub's ``WorkQueue`` (``server/portability_work.py``): ``defer(step, arg,
  delay_s)`` inserts one job of the task :data:`TASK_NAME` with ``scheduled_at`` for the delay. The job's
  *queueing lock* is ``step:arg``, so a step waits in the queue at most once (asked again sooner, the waiting job
  is moved earlier, as ``LocalWorkQueue`` does); its *lock* is the same, so two runs of one step never overlap.
- The one task calls ``run_step(step, arg)`` of the process's hub (given to the worker as procrastinate's
  ``additional_context``), for every step name alike: the hub knows the steps, the queue only carries them. A step
  that raises is queued again after ``step_retry_s`` through the same queue (not by procrastinate's retry, which
  would collide with a twin the step queued meanwhile under the same queueing lock).
- :meth:`PortabilityJobs.run_worker` runs the worker until SIGTERM/SIGINT (a clean stop waits for the running steps,
  then cancels them; a cancelled step is queued again, and resumes from the state the hub stored).

**A worker killed outright (SIGKILL, a lost machine) loses nothing.** procrastinate 3 records each worker in
``procrastinate_workers`` with a heartbeat (every ``heartbeat_s``) and each running job's ``worker_id``; a worker
silent for ``stall_timeout_s`` is dead. It does not retry their jobs by itself: every worker here runs
:class:`StalledJobSweeper`, which every ``stall_check_s`` prunes dead workers and puts their ``doing`` jobs back to
``todo`` (procrastinate's ``get_stalled_jobs`` + ``retry_job``), one sweeper at a time (a PostgreSQL advisory lock:
two sweepers must not both retry a job that a live worker picked up in between); a dead job whose step is already
queued again is ended instead, which frees the twin. The retried step runs again from
the stored state; the hub's steps are idempotent, so a step that had half-imported a file imports the rest, once.
The timeout must stay well above the heartbeat interval (a worker whose event loop is busy for a while is late, not
dead): the defaults are a heartbeat every 10 s and dead after 60 s; tests use seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ringvault.archive.store.engine import DATABASE_URL_ENV, normalize_url, redacted_url

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.job_context import JobContext

__all__ = [
    "QUEUE",
    "TASK_NAME",
    "PortabilityJobs",
    "ProcrastinateWorkQueue",
    "StalledJobSweeper",
    "StepRunner",
    "WorkerSettings",
    "conninfo",
    "create_app",
    "open_jobs",
]

log = logging.getLogger("ringvault.server.portability.jobs")

#: The procrastinate queue of the Data Portability steps (a worker listens to it alone).
QUEUE = "ringvault_portability"
#: The one task: ``run_step(step, arg)``.
TASK_NAME = "ringvault.portability.step"
#: Advisory lock keys (arbitrary constants of ours): applying procrastinate's schema; sweeping stalled jobs.
SCHEMA_LOCK_KEY = 0x5256534348  # "RVSCH"
SWEEP_LOCK_KEY = 0x5256535750  # "RVSWP"
#: The keys of ``additional_context`` that hold the worker process's ``run_step`` and work queue.
RUN_STEP_KEY = "ringvault_run_step"
QUEUE_KEY = "ringvault_queue"

StepRunner = Callable[[Any, str], Awaitable[None]]
"""``PortabilityHub.run_step(step, arg)``: runs one step to completion against the stored state."""


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs (``ringvault worker`` options and ``RINGVAULT_WORKER_*`` variables).

    ``concurrency``: steps run at once by this process. ``heartbeat_s``: how often it tells the database it is
    alive. ``stall_timeout_s``: how long a silent worker has before its jobs are retried elsewhere (keep it several
    heartbeats long). ``stall_check_s``: how often to look for such jobs. ``poll_s``: how often to look for jobs
    that became due (new jobs wake the worker at once through LISTEN/NOTIFY). ``shutdown_timeout_s``: how long a
    clean stop waits for running steps before cancelling them (they are queued again). ``step_retry_s``: when a
    step that raised (a bug, the database away) runs again."""

    concurrency: int = 4
    heartbeat_s: float = 10.0
    stall_timeout_s: float = 60.0
    stall_check_s: float = 15.0
    poll_s: float = 5.0
    shutdown_timeout_s: float = 30.0
    step_retry_s: float = 60.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("the worker's concurrency must be at least 1")
        for name in ("heartbeat_s", "stall_timeout_s", "stall_check_s", "poll_s", "step_retry_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"the worker's {name} must be positive")
        if self.shutdown_timeout_s < 0:
            raise ValueError("the worker's shutdown_timeout_s cannot be negative")
        if self.stall_timeout_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"a worker is declared dead after {self.stall_timeout_s:g} s without a heartbeat, but sends one every "
                f"{self.heartbeat_s:g} s: make the timeout at least twice the heartbeat interval"
            )

    @classmethod
    def from_env(cls, *, concurrency: int | None = None) -> WorkerSettings:
        """The defaults, overridden by ``RINGVAULT_WORKER_HEARTBEAT_S``, ``_STALL_TIMEOUT_S``, ``_STALL_CHECK_S``,
        ``_POLL_S``, ``_SHUTDOWN_TIMEOUT_S``, ``_STEP_RETRY_S`` (seconds) and ``concurrency``. Raises
        ``ValueError`` (one line)."""
        values: dict[str, Any] = {}
        for name in ("heartbeat_s", "stall_timeout_s", "stall_check_s", "poll_s", "shutdown_timeout_s", "step_retry_s"):
            variable = f"RINGVAULT_WORKER_{name.upper()}"
            raw = os.environ.get(variable, "").strip()
            if raw:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"{variable}={raw!r} is not a number of seconds") from None
        if concurrency is not None:
            values["concurrency"] = concurrency
        return cls(**values)


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL (procrastinate talks psycopg
    directly). Raises ``ArchiveDatabaseError`` for anything but PostgreSQL."""
    from ringvault.archive.store.engine import ArchiveDatabaseError

    url = normalize_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ArchiveDatabaseError(
            f"the Data Portability jobs need PostgreSQL: set {DATABASE_URL_ENV}=postgresql+psycopg://... "
            "(with SQLite, `ringvault serve` runs the steps itself)"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_app(database_url: str) -> procrastinate.App:
    """A procrastinate ``App`` on the database (not opened) with the step task registered."""
    import procrastinate

    from ringvault.transport.redaction import install_log_redaction, register_secret

    url = normalize_url(database_url)
    register_secret(url.password if isinstance(url.password, str) else None)
    install_log_redaction("procrastinate", "psycopg")  # their messages may quote a connection string
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url), min_size=1, max_size=10, kwargs={"application_name": "ringvault-worker"}
    )
    app = procrastinate.App(connector=connector)
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True)(_run_step_job)
    return app


async def _run_step_job(context: JobContext, step: str, arg: str) -> None:
    """The task: the process's hub runs the step (``step`` is passed as stored: the hub checks it).

    The step is queued again (never retried by procrastinate: a retry would collide with a twin the step may have
    queued meanwhile, under the same queueing lock) when it raises (a bug, or the database went away: after
    ``step_retry_s``) or when the worker's clean stop cancels it (at once, for another worker)."""
    run_step: StepRunner | None = context.additional_context.get(RUN_STEP_KEY)
    queue: ProcrastinateWorkQueue | None = context.additional_context.get(QUEUE_KEY)
    if run_step is None or queue is None:  # a worker started by something else than ringvault
        raise RuntimeError("this procrastinate worker has no Data Portability hub (start it with `ringvault worker`)")
    try:
        await run_step(step, arg)
    except asyncio.CancelledError:
        log.info("Data Portability step %s %s stopped with the worker; queued again", step, arg)
        await asyncio.shield(queue.defer(step, arg))
        raise
    except Exception:
        log.exception("Data Portability step %s %s failed; queued again in %g s", step, arg, queue.retry_s)
        await queue.defer(step, arg, delay_s=queue.retry_s)
        raise


class PortabilityJobs:
    """procrastinate on the archive's PostgreSQL: the ``app``, its schema, the hub's queue, and workers. Use
    :func:`open_jobs` (or ``open()``/``aclose()``)."""

    def __init__(self, database_url: str) -> None:
        self.conninfo = conninfo(database_url)
        self.app = create_app(database_url)
        self.label = redacted_url(database_url)
        self._opened = False

    async def open(self) -> None:
        """Open the app's connection pool and apply the schema when missing."""
        await self.app.open_async()
        self._opened = True
        await self.apply_schema()

    async def aclose(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()

    async def apply_schema(self) -> bool:
        """Create procrastinate's tables when the database has none; True when this call created them. Safe when
        several processes start at once: they take turns on an advisory lock, and all but the first find them."""
        import psycopg

        schema_sql = self.app.schema_manager.get_schema()
        async with await psycopg.AsyncConnection.connect(self.conninfo) as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
            if found is not None and found[0]:
                return False
            await conn.execute(schema_sql.encode())  # procrastinate's own SQL text, no parameters
        log.info("applied procrastinate's schema to the archive database")
        return True

    def work_queue(self, *, retry_s: float = 60.0) -> ProcrastinateWorkQueue:
        """The hub's ``WorkQueue`` on these jobs (``retry_s``: when a step that raised runs again)."""
        return ProcrastinateWorkQueue(self.app, retry_s=retry_s)

    async def run_worker(
        self,
        run_step: StepRunner,
        settings: WorkerSettings,
        *,
        queue: ProcrastinateWorkQueue | None = None,
        name: str | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        """Run the queued steps with ``run_step`` until stopped (SIGTERM/SIGINT when ``install_signal_handlers``,
        else by cancelling this coroutine), sweeping stalled jobs meanwhile. ``queue``: the hub's (a step that
        fails is queued again through it)."""
        queue = queue or self.work_queue(retry_s=settings.step_retry_s)
        sweeper = StalledJobSweeper(self, settings)
        sweeping = asyncio.get_running_loop().create_task(sweeper.run(), name="dp-stall-sweeper")
        try:
            await self.app.run_worker_async(
                queues=[QUEUE],
                name=name or f"ringvault-{os.getpid()}",
                concurrency=settings.concurrency,
                fetch_job_polling_interval=settings.poll_s,
                abort_job_polling_interval=max(settings.poll_s, 5.0),
                update_heartbeat_interval=settings.heartbeat_s,
                stalled_worker_timeout=settings.stall_timeout_s,
                shutdown_graceful_timeout=settings.shutdown_timeout_s,
                install_signal_handlers=install_signal_handlers,
                additional_context={RUN_STEP_KEY: run_step, QUEUE_KEY: queue},
                delete_jobs="successful",
            )
        finally:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping


@contextlib.asynccontextmanager
async def open_jobs(database_url: str) -> AsyncIterator[PortabilityJobs]:
    """:class:`PortabilityJobs` on ``database_url``, opened with its schema applied; closed on exit."""
    jobs = PortabilityJobs(database_url)
    try:
        await jobs.open()
        yield jobs
    finally:
        await jobs.aclose()


class ProcrastinateWorkQueue:
    """The hub's ``WorkQueue`` on procrastinate (see the module docstring). ``app`` must be open while steps are
    deferred; the queue does not close it."""

    def __init__(
        self, app: procrastinate.App, *, retry_s: float = 60.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.app = app
        self.retry_s = retry_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._closed = False

    async def defer(self, step: Any, arg: str, *, delay_s: float = 0.0) -> None:
        """Queue ``run_step(step, arg)`` to run in ``delay_s`` seconds (at once when 0); a step already waiting is
        kept once, at the earlier of the two times."""
        from procrastinate.exceptions import AlreadyEnqueued

        if self._closed:
            return
        key = f"{step}:{arg}"
        at = self._clock() + timedelta(seconds=delay_s) if delay_s > 0 else None
        task = self.app.tasks[TASK_NAME]
        try:
            await task.configure(lock=key, queueing_lock=key, queue=QUEUE, schedule_at=at).defer_async(
                step=str(step), arg=arg
            )
        except AlreadyEnqueued:
            await self._sooner(key, at)

    async def _sooner(self, key: str, at: datetime | None) -> None:
        """Move the waiting job of ``key`` to ``at`` when that is earlier (None: now)."""
        await self.app.connector.execute_query_async(
            """UPDATE procrastinate_jobs SET scheduled_at = %(at)s
                WHERE queueing_lock = %(key)s AND status = 'todo'
                  AND scheduled_at IS NOT NULL AND (%(at)s::timestamptz IS NULL OR scheduled_at > %(at)s)""",
            key=key,
            at=at,
        )

    async def aclose(self) -> None:
        self._closed = True


class StalledJobSweeper:
    """Puts the jobs of dead workers back in the queue (see the module docstring); one per worker process."""

    def __init__(self, jobs: PortabilityJobs, settings: WorkerSettings) -> None:
        self.jobs = jobs
        self.settings = settings
        self.retried = 0

    async def sweep(self) -> list[int]:
        """One round: the ids of the jobs put back (none when another process is sweeping right now)."""
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.jobs.conninfo, autocommit=True) as lock_conn:
            got = await (await lock_conn.execute(f"SELECT pg_try_advisory_lock({SWEEP_LOCK_KEY})")).fetchone()
            if got is None or not got[0]:
                return []
            try:
                return await self._retry_stalled()
            finally:
                await lock_conn.execute(f"SELECT pg_advisory_unlock({SWEEP_LOCK_KEY})")

    async def _retry_stalled(self) -> list[int]:
        from procrastinate.jobs import Status

        manager = self.jobs.app.job_manager
        timeout = self.settings.stall_timeout_s
        await manager.prune_stalled_workers(timeout)
        retried: list[int] = []
        for job in await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=timeout):
            assert job.id is not None
            try:
                await manager.retry_job(job)
            except Exception as exc:
                if not _queueing_lock_taken(exc):  # finished or retried meanwhile: nothing to do
                    log.debug("stalled job %s was not retried: %s", job.id, exc)
                    continue
                # The same step waits in the queue already (queued while this one ran): that twin runs it; this
                # one ends, and with it the lock that kept the twin waiting.
                await manager.finish_job_by_id_async(job.id, status=Status.ABORTED, delete_job=False)
            retried.append(job.id)
            log.warning(
                "Data Portability step %s %s was running on a worker that stopped answering; it is queued again",
                job.task_kwargs.get("step"), job.task_kwargs.get("arg"),
            )  # fmt: skip
        self.retried += len(retried)
        return retried

    async def run(self) -> None:
        """Sweep every ``stall_check_s`` until cancelled (a failed round is logged and tried again)."""
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the database restarting must not stop the worker
                log.warning("could not look for stalled Data Portability jobs: %s", exc)
            await asyncio.sleep(self.settings.stall_check_s)


def _queueing_lock_taken(exc: BaseException) -> bool:
    """Whether ``exc`` (procrastinate wraps the driver's error) is the unique queueing-lock index refusing a job."""
    import psycopg.errors

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, psycopg.errors.UniqueViolation):
            return True
        cause = cause.__cause__
    return False
