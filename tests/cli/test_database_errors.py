"""A broken archive database is one line and exit code 1 from every command that opens it, never a traceback, and
the file is left as it was."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ringvault.archive.store import DB_FILENAME, ArchiveStore


def _ringvault(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RINGVAULT_ARCHIVE": str(archive), "RINGVAULT_HOME": str(archive.parent / "home")}
    return subprocess.run(
        [sys.executable, "-m", "ringvault", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("command", [["portability", "status"], ["sync", "--metadata-only"]])
def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path, command: list[str]) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    garbage = b"not an archive: these bytes are no SQLite database header at all" * 4
    (archive / DB_FILENAME).write_bytes(garbage)
    proc = _ringvault(archive, *command)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the archive database failed (DatabaseError: file is not a database)")
    assert "run the command again" in lines[0] and "Traceback" not in proc.stderr
    assert (archive / DB_FILENAME).read_bytes() == garbage


def test_an_archive_from_a_newer_ringvault_is_one_line(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with ArchiveStore.open(archive):
        pass
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    proc = _ringvault(archive, "portability", "status")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "schema revision 9999" in line and "upgrade ringvault" in line
