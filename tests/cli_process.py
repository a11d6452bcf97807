"""Helpers for acceptance tests that run the real ``ringvault`` CLI in subprocesses against the simulator.

Each command is ``[sys.executable, "-m", "ringvault", ...]`` with its own environment (``RINGVAULT_HOME``,
``RINGVAULT_CLOUD_URL``), so it reads and writes the token file exactly as a user's shell or cron job would.
Output goes to files, never to pipes, so a chatty process can never block on a full pipe while a test waits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ringvault.sim.server import SimServer

SRC = Path(__file__).resolve().parents[1] / "src"

#: What the CLI prints when it gives up on the stored login (exit 3): the false alarm issue 9 is about.
LOGIN_AGAIN = ("log in again", "ringvault login")


def cli_env(sim: SimServer, home: Path) -> dict[str, str]:
    """The environment of a ``ringvault`` process that uses ``home``'s token file and the simulator."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
        "RINGVAULT_HOME": str(home),
        "RINGVAULT_CLOUD_URL": sim.url,
        "COLUMNS": "200",
    }
    env.pop("RINGVAULT_TOKEN_FILE", None)
    return env


@dataclass
class CliRun:
    """One finished command: its arguments, exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def says_login_again(self) -> bool:
        text = self.output.lower()
        return any(phrase in text for phrase in LOGIN_AGAIN)

    def describe(self) -> str:
        """A compact account for assertion messages: the command, its exit code and the end of each output stream
        (stdout holds the summary, stderr the retries and the error line)."""
        out = self.stdout.strip().splitlines()[-6:]
        err = self.stderr.strip().splitlines()[-4:]
        lines = [f"  out| {line}" for line in out] + [f"  err| {line}" for line in err]
        return "\n".join([f"`ringvault {' '.join(self.args)}` exit {self.returncode}:", *lines])


class CliProcess:
    """A running ``ringvault`` command whose output goes to two files in ``workdir``."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str) -> None:
        self.args = args
        workdir.mkdir(parents=True, exist_ok=True)
        self._out = workdir / f"{name}.out"
        self._err = workdir / f"{name}.err"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "ringvault", *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL this process (only this one, by its own handle) and reap it."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)

    def wait(self, timeout: float) -> CliRun:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"`ringvault {' '.join(self.args)}` still running after {timeout:.0f} s") from None
        return self.result()

    def result(self) -> CliRun:
        code = self.popen.returncode
        assert code is not None
        out = self._out.read_text(errors="replace")
        err = self._err.read_text(errors="replace")
        return CliRun(self.args, code, out, err)


def run_cli(args: list[str], env: dict[str, str], workdir: Path, name: str, timeout: float) -> CliRun:
    """Run one ``ringvault`` command to its end."""
    return CliProcess(args, env, workdir, name).wait(timeout)
