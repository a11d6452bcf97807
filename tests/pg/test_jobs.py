"""procrastinate jobs on a real PostgreSQL (``server/portability_jobs.py``): the schema applied once by processes
starting together, a step queued once (the earlier time wins), steps run by workers and queued again when they
fail or their worker stops cleanly, and a worker killed with SIGKILL mid-step losing nothing: its step runs again on
another worker and finishes exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ringvault.server.portability_jobs import (
    QUEUE,
    PortabilityJobs,
    ProcrastinateWorkQueue,
    WorkerSettings,
    conninfo,
    open_jobs,
)

ROOT = Path(__file__).resolve().parents[2]
#: Fast but not tight: heartbeats every 0.5 s, dead after 6 s of silence (12 missed heartbeats: a busy 2-core
#: machine delays a heartbeat by a second or two, never by six).
FAST = {
    "RINGVAULT_WORKER_HEARTBEAT_S": "0.5",
    "RINGVAULT_WORKER_STALL_TIMEOUT_S": "6",
    "RINGVAULT_WORKER_STALL_CHECK_S": "1",
    "RINGVAULT_WORKER_POLL_S": "0.5",
    "RINGVAULT_WORKER_SHUTDOWN_TIMEOUT_S": "2",
    "RINGVAULT_WORKER_STEP_RETRY_S": "1",
}


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]  # test SQL, no user input


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def test_processes_starting_together_apply_the_schema_once(pg_url: str) -> None:
    async def start_three() -> list[bool]:
        apps = [PortabilityJobs(pg_url) for _ in range(3)]
        try:
            for jobs in apps:
                await jobs.app.open_async()
            return list(await asyncio.gather(*(jobs.apply_schema() for jobs in apps)))
        finally:
            for jobs in apps:
                await jobs.app.close_async()

    assert sorted(asyncio.run(start_three())) == [False, False, True]
    assert rows(pg_url, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL") == [(True,)]

    async def again() -> bool:
        async with open_jobs(pg_url) as jobs:
            return await jobs.apply_schema()

    assert asyncio.run(again()) is False


def test_a_step_waits_in_the_queue_once_and_the_earlier_time_wins(pg_url: str) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)

    async def scenario() -> None:
        async with open_jobs(pg_url) as jobs:
            queue = ProcrastinateWorkQueue(jobs.app, clock=lambda: now)
            await queue.defer("check", "q1", delay_s=3600)
            await queue.defer("check", "q1", delay_s=7200)  # later: the waiting job keeps its time
            await queue.defer("check", "q1", delay_s=60)  # sooner: the waiting job moves
            await queue.defer("import", "q1")
            await queue.defer("import", "q1")
            await queue.aclose()
            await queue.defer("export", "7")  # a closed queue takes nothing

    asyncio.run(scenario())
    found = rows(
        pg_url,
        "SELECT args->>'step', args->>'arg', scheduled_at, lock, queueing_lock, queue_name FROM procrastinate_jobs "
        "ORDER BY id",
    )
    assert found == [
        ("check", "q1", now + timedelta(seconds=60), "check:q1", "check:q1", QUEUE),
        ("import", "q1", None, "import:q1", "import:q1", QUEUE),
    ]


def test_a_worker_runs_every_step_and_queues_a_failed_one_again(pg_url: str) -> None:
    """In-process worker: each deferred step runs once with its arguments; a step that raises runs again after
    ``step_retry_s`` (it is never dropped); cancelling the worker stops it."""
    ran: list[tuple[str, str]] = []
    fail_once = {"export:9"}
    six = asyncio.Event()

    async def run_step(step: str, arg: str) -> None:
        ran.append((step, arg))
        if len(ran) >= 6:
            six.set()
        if f"{step}:{arg}" in fail_once:
            fail_once.discard(f"{step}:{arg}")
            raise RuntimeError("a bug the first time")

    settings = WorkerSettings(concurrency=2, heartbeat_s=0.5, stall_timeout_s=6, poll_s=0.3, step_retry_s=0.5)

    async def scenario() -> None:
        async with open_jobs(pg_url) as jobs:
            queue = jobs.work_queue(retry_s=settings.step_retry_s)
            for step, arg in [("export", "1"), ("check", "q-2"), ("import", "q-3"), ("export", "9"), ("recur", "4")]:
                await queue.defer(step, arg)
            worker = asyncio.create_task(
                jobs.run_worker(run_step, settings, queue=queue, install_signal_handlers=False)
            )
            await asyncio.wait_for(six.wait(), timeout=120)
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker

    asyncio.run(scenario())
    assert sorted(ran) == sorted(
        [("export", "1"), ("check", "q-2"), ("import", "q-3"), ("export", "9"), ("export", "9"), ("recur", "4")]
    )
    statuses = rows(pg_url, "SELECT args->>'step', args->>'arg', status::text FROM procrastinate_jobs")
    assert statuses == [("export", "9", "failed")]  # the run that raised; its requeued twin succeeded (and went)


class Worker:
    """A ``tests.pg.step_worker`` process (its output in a file), stopped by its PID."""

    def __init__(self, url: str, workdir: Path, name: str, env: dict[str, str]) -> None:
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "tests.pg.step_worker", url],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_until(f"{name} to start", lambda: "ready" in self.output() or self.popen.poll() is not None, 60)
        assert self.popen.poll() is None, self.output()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)
        return self.popen.returncode


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []
    env = {**os.environ, **FAST, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}

    def start(url: str, name: str, **extra: str) -> Worker:
        worker = Worker(url, tmp_path, name, {**env, **extra})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


def _log(url: str, step: str) -> list[tuple[str, int]]:
    return [
        (str(what), int(pid))
        for what, pid in rows(url, "SELECT what, pid FROM step_log WHERE step = %s ORDER BY id", step)
    ]


def test_a_worker_killed_mid_step_loses_nothing(pg_url: str, workers: Callable[..., Worker]) -> None:
    """Worker A takes the slow step and is SIGKILLed in the middle; worker B finds A silent past the stall
    timeout, queues the step again and runs it: the step finishes exactly once, on B."""

    async def defer() -> None:
        async with open_jobs(pg_url) as jobs:
            await jobs.work_queue().defer("slow", "q-1")

    first = workers(pg_url, "a", SLOW_STEP_S="3600")
    asyncio.run(defer())
    wait_until("worker A to start the step", lambda: ("started", first.pid) in _log(pg_url, "slow"))
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    second = workers(pg_url, "b", SLOW_STEP_S="0.5")
    wait_until("the step to finish on worker B", lambda: ("finished", second.pid) in _log(pg_url, "slow"), 180)
    assert _log(pg_url, "slow") == [("started", first.pid), ("started", second.pid), ("finished", second.pid)]
    assert "queued again" in second.output()
    assert rows(pg_url, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')") == [(0,)]
    assert second.stop() == 0 and "stopped" in second.output()


def test_a_clean_stop_queues_the_running_step_for_another_worker(pg_url: str, workers: Callable[..., Worker]) -> None:
    """SIGTERM: the worker waits ``shutdown_timeout_s`` for its step, then cancels it and queues it again; it
    exits 0, and the next worker runs the step to the end."""

    async def defer() -> None:
        async with open_jobs(pg_url) as jobs:
            await jobs.work_queue().defer("slow", "q-2")

    first = workers(pg_url, "a", SLOW_STEP_S="3600")
    asyncio.run(defer())
    wait_until("worker A to start the step", lambda: ("started", first.pid) in _log(pg_url, "slow"))
    assert first.stop(signal.SIGTERM) == 0, first.output()
    second = workers(pg_url, "b", SLOW_STEP_S="0.5")
    wait_until("the step to finish on worker B", lambda: ("finished", second.pid) in _log(pg_url, "slow"), 120)
    assert [what for what, _ in _log(pg_url, "slow")] == ["started", "started", "finished"]
