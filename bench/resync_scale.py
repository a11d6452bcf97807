"""What a ``ringvault sync`` costs as the archive grows: 1 k, 10 k and 50 k events over 10 devices (issue 9, item 4).

For each size the simulator runs in its own process (``ringvault sim --locations 1 --events-per-device N/10``: 10
cameras, doorbells and an intercom with events, 8 of them with a Ring Protect plan, the others' events end
``no_media``), then each command is one measured ``ringvault sync`` subprocess (wall time, peak RSS and CPU from
``wait4``; requests counted by the simulator):

1. ``--metadata-only`` into a new archive: the first metadata-only sync (every event stored, every recording
   ``pending``);
2. ``--metadata-only`` again: a no-change re-sync of an archive of pending recordings;
3. ``--dry-run`` on it: counts what would be downloaded (every pending recording);
4. ``--since <tomorrow>`` on it: a plain sync for which none of the pending recordings is due (the window leaves
   them all out);
5. ``sync`` on a copy of that archive where every recording is marked archived with SQL (a ``media`` row per
   event, status ``done``, and an empty file and sidecar in a folder per device and day: a re-sync never opens them,
   but a walk of the archive would list them all): the no-change re-sync of a fully downloaded archive;
6. for the sizes in ``--full`` (default 1 k and 10 k): a real first ``sync`` with every recording downloaded (the
   simulator's clips are encoded into its cache before, not timed), then a real no-change re-sync of it. The CPU per
   recording is that run's CPU minus the first metadata-only sync's, per recording downloaded.

Each no-change re-sync runs ``--repeat`` times (default 5): the table shows the median wall time and CPU, the fastest
run in brackets, the largest peak RSS. Goals: a no-change re-sync under 1 s wall with at most one history request
per device, at 10 k and 50 k; peak RSS under 150 MB for every sync at 50 k; under 5 ms of client CPU per
downloaded recording.

Run from the repository root: ``.venv/bin/python -m bench.resync_scale [--sizes 1000,10000,50000] [--full 1000,10000]
[--latency-ms 0] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Row,
    by_family,
    env,
    login_ringvault,
    markdown_table,
    measure,
    reset_stats,
    sim_stats,
    simulator,
)

DEVICES = 10


@dataclass
class Result:
    size: int
    step: str
    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    requests: int
    families: dict[str, int]
    summary: str
    exit_code: int
    extra: dict[str, Any] = field(default_factory=dict)


def warm_media_cache(url: str, cache: Path) -> int:
    """Encode every clip a full sync will fetch into the simulator's cache (so the timed run does not pay for it)."""
    from ringvault.sim.config import SimConfig
    from ringvault.sim.media import MediaStore

    config = httpx.get(f"{url}/_sim/config", timeout=10).json()
    world = httpx.get(f"{url}/_sim/world", params={"events": "list"}, timeout=600).json()
    names = {str(d["id"]): d["name"] for d in world["devices"]}
    store = MediaStore(SimConfig(media_cache_dir=cache))
    count = 0
    for device_id, events in world["events"].items():
        for event in events:
            store.mp4(event["id_str"], seconds=config["recording_seconds"], label=names[device_id])
            count += 1
    return count


def mark_all_archived(archive: Path) -> int:
    """Give every pending event a ``media`` row, status ``done`` and an (empty) file and sidecar under
    ``media/bench/{device}/{day}/``, as a complete download would leave them: a re-sync opens none of them, but a walk
    of the archive would have to list them all."""
    with sqlite3.connect(archive / "archive.sqlite3") as conn:
        rows = conn.execute(
            "SELECT id, device_id, substr(created_at, 1, 10) FROM events WHERE media_status = 'pending'"
        ).fetchall()
        conn.execute(
            "INSERT INTO media (event_id, device_id, kind, path, bytes, sha256, content_type, validated, captured_at,"
            " downloaded_at) SELECT id, device_id, 'recording', 'media/bench/' || device_id || '/' || "
            "substr(created_at, 1, 10) || '/' || id || '.mp4', 4600, "
            "'0000000000000000000000000000000000000000000000000000000000000000', 'video/mp4', 1, created_at, "
            "updated_at FROM events WHERE media_status = 'pending'"
        )
        changed = conn.execute("UPDATE events SET media_status = 'done' WHERE media_status = 'pending'").rowcount
    for event_id, device_id, day in rows:
        folder = archive / "media" / "bench" / str(device_id) / day
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{event_id}.mp4").touch()
        (folder / f"{event_id}.json").touch()
    return int(changed)


