"""PostgreSQL fixtures for every test directory (registered by ``tests/conftest.py``): ``pg_server``, one real server
per test process (per pytest-xdist worker), started the first time a test asks for it and stopped by its PID at the
end of the session; ``pg_url``, a new empty database on it for one test (a SQLAlchemy ``postgresql+psycopg`` URL).

One server per worker rather than one for the run: a server starts in about a second (initdb without fsync plus the
postmaster) and a database is created in about 0.1 s, while sharing one server across worker processes would need a
lock and a reference count to know who stops it. A worker that runs no PostgreSQL test starts none.

A machine without PostgreSQL fails these tests with the reason and what to install, never skips them: in CI
(``CI=true``) and outside it alike, a missing component must not look like a passing suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg.server import PostgresServer, PostgresUnavailableError, start_postgres

#: The variable that points ringvault at a PostgreSQL archive; no test may inherit the developer's own.
DATABASE_URL_ENV = "RINGVAULT_DATABASE_URL"


@pytest.fixture(scope="session", autouse=True)
def _no_inherited_database_url() -> Iterator[None]:
    """Tests choose their database themselves: a ``RINGVAULT_DATABASE_URL`` in the developer's shell would send
    every SQLite test's archive into someone's PostgreSQL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(DATABASE_URL_ENV, raising=False)
        yield


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailableError as exc:
        pytest.fail(f"PostgreSQL is needed by this test: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database of this test: ``postgresql+psycopg://postgres:<password>@127.0.0.1:<port>/<name>``."""
    return pg_server.url(pg_server.create_database())
