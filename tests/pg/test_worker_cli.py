"""``ringvault worker`` and ``ringvault serve`` with the archive on PostgreSQL: the steps are procrastinate jobs in the
archive's database. serve alone runs them with its own worker; with ``RINGVAULT_PORTABILITY_WORKER=0`` it only queues
them and a ``ringvault worker`` process (a real one) imports the customer, then stops cleanly on SIGINT. A worker
without PostgreSQL, without the app's settings or with a bad setting is one line and exit code 2."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ringvault.cli import app
from ringvault.portability.config import ClientCredentials, PortabilityConfig
from ringvault.server import ServerSettings, create_app
from ringvault.server.portability_jobs import QUEUE
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ringvault.sim.portability.config import PortabilityConfig as SimPortabilityConfig
from ringvault.sim.server import SimServer
from tests.pg.processes import Worker, portability_env, rows, wait_until
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import connect, customers, expected_records, latest_query_in, notify_here

WAIT_S = 180.0
PORTABILITY = {
    "RINGVAULT_PORTABILITY_CLIENT_ID": DEMO_CLIENT_ID,
    "RINGVAULT_PORTABILITY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    "RINGVAULT_PORTABILITY_REDIRECT_URI": "http://127.0.0.1/portability/callback",
}


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    portability = SimPortabilityConfig(completion_delay_s=0.2, log_records_per_day=0.5)
    return SimConfig(
        seed=41, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        portability=portability,
    )  # fmt: skip


def _invoke(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str) -> Any:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "ringvault worker needs the archive on PostgreSQL: set RINGVAULT_DATABASE_URL="),
        ({"RINGVAULT_DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "the Data Portability jobs need PostgreSQL"),
        ({"RINGVAULT_DATABASE_URL": "pg"}, "Data Portability is not configured: set RINGVAULT_PORTABILITY_CLIENT_ID"),
        ({"RINGVAULT_DATABASE_URL": "pg", **PORTABILITY, "RINGVAULT_WORKER_HEARTBEAT_S": "often"}, "not a number"),
        ({"RINGVAULT_DATABASE_URL": "pg", **PORTABILITY, "RINGVAULT_WORKER_STALL_TIMEOUT_S": "1"}, "at least twice"),
        ({"RINGVAULT_DATABASE_URL": "pg", **PORTABILITY, "RINGVAULT_PORTABILITY_CREATE_WINDOW": "off"}, "20m, 1h"),
    ],
)
def test_a_worker_that_cannot_run_says_why_in_one_line(
    env: dict[str, str], words: str, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [*PORTABILITY, "RINGVAULT_CLOUD_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RINGVAULT_HOME", str(tmp_path / "home"))
    env = {name: pg_url if value == "pg" else value for name, value in env.items()}
    result = _invoke(monkeypatch, env, "worker", "--archive", str(tmp_path / "archive"))
    assert result.exit_code == 2, result.output
    assert words in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_bad_worker_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RINGVAULT_HOME", str(tmp_path / "home"))
    result = _invoke(monkeypatch, {"RINGVAULT_PORTABILITY_WORKER": "maybe"}, "serve", "--port", "0")
    assert result.exit_code == 2 and "RINGVAULT_PORTABILITY_WORKER must be 1 or 0" in result.output, result.output


def _serve(sim: SimServer, tmp_path: Path, *, worker: bool) -> ServerThread:
    def factory(url: str) -> Any:
        credentials = ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, f"{url}/portability/callback")
        tokens = tmp_path / "home" / "dp-tokens"
        config = PortabilityConfig(credentials=credentials, token_dir=tokens, cloud_url=sim.url)
        settings = ServerSettings(
            archive_dir=tmp_path / "archive", cloud_url=sim.url, portability=PortabilityServerSettings(config=config),
            portability_worker=worker,
        )  # fmt: skip
        return create_app(settings)

    server = ServerThread(factory).start()
    notify_here(sim, server)
    return server


@pytest.fixture
def servers() -> Iterator[list[ServerThread]]:
    started: list[ServerThread] = []
    yield started
    for server in started:
        server.stop()


def _connect(sim: SimServer, server: ServerThread, key: str) -> None:
    answer = connect(server, email=sim.config.email, password=sim.config.password, history="5d", customer=key)
    assert answer.status_code == 200, answer.text


def _imported(sim: SimServer, server: ServerThread, key: str) -> dict[str, Any]:
    with server.client() as client:
        query: dict[str, Any] = wait_until(
            f"{key}'s import", lambda: latest_query_in(client, key, "imported", "failed"), WAIT_S, 0.3
        )
        assert query["state"] == "imported", query
        customer = customers(client)[key]
    assert customer["records"] == sum(expected_records(sim, query["id"]).values()) > 0
    return query


def _jobs(url: str) -> list[tuple[str, str, str]]:
    return [
        (str(step), str(status), str(when))
        for step, status, when in rows(
            url,
            "SELECT args->>'step', status::text, CASE WHEN scheduled_at > now() + interval '1 hour' THEN 'later' "
            "ELSE 'now' END FROM procrastinate_jobs WHERE queue_name = %s ORDER BY id",
            QUEUE,
        )
    ]


def test_serve_on_postgresql_runs_the_steps_with_its_own_worker(
    sim: SimServer, pg_env: str, tmp_path: Path, servers: list[ServerThread]
) -> None:
    server = _serve(sim, tmp_path, worker=True)
    servers.append(server)
    _connect(sim, server, "ada")
    _imported(sim, server, "ada")
    # every step ran as a job and is gone; what is left is the next (recurring) export, a day away
    wait_until("the jobs to settle", lambda: _jobs(pg_env) == [("export", "todo", "later")], 60)


def test_serve_queues_the_steps_and_a_worker_process_runs_them(
    sim: SimServer, pg_env: str, tmp_path: Path, servers: list[ServerThread]
) -> None:
    server = _serve(sim, tmp_path, worker=False)
    servers.append(server)
    _connect(sim, server, "bo")
    # nothing runs the export in this process: it waits in the database for a worker
    assert _jobs(pg_env) == [("export", "todo", "now")]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert customers(client)["bo"]["latest_query"] is None
    server.stop()  # a restart puts every customer's next step back in the queue: still one job, not two
    server = _serve(sim, tmp_path, worker=False)
    servers.append(server)
    assert _jobs(pg_env) == [("export", "todo", "now")]
    env = portability_env(sim_url=sim.url, database_url=pg_env, home=tmp_path / "home", port=server.port)
    worker = Worker(env, tmp_path / "worker-archive", tmp_path / "worker.log")
    try:
        worker.wait_ready()
        query = _imported(sim, server, "bo")
        assert ("import", query["id"], "done") in worker.steps(), worker.output()
        worker.popen.send_signal(signal.SIGINT)
        assert worker.popen.wait(timeout=60) == 0, worker.output()
    finally:
        worker.stop()
    assert worker.output().rstrip().endswith("ringvault worker: stopped"), worker.output()
    # the export's files went to the worker's own directory
    assert any(path.is_file() for path in (tmp_path / "worker-archive").rglob("*"))
