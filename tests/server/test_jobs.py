"""The job queue on its own: one sync at a time, FIFO, identical queued requests merged, a bounded queue, errors."""

from __future__ import annotations

import asyncio

import pytest

from ringvault.archive.sync import ProgressCallback, SyncOptions, SyncProgress, SyncSummary
from ringvault.cloud.errors import TokenRevokedError
from ringvault.server.jobs import JobManager, JobState, QueueFullError


class Runner:
    """A sync stand-in that runs only when the test releases it, and records the order of runs."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    async def __call__(self, options: SyncOptions, progress: ProgressCallback) -> SyncSummary:
        name = (options.devices or ["all"])[0]
        self.started.append(name)
        progress(SyncProgress(phase="history", done=0, total=1, message=name))
        gate = self.release.setdefault(name, asyncio.Event())
        await gate.wait()
        if name == "revoked":
            raise TokenRevokedError("Ring no longer accepts the stored refresh token")
        if name == "bug":
            raise ValueError("something unexpected")
        return SyncSummary(downloaded=len(name))

    def let(self, name: str) -> None:
        self.release.setdefault(name, asyncio.Event()).set()


def _submit(jobs: JobManager, name: str) -> tuple[str, bool]:
    job, created = jobs.submit(SyncOptions(devices=[name]))
    return job.id, created


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_at_a_time_fifo_merge_and_bound() -> None:
    runner = Runner()
    jobs = JobManager(runner, max_queued=2)

    def submit(name: str) -> tuple[str, bool]:
        return _submit(jobs, name)

    first, _ = submit("a")
    await _settle()
    assert jobs.get(first) is not None and jobs.get(first).state is JobState.RUNNING  # type: ignore[union-attr]
    second, created = submit("bb")
    assert created
    same, created_again = submit("bb")
    assert (same, created_again) == (second, False)
    third, _ = submit("ccc")
    with pytest.raises(QueueFullError):
        submit("dddd")
    await _settle()
    job2, job3 = jobs.get(second), jobs.get(third)
    assert job2 is not None and job3 is not None
    assert (job2.state, job3.state) == (JobState.QUEUED, JobState.QUEUED)
    assert (jobs.queue_position(job2), jobs.queue_position(job3)) == (1, 2)
    assert runner.started == ["a"]

    # The connector waits for the lock like a job: it runs after everything queued before it.
    order: list[str] = []

    async def connector() -> None:
        async with jobs.exclusive():
            order.append("connector")

    waiting = asyncio.create_task(connector())
    runner.let("ccc")
    runner.let("a")
    await _settle()
    assert runner.started == ["a", "bb"] and order == []
    runner.let("bb")
    await asyncio.wait_for(waiting, 5)
    assert runner.started == ["a", "bb", "ccc"] and order == ["connector"]
    for job_id, name in ((first, "a"), (second, "bb"), (third, "ccc")):
        job = jobs.get(job_id)
        assert job is not None and job.state is JobState.DONE and job.summary is not None
        assert job.summary.downloaded == len(name) and job.error is None
        assert job.progress is not None and job.progress.message == name
    await jobs.shutdown()


async def test_failures_become_one_line_errors() -> None:
    runner = Runner()
    jobs = JobManager(runner)
    revoked, _ = _submit(jobs, "revoked")
    bug, _ = _submit(jobs, "bug")
    runner.let("revoked")
    runner.let("bug")
    for _ in range(50):
        await asyncio.sleep(0)
        if all(jobs.get(i).finished for i in (revoked, bug)):  # type: ignore[union-attr]
            break
    failed_auth, failed_bug = jobs.get(revoked), jobs.get(bug)
    assert failed_auth is not None and failed_bug is not None
    assert failed_auth.state is JobState.FAILED and failed_auth.summary is None
    assert failed_auth.error is not None and "ringvault login" in failed_auth.error
    assert failed_bug.state is JobState.FAILED and failed_bug.error == "ValueError: something unexpected"
    await jobs.shutdown()


async def test_shutdown_cancels_running_and_queued_jobs() -> None:
    runner = Runner()
    jobs = JobManager(runner)
    running, _ = _submit(jobs, "slow")
    queued, _ = _submit(jobs, "later")
    await _settle()
    await jobs.shutdown()
    for job_id in (running, queued):
        job = jobs.get(job_id)
        assert job is not None and job.state is JobState.FAILED and job.finished_at is not None
        assert job.error == "the server stopped before the job finished"
    assert runner.started == ["slow"]


async def test_finished_jobs_are_forgotten_beyond_keep() -> None:
    runner = Runner()
    jobs = JobManager(runner, keep=2)
    ids = []
    for name in ("j1", "j2", "j3", "j4"):
        runner.let(name)
        job_id, _ = _submit(jobs, name)
        ids.append(job_id)
        for _ in range(10):
            await asyncio.sleep(0)
    _submit(jobs, "j5")
    known = {job.id for job in jobs.all()}
    assert ids[0] not in known and ids[1] not in known and {ids[2], ids[3]} <= known
    await jobs.shutdown()
