"""What the Data Portability schedule promises across processes, on a real PostgreSQL with real processes (the SQLite
tests run one process: its lock is in-process there): ``ScheduleStore.customer_lock`` (a PostgreSQL advisory lock)
lets one process at a time run a customer's step — two processes running the same export at once create one query —
and ``update_budgets`` (rows locked ``FOR UPDATE``) keeps two processes reserving creates at once within the app's
limits together."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability_schedule import ScheduleStore
from tests.pg.hub_process import APP, LIMITS
from tests.pg.processes import ROOT

#: how long before the common start the processes are launched (an interpreter and the archive take ~2 s to load on a
#: busy machine; a late process only starts later, which the assertions do not depend on)
LEAD_S = 8.0


def _together(mode: str, url: str, archive: Path, arg: str, processes: int = 2) -> list[dict[str, Any]]:
    """Run ``processes`` ``tests.pg.hub_process`` processes that start their part at the same second."""
    start = time.time() + LEAD_S
    command = [sys.executable, "-m", "tests.pg.hub_process", mode, url, str(archive), f"{start:.3f}", arg]
    running = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    results = []
    try:
        for process in running:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def test_two_processes_running_one_export_at_once_create_one_query(pg_url: str, tmp_path: Path) -> None:
    with ArchiveStore.open(tmp_path / "archive", database_url=pg_url) as store:
        grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=APP, customer="alice")
        now = store.now()
        ScheduleStore(store).set(grant.id, step="export", arg=str(grant.id), due_at=now, queued_at=now,
                                 reason="queued")  # fmt: skip
    results = _together("export", pg_url, tmp_path / "archive", str(grant.id))
    assert sorted(r["creates"] for r in results) == [0, 1]  # one sent createDataQuery; the other found it done
    with ArchiveStore.open(tmp_path / "archive", database_url=pg_url) as store:
        queries = store.portability.list_queries(grant_id=grant.id)
        schedule = ScheduleStore(store).get(grant.id)
    assert len(queries) == 1
    assert (schedule.step, schedule.arg, schedule.running_since) == ("check", queries[0].id, None)


def test_two_processes_reserving_creates_at_once_stay_within_the_apps_limits(pg_url: str, tmp_path: Path) -> None:
    per_process = 9  # 18 creates: three windows of 6
    results = _together("reserve", pg_url, tmp_path / "archive", str(per_process))
    permits = sorted(at for result in results for at in result["permits"])
    assert len(permits) == 2 * per_process
    window, count = LIMITS.window_s, LIMITS.create_per_window
    for first, later in zip(permits, permits[count:], strict=False):
        assert later - first >= window - 1e-6, permits  # never more than 6 in any 2 s
    capacity, interval = LIMITS.capacity("create"), LIMITS.interval("create")
    for i, first in enumerate(permits):  # the per-second rate: a burst of `capacity`, then one per interval
        for j in range(i + capacity, len(permits)):
            assert permits[j] - first >= (j - i - capacity + 1) * interval - 1e-6, (i, j, permits)
    with ArchiveStore.open(tmp_path / "archive", database_url=pg_url) as store:
        (budget,) = [b for b in ScheduleStore(store).budgets(APP) if b.operation == "create"]
    assert budget.recent == permits[-count:]  # both processes' reservations are in the one shared row
