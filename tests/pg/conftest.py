"""Fixtures of the PostgreSQL tests. The server itself (``pg_server``, ``pg_url``) comes from ``tests/pg/fixtures.py``,
registered for the whole suite, so that any test directory can run against PostgreSQL."""

from __future__ import annotations

import pytest

from tests.pg.fixtures import DATABASE_URL_ENV


@pytest.fixture
def pg_env(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``RINGVAULT_DATABASE_URL`` set to this test's own database (ringvault's commands, in-process or as child
    processes, use it); returns the URL."""
    monkeypatch.setenv(DATABASE_URL_ENV, pg_url)
    return pg_url
