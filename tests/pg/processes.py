"""``ringvault serve`` and ``ringvault worker`` as processes of their own, for the PostgreSQL tests and the benchmark:
each started with ``python -m ringvault``, its output in a file, stopped by its PID (SIGTERM first, SIGKILL when it
does not stop), never by name."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import psycopg

from ringvault.server.portability_jobs import conninfo
from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]
#: how a ``ringvault worker`` logs a step (``server/portability_worker.py``)
STEP_LINE = re.compile(r"^step (\w+) (\S+) (started|done)\b", re.MULTILINE)
#: Heartbeats every second, dead after 10 s of silence: a busy 2-core machine delays a heartbeat by a second or two,
#: never by ten (and a live worker wrongly taken for dead loses nothing: the customer's lock keeps its step single).
FAST_WORKERS = {
    "RINGVAULT_WORKER_HEARTBEAT_S": "1",
    "RINGVAULT_WORKER_STALL_TIMEOUT_S": "10",
    "RINGVAULT_WORKER_STALL_CHECK_S": "1",
    "RINGVAULT_WORKER_POLL_S": "0.5",
    "RINGVAULT_WORKER_SHUTDOWN_TIMEOUT_S": "5",
    "RINGVAULT_WORKER_STEP_RETRY_S": "2",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy (a safety net, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of a read-only test query on the archive's database."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]  # test SQL, no user input


def portability_env(*, sim_url: str, database_url: str, home: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of the app's processes: the simulator's demo app, one PostgreSQL archive, one token directory
    (shared: customers' tokens are files), ``extra`` on top."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGVAULT_")}
    env.update(
        {
            "RINGVAULT_HOME": str(home),
            "RINGVAULT_CLOUD_URL": sim_url,
            "RINGVAULT_DATABASE_URL": database_url,
            "RINGVAULT_PORTABILITY_CLIENT_ID": DEMO_CLIENT_ID,
            "RINGVAULT_PORTABILITY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "RINGVAULT_PORTABILITY_REDIRECT_URI": f"http://127.0.0.1:{port}/portability/callback",
            "RINGVAULT_PORTABILITY_TOKEN_DIR": str(home / "dp-tokens"),
            **FAST_WORKERS,
            **extra,
        }
    )
    return env


class Process:
    """One ``ringvault`` command in a process of its own; its output (stdout and stderr) in ``log``."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "ringvault", *args],
                cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout_s: float = 120.0) -> None:
        what = f"{text!r} from ringvault {self.args[0]}"
        wait_until(what, lambda: text in self.output() or not self.alive, timeout_s)
        assert text in self.output(), self.output()[-3000:]

    def kill(self) -> None:
        """SIGKILL: the process dies at once, whatever it was doing."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, timeout_s: float = 60.0, sig: int = signal.SIGTERM) -> int:
        """``sig`` (SIGTERM), then SIGKILL after ``timeout_s``; the exit code (negative: the signal that ended it)."""
        if self.alive:
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode


class Serve(Process):
    """``ringvault serve`` on a port chosen beforehand (the redirect URI names it)."""

    def __init__(self, env: Mapping[str, str], port: int, archive: Path, log: Path) -> None:
        super().__init__(["serve", "--port", str(port), "--archive", str(archive)], env, log)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        def healthy() -> bool:
            if not self.alive:
                raise AssertionError(f"ringvault serve exited: {self.output()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("ringvault serve to answer", healthy, timeout_s)


class Worker(Process):
    """``ringvault worker``, with an archive directory of its own (as on a machine of its own)."""

    def __init__(self, env: Mapping[str, str], archive: Path, log: Path) -> None:
        super().__init__(["worker", "--archive", str(archive)], env, log)
        self.archive = archive

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        self.wait_for_output("ringvault worker: running Data Portability steps", timeout_s)

    def steps(self) -> list[tuple[str, str, str]]:
        """``(step, arg, started|done)`` as this worker logged them, in order."""
        return [(m[1], m[2], m[3]) for m in STEP_LINE.finditer(self.output())]

    def running(self, step: str) -> set[str]:
        """Args of the ``step`` steps this worker started and did not finish (as far as its log says)."""
        open_args: dict[str, int] = {}
        for name, arg, what in self.steps():
            if name == step:
                open_args[arg] = open_args.get(arg, 0) + (1 if what == "started" else -1)
        return {arg for arg, count in open_args.items() if count > 0}
