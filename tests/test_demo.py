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

    token = tmp_path / "demo" / "home" / "token.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    stored = json.loads(token.read_text())
    assert stored["refresh_token"]
    # No secret of the stored login (tokens, hardware id) reaches the output.
    for value in _strings(stored):
        if len(value) >= 20:
            assert value not in out and value not in proc.stderr


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