class Bench:
    def __init__(self, url: str, workdir: Path, size: int) -> None:
        self.url, self.workdir, self.size = url, workdir, size
        self.env = env(RINGVAULT_CLOUD_URL=url, RINGVAULT_TOKEN_FILE=str(workdir / "token.json"))
        self.results: list[Result] = []

    def sync(self, step: str, archive: Path, *extra: str, repeat: int = 1) -> Result:
        """Run the command ``repeat`` times (a re-sync changes nothing): the median wall time and CPU are reported
        (the minimum too), the largest peak RSS, the requests of the last run."""
        cmd = [sys.executable, "-m", "ringvault", "sync", "--archive", str(archive), *extra]
        runs = []
        for _ in range(max(1, repeat)):
            reset_stats(self.url)
            run = measure(cmd, self.env, self.workdir / f"{step}.log", check=False)
            if run.returncode not in (0, 7):
                sys.exit(f"{step}: exit code {run.returncode}; see {self.workdir / f'{step}.log'}")
            runs.append(run)
        total, endpoints = sim_stats(self.url)
        lines = [line for line in runs[-1].stdout.splitlines() if line.startswith(("sync done", "dry run"))]
        walls, cpus = sorted(r.wall_s for r in runs), sorted(r.cpu_s for r in runs)
        result = Result(
            size=self.size, step=step, wall_s=statistics.median(walls), peak_rss_mib=max(r.peak_rss_mib for r in runs),
            cpu_s=statistics.median(cpus), requests=total, families=by_family(endpoints),
            summary=lines[-1] if lines else "", exit_code=runs[-1].returncode,
            extra={"runs": len(runs), "min_wall_s": walls[0], "min_cpu_s": cpus[0]},
        )  # fmt: skip
        print(f"  {step}: {result.wall_s:.2f} s, {result.peak_rss_mib:.0f} MiB, {total} requests", file=sys.stderr)
        self.results.append(result)
        return result


def run_size(size: int, args: argparse.Namespace, root: Path) -> list[Result]:
    workdir = root / f"n{size}"
    workdir.mkdir()
    sim_args = [
        "--seed", str(args.seed), "--locations", "1", "--events-per-device", str(size // DEVICES),
        "--latency-ms", str(args.latency_ms), "--media-cache", str(args.media_cache), "--history-days", "60",
    ]  # fmt: skip
    print(f"{size} events:", file=sys.stderr)
    with simulator(sim_args, workdir) as url:
        bench = Bench(url, workdir, size)
        login_ringvault(url, bench.env)
        pending = workdir / "pending"
        again = args.repeat
        first = bench.sync("first sync, --metadata-only", pending, "--metadata-only")
        bench.sync("no-change re-sync, --metadata-only (all pending)", pending, "--metadata-only", repeat=again)
        bench.sync("dry run (all pending)", pending, "--dry-run", repeat=again)
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        bench.sync("no-change re-sync, nothing due (--since tomorrow)", pending, "--since", tomorrow, repeat=again)
        done = workdir / "done"
        shutil.copytree(pending, done)
        marked = mark_all_archived(done)
        result = bench.sync("no-change re-sync (all archived)", done, repeat=again)
        result.extra["marked_archived"] = marked
        if size in args.full:
            clips = warm_media_cache(url, args.media_cache)
            print(f"  {clips} clips in the simulator's cache", file=sys.stderr)
            full = workdir / "full"
            downloaded = bench.sync("first sync, downloading", full)
            recordings = len(list(full.rglob("*.mp4")))
            downloaded.extra["recordings"] = recordings
            if recordings:
                downloaded.extra["cpu_ms_per_recording"] = (downloaded.cpu_s - first.cpu_s) / recordings * 1000
                downloaded.extra["cpu_ms_per_recording_all_in"] = downloaded.cpu_s / recordings * 1000
            bench.sync("no-change re-sync (downloaded)", full, repeat=again)
        return bench.results


def table(results: list[Result]) -> str:
    rows = []
    for r in results:
        runs = r.extra.get("runs", 1)
        wall = f"{r.wall_s:.2f} s" + (f" (min {r.extra['min_wall_s']:.2f})" if runs > 1 else "")
        cells: dict[str, Any] = {
            "events": f"{r.size:,}", "wall": wall, "peak RSS": f"{r.peak_rss_mib:.0f} MiB",
            "CPU": f"{r.cpu_s:.2f} s", "requests": r.requests, "history": r.families["history"],
            "video search": r.families["video search"], "media": r.families["media (S3)"],
            "exit": r.exit_code,
        }  # fmt: skip
        if "cpu_ms_per_recording" in r.extra:
            cells["CPU / recording"] = (
                f"{r.extra['cpu_ms_per_recording']:.1f} ms ({r.extra['cpu_ms_per_recording_all_in']:.1f} all in)"
            )
        rows.append(Row(r.step, cells))
    return markdown_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000", help="events in all (10 devices)")
    parser.add_argument("--full", default="1000,10000", help="sizes that also get a real downloading first sync")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated latency per request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each no-change re-sync (median reported)")
    parser.add_argument("--media-cache", type=Path, default=None, help="simulator clip cache (default: user cache)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.full = {int(n) for n in args.full.split(",") if n.strip()}
    if args.media_cache is None:
        from ringvault.sim.media import default_cache_dir

        args.media_cache = default_cache_dir()
    root = Path(tempfile.mkdtemp(prefix="ringvault-scale-"))
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    try:
        for size in [int(n) for n in args.sizes.split(",") if n.strip()]:
            results += run_size(size, args, root)
        print(table(results))
        print(
            f"\n{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}; "
            f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; latency {args.latency_ms:g} ms."
        )
        if args.json is not None:
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
