"""``ringvault sim`` option validation (the server itself is covered by tests/sim)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from ringvault.cli import app


def test_an_unknown_device_family_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sim", "--family", "doorbots", "--family", "toasters"])
    assert result.exit_code == 2
    assert "--family must be one of doorbots, authorized_doorbots" in result.output
    assert "'toasters'" in result.output


def test_a_busy_port_is_one_line_naming_the_port_and_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["sim", "--port", str(port)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert line == (
        f"error: port {port} on 127.0.0.1 is already in use (another `ringvault sim` or another server?); "
        "choose another with --port (--port 0 picks a free one)"
    )


def test_a_port_out_of_range_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sim", "--port", "70000"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "--port" in result.output and "Traceback" not in result.output
