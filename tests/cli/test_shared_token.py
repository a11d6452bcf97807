"""Issue 9's acceptance test: two ``ringvault`` processes sharing one token file never print "log in again".

Ring rotates the refresh token on every refresh, and the simulator here expires each access token after 2 requests,
so the two processes keep refreshing under each other's feet: one refreshes while the other's request is in flight,
and a 401 often comes right after a successful refresh. None of that is a lost login (the token file always holds
a working refresh token), so every command must end with exit 0, none may tell the user to log in again, and the
stored login must work at the end.

Each process is the real CLI (``python -m ringvault``), run in two concurrent loops that alternate ``devices`` and
``sync`` (each sync into a fresh archive, so it downloads every recording and makes dozens of requests, and the
archive lock never serialises the two loops).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json
from tests.cli_process import CliRun, cli_env, run_cli

ITERATIONS = 12
COMMAND_TIMEOUT_S = 240.0


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    """Three doorbells with five events each: a sync makes ~25 API requests, so ~12 refreshes."""
    return SimConfig(
        seed=29,
        locations=1,
        device_families=["doorbots"],
        events_per_device=5,
        recording_seconds=1.0,
        media_cache_dir=media_cache,
    )


def _loop(name: str, commands: list[list[str]], env: dict[str, str], workdir: Path, results: list[CliRun]) -> None:
    for index, args in enumerate(commands):
        results.append(run_cli(args, env, workdir, f"{name}-{index}", COMMAND_TIMEOUT_S))


@pytest.mark.timeout(1200)
def test_two_processes_sharing_a_token_file_never_say_log_in_again(
    sim: SimServer, rv_home: Path, logged_in: Path, tmp_path: Path
) -> None:
    env = cli_env(sim, rv_home)  # one RINGVAULT_HOME: both processes use the same token file
    sim_json(sim, "PATCH", "/_sim/faults", {"expire_access_every": 2, "latency_ms": 20})
    loops: dict[str, list[list[str]]] = {}
    for name in ("a", "b"):
        commands = []
        for i in range(ITERATIONS):
            sync = ["sync", "--archive", str(tmp_path / f"archive-{name}-{i}")]  # fresh: every recording, every time
            commands.append(sync if (i + (name == "b")) % 2 else ["devices"])
        loops[name] = commands
    results: dict[str, list[CliRun]] = {name: [] for name in loops}
    errors: list[BaseException] = []

    def guarded(name: str) -> None:
        try:
            _loop(name, loops[name], env, tmp_path / "logs", results[name])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(name,), name=f"loop-{name}") for name in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    runs = [run for name in loops for run in results[name]]
    assert len(runs) == 2 * ITERATIONS
    refreshes = sim_json(sim, "GET", "/_sim/stats")["endpoints"].get("POST oauth.ring.com/oauth/token", {})
    bad = [run for run in runs if run.returncode != 0 or run.says_login_again()]
    summary = f"{len(bad)} of {len(runs)} commands failed; token endpoint: {refreshes}"
    assert not bad, "\n\n".join([summary, *(run.describe() for run in bad)])

    final = run_cli(["devices"], env, tmp_path / "logs", "final-devices", COMMAND_TIMEOUT_S)
    assert final.returncode == 0 and not final.says_login_again(), final.describe()
