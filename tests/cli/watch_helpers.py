"""Helpers of the ``ringvault watch`` tests: the real CLI in a subprocess against the simulator, dings through the
simulator's control API (which pushes them through its FCM stand-in), and the archive read back from SQLite."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ringvault.archive.files import is_partial_name
from ringvault.sim.server import SimServer
from tests.cli_process import CliProcess, cli_env

#: Wide bound for anything to show up (a busy 2-core machine); the real figures go in the test log.
WAIT_S = 60.0


def doorbells(sim: SimServer, count: int) -> list[int]:
    """Ids of ``count`` doorbells with a Ring Protect plan (they have recordings)."""
    found = [
        d.id
        for d in sim.state.world.devices.values()
        if d.family in ("doorbots", "authorized_doorbots") and d.spec.protect and not d.is_intercom
    ]
    assert len(found) >= count, f"the simulated world has {len(found)} doorbells with a plan"
    return sorted(found)[:count]


def ding(sim: SimServer, device_id: int) -> str:
    """Press a doorbell; the new event's ding id."""
    response = httpx.post(f"{sim.url}/_sim/devices/{device_id}/ding", timeout=10)
    response.raise_for_status()
    ding_id = response.json()["event"]["id_str"]
    assert isinstance(ding_id, str)
    return ding_id


def set_faults(sim: SimServer, **knobs: Any) -> None:
    httpx.patch(f"{sim.url}/_sim/faults", json=knobs, timeout=10).raise_for_status()


def set_push_faults(sim: SimServer, **knobs: Any) -> None:
    httpx.patch(f"{sim.url}/_sim/push/faults", json=knobs, timeout=10).raise_for_status()


def start_watch(sim: SimServer, home: Path, workdir: Path, name: str, *args: str) -> CliProcess:
    return CliProcess(["watch", *args], cli_env(sim, home), workdir, name)


def wait_for(check: Callable[[], bool], what: str, proc: CliProcess | None = None, timeout: float = WAIT_S) -> float:
    """Wait until ``check()``; the seconds it took (an AssertionError naming ``what`` after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"watch ended before {what}: {proc.result().describe()}")
        if time.monotonic() - started > timeout:
            detail = describe(proc) if proc is not None else ""
            raise AssertionError(f"no {what} after {timeout:.0f} s\n{detail}")
        time.sleep(0.1)
    return time.monotonic() - started


def output(proc: CliProcess) -> str:
    """What the (possibly still running) process printed on stdout so far."""
    return proc._out.read_text(errors="replace")


def errors(proc: CliProcess) -> str:
    return proc._err.read_text(errors="replace")


def describe(proc: CliProcess) -> str:
    out = output(proc).strip().splitlines()[-8:]
    err = errors(proc).strip().splitlines()[-8:]
    return "\n".join([f"  out| {line}" for line in out] + [f"  err| {line}" for line in err])


def json_lines(proc: CliProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output(proc).splitlines() if line.startswith("{")]


def archived(archive: Path) -> dict[str, str]:
    """Event id → media status of every event in the archive."""
    db = archive / "archive.sqlite3"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return {str(row[0]): str(row[1]) for row in conn.execute("SELECT id, media_status FROM events")}
    except sqlite3.OperationalError:  # tables being created
        return {}


def media_files(archive: Path) -> dict[str, list[Path]]:
    """Ding id → the recording files whose name holds it (temporary files are reported separately)."""
    found: dict[str, list[Path]] = {}
    for path in (archive / "media").rglob("*.mp4") if (archive / "media").exists() else []:
        found.setdefault(path.stem.split("-")[-1], []).append(path)
    return found


def partial_files(archive: Path) -> list[Path]:
    media = archive / "media"
    if not media.exists():
        return []
    return [p for p in media.rglob("*") if p.is_file() and is_partial_name(p.name)]


def media_rows(archive: Path) -> dict[str, int]:
    """Event id → how many recording rows the archive's ``media`` table has for it."""
    db = archive / "archive.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT event_id, count(*) FROM media WHERE kind = 'recording' GROUP BY event_id")
        return {str(row[0]): int(row[1]) for row in rows}
