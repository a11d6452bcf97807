"""The many-customers burst on PostgreSQL with separate workers, shared by ``tests/pg/test_workers_many.py`` (which
asserts on it) and ``bench/portability_workers.py`` (which reports its timings).

``ringvault serve`` runs as a process of its own with its in-process worker off (``RINGVAULT_PORTABILITY_WORKER=0``):
it takes the customers' logins and Ring's notifications and queues the steps. ``workers`` ``ringvault worker``
processes run them, each with an archive directory of its own (as on machines of their own; the token directory is
shared). The simulator (in the caller's process) counts the limits per app, with the 20-minute create window and the
one-hour listing window scaled down (``window_s``, ``listing_window_s``); ringvault is told the same windows through
``RINGVAULT_PORTABILITY_CREATE_WINDOW`` / ``_LISTING_WINDOW``.

The customers connect in one burst (``BROWSERS`` at a time, through ``/portability/connect`` and the simulator's
consent page). With ``kill``, a watcher waits until a worker is in the middle of an import — its log says it started
the import step and has not finished it, the query is ``listed`` or ``downloaded``, its job is ``doing``, the
customer's schedule says ``importing`` — SIGKILLs that worker (only when none of its jobs is an export: a create in
flight would be lost with it, which is another story), checks that the query is still not imported, and restarts
it. procrastinate's heartbeats tell the other workers that the killed one is gone; one of them queues its job again.
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.pg.processes import Serve, Worker, free_port, portability_env, rows, wait_until
from tests.server.portability_helpers import connect, customers, notify_here, sim_call

BROWSERS = 8
IMPORTING = ("notified", "listed", "downloaded")
#: a running import step of a worker that runs no export: a candidate to kill
_CANDIDATES = """
SELECT q.id, q.grant_id, q.state, j.worker_id
  FROM portability_queries q
  JOIN portability_schedule s ON s.grant_id = q.grant_id AND s.step = 'import' AND s.arg = q.id
                             AND s.reason = 'importing' AND s.running_since IS NOT NULL
  JOIN procrastinate_jobs j ON j.lock = 'import:' || q.id AND j.status = 'doing'
 WHERE q.id = ANY(%s) AND q.state IN ('listed', 'downloaded')
   AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs e
                    WHERE e.worker_id = j.worker_id AND e.status = 'doing' AND e.args->>'step' = 'export')
