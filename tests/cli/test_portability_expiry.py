"""``ringvault portability export`` and a query whose hour of listing has run out (the simulator's window scaled
down to 10 s): the dead query is closed as expired and a new one replaces it; nothing resumes it, a 409 on the new
create is waited for (bounded, with the reason shown), and a replacement that dies too ends the run with one line
and is closed as well, so the next run starts clean."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import Result

from ringvault.archive.store import ArchiveStore
from ringvault.cli.common import EXIT_ERROR
from ringvault.portability.config import PortabilityConfig
from ringvault.portability.renewal import EXPIRED_STATUS, is_expired
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.portability.flow import (
    CREDENTIALS,
    REDIRECT_URI,
    advance,
    authorize,
    control,
    expected_counts,
    import_sim_config,
    operation_count,
    sim_queries,
)

WINDOW_S = 10.0


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config, access_window_s=WINDOW_S)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def dp_env(cloud_env: SimServer, archive: Path, rv_home: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """The demo app configured from the environment and the customer logged in (the token where the CLI reads it)."""
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", CREDENTIALS.client_secret)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("RINGVAULT_ARCHIVE", str(archive))
    for name in ("RINGVAULT_PORTABILITY_BRAND", "RINGVAULT_PORTABILITY_REGION", "RINGVAULT_PORTABILITY_TOKEN_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = PortabilityConfig(credentials=CREDENTIALS, cloud_url=cloud_env.url, token_dir=rv_home / "portability")

    async def login() -> None:
        auth = await authorize(cloud_env, config)
        await auth.aclose()

    asyncio.run(login())
    return cloud_env


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]


def leave_a_created_query_to_expire(invoke: Invoke, sim: SimServer) -> str:
    """An export run that stops after creating its query (``--wait-timeout 0``); Ring then completes the query, its
    notification reaches nobody, and the listing window (10 s) runs out on the simulator's clock. Later queries
    complete as they are created (so every 403 after this one is about the dead query)."""
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    first = invoke("portability", "export", "--wait-timeout", "0")
    assert first.exit_code == EXIT_ERROR, first.output
    (query,) = sim_queries(sim)
    control(sim, "POST", f"/_sim/portability/queries/{query['id']}/complete")
    advance(sim, WINDOW_S + 1)
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 0})
    return str(query["id"])


def test_an_expired_created_query_is_closed_and_replaced(invoke: Invoke, dp_env: SimServer, archive: Path) -> None:
    sim = dp_env
    dead = leave_a_created_query_to_expire(invoke, sim)
    with ArchiveStore.open(archive) as store:
        assert store.portability.get_query(dead).state == "created"  # type: ignore[union-attr]
    refused = operation_count(sim, "listDataQueryRecords", "403")

    result = invoke("portability", "export")
    assert result.exit_code == 0, result.output
    assert f"export {dead} has expired" in result.stdout
    assert f"replaces export {dead}" in result.stdout
    # Ring was asked about the dead query once (ACCESS_TIME_ELAPSED), never again
    assert operation_count(sim, "listDataQueryRecords", "403") == refused + 1
    with ArchiveStore.open(archive) as store:
        old, new = store.portability.list_queries()
        assert old.id == dead and is_expired(old) and (old.state, old.status) == ("failed", EXPIRED_STATUS)
        assert old.error is not None and "ACCESS_TIME_ELAPSED" in old.error
        assert new.state == "imported"
        assert store.portability.dataset_counts() == expected_counts(sim, new.id)

    status = invoke("portability", "status")
    assert status.exit_code == 0, status.output
    assert f"export {dead}: expired, created" in status.stdout
    assert f"export {new.id}: imported (COMPLETED)" in status.stdout

    # a later run never goes back to the dead query: a new export, imported
    again = invoke("portability", "export")
    assert again.exit_code == 0, again.output
    assert dead not in again.stdout
    assert operation_count(sim, "listDataQueryRecords", "403") == refused + 1
    with ArchiveStore.open(archive) as store:
        states = [(q.id == dead, q.state) for q in store.portability.list_queries()]
    assert states == [(True, "failed"), (False, "imported"), (False, "imported")]


def test_a_conflict_on_the_new_create_is_waited_for_with_the_reason_shown(
    invoke: Invoke, dp_env: SimServer, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = dp_env
    monkeypatch.setattr("ringvault.portability.renewal.CONFLICT_DELAYS", (0.05,))
    dead = leave_a_created_query_to_expire(invoke, sim)
    control(sim, "POST", "/_sim/portability/inject", {"type": "REQUEST_CONFLICT", "count": 2, "method": "POST"})
    result = invoke("portability", "export")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Ring is still preparing an earlier export of this customer") == 2
    assert operation_count(sim, "createDataQuery", "409") == 2
    with ArchiveStore.open(archive) as store:
        old, new = store.portability.list_queries()
    assert (old.id, is_expired(old), new.state) == (dead, True, "imported")


def test_a_conflict_that_does_not_end_gives_up_in_one_line_and_a_later_run_recovers(
    invoke: Invoke, dp_env: SimServer, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = dp_env
    monkeypatch.setattr("ringvault.portability.renewal.CONFLICT_DELAYS", (0.3,))
    dead = leave_a_created_query_to_expire(invoke, sim)
    control(sim, "POST", "/_sim/portability/inject", {"type": "REQUEST_CONFLICT", "count": 1000, "method": "POST"})
    result = invoke("portability", "export", "--wait-timeout", "1")
    assert result.exit_code == EXIT_ERROR, result.output
    (line,) = error_lines(result)
    assert "409" in line and "in progress" in line and "ringvault portability export` again later" in line
    assert 2 <= operation_count(sim, "createDataQuery", "409") <= 6  # spaced by the schedule, bounded by the time
    with ArchiveStore.open(archive) as store:
        (old,) = store.portability.list_queries()
    assert old.id == dead and is_expired(old)

    control(sim, "DELETE", "/_sim/portability/inject")
    later = invoke("portability", "export")
    assert later.exit_code == 0, later.output
    with ArchiveStore.open(archive) as store:
        assert [q.state for q in store.portability.list_queries()] == ["failed", "imported"]


def test_a_replacement_that_dies_too_ends_the_run_and_the_next_run_starts_clean(
    invoke: Invoke, dp_env: SimServer, archive: Path
) -> None:
    sim = dp_env
    # queries complete at once; Ring answers ACCESS_TIME_ELAPSED to the first two polls: the query and its
    # replacement both die
    control(sim, "PATCH", "/_sim/portability/config", {"completion_delay_s": 0})
    control(sim, "POST", "/_sim/portability/inject", {"type": "ACCESS_TIME_ELAPSED", "count": 2, "method": "GET"})
    result = invoke("portability", "export")
    assert result.exit_code == EXIT_ERROR, result.output
    (line,) = error_lines(result)
    assert "expired too" in line and "ringvault portability export` again" in line
    with ArchiveStore.open(archive) as store:
        queries = store.portability.list_queries()
    assert len(queries) == 2 and all(is_expired(q) for q in queries)  # neither can be resumed
    assert f"export {queries[0].id} has expired" in result.stdout

    later = invoke("portability", "export")
    assert later.exit_code == 0, later.output
    with ArchiveStore.open(archive) as store:
        assert [q.state for q in store.portability.list_queries()] == ["failed", "failed", "imported"]
