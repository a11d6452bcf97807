"""Issue 9's acceptance tests: a recording that did not make it in one run is archived by the next run.

- **failed**: the storage host answers one recording with an HTML error page (200 ``text/html``, as a CDN or proxy
  error page comes) for a whole run, so that run gives it up as failed; the page goes away and the next run, right
  after, must archive it (docs/sync.md: failed recordings "are tried again on the next run").
- **pending**: a recording Ring has not prepared yet outlasts the run's wait (one minute), so the run leaves it
  pending; the clip becomes ready and the next run, right after, must archive it.

Both through the real CLI (``python -m ringvault sync``) against the simulator.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import av
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json
from tests.cli_process import CliRun, cli_env, run_cli

RUN_TIMEOUT_S = 300.0
#: Longer than the one minute a run waits for a recording that is not ready (``SyncOptions.not_ready_deadline_s``).
NOT_READY_FOR_S = 3600.0


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(
        seed=41,
        locations=1,
        device_families=["doorbots"],
        events_per_device=2,
        recording_seconds=1.0,
        media_cache_dir=media_cache,
    )


def _media_row(archive: Path, ding: str) -> tuple[str, str | None, list[str]]:
    """The event's ``media_status`` and last error, and the paths of its ``media`` rows."""
    with sqlite3.connect(f"file:{archive / 'archive.sqlite3'}?mode=ro", uri=True) as conn:
        event = conn.execute("SELECT media_status, media_last_error FROM events WHERE id = ?", (ding,)).fetchone()
        paths = [str(row[0]) for row in conn.execute("SELECT path FROM media WHERE event_id = ?", (ding,))]
    assert event is not None, f"event {ding} is not in the archive"
    return str(event[0]), event[1], paths


def _assert_archived(archive: Path, ding: str, run: CliRun) -> None:
    status, error, paths = _media_row(archive, ding)
    assert len(paths) == 1, f"recording {ding}: {status}, last error {error!r}, {len(paths)} files\n{run.describe()}"
    with av.open(str(archive / paths[0])) as container:
        assert next(iter(container.decode(video=0)), None) is not None


def _sync(sim: SimServer, rv_home: Path, tmp_path: Path, name: str) -> CliRun:
    args = ["sync", "--archive", str(tmp_path / "archive")]
    run = run_cli(args, cli_env(sim, rv_home), tmp_path / "logs", name, RUN_TIMEOUT_S)
    assert "Traceback" not in run.output, run.describe()
    return run


def _one_ding(sim: SimServer) -> str:
    world: dict[str, Any] = sim_json(sim, "GET", "/_sim/world?events=full")
    return min(str(e["id_str"]) for items in world["events"].values() for e in items if e["has_media"])


@pytest.mark.timeout(600)
def test_a_failed_recording_is_archived_by_the_next_run(
    sim: SimServer, rv_home: Path, logged_in: Path, tmp_path: Path
) -> None:
    ding = _one_ding(sim)
    sim_json(sim, "PATCH", "/_sim/faults", {"html_media_ids": [ding]})
    first = _sync(sim, rv_home, tmp_path, "html-run")
    status, error, paths = _media_row(tmp_path / "archive", ding)
    # an error page is never archived as a video (the run marks it failed, whatever its retry policy)
    assert paths == [] and status != "done", f"{status} {error}\n{first.describe()}"

    sim_json(sim, "PATCH", "/_sim/faults", {"html_media_ids": []})
    second = _sync(sim, rv_home, tmp_path, "next-run")
    _assert_archived(tmp_path / "archive", ding, second)
    assert second.returncode == 0, second.describe()
    # issue 9: "a run that leaves anything failed exits non-zero with a one-line count"
    assert first.returncode != 0, f"the run that left a recording failed exited 0\n{first.describe()}"


@pytest.mark.timeout(600)
def test_a_pending_recording_that_became_ready_is_archived_by_the_next_run(
    sim: SimServer, rv_home: Path, logged_in: Path, tmp_path: Path
) -> None:
    _sync(sim, rv_home, tmp_path, "initial")  # the seeded events, all ready
    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": NOT_READY_FOR_S})
    device = sim_json(sim, "GET", "/_sim/world")["devices"][0]["id"]
    ding = str(sim_json(sim, "POST", "/_sim/events", {"device_id": device, "kind": "ding"})["id_str"])

    first = _sync(sim, rv_home, tmp_path, "not-ready-run")  # waits its minute, then leaves the recording pending
    status, error, paths = _media_row(tmp_path / "archive", ding)
    assert paths == [] and status == "pending", f"{status} {error}\n{first.describe()}"

    sim_json(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 0.0})  # the clip is ready now
    second = _sync(sim, rv_home, tmp_path, "next-run")
    _assert_archived(tmp_path / "archive", ding, second)
    assert second.returncode == 0, second.describe()
