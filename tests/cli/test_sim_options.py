"""``ringvault sim`` option validation (the server itself is covered by tests/sim)."""

from __future__ import annotations

from typer.testing import CliRunner

from ringvault.cli import app


def test_an_unknown_device_family_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sim", "--family", "doorbots", "--family", "toasters"])
    assert result.exit_code == 2
    assert "--family must be one of doorbots, authorized_doorbots" in result.output
    assert "'toasters'" in result.output
