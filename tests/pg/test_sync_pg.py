"""The sync and ``serve`` with the archive on PostgreSQL: the sync's batched upserts, due-recording queries and media
rows against the simulator, the real ``ringvault sync`` and ``ringvault serve`` commands with
``RINGVAULT_DATABASE_URL``, and the password never shown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, media_events, sim_json, sync_once
from tests.archive.test_sync import _assert_complete
from tests.pg.server import PostgresServer
from tests.server.helpers import wait_for_job


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=7, locations=2, events_per_device=6, recording_seconds=1.0, media_cache_dir=media_cache)


def test_a_sync_into_postgresql_then_a_no_change_resync(sim: SimServer, tmp_path: Path, pg_env: str) -> None:
    """The same checks as the SQLite sync (every recording archived once, valid, with its sidecar and one media
    row), then a recording that is not ready yet stays pending and arrives on a later run."""
    archive = tmp_path / "archive"
    summary = asyncio.run(sync_once(sim, tmp_path, archive))
    expected = sum(len(events) for events in media_events(sim).values())
    assert summary.downloaded == expected > 0 and summary.failed == 0
    _assert_complete(sim, archive)
    again = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (again.new, again.downloaded) == (0, 0)

    device_id = next(iter(media_events(sim)))
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 3600})
    created = sim_json(sim, "POST", "/_sim/events", {"device_id": int(device_id)})
    ding = str(created.get("id_str") or created["id"])
    pending = asyncio.run(sync_once(sim, tmp_path, archive))
    assert (pending.new, pending.pending) == (1, 1)
    with ArchiveStore.open(archive) as store:
        assert store.engine.dialect.name == "postgresql"
        stored = store.get_event(ding)
        assert stored is not None and stored.media_status is MediaStatus.PENDING
    sim_json(sim, "POST", "/_sim/clock", {"advance_s": 4000})
    assert asyncio.run(sync_once(sim, tmp_path, archive)).downloaded == 1
    _assert_complete(sim, archive)
    assert not (archive / "archive.sqlite3").exists()


def test_a_sync_with_faults_into_postgresql_ends_complete(sim: SimServer, tmp_path: Path, pg_env: str) -> None:
    sim_json(sim, "PATCH", "/_sim/faults", {"error_rate": 0.05, "drop_rate": 0.2})
    summary = asyncio.run(sync_once(sim, tmp_path, tmp_path / "archive", fast_sync_options(max_attempts=5)))
    assert summary.failed == 0, summary.errors
    _assert_complete(sim, tmp_path / "archive")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringvault", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_sync_and_serve_commands_on_postgresql(
    cloud_env: SimServer, logged_in: Path, tmp_path: Path, pg_env: str, pg_server: PostgresServer
) -> None:
    """``ringvault sync`` (its own process) archives into PostgreSQL and says where without the password; ``ringvault
    serve`` on the same database lists what the sync stored, serves a recording, and runs a sync job of its own."""
    archive = tmp_path / "archive"
    env = {**os.environ, "RINGVAULT_CLOUD_URL": cloud_env.url, "COLUMNS": "200"}
    synced = _run(["sync", "--archive", str(archive), "--concurrency", "2"], env)
    assert synced.returncode == 0, synced.stderr
    expected = sum(len(events) for events in media_events(cloud_env).values())
    assert f"{expected} downloaded" in synced.stdout
    assert f"database: postgresql+psycopg://postgres:***@127.0.0.1:{pg_server.port}/" in synced.stdout
    assert pg_server.password not in synced.stdout + synced.stderr
    with ArchiveStore.open(archive) as store, store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM media")).scalar_one() == expected

    command = [sys.executable, "-m", "ringvault", "serve", "--port", "0", "--archive", str(archive)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("ringvault serve: listening on http://127.0.0.1:"), banner
        url = banner.split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url, timeout=60) as client:
            page = client.get("/api/events", params={"limit": 500}).json()
            with_media = [e for e in page["events"] if e["media_status"] == "done"]
            assert len(with_media) == expected
            (media,) = client.get(f"/api/events/{with_media[0]['id']}").json()["media"]
            video = client.get(media["url"])
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"
            accepted = client.post("/api/sync", json={"metadata_only": True})
            assert accepted.status_code == 202
            job = wait_for_job(client, accepted.json()["job_id"])
            assert job["state"] == "done", job
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        output = banner + proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert f"database: postgresql+psycopg://postgres:***@127.0.0.1:{pg_server.port}/" in output
    assert pg_server.password not in output
