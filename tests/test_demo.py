"""``make demo`` end to end: the whole job against the embedded simulator, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ringvault.archive.store import DB_FILENAME


@pytest.mark.timeout(420)  # the demo's own limit is 300 s (below); ~40 s alone on 2 idle cores
def test_demo_runs_the_whole_job(tmp_path: Path) -> None:
    env = {**os.environ, "RINGVAULT_DEMO_DIR": str(tmp_path / "demo"), "COLUMNS": "200"}
    for name in ("RINGVAULT_CLOUD_URL", "RINGVAULT_HOME", "RINGVAULT_TOKEN_FILE", "RINGVAULT_ARCHIVE"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "ringvault.demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    archive = tmp_path / "demo" / "archive"
    db = archive / DB_FILENAME
    assert f"Database: {db}" in out and f"Archive:  {archive}/media" in out
    assert "a no-change re-sync cost" in out and "downloaded nothing" in out

    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        events = conn.execute("select count(*) from events").fetchone()[0]
        done = conn.execute("select count(*) from events where media_status = 'done'").fetchone()[0]
        recordings = conn.execute("select count(*) from media where kind = 'recording'").fetchone()[0]
        snapshots = conn.execute("select count(*) from media where kind = 'snapshot'").fetchone()[0]
        datasets = conn.execute("select count(distinct dataset) from portability_records").fetchone()[0]
        records = conn.execute("select count(*) from portability_records").fetchone()[0]
    assert events > 0 and recordings == done > 0 and snapshots > 0
    assert len(list((archive / "media").rglob("*.mp4"))) == recordings
    assert datasets == 15 and records > 0
    assert f"Data Portability: {records} records of 15 data sets" in out

    # the last lines: the serve command for the web UI and its URL; the command really serves the UI
    lines = out.rstrip().splitlines()
    assert lines[-1] == "Web UI: http://127.0.0.1:8080/"
    command = lines[-2].strip().removeprefix("$ ")
    assert command.startswith("RINGVAULT_HOME=") and " ringvault serve --archive " in command
    _check_ui_command(command, env)

    token = tmp_path / "demo" / "home" / "token.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    stored = json.loads(token.read_text())
    assert stored["refresh_token"]
    # No secret of the stored login (tokens, hardware id) reaches the output.
    for value in _strings(stored):
        if len(value) >= 20:
            assert value not in out and value not in proc.stderr


def _check_ui_command(command: str, env: dict[str, str]) -> None:
    """Run the printed command (on a free port instead of 8080, which may be taken here): ``/`` is the devices page."""
    import shlex

    import httpx

    assignment, *argv = shlex.split(command)
    name, _, value = assignment.partition("=")
    assert argv[0] == "ringvault"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringvault", *argv[1:], "--port", "0"],
        env={**env, name: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = banner.split("listening on ", 1)[1].split()[0]
        page = httpx.get(url + "/", timeout=60)
        assert page.status_code == 200 and "<title>Devices · ringvault</title>" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
