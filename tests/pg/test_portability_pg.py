"""``ringvault portability login | export | status | records`` with the archive on PostgreSQL: the whole Data
Portability flow against the simulator, every record imported once, the status saying where the database is
without its password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.pg.server import PostgresServer
from tests.portability.flow import CREDENTIALS, REDIRECT_URI, ConsentingBrowser, expected_counts, import_sim_config


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config)


@pytest.fixture
def dp_env(cloud_env: SimServer, tmp_path: Path, pg_env: str, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", CREDENTIALS.client_secret)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("RINGVAULT_ARCHIVE", str(tmp_path / "archive"))
    for name in ("RINGVAULT_PORTABILITY_BRAND", "RINGVAULT_PORTABILITY_REGION", "RINGVAULT_PORTABILITY_TOKEN_DIR"):
        monkeypatch.delenv(name, raising=False)
    return cloud_env


def test_the_portability_commands_on_postgresql(
    invoke: Invoke, dp_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: PostgresServer
) -> None:
    browser = ConsentingBrowser(dp_env)
    monkeypatch.setattr("webbrowser.open", browser.open)
    logged_in = invoke("portability", "login", "--timeout", "60")
    browser.join()
    assert not browser.errors and logged_in.exit_code == 0, logged_in.output

    exported = invoke("portability", "export")
    assert exported.exit_code == 0, exported.output
    with ArchiveStore.open(tmp_path / "archive") as store:
        assert store.engine.dialect.name == "postgresql"
        (grant,) = store.portability.list_grants()
        (query,) = store.portability.list_queries()
        counts = store.portability.dataset_counts(grant.id)
    expected = expected_counts(dp_env, query.id)
    assert counts == expected and len(expected) == 15
    assert not (tmp_path / "archive" / "archive.sqlite3").exists()

    again = invoke("portability", "export")  # a second export: nothing already stored is stored twice
    assert again.exit_code == 0, again.output
    with ArchiveStore.open(tmp_path / "archive") as store:
        assert store.portability.dataset_counts(grant.id) == expected

    status = invoke("portability", "status")
    assert status.exit_code == 0, status.output
    assert f"database: postgresql+psycopg://postgres:***@127.0.0.1:{pg_server.port}/" in status.stdout
    assert pg_server.password not in status.output
    dumped = invoke("portability", "records")
    lines = [json.loads(line) for line in dumped.stdout.splitlines()]
    assert len(lines) == sum(expected.values()) == len({(r["dataset"], r["key"]) for r in lines})
