"""``ringvault login`` / ``logout`` against the simulator, including every failure the user can hit."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ringvault.cli import app
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke, two_factor_code


def test_scripted_login_with_2fa_keeps_a_private_token(invoke: Invoke, cloud_env: SimServer, rv_home: Path) -> None:
    sim = cloud_env
    email, password = sim.state.config.email, sim.state.config.password

    first = invoke("login", "--email", email, "--password", password)
    assert first.exit_code == 3
    assert "code" in first.output.lower()
    assert sim.state.config.phone in first.output  # tells the user where the code went

    code = two_factor_code(sim)
    result = invoke("login", "--email", email, "--password", password, "--code", code)
    assert result.exit_code == 0, result.output
    assert f"Logged in as {email}" in result.output

    token_file = rv_home / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = json.loads(token_file.read_text())
    assert stored["refresh_token"] and stored["hardware_id"]
    # secrets are never printed
    assert stored["refresh_token"] not in result.output
    assert password not in result.output + first.output


def test_login_reads_credentials_from_environment(
    invoke: Invoke, cloud_env: SimServer, monkeypatch: pytest.MonkeyPatch, rv_home: Path
) -> None:
    monkeypatch.setenv("RINGVAULT_EMAIL", cloud_env.state.config.email)
    monkeypatch.setenv("RINGVAULT_PASSWORD", cloud_env.state.config.password)
    assert invoke("login").exit_code == 3
    monkeypatch.setenv("RINGVAULT_2FA_CODE", two_factor_code(cloud_env))
    result = invoke("login")
    assert result.exit_code == 0, result.output
    assert (rv_home / "token.json").exists()


def test_wrong_password_is_one_clear_line(invoke: Invoke, cloud_env: SimServer) -> None:
    result = invoke("login", "--email", cloud_env.state.config.email, "--password", "not-the-password")
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "password" in lines[0].lower()


def test_wrong_2fa_code(invoke: Invoke, cloud_env: SimServer) -> None:
    email, password = cloud_env.state.config.email, cloud_env.state.config.password
    invoke("login", "--email", email, "--password", password)
    real = two_factor_code(cloud_env)
    wrong = "000000" if real != "000000" else "111111"
    result = invoke("login", "--email", email, "--password", password, "--code", wrong)
    assert result.exit_code == 3
    assert "code" in result.output.lower() and ("wrong" in result.output.lower() or "invalid" in result.output.lower())


def test_2fa_throttled_after_ten_codes(invoke: Invoke, cloud_env: SimServer) -> None:
    email, password = cloud_env.state.config.email, cloud_env.state.config.password
    for _ in range(cloud_env.state.config.two_factor_limit):
        assert invoke("login", "--email", email, "--password", password).exit_code == 3
    result = invoke("login", "--email", email, "--password", password)
    assert result.exit_code == 3
    assert "10 minutes" in result.output


def test_revoked_token(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    httpx.post(f"{cloud_env.url}/_sim/tokens/revoke", timeout=10).raise_for_status()
    httpx.post(f"{cloud_env.url}/_sim/tokens/expire", timeout=10).raise_for_status()
    result = invoke("devices")
    assert result.exit_code == 3
    assert "ringvault login" in result.output


def test_not_logged_in(invoke: Invoke) -> None:
    result = invoke("devices")
    assert result.exit_code == 3
    assert "ringvault login" in result.output


def test_logout_keeps_hardware_id(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    hardware_id = json.loads(logged_in.read_text())["hardware_id"]
    result = invoke("logout")
    assert result.exit_code == 0 and "Logged out" in result.output
    assert invoke("devices").exit_code == 3
    # logging in again reuses the same hardware id: no new "Authorized Client Device" at Ring
    email, password = cloud_env.state.config.email, cloud_env.state.config.password
    invoke("login", "--email", email, "--password", password)
    assert (
        invoke("login", "--email", email, "--password", password, "--code", two_factor_code(cloud_env)).exit_code == 0
    )
    assert json.loads(logged_in.read_text())["hardware_id"] == hardware_id


def test_cloud_unreachable(rv_home: Path) -> None:
    with socket.socket() as sock:  # bound, not listening: refused, and no other test's server can take the port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app,
            ["--cloud-url", f"http://127.0.0.1:{port}", "login", "--email", "a@b.c", "--password", "x"],
            catch_exceptions=False,
        )
    assert result.exit_code == 5, result.output
    assert "reach" in result.output.lower() or "unreachable" in result.output.lower()
