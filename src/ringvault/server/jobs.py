"""Background sync jobs, run in the server's event loop, one at a time.

Policy (documented in docs/serve.md):

- **One sync at a time per archive.** Every sync the server starts (a ``POST /api/sync`` job or a seed-001
  connector call) holds :meth:`JobManager.exclusive`, a FIFO lock, so two runs never download the same recording
  or race on the watermark. Jobs wait their turn in state ``queued``; connector calls wait inside their request.
- **Queued, not refused.** A job submitted while another runs is queued. A request whose options are identical to
  those of one still queued returns that job instead of adding another (a poller calling every minute does not pile
  up work). Beyond ``max_queued`` waiting jobs a submission is refused (:class:`QueueFullError`, HTTP 409).
- Finished jobs are kept in memory (the last ``keep``) so ``GET /api/jobs/{id}`` can report them; a restart
  forgets them (the archive itself is the durable record). A job keeps only the normalized options it runs
  (:func:`describe`), never the request that asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ringvault.archive.sync import ProgressCallback, SyncOptions, SyncProgress, SyncSummary
from ringvault.cloud.errors import RingError

__all__ = ["Job", "JobManager", "JobState", "QueueFullError", "SyncRunner"]

log = logging.getLogger("ringvault.server")

SyncRunner = Callable[[SyncOptions, ProgressCallback], Awaitable[SyncSummary]]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class QueueFullError(Exception):
    """Too many sync jobs are already waiting."""


def _now() -> datetime:
    return datetime.now(UTC)


def describe(options: SyncOptions) -> dict[str, Any]:
    """What a job runs, as ``GET /api/jobs`` shows it (the body's field names, normalized values)."""
    return {
        "device": list(options.devices) if options.devices else None,
        "kind": list(options.kinds) if options.kinds else None,
        "since": options.since.isoformat() if options.since else None,
        "until": options.until.isoformat() if options.until else None,
        "metadata_only": options.metadata_only,
        "newest_first": not options.oldest_first,
        "retry_failed": options.retry_failed,
        "hub": options.hub and not options.devices,
    }


@dataclass
class Job:
    """One sync job: the options it runs, where it stands, and what it did."""

    id: str
    options: SyncOptions = field(repr=False)
    state: JobState = JobState.QUEUED
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: SyncProgress | None = None
    summary: SyncSummary | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    def to_json(self, queue_position: int | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "request": describe(self.options),
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "queue_position": queue_position,
            "progress": dataclasses.asdict(self.progress) if self.progress else None,
            "summary": dataclasses.asdict(self.summary) if self.summary else None,
            "error": self.error,
        }


class JobManager:
    """Runs sync jobs one at a time with ``runner`` (see the module docstring for the queueing policy)."""

    def __init__(self, runner: SyncRunner, *, max_queued: int = 8, keep: int = 100) -> None:
        self._runner = runner
        self._max_queued = max(1, max_queued)
        self._keep = max(1, keep)
        self._lock = asyncio.Lock()
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the archive's sync lock (FIFO) for a sync that is not a job (the connector)."""
        async with self._lock:
            yield

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def submit(self, options: SyncOptions) -> tuple[Job, bool]:
        """Queue a sync; returns ``(job, created)``. A queued job with identical options is returned as is
        (``created`` False). Raises :class:`QueueFullError` when ``max_queued`` jobs already wait."""
        queued = [job for job in self._jobs.values() if job.state is JobState.QUEUED]
        wanted = describe(options)
        for job in queued:
            if describe(job.options) == wanted:
                return job, False
        if len(queued) >= self._max_queued:
            raise QueueFullError(
                f"{len(queued)} sync jobs are already waiting; try again when one has finished (GET /api/jobs)"
            )
        job = Job(id=uuid.uuid4().hex, options=options)
        self._jobs[job.id] = job
        self._tasks[job.id] = asyncio.create_task(self._run(job), name=f"ringvault-sync-{job.id}")
        self._forget_old()
        return job, True

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every known job, newest first."""
        return sorted(self._jobs.values(), key=lambda job: job.created_at, reverse=True)

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to run, ...; ``None`` unless queued."""
        if job.state is not JobState.QUEUED:
            return None
        ahead = [j for j in self._jobs.values() if j.state is JobState.QUEUED and j.created_at <= job.created_at]
        return len(ahead)

    async def _run(self, job: Job) -> None:
        def progress(event: SyncProgress) -> None:
            job.progress = event

        try:
            async with self._lock:
                job.state = JobState.RUNNING
                job.started_at = _now()
                try:
                    job.summary = await self._runner(job.options, progress)
                except RingError as exc:
                    job.error = exc.one_line
                except Exception as exc:  # a job must never take the server down; say what happened instead
                    log.exception("sync job %s failed", job.id)
                    job.error = f"{type(exc).__name__}: {exc}"
                job.state = JobState.FAILED if job.error else JobState.DONE
        except asyncio.CancelledError:
            job.state = JobState.FAILED
            job.error = "the server stopped before the job finished"
            raise
        finally:
            job.finished_at = _now()
            self._tasks.pop(job.id, None)

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.created_at)
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]

    async def shutdown(self) -> None:
        """Cancel queued and running jobs (the archive stays consistent: files are atomic, rows transactional)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
