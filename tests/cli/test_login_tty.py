"""``ringvault login`` on a real terminal (a pty): prompts for e-mail, hidden password and the 2FA code."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

from ringvault.sim.server import SimServer
from tests.cli_fixtures import two_factor_code


def _read_until(fd: int, needle: str, seen: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in "".join(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {needle!r} in {''.join(seen)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {needle!r}: {''.join(seen)!r}"
            seen.append(chunk.decode(errors="replace"))


def test_interactive_login_prompts_on_a_tty(cloud_env: SimServer, rv_home: Path) -> None:
    sim = cloud_env
    env = {**os.environ, "RINGVAULT_CLOUD_URL": sim.url, "RINGVAULT_HOME": str(rv_home)}
    for name in ("RINGVAULT_EMAIL", "RINGVAULT_PASSWORD", "RINGVAULT_2FA_CODE", "RINGVAULT_TOKEN_FILE"):
        env.pop(name, None)
    # pty.fork makes the terminal the child's controlling tty, so getpass can really turn echo off.
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(sys.executable, [sys.executable, "-m", "ringvault", "login"], env)
    seen: list[str] = []
    try:
        _read_until(master, "Ring e-mail", seen)
        os.write(master, (sim.state.config.email + "\n").encode())
        # click prints "Ring password:", then getpass turns echo off (flushing typed input) and prints " "
        _read_until(master, "Ring password: ", seen)
        os.write(master, (sim.state.config.password + "\n").encode())
        _read_until(master, f"sent to {sim.state.config.phone} via sms", seen)  # the 412 told us where
        os.write(master, (two_factor_code(sim) + "\n").encode())
        _read_until(master, "Logged in as", seen)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)
    output = "".join(seen)
    assert sim.state.config.password not in output  # typed hidden: never echoed
    assert (rv_home / "token.json").stat().st_mode & 0o777 == 0o600
