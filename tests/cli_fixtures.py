"""CLI fixtures (``invoke``, ``logged_in``): run ``ringvault`` in-process (typer's runner) against the real simulator
server. Registered for the whole suite by ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from ringvault.cli import app
from ringvault.sim.server import SimServer

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(cloud_env: SimServer) -> Invoke:
    runner = CliRunner()

    def _invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return _invoke


def two_factor_code(sim: SimServer) -> str:
    code = httpx.get(f"{sim.url}/_sim/2fa", timeout=10).json()["code"]
    assert isinstance(code, str) and code
    return code


@pytest.fixture
def logged_in(invoke: Invoke, cloud_env: SimServer, rv_home: Path) -> Path:
    """Log in through the CLI the scripted way: first call gets the 412, second sends the code."""
    sim = cloud_env
    email, password = sim.state.config.email, sim.state.config.password
    first = invoke("login", "--email", email, "--password", password)
    assert first.exit_code == 3, first.output
    result = invoke("login", "--email", email, "--password", password, "--code", two_factor_code(sim))
    assert result.exit_code == 0, result.output
    return rv_home / "token.json"
