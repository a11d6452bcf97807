"""Where the Data Portability hub puts its next steps: the ``WorkQueue`` protocol and the in-process queue.

The hub's work for a customer is a chain of **steps**, each run to completion against the database state by
``PortabilityHub.run_step(step, arg)``:

==========  ==============  ===================================================================================
step        arg             what it does
==========  ==============  ===================================================================================
``export``  grant id        createDataQuery for the customer when the app's create budget allows (or wait for it)
``check``   query id        one records call: is the ``created`` query COMPLETED yet? (a notification's proof, or
                            the poll when none came)
``import``  query id        list → download → import a COMPLETED query
==========  ==============  ===================================================================================

Each step is idempotent and safe to run twice, or at once in two processes: it takes the customer's lock (the store
provides it: an in-process lock on SQLite, a PostgreSQL advisory lock), reads the stored state, does nothing when the
state says the step is no longer due, and moves the state on with conditional updates. It schedules its own
follow-ups through the ``WorkQueue`` the hub was built with, so where the steps run is the queue's business:

- :class:`LocalWorkQueue`: asyncio tasks in the ``ringvault serve`` process (SQLite, one process);
- ``ProcrastinateWorkQueue`` (``server/portability_jobs.py``): procrastinate jobs on PostgreSQL, run by any number of
  ``ringvault worker`` processes; its task calls ``hub.run_step(step, arg)`` for every ``Step`` generically.

A queue may run a step more often than asked (a duplicate, a retry after a crash) but must not lose one it accepted
while it runs; what a queue loses when its process dies (``LocalWorkQueue``'s delayed tasks) the hub puts back at
start-up from the schedule stored in the database (``portability_schedule``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

__all__ = ["STEPS", "LocalWorkQueue", "Step", "StepRunner", "WorkQueue", "check_step"]

log = logging.getLogger("ringvault.server.portability")

Step = Literal["export", "check", "import"]
#: every step, in the order of a query's life
STEPS: tuple[Step, ...] = get_args(Step)

StepRunner = Callable[[Step, str], Awaitable[None]]
"""``PortabilityHub.run_step``: runs one step to completion (never raises for a customer's failure)."""


def check_step(step: str) -> Step:
    """``step`` as a :data:`Step` (``ValueError`` for anything else: a job queue may hold names of a newer version)."""
    for known in STEPS:
        if step == known:
            return known
    raise ValueError(f"unknown Data Portability step {step!r}; one of {', '.join(STEPS)}")


class WorkQueue(Protocol):
    """Where the hub puts its next steps. In-process asyncio tasks for SQLite ``serve`` (:class:`LocalWorkQueue`);
    procrastinate jobs on PostgreSQL for ``ringvault worker`` processes (``ProcrastinateWorkQueue``)."""

    async def defer(self, step: Step, arg: str, *, delay_s: float = 0.0) -> None:
        """Run ``hub.run_step(step, arg)`` in ``delay_s`` seconds (at least once; maybe more often)."""
        ...

    async def aclose(self) -> None:
        """Stop running steps (a step cut short resumes from the stored state on the next start)."""
        ...


@dataclass
class _Pending:
    due: float
    task: asyncio.Task[None]


class LocalWorkQueue:
    """Steps as asyncio tasks of this process: each sleeps its delay, then runs; ``aclose()`` cancels them all.

    A step asked for again while it waits is kept once, at the earlier of the two times (a notification that comes
    while the poll waits makes the check due now). A step that is already running is not waited for: a new request
    schedules another run (the hub's steps find out from the database whether there is still something to do).
    """

    def __init__(self, run: StepRunner, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._run = run
        self._monotonic = monotonic
        self._pending: dict[tuple[Step, str], _Pending] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    async def defer(self, step: Step, arg: str, *, delay_s: float = 0.0) -> None:
        if self._closed:
            return
        key = (step, arg)
        due = self._monotonic() + max(0.0, delay_s)
        current = self._pending.get(key)
        if current is not None:
            if current.due <= due + 1e-3:
                return
            current.task.cancel()
        task = asyncio.get_running_loop().create_task(self._later(key, delay_s), name=f"dp-{step}-{arg}")
        self._pending[key] = _Pending(due, task)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _later(self, key: tuple[Step, str], delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        pending = self._pending.get(key)
        if pending is not None and pending.task is asyncio.current_task():
            del self._pending[key]  # from now on a new request schedules a new run
        try:
            await self._run(*key)
        except asyncio.CancelledError:
            raise
        except Exception:  # the hub stores a customer's failure itself; this is the last line of defence
            log.exception("Data Portability step %s %s failed", *key)

    def due(self) -> dict[tuple[Step, str], float]:
        """The waiting steps and the seconds until each runs (status and tests)."""
        now = self._monotonic()
        return {key: max(0.0, pending.due - now) for key, pending in self._pending.items()}

    @property
    def busy(self) -> int:
        """Steps waiting or running."""
        return len(self._running)

    async def aclose(self) -> None:
        self._closed = True
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pending.clear()
