"""What the sync benchmarks share: the simulator in its own process, a scripted ``ringvault login``, measured
subprocesses (wall time, peak RSS and CPU from ``wait4``) and the simulator's request counters by endpoint family.

Python writes bytecode caches for these runs (``PYTHONDONTWRITEBYTECODE`` is unset in the children), as an installed
ringvault has them: without, every command would compile its modules again, which is not what a user pays."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

#: Endpoint families for the request tables: (label, regex on the simulator's "METHOD host/route" key).
FAMILIES: tuple[tuple[str, str], ...] = (
    ("login+session", r"^POST (oauth\.ring\.com/|api\.ring\.com/clients_api/session)"),
    ("account+devices", r"clients_api/(ring_devices|profile|dings/active)|devices/v1/locations|groups/v1/"),
    ("video search", r"video_search"),
    ("history", r"/history$"),
    ("recording url", r"clients_api/dings/[^/]+/(recording|share/)"),
    ("media (S3)", r"amazonaws|s3|/ring-"),
)


def env(**extra: str) -> dict[str, str]:
    """The environment of a child: this checkout first on the path, bytecode caches allowed."""
    out = dict(os.environ)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out.update(extra)
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Measured:
    """One finished subprocess: wall time, its own peak RSS (MiB), CPU seconds (user + system), exit code, stdout."""

    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    returncode: int
    stdout: str


def measure(cmd: Sequence[str], child_env: dict[str, str], log: Path, *, check: bool = True) -> Measured:
    """Run ``cmd`` to completion (stderr to ``log``) and measure it with ``wait4``."""
    with open(log, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])}... failed with exit code {proc.returncode}; see {log}")
    return Measured(
        wall_s=wall, peak_rss_mib=usage.ru_maxrss / 1024, cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=proc.returncode, stdout=out.decode(),
    )  # fmt: skip


@contextlib.contextmanager
def simulator(args: Sequence[str], workdir: Path) -> Iterator[str]:
    """``ringvault sim --port P *args`` in its own process; yields its URL and stops it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "ringvault", "sim", "--port", str(port), *args]
    log = open(workdir / "sim.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_sim/config", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the simulator did not start; see {workdir / 'sim.log'}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def two_factor_code(url: str) -> str:
    code = httpx.get(f"{url}/_sim/2fa", timeout=10).json()["code"]
    assert isinstance(code, str)
    return code


def login_ringvault(url: str, child_env: dict[str, str]) -> None:
    """``ringvault login`` the scripted way: the first call gets the 2FA challenge (exit 3), the second the code."""
    config = httpx.get(f"{url}/_sim/config", timeout=10).json()
    base = [sys.executable, "-m", "ringvault", "login", "--email", config["email"], "--password", config["password"]]
    first = subprocess.run(base, cwd=ROOT, env=child_env, capture_output=True, text=True)
    if first.returncode != 3:
        sys.exit(f"ringvault login: expected the 2FA challenge (exit 3), got {first.returncode}: {first.stderr}")
    second = subprocess.run([*base, "--code", two_factor_code(url)], cwd=ROOT, env=child_env, capture_output=True,
                            text=True)  # fmt: skip
    if second.returncode != 0:
        sys.exit(f"ringvault login failed ({second.returncode}): {second.stderr}")


def sim_stats(url: str) -> tuple[int, dict[str, int]]:
    doc = httpx.get(f"{url}/_sim/stats", timeout=10).json()
    return int(doc["total"]), {key: int(value["count"]) for key, value in doc["endpoints"].items()}


def reset_stats(url: str) -> None:
    httpx.delete(f"{url}/_sim/stats", timeout=10).raise_for_status()


def by_family(endpoints: dict[str, int]) -> dict[str, int]:
    out = {label: 0 for label, _ in FAMILIES} | {"other": 0}
    for key, count in endpoints.items():
        label = next((label for label, pattern in FAMILIES if re.search(pattern, key)), "other")
        out[label] += count
    return out


@dataclass
class Row:
    """A line of a results table."""

    name: str
    cells: dict[str, Any] = field(default_factory=dict)


def markdown_table(rows: Sequence[Row]) -> str:
    head = list(dict.fromkeys(key for row in rows for key in row.cells))
    lines = ["| run | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    lines += ["| " + row.name + " | " + " | ".join(str(row.cells.get(k, "")) for k in head) + " |" for row in rows]
    return "\n".join(lines)


def spread(values: list[float]) -> dict[str, float]:
    """Median, 95th percentile (nearest rank) and maximum of ``values``."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO 8601 time to another."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def emit_json(result: dict[str, Any], path: Path | None) -> None:
    """Print a benchmark's result as JSON, and write it to ``path`` when given."""
    text = json.dumps(result, indent=2, default=lambda x: round(x, 3))
    print(text)
    if path is not None:
        path.write_text(text + "\n")
