"""Push and watch against the simulator in its own process (issue 12): 4 doorbells, N dings spread over them, each
posted through ``POST /_sim/devices/{id}/ding`` (recorded and pushed through the simulator's FCM stand-in).

1. ding → its line from ``ringvault watch --json`` (a real subprocess; stdout read as lines arrive), timed from
   just before the POST;
2. ding → its recording archived and verified by ``ringvault watch --archive DIR --json`` (the event's
   ``media_status`` is ``done`` in the archive's SQLite database), at the simulator's ``recording_delay_s`` 0 and 20.

Run: ``.venv/bin/python -m bench.push_watch [--dings N] [--json out.json]``. Goals (issue 12): a ding reaches watch
within 2 s; its recording is archived within the recording delay plus 5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, emit_json, env, login_ringvault, simulator, spread

CAMERAS = 4
GAP_S = 0.3


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _doorbells(url: str) -> list[int]:
    world = httpx.get(f"{url}/_sim/world", params={"events": "count"}, timeout=20).json()
    ids = [d["id"] for d in world["devices"] if d["family"] == "doorbots" and d["show_recordings"] and not d["offline"]]
    if len(ids) < CAMERAS:
        sys.exit(f"the simulated world has {len(ids)} doorbells with recordings, not {CAMERAS}")
    return [int(i) for i in ids[:CAMERAS]]


def _ding(url: str, device_id: int) -> str:
    answer = httpx.post(f"{url}/_sim/devices/{device_id}/ding", timeout=20)
    answer.raise_for_status()
    ding_id = answer.json()["event"]["id_str"]
    assert isinstance(ding_id, str)
    return ding_id


@contextlib.contextmanager
def _watch(args: list[str], child_env: dict[str, str], log: Path) -> Iterator[queue.Queue[tuple[float, str]]]:
    """``ringvault watch *args`` in its own process; yields a queue of (arrival time, stdout line); SIGTERM at end."""
    cmd = [sys.executable, "-m", "ringvault", "watch", *args]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        lines: queue.Queue[tuple[float, str]] = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                lines.put((time.perf_counter(), raw.decode(errors="replace")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while b"watching:" not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"ringvault watch did not start; see {log}")
                time.sleep(0.05)
            time.sleep(1.0)  # the first catch-up pass runs just after the banner
            yield lines
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            reader.join(timeout=5)
            if code != 0:
                print(f"ringvault watch exited with {code}; see {log}", file=sys.stderr)


def ding_to_line(url: str, cameras: list[int], dings: int, child_env: dict[str, str], work: Path) -> dict[str, Any]:
    delays: list[float] = []
    with _watch(["--json"], child_env, work / "watch-json.log") as lines:
        for i in range(dings):
            sent = time.perf_counter()
            ding_id = _ding(url, cameras[i % len(cameras)])
            deadline = time.monotonic() + 30
            while True:
                try:
                    arrived, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    sys.exit(f"ding {ding_id} never reached ringvault watch --json")
                if ding_id in line:
                    delays.append(arrived - sent)
                    break
            time.sleep(GAP_S)
    return {"dings": dings, **{k: round(v, 3) for k, v in spread(delays).items()}}


def _done(db: Path, ids: list[str]) -> set[str]:
    if not db.exists() or not ids:
        return set()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(f"SELECT id FROM events WHERE media_status = 'done' AND id IN ({marks})", ids)
            return {str(row[0]) for row in rows}
    except sqlite3.OperationalError:  # not created yet, or locked for longer than the timeout
        return set()


def ding_to_archived(
    url: str, cameras: list[int], dings: int, delay_s: float, child_env: dict[str, str], work: Path
) -> dict[str, Any]:
    httpx.patch(f"{url}/_sim/faults", json={"recording_delay_s": delay_s}, timeout=20).raise_for_status()
    archive = work / f"archive-{int(delay_s)}"
    db = archive / "archive.sqlite3"
    sent: dict[str, float] = {}
    archived: dict[str, float] = {}
    with _watch(["--archive", str(archive), "--json"], child_env, work / f"watch-archive-{int(delay_s)}.log"):
        for i in range(dings):
            started = time.perf_counter()
            sent[_ding(url, cameras[i % len(cameras)])] = started
            until = time.perf_counter() + GAP_S
            while time.perf_counter() < until:
                now = time.perf_counter()
                for ding_id in _done(db, [d for d in sent if d not in archived]):
                    archived[ding_id] = now
                time.sleep(0.05)
        deadline = time.monotonic() + delay_s + 120
        while len(archived) < len(sent):
            if time.monotonic() > deadline:
                sys.exit(f"{len(sent) - len(archived)} recordings never archived at recording_delay_s {delay_s}")
            now = time.perf_counter()
            for ding_id in _done(db, [d for d in sent if d not in archived]):
                archived[ding_id] = now
            time.sleep(0.05)
    values = spread([archived[d] - sent[d] for d in sent])
    return {
        "recording_delay_s": delay_s,
        "dings": dings,
        "median": round(values["median"], 3),
        "max": round(values["max"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dings", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"cameras": CAMERAS, "dings": args.dings, "gap_s": GAP_S, "loadavg_before": _loadavg()}
    with tempfile.TemporaryDirectory(prefix="rv-bench-push-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        sim_args = ["--family", "doorbots", "--locations", "4", "--events-per-device", "0"]
        with simulator(sim_args, work) as url:
            child_env = env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url)
            login_ringvault(url, child_env)
            cameras = _doorbells(url)
            result["ding_to_watch_line_s"] = ding_to_line(url, cameras, args.dings, child_env, work)
            result["ding_to_archived_s"] = [
                ding_to_archived(url, cameras, args.dings, delay, child_env, work) for delay in (0.0, 20.0)
            ]
    result["loadavg_after"] = _loadavg()
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
