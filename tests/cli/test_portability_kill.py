"""``ringvault portability export`` killed with SIGKILL at random points, then re-run: every record ends up imported
exactly once and no partial file is left.

The real CLI runs in a subprocess against the simulator (in this process, on loopback). A bandwidth cap on the files
and a little latency leave time to land inside each phase. Each kill waits for a point of the run seen from outside
(from the simulator's statistics: the create call, the n-th records call, the k-th file request; from the database:
the k-th committed record), k from a seeded RNG, plus a random few milliseconds — never a fixed sleep. After every
kill, files under their final names are complete JSON (temporary files exist only as ``.*.part``) and every database
row points at a complete file; the next run removes the leftovers first thing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.portability.config import PortabilityConfig
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.portability.flow import (
    CREDENTIALS,
    REDIRECT_URI,
    authorize,
    control,
    expected_counts,
    import_sim_config,
    operation_count,
)

SRC = Path(__file__).resolve().parents[2] / "src"
SEED = 20260422
#: in the order of an export's lifecycle: each kill lands in a later part of the same export than the one before
KILL_POINTS = ["create", "list", "download", "download", "import", "import"]
WAIT_LIMIT_S = 90.0


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    # files of up to 600 records: a file is imported in two committed batches, and is worth killing mid-way
    return import_sim_config(sim_config, records_per_file=600)


def _records(archive: Path) -> int:
    db = archive / "archive.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM portability_records").fetchone()[0])
    except sqlite3.OperationalError:  # the tables are being created
        return 0


async def _login(sim: SimServer, config: PortabilityConfig) -> None:
    auth = await authorize(sim, config)
    await auth.aclose()


def _open_query(archive: Path) -> str:
    """The export the runs are working on (the one a re-run adopts)."""
    with sqlite3.connect(f"file:{archive / 'archive.sqlite3'}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute(
            "SELECT id FROM portability_queries WHERE state NOT IN ('imported', 'canceled', 'failed') "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None, "no open export"
    return str(row[0])


def _wait_for(child: subprocess.Popen[bytes], counter: Callable[[], int], target: int) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while counter() < target:
        if child.poll() is not None:
            errors = child.stderr.read().decode(errors="replace") if child.stderr else ""
            raise AssertionError(f"export ended (exit {child.returncode}) before the kill point: {errors}")
        if time.monotonic() > deadline:
            raise AssertionError("the kill point was never reached")
        time.sleep(0.002)


def _temporary(archive: Path) -> set[Path]:
    return {p for p in archive.rglob(".*.part")}


def _assert_nothing_partial(archive: Path) -> set[Path]:
    """Final names hold complete files, every file row points at one; returns the temporary files."""
    temps = _temporary(archive)
    folder = archive / "portability"
    for path in folder.rglob("*.json") if folder.exists() else []:
        if path not in temps:
            json.loads(path.read_bytes())
    if (archive / "archive.sqlite3").exists():
        with ArchiveStore.open(archive) as store:
            for query in store.portability.list_queries():
                for file in store.portability.list_files(query.id):
                    if file.state in ("downloaded", "imported"):
                        assert file.path is not None
                        data = json.loads((archive / file.path).read_bytes())
                        assert (archive / file.path).stat().st_size == file.bytes
                        if file.state == "imported":
                            assert len(data) == file.records
    return temps


@pytest.mark.timeout(600)  # seven CLI processes, each waited for up to WAIT_LIMIT_S on a busy machine
def test_export_killed_at_random_points_imports_every_record_once(
    sim: SimServer, rv_home: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    archive = tmp_path / "archive"
    config = PortabilityConfig(credentials=CREDENTIALS, cloud_url=sim.url, token_dir=rv_home / "portability")
    asyncio.run(_login(sim, config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
        "RINGVAULT_HOME": str(rv_home),
        "RINGVAULT_CLOUD_URL": sim.url,
        "RINGVAULT_ARCHIVE": str(archive),
        "RINGVAULT_PORTABILITY_CLIENT_ID": CREDENTIALS.client_id,
        "RINGVAULT_PORTABILITY_CLIENT_SECRET": CREDENTIALS.client_secret,
        "RINGVAULT_PORTABILITY_REDIRECT_URI": REDIRECT_URI,
    }
    for name in ("RINGVAULT_PORTABILITY_TOKEN_DIR", "RINGVAULT_PORTABILITY_BRAND", "RINGVAULT_PORTABILITY_REGION"):
        env.pop(name, None)
    command = [sys.executable, "-m", "ringvault", "portability", "export", "--page-size", "5"]
    # ~20 ms per request and ~0.1 s per data file: time to land inside each phase
    control(sim, "PATCH", "/_sim/faults", {"latency_ms": 20, "bandwidth_kbps": 1600})

    left_behind: set[Path] = set()
    killed_with_temps = 0
    for point in KILL_POINTS:
        counter: Callable[[], int]
        if point == "create":
            counter, step = (lambda: operation_count(sim, "createDataQuery")), 1
        elif point == "list":
            counter, step = (lambda: operation_count(sim, "listDataQueryRecords")), rng.randint(1, 3)
        elif point == "download":
            counter, step = (lambda: operation_count(sim, "files")), rng.randint(1, 12)
        else:
            remaining = sum(expected_counts(sim, _open_query(archive)).values()) - _records(archive)
            counter, step = (lambda: _records(archive)), rng.randint(1, min(3000, remaining - 1))
        target = counter() + step
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(child, counter, target)
            time.sleep(rng.uniform(0.0, 0.03))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        # the run after a kill removed that kill's temporary files first thing
        assert not (left_behind & _temporary(archive))
        left_behind = _assert_nothing_partial(archive)
        killed_with_temps += bool(left_behind)
    assert killed_with_temps >= 1  # at least one kill landed mid-download
    assert _records(archive) > 0  # and some landed after records were committed

    control(sim, "PATCH", "/_sim/faults", {"latency_ms": 0, "bandwidth_kbps": 0})
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _assert_nothing_partial(archive) == set()
    with ArchiveStore.open(archive) as store:
        queries = store.portability.list_queries()
        last = queries[-1]
        assert last.state == "imported" and f"export {last.id}: imported" in done.stdout
        counts = store.portability.dataset_counts()
        with store.engine.connect() as conn:
            rows, distinct = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT grant_id || '/' || dataset || '/' || record_key) "
                "FROM portability_records"
            ).one()
    # windows only grow, so the last query holds every record an earlier one had
    expected = expected_counts(sim, last.id)
    assert counts == expected
    assert rows == distinct == sum(expected.values())
    assert all(q.state in ("imported", "canceled") for q in queries)
