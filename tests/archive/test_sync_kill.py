"""``ringvault sync`` killed with SIGKILL at random points, then re-run: the archive ends complete and clean.

The real CLI runs in a subprocess against the simulator (in this process, on loopback). A little latency on every
request and a bandwidth cap on media bodies (a clip takes ~0.3 s) leave time to kill it. Each kill waits for a
point in the run seen from the simulator's side (the k-th history request or the k-th media body of this run, k
from a seeded RNG, plus a random few milliseconds), so the kills land in the history phase and mid-download however
fast or slow the machine is. After every kill: no file under a final name is partial (every ``.mp4`` is a valid
MP4, every sidecar valid JSON, every database row has its file), and temporary files exist only under the temporary
naming; the next run removes them. A last run completes, and every recording is there exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ringvault.archive.files import is_partial_name
from ringvault.archive.store import ArchiveStore, MediaStatus
from ringvault.archive.store.models import Media
from ringvault.archive.validate import validate_mp4
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import media_events, sim_json

SRC = Path(__file__).resolve().parents[2] / "src"
SEED = 20240501
KILL_PHASES = ["history", "media", "media", "history", "media"]
WAIT_LIMIT_S = 60.0


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=5, locations=2, events_per_device=4, recording_seconds=1.0, media_cache_dir=media_cache)


def _count(sim: SimServer, needle: str) -> int:
    endpoints = sim.state.stats.counts()["endpoints"]
    return sum(int(entry["count"]) for key, entry in endpoints.items() if needle in key)


def _history_requests(sim: SimServer) -> int:
    return _count(sim, "doorbots/{device_id}/history")  # the cameras' (rs/history is the alarm's)


def _media_bodies(sim: SimServer) -> int:
    return _count(sim, "s3.amazonaws.com")


def _start(archive: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ringvault", "sync", "--archive", str(archive)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(child: subprocess.Popen[bytes], sim: SimServer, counter: Callable[[SimServer], int], target: int) -> None:
    """Until the simulator has seen ``target`` requests of the kind ``counter`` counts."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while counter(sim) < target:
        if child.poll() is not None:
            errors = child.stderr.read().decode(errors="replace") if child.stderr else ""
            raise AssertionError(f"sync ended (exit {child.returncode}) before the kill point: {errors}")
        if time.monotonic() > deadline:
            raise AssertionError("the kill point was never reached")
        time.sleep(0.002)


def _partials(archive: Path) -> set[Path]:
    return {p for p in archive.rglob("*") if ".part-" in p.name}


def _assert_nothing_partial(archive: Path) -> set[Path]:
    """No final name holds a partial file; returns the temporary files (all under the temporary naming)."""
    temps = _partials(archive)
    assert all(is_partial_name(p.name) for p in temps), temps
    for mp4 in archive.rglob("*.mp4"):
        if mp4 in temps:
            continue
        assert validate_mp4(mp4).ok, mp4
    for sidecar in archive.rglob("*.json"):
        if sidecar not in temps:
            json.loads(sidecar.read_text())
    if (archive / "archive.sqlite3").exists():
        with ArchiveStore.open(archive) as store, store.engine.connect() as conn:
            paths = conn.execute(select(Media.path)).scalars().all()
        for rel in paths:
            path = archive / rel
            assert path.is_file() and validate_mp4(path).ok, rel
            assert path.with_suffix(".json").is_file(), rel  # a row always has its sidecar
    return temps


@pytest.mark.timeout(600)  # a CLI process per kill, each waited for up to WAIT_LIMIT_S on a busy machine
def test_sync_killed_at_random_points_ends_complete(
    sim: SimServer, rv_home: Path, logged_in: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    archive = tmp_path / "archive"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
        "RINGVAULT_HOME": str(rv_home),
        "RINGVAULT_CLOUD_URL": sim.url,
    }
    env.pop("RINGVAULT_TOKEN_FILE", None)
    expected = {str(e["id_str"]): dev for dev, events in media_events(sim).items() for e in events}
    devices = len(media_events(sim))
    # ~40 ms per request and ~0.3 s per clip: enough time to land inside each phase
    sim_json(sim, "PATCH", "/_sim/faults", {"latency_ms": 40, "bandwidth_kbps": 80})

    left_behind: set[Path] = set()
    killed_with_temps = 0
    for phase in KILL_PHASES:
        archived = len(list(archive.rglob("*.mp4"))) if archive.exists() else 0
        if phase == "media" and archived >= len(expected) - 2:
            phase = "history"
        counter: Callable[[SimServer], int]
        if phase == "history":
            counter, k = _history_requests, rng.randint(1, devices - 1)
        else:
            counter, k = _media_bodies, rng.randint(1, len(expected) - archived - 1)
        target = counter(sim) + k
        child = _start(archive, env)
        try:
            _wait_for(child, sim, counter, target)
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        # the run started after the previous kill removed that kill's temporary files first thing
        assert not (left_behind & _partials(archive))
        left_behind = _assert_nothing_partial(archive)
        killed_with_temps += bool(left_behind)
    assert killed_with_temps >= 1  # at least one kill landed mid-download (a clip was being written)

    done = subprocess.run(
        [sys.executable, "-m", "ringvault", "sync", "--archive", str(archive)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stdout and "0 pending" in done.stdout

    assert _assert_nothing_partial(archive) == set()
    with ArchiveStore.open(archive) as store:
        for ding, device_id in expected.items():
            event = store.get_event(ding)
            assert event is not None and event.media_status is MediaStatus.DONE, ding
            (media,) = store.media_for_event(ding)
            sidecar = json.loads((archive / media.path).with_suffix(".json").read_text())
            assert (sidecar["ringId"], sidecar["deviceId"], sidecar["sha256"]) == (ding, device_id, media.sha256)
        with store.engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(Media)).scalar_one()
            distinct = conn.execute(select(func.count(func.distinct(Media.event_id)))).scalar_one()
    files = sorted(archive.rglob("*.mp4"))
    assert rows == distinct == len(files) == len(expected)
    assert len(sorted(archive.rglob("*.json"))) == len(expected)