"""


@dataclass
class Kill:
    """The SIGKILL of a worker in the middle of an import."""

    pid: int
    log: str
    query_id: str
    grant_id: int
    state: str
    at: datetime
    attempts: int
    #: the import step running again (on another process); the query imported
    back_at: datetime | None = None
    imported_at: datetime | None = None


@dataclass
class Burst:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    connects_s: float = 0.0
    wall_s: float = 0.0
    kill: Kill | None = None
    kill_error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    #: the simulator's queries: id → created_at (its clock, epoch seconds)
    sim_queries: dict[str, float] = field(default_factory=dict)
    #: exit codes and outputs of the clean stops (SIGTERM)
    stops: list[tuple[str, int, str]] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    killed: list[Worker] = field(default_factory=list)


class Cluster:
    """serve and its workers; ``close()`` stops whatever still runs (by PID)."""

    def __init__(self, sim_url: str, database_url: str, workdir: Path, **settings: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        port = free_port()
        self.env = portability_env(sim_url=sim_url, database_url=database_url, home=workdir / "home", port=port,
                                   **settings)  # fmt: skip
        self.serve = Serve({**self.env, "RINGVAULT_PORTABILITY_WORKER": "0"}, port, workdir / "serve-archive",
                           workdir / "serve.log")  # fmt: skip
        self.workers: list[Worker] = []
        self.killed: list[Worker] = []
        self._started = 0

    def start_worker(self, archive: Path | None = None) -> Worker:
        self._started += 1
        worker = Worker(self.env, archive or self.workdir / f"worker-{self._started}",
                        self.workdir / f"worker-{self._started}.log")  # fmt: skip
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for process in [*self.workers, self.serve]:
            process.stop(timeout_s=30)


def _now() -> datetime:
    return datetime.now(UTC)


class Killer(threading.Thread):
    """Kills one worker in the middle of an import, restarts it, and follows the import until it is done."""

    def __init__(self, cluster: Cluster, timeout_s: float) -> None:
        super().__init__(name="killer", daemon=True)
        self.cluster = cluster
        self.timeout_s = timeout_s
        self.kill: Kill | None = None
        self.error: str | None = None
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the test
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        url = self.cluster.database_url
        deadline = time.monotonic() + self.timeout_s
        attempts = 0
        while self.kill is None:
            if self.stop_event.is_set() or time.monotonic() > deadline:
                self.error = f"no import was caught running in {attempts} attempt(s)"
                return
            for worker in list(self.cluster.workers):
                running = worker.running("import") if worker.alive else set()
                found = rows(url, _CANDIDATES, sorted(running)) if running else []
                if not found:
                    continue
                query_id, grant_id, state, _worker_id = found[0]
                attempts += 1
                worker.kill()
                at = _now()
                (after,) = rows(url, "SELECT state FROM portability_queries WHERE id = %s", query_id)
                self.cluster.workers.remove(worker)
                self.cluster.killed.append(worker)
                self.cluster.start_worker(worker.archive)  # restarted at once, as a supervisor would
                if after[0] in IMPORTING:
                    self.kill = Kill(worker.pid, worker.output(), query_id, grant_id, state, at, attempts)
                break  # imported just before the kill: try again with another one
            time.sleep(0.1)
        self._follow(self.kill, deadline)

    def _follow(self, kill: Kill, deadline: float) -> None:
        url = self.cluster.database_url
        while time.monotonic() < deadline and kill.imported_at is None and not self.stop_event.is_set():
            ((running_since, state, imported_at),) = rows(
                url,
                "SELECT s.running_since, q.state, q.imported_at FROM portability_schedule s "
                "JOIN portability_queries q ON q.grant_id = s.grant_id AND q.id = %s WHERE s.grant_id = %s",
                kill.query_id, kill.grant_id,
            )  # fmt: skip
            if kill.back_at is None and running_since is not None and running_since > kill.at:
                kill.back_at = running_since
            if state == "imported":
                kill.imported_at = imported_at
            time.sleep(0.1)


def _connect_all(serve: Serve, people: list[dict[str, Any]]) -> None:
    def one(person: dict[str, Any]) -> None:
        key = person["email"].split("@")[0]
        answer = connect(serve, email=person["email"], password=person["password"], history="5d", customer=key)
        assert answer.status_code == 200, answer.text

    with ThreadPoolExecutor(BROWSERS) as pool:
        list(pool.map(one, people))


def _imported(url: str) -> int:
    ((count,),) = rows(url, "SELECT count(DISTINCT grant_id) FROM portability_queries WHERE state = 'imported'")
    return int(count)


def run_burst(
    sim: Any,
    database_url: str,
    workdir: Path,
    *,
    count: int = 100,
    workers: int = 3,
    kill: bool = True,
    window_s: float = 3.0,
    listing_window_s: float = 60.0,
    imports: int = 4,
    timeout_s: float = 900.0,
) -> Burst:
    """Run the burst (see the module docstring); every process is stopped on the way out, whatever happens."""
    cluster = Cluster(
        sim.url, database_url, workdir,
        RINGVAULT_PORTABILITY_MAX_IMPORTS=str(imports),
        RINGVAULT_PORTABILITY_CREATE_WINDOW=f"{window_s:g}s",
        RINGVAULT_PORTABILITY_LISTING_WINDOW=f"{listing_window_s:g}s",
        RINGVAULT_PORTABILITY_POLL_AFTER_S="10",
    )  # fmt: skip
    burst = Burst()
    killer: Killer | None = None
    try:
        cluster.serve.wait_ready()
        notify_here(sim, cluster.serve)
        for _ in range(workers):
            cluster.start_worker()
        for worker in cluster.workers:
            worker.wait_ready()
        people = sim_call(sim, "POST", "/_sim/portability/customers", {"count": count})["customers"]
        if kill:
            killer = Killer(cluster, timeout_s)
            killer.start()
        started = time.monotonic()
        _connect_all(cluster.serve, people)
        burst.connects_s = time.monotonic() - started
        wait_until(f"{count} customers imported", lambda: _imported(database_url) >= count, timeout_s, 0.5)
        burst.wall_s = time.monotonic() - started
        if killer is not None:
            killer.join(timeout=120)  # it follows the killed import to its end, long over by now
            burst.kill, burst.kill_error = killer.kill, killer.error
        with httpx.Client(base_url=cluster.serve.url, timeout=120) as client:
            burst.customers = customers(client)
        burst.stats = sim_call(sim, "GET", "/_sim/portability/stats")
        burst.sim_queries = {q.id: q.created_at for q in list(sim.state.portability.queries.values())}
        for worker in [*cluster.workers]:
            burst.stops.append((f"worker {worker.pid}", worker.stop(), worker.output()))
        # Ctrl+C: uvicorn shuts down, then re-raises a SIGTERM (a -15 exit after a clean shutdown); SIGINT exits 0
        burst.stops.append(("serve", cluster.serve.stop(sig=signal.SIGINT), cluster.serve.output()))
    finally:
        if killer is not None:  # it may start a worker: stopped before the processes are
            killer.stop_event.set()
            killer.join(timeout=60)
        cluster.close()
    burst.workers, burst.killed = cluster.workers, cluster.killed
    return burst
