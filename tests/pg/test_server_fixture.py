"""The test server itself: it runs as the ``postgres`` user (root cannot run initdb) on 127.0.0.1 only, needs its
password, and is gone after ``stop()``; and a machine without PostgreSQL fails the tests that need it (in CI and
outside), never skips them."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pg.server import PostgresServer, start_postgres

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_listens_on_loopback_only_and_wants_its_password(pg_server: PostgresServer) -> None:
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                     "('listen_addresses', 'unix_socket_directories', 'port')").fetchall())  # fmt: skip
        owner = conn.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'")
        assert owner.fetchone() == ("postgres",)
    assert settings == {"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "port": str(pg_server.port)}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_server.conninfo().replace(pg_server.password, "wrong"), connect_timeout=10).close()
    if os.geteuid() == 0:  # the data directory and the server process belong to the postgres user
        assert pg_server.data_dir.stat().st_uid == pwd.getpwnam("postgres").pw_uid
        status = Path(f"/proc/{pg_server.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid_line.split()[1]) == pwd.getpwnam("postgres").pw_uid


def test_a_stopped_server_leaves_no_process_and_no_directory() -> None:
    server = start_postgres()
    pid, root = server.pid, server.root
    assert pid is not None and root.is_dir()
    server.stop()
    assert not root.exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_postgresql_the_tests_fail_and_never_skip(tmp_path: Path, ci: str) -> None:
    env = {**os.environ, "CI": ci, "RINGVAULT_TEST_PG_BINDIR": str(tmp_path / "no-postgresql-here")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/pg/test_store_pg.py::test_big_ids_keep_every_digit", "-p",
         "no:cacheprovider", "-p", "no:xdist", "-q", "-rA"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 error" in output and "skipped" not in output
    assert "PostgreSQL is needed by this test" in output and "holds no initdb and postgres binaries" in output
