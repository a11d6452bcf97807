"""``ringvault sync`` as scripts see it: the summary line, exit code 7 while recordings are failed, ``--retry-failed``,
``--kind`` checked against Ring's kinds, and an archive database deleted or replaced during the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore, DeviceRecord, EventRecord, MediaStatus
from ringvault.archive.sync import RING_EVENT_KINDS
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import media_events, sim_json
from tests.cli_fixtures import Invoke

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(
        seed=17, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        device_families=["doorbots"],
    )  # fmt: skip


@pytest.fixture
def cli(invoke: Invoke, logged_in: Path) -> Invoke:
    return invoke


def test_failed_recordings_exit_7_with_a_count_until_a_run_gets_them(
    cli: Invoke, cloud_env: SimServer, tmp_path: Path
) -> None:
    """The engine's failures are tested in test_sync_retries (with fast HTTP retries); here the archive is set to
    what failed runs leave, and the CLI's line and exit code are checked."""
    sim, archive = cloud_env, tmp_path / "archive"
    assert cli("sync", "--archive", str(archive), "--metadata-only").exit_code == 0
    ding = str(next(iter(media_events(sim).values()))[0]["id_str"])
    with ArchiveStore.open(archive) as store:  # four failed runs: waiting an hour for the next try
        later = store.now() + timedelta(hours=1)
        store.mark_event_media(ding, MediaStatus.FAILED, "RingHttpError: HTTP 503", later, failures=4)
    total = sum(len(events) for events in media_events(sim).values())

    waiting = cli("sync", "--archive", str(archive))
    assert waiting.exit_code == 7, waiting.output
    errors = [line for line in waiting.output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: 1 recording(s) failed (0 in this run, 1 earlier and waiting for their retry); they are tried "
        "again by the next runs"
    ]
    assert f"sync done: 0 new, {total - 1} downloaded, 0 already archived, 0 pending, 1 failed (1 waiting for " in (
        waiting.output
    )

    with ArchiveStore.open(archive) as store:  # its time has come
        store.mark_event_media(ding, MediaStatus.FAILED, "RingHttpError: HTTP 503", None, failures=4)
    healed = cli("sync", "--archive", str(archive))
    assert healed.exit_code == 0, healed.output
    assert f"sync done: 0 new, 1 downloaded, {total - 1} already archived, 0 pending, 0 failed, 0 given up" in (
        healed.output
    )


def test_given_up_recordings_are_listed_and_retry_failed_fetches_them(
    cli: Invoke, cloud_env: SimServer, tmp_path: Path
) -> None:
    sim, archive = cloud_env, tmp_path / "archive"
    assert cli("sync", "--archive", str(archive)).exit_code == 0
    ding = str(next(iter(media_events(sim).values()))[0]["id_str"])
    with ArchiveStore.open(archive) as store:  # as ten failed runs would leave it
        store.mark_event_media(ding, MediaStatus.GIVEN_UP, "RingHttpError: HTTP 503", failures=10)

    listed = cli("sync", "--archive", str(archive))
    assert listed.exit_code == 0, listed.output  # given up in an earlier run: reported, not an error again
    assert ", 0 failed, 1 given up," in listed.output
    assert f"given up: {ding} (" in listed.output and "RingHttpError: HTTP 503" in listed.output
    assert "--retry-failed" in listed.output

    retried = cli("sync", "--archive", str(archive), "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert "1 downloaded" in retried.output and "0 given up" in retried.output
    assert "retried: 1 failed or given-up recording(s)" in retried.output


@pytest.mark.parametrize("kind", ["bogus", "Motion", "DING", "deleted_footage"])
def test_an_unknown_kind_is_refused_with_the_known_ones(cli: Invoke, tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "archive"
    result = cli("sync", "--archive", str(archive), "--kind", "ding", "--kind", kind)
    assert result.exit_code == 2
    assert f"error: --kind {kind!r} is not an event kind Ring uses or the archive holds" in result.output
    assert "known kinds: " + ", ".join(RING_EVENT_KINDS) in result.output
    assert not archive.exists()  # refused before anything was created


def test_ring_kinds_and_kinds_already_archived_are_accepted(cli: Invoke, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    for kind in ("DELETED_FOOTAGE", "on_demand_link"):
        result = cli("sync", "--archive", str(archive), "--kind", kind, "--metadata-only")
        assert result.exit_code == 0, result.output
    with ArchiveStore.open(archive) as store:  # a kind Ring started sending after this list was written
        store.upsert_device(DeviceRecord(id=1, family="doorbots"))
        store.upsert_events(1, [EventRecord(id="1", created_at=store.now(), kind="porch_pirate")])
    accepted = cli("sync", "--archive", str(archive), "--kind", "porch_pirate", "--dry-run")
    assert accepted.exit_code == 0, accepted.output
    refused = cli("sync", "--archive", str(archive), "--kind", "porch_ninja", "--dry-run")
    assert refused.exit_code == 2 and "porch_pirate" in refused.output  # the archive's kinds are listed too


def _env(rv_home: Path, sim: SimServer) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
        "RINGVAULT_HOME": str(rv_home),
        "RINGVAULT_CLOUD_URL": sim.url,
    }
    env.pop("RINGVAULT_TOKEN_FILE", None)
    return env


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_deleted_or_replaced_mid_run_is_one_line_and_an_error(
    sim: SimServer, rv_home: Path, logged_in: Path, tmp_path: Path, how: str
) -> None:
    """Before the fix the run went on writing into the unlinked file and reported success (exit 0)."""
    archive = tmp_path / "archive"
    db = archive / "archive.sqlite3"
    sim_json(sim, "PATCH", "/_sim/faults", {"latency_ms": 40, "bandwidth_kbps": 40})  # ~0.5 s per clip
    child = subprocess.Popen(
        [sys.executable, "-m", "ringvault", "sync", "--archive", str(archive), "--concurrency", "1"],
        env=_env(rv_home, sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(archive.rglob("*.mp4")):  # downloading: the database is open and written to
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.01)
        if how == "deleted":
            db.unlink()
        else:
            other = tmp_path / "other.sqlite3"
            shutil.copy(db, other)
            os.replace(other, db)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: the archive database {db} was {how} while it was open")
    assert "run `ringvault sync` again" in lines[0]
    assert "sync done" not in out
