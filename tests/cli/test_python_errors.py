"""Failures of Python itself (RecursionError, OverflowError, MemoryError, UnicodeError, ...) end a command with one
line and exit 1, never a traceback; ``--debug`` prints the traceback before that line; Ctrl-C stays Ctrl-C.

The failure is raised where Ring's answer is first used (``RingApi.get_locations``), the spot deeply nested or
otherwise hostile JSON reaches; ``tests/cli/test_hostile_ids.py`` covers the same path with real hostile ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cli.common import EXIT_ERROR
from ringvault.cloud.api import RingApi
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke

FAILURES: list[tuple[BaseException, str]] = [
    (RecursionError("maximum recursion depth exceeded while decoding a JSON array"), "nested too deeply"),
    (OverflowError("Python int too large to convert to C long"), "a number is too large"),
    (MemoryError(), "out of memory"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "cannot be encoded or decoded"),
    (ZeroDivisionError("division by zero"), "a bug in ringvault"),
    (ExceptionGroup("unhandled errors in a TaskGroup", [OverflowError("int too big")]), "a number is too large"),
]


def _world(sim: SimServer) -> dict[str, Any]:
    data = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    assert isinstance(data, dict)
    return data


def _raise(exc: BaseException) -> Any:
    async def failing(self: RingApi, *args: Any, **kwargs: Any) -> Any:
        raise exc

    return failing


@pytest.mark.parametrize(("exc", "words"), FAILURES, ids=[type(e).__name__ for e, _ in FAILURES])
@pytest.mark.parametrize("command", [["devices"], ["sync", "--metadata-only"], ["snapshot", "--all", "--out", "o"]])
def test_one_line_and_exit_1(
    invoke: Invoke,
    logged_in: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    exc: BaseException,
    words: str,
    command: list[str],
) -> None:
    monkeypatch.setattr(RingApi, "get_locations", _raise(exc))
    monkeypatch.chdir(tmp_path)
    result = invoke(*command, *(["--archive", str(tmp_path / "a")] if command[0] == "sync" else []))
    assert result.exit_code == EXIT_ERROR, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ") and words in line, line
    assert line.endswith("run again with --debug for the details")
    assert "Traceback" not in result.output


def test_debug_prints_the_traceback_then_the_line(
    invoke: Invoke, logged_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RingApi, "get_locations", _raise(RecursionError("maximum recursion depth exceeded")))
    result = invoke("--debug", "devices")
    assert result.exit_code == EXIT_ERROR
    assert "Traceback (most recent call last)" in result.stderr
    assert "RecursionError: maximum recursion depth exceeded" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the data is nested too deeply to process (RecursionError")


def test_ctrl_c_is_still_ctrl_c(invoke: Invoke, logged_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RingApi, "get_locations", _raise(KeyboardInterrupt()))
    result = invoke("devices")
    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"


def test_a_terminal_that_cannot_show_a_name_gets_an_escape(logged_in: Path, cloud_env: SimServer) -> None:
    """An ASCII terminal and a device named "Café": the table shows ``Caf\\xe9`` instead of ending the command
    with a UnicodeEncodeError traceback. A real process: no test runner in between."""
    doorbell = next(d for d in _world(cloud_env)["devices"] if d["family"] == "doorbots")
    renamed = httpx.patch(f"{cloud_env.url}/_sim/devices/{doorbell['id']}", json={"description": "Café"}, timeout=10)
    assert renamed.status_code == 200, renamed.text
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "COLUMNS": "300"}
    proc = subprocess.run([sys.executable, "-m", "ringvault", "devices"], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert b"Caf\\xe9" in proc.stdout


@pytest.mark.parametrize("debug", [False, True])
def test_the_entry_point_catches_what_happens_after_the_command_body(tmp_path: Path, debug: bool) -> None:
    """``main`` (the installed ``ringvault`` script) ends with one line even when the failure comes after ``run``
    (here: while the ``devices`` table is sorted); with ``--debug`` the traceback comes first."""
    code = (
        "import sys\n"
        "import ringvault.cli.devices as devices\n"
        "from ringvault.cli import main\n"
        "def deep(row):\n"
        "    raise RecursionError('maximum recursion depth exceeded')\n"
        "devices._shown_order = deep\n"
        "async def rows(opts, body):\n"
        "    return [{'id': 1, 'name': 'x', 'location_name': None, 'location_id': None}] * 2\n"
        "devices.with_api = rows\n"
        "sys.argv = ['ringvault', *sys.argv[1:]]\n"
        "main()\n"
    )
    args = ["--debug", "devices"] if debug else ["devices"]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_ERROR, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: the data is nested too deeply to process (RecursionError: maximum recursion")
    if debug:
        assert "Traceback (most recent call last):" in lines
    else:
        assert len(lines) == 1, proc.stderr
