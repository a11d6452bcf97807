"""``ringvault sync`` vs the seed-001 baseline, side by side, against the simulator (issues 3 and 9).

The simulator runs in its own process (``ringvault sim``) with 50 ms of latency on every Ring-host request and an
account of 4 doorbells (Ring Protect, every recording ready) with 200 events each. Each tool then runs in its own
subprocess, so wall time, CPU and peak RSS are per tool:

a. the baseline — seed 001's loop with ring-doorbell 0.9.14 (``bench/seed001_baseline.py``): per doorbell
   ``history(limit=300)``, then one recording download after the other, mp4 + JSON sidecar;
b. ``ringvault sync --archive DIR`` — the real CLI with default options (concurrency 8), from a scripted login's
   token file, ``--runs`` times into a fresh archive each (default 3); the median run is compared;
c. ``ringvault sync`` again on that archive: the cost of a run with nothing new.

The simulator's request counters are cleared before each run. Both tools must archive the same recordings
(same ding ids, same bytes): the run fails otherwise. Logins and the simulator's media cache are prepared before
anything is timed. The bound printed next to the ratio is the shortest wall time the run's requests allow at this
latency and concurrency (``Bound``).

Run from the repository root: ``.venv/bin/python -m bench.sync_vs_baseline [--runs 3] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    FAMILIES,
    by_family,
    env,
    login_ringvault,
    measure,
    reset_stats,
    sim_stats,
    simulator,
    two_factor_code,
)

DEVICE_FAMILIES = ("doorbots",)  # seed 001 reads ring.devices()['doorbots']
LOCATIONS = 2  # Home holds 3 doorbells, Lake House 1: 4 in all


@dataclass
class Run:
    """One measured subprocess."""

    name: str
    wall_s: float
    peak_rss_mib: float
    cpu_s: float
    requests: int
    by_family: dict[str, int]
    endpoints: dict[str, int]
    recordings: int
    sidecars: int
    media_bytes: int
    files_written: int
    detail: dict[str, Any] = field(default_factory=dict)


def sim_args(args: argparse.Namespace) -> list[str]:
    return [
        "--seed", str(args.seed), "--locations", str(LOCATIONS), "--events-per-device", str(args.events),
        "--latency-ms", str(args.latency_ms), "--media-cache", str(args.media_cache),
        *(part for family in DEVICE_FAMILIES for part in ("--family", family)),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# preparation (not timed)


def warm_media_cache(url: str, cache: Path) -> int:
    """Encode every clip the runs will fetch into the simulator's cache, so neither run pays for encoding."""
    from ringvault.sim.config import SimConfig
    from ringvault.sim.media import MediaStore

    config = httpx.get(f"{url}/_sim/config", timeout=10).json()
    world = httpx.get(f"{url}/_sim/world", params={"events": "list"}, timeout=60).json()
    names = {str(d["id"]): d["name"] for d in world["devices"]}
    store = MediaStore(SimConfig(media_cache_dir=cache))
    count = 0
    for device_id, events in world["events"].items():
        for event in events:
            store.mp4(event["id_str"], seconds=config["recording_seconds"], label=names[device_id])
            count += 1
    return count


def login_ring_doorbell(url: str, token_file: Path) -> None:
    """The seed's ``writeAuthFile``: password, then the 2FA code; the token lands in its oauth JSON file."""
    from ring_doorbell import Auth, Requires2FAError

    from bench.seed001_baseline import USER_AGENT
    from tests.sim.ringdoorbell_compat import SimulatorSession

    config = httpx.get(f"{url}/_sim/config", timeout=10).json()

    def save(token: dict[str, Any]) -> None:
        token_file.touch(mode=0o600)
        token_file.write_text(json.dumps(token))

    async def go() -> None:
        session = SimulatorSession(url)
        try:
            auth = Auth(USER_AGENT, None, save, http_client_session=session)
            try:
                await auth.async_fetch_token(config["email"], config["password"])
            except Requires2FAError:
                await auth.async_fetch_token(config["email"], config["password"], two_factor_code(url))
        finally:
            await session.close()

    asyncio.run(go())


# ---------------------------------------------------------------------------------------------------------------------
# results


@dataclass
class Archive:
    """What a run left on disk: recordings by ding id (with their SHA-256), sidecars, bytes, files."""

    recordings: dict[str, str]
    sidecars: int
    media_bytes: int
    files: int


def scan(root: Path) -> Archive:
    recordings: dict[str, str] = {}
    sidecars = media_bytes = files = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        files += 1
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and "ringId" in doc:
                sidecars += 1
                video = path.with_suffix(".mp4")
                if video.exists():
                    recordings[str(doc["ringId"])] = hashlib.sha256(video.read_bytes()).hexdigest()
        elif path.suffix == ".mp4":
            media_bytes += path.stat().st_size
    return Archive(recordings, sidecars, media_bytes, files)


def timed_run(
    name: str, url: str, cmd: list[str], child_env: dict[str, str], out_dir: Path, log: Path
) -> tuple[Run, str]:
    reset_stats(url)
    run = measure(cmd, child_env, log)
    total, endpoints = sim_stats(url)
    archive = scan(out_dir)
    result = Run(
        name=name, wall_s=run.wall_s, peak_rss_mib=run.peak_rss_mib, cpu_s=run.cpu_s, requests=total,
        by_family=by_family(endpoints), endpoints=endpoints, recordings=len(archive.recordings),
        sidecars=archive.sidecars, media_bytes=archive.media_bytes, files_written=archive.files,
    )  # fmt: skip
    return result, run.stdout


@dataclass
class Bound:
    """The shortest wall time the requests of a run allow at ``latency_s`` per request and ``concurrency``.

    The requests that must come one after the other: the login/session and account requests (each needs the
    previous), then the longest chain of history pages of one device (a page needs the previous page's last id),
    then the first video search (its URLs come before that batch's downloads); everything else (the other devices'
    history and searches, every recording URL and download) can overlap, ``concurrency`` at a time. Process start-up,
    CPU and the disk are not counted: it is the network's bound, not the machine's."""

    serial: int
    parallel: int
    concurrency: int
    latency_s: float

    @property
    def seconds(self) -> float:
        return self.latency_s * (self.serial + math.ceil(self.parallel / self.concurrency))

    def text(self) -> str:
        return (
            f"{self.latency_s * 1000:g} ms × ({self.serial} serial + ⌈{self.parallel} / {self.concurrency}⌉) = "
            f"{self.seconds:.2f} s"
        )


def bound_of(run: Run, devices: int, concurrency: int, latency_ms: float) -> Bound:
    families = run.by_family
    setup = families["login+session"] + families["account+devices"] + families["other"]
    history, searches = families["history"], families["video search"]
    longest_chain = math.ceil(history / devices) if devices else 0
    first_search = 1 if searches else 0
    serial = setup + longest_chain + first_search
    parallel = run.requests - serial
    return Bound(serial=serial, parallel=parallel, concurrency=concurrency, latency_s=latency_ms / 1000)


def markdown(runs: list[Run], ratio: float) -> str:
    families = [label for label, _ in FAMILIES] + ["other"]
    head = ["run", "wall", "CPU", "peak RSS", "requests", *families, "recordings", "media", "files"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [
            run.name, f"{run.wall_s:.1f} s", f"{run.cpu_s:.1f} s", f"{run.peak_rss_mib:.0f} MiB", str(run.requests),
            *(str(run.by_family[f]) for f in families),
            str(run.recordings), f"{run.media_bytes / 2**20:.1f} MiB", str(run.files_written),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Baseline / ringvault sync wall time: **{ratio:.1f}×**")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulated latency per request (default 50)")
    parser.add_argument("--events", type=int, default=200, help="events per doorbell (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="simulator world seed")
    parser.add_argument("--concurrency", type=int, default=8, help="ringvault sync --concurrency (default 8)")
    parser.add_argument("--runs", type=int, default=3, help="ringvault first syncs, each into a fresh archive "
                        "(the median is compared; default 3)")  # fmt: skip
    parser.add_argument("--media-cache", type=Path, default=None, help="simulator clip cache (default: user cache)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (archives, logs)")
    parser.add_argument("--skip-baseline", action="store_true", help="only time ringvault (no ratio, no check)")
    parser.add_argument(
        "--sweep", default="", help="also time ringvault sync --concurrency N into fresh archives, e.g. 1,4,8,16"
    )
    args = parser.parse_args()
    if args.media_cache is None:
        from ringvault.sim.media import default_cache_dir

        args.media_cache = default_cache_dir()

    workdir = Path(tempfile.mkdtemp(prefix="ringvault-bench-"))
    load_before = os.getloadavg()[0]
    try:
        with simulator(sim_args(args), workdir) as url:
            clips = warm_media_cache(url, args.media_cache)
            devices = len(httpx.get(f"{url}/_sim/world", timeout=30).json()["devices"])
            print(f"simulator {url}: {devices} doorbells, {clips} clips ready; logging in", file=sys.stderr)
            rd_token = workdir / "ring-doorbell-token.json"
            rv_env = env(RINGVAULT_CLOUD_URL=url, RINGVAULT_TOKEN_FILE=str(workdir / "ringvault-token.json"))
            login_ringvault(url, rv_env)

            base_out, rv_out = workdir / "baseline", workdir / "archive"
            runs: list[Run] = []
            baseline: Run | None = None
            if not args.skip_baseline:
                login_ring_doorbell(url, rd_token)
                print("running the seed-001 baseline", file=sys.stderr)
                base_cmd = [sys.executable, "-m", "bench.seed001_baseline", "--sim-url", url, "--token",
                            str(rd_token), "--out", str(base_out)]  # fmt: skip
                baseline, base_stdout = timed_run("seed-001 baseline (ring-doorbell)", url, base_cmd, env(), base_out,
                                                  workdir / "baseline.log")  # fmt: skip
                baseline.detail = json.loads(base_stdout.strip().splitlines()[-1])
                runs.append(baseline)

            tries: list[tuple[Run, Path, str]] = []
            for index in range(max(1, args.runs)):
                print(f"running ringvault sync ({index + 1} of {args.runs}, fresh archive)", file=sys.stderr)
                out = workdir / f"archive-{index}"
                cmd = [sys.executable, "-m", "ringvault", "sync", "--archive", str(out), "--concurrency",
                       str(args.concurrency)]  # fmt: skip
                run, stdout = timed_run("ringvault sync", url, cmd, rv_env, out, workdir / f"sync-{index}.log")
                tries.append((run, out, stdout))
            tries.sort(key=lambda entry: entry[0].wall_s)
            first, rv_out, first_stdout = tries[len(tries) // 2]  # the median run
            first.detail = {
                "summary": first_stdout.strip().splitlines()[-3:],
                "walls_s": [entry[0].wall_s for entry in tries],
                "cpus_s": [entry[0].cpu_s for entry in tries],
            }
            if len(tries) > 1:
                first.name = f"ringvault sync (median of {len(tries)})"
            rv_cmd = [sys.executable, "-m", "ringvault", "sync", "--archive", str(rv_out), "--concurrency",
                      str(args.concurrency)]  # fmt: skip
            before = scan(rv_out)
            for _, out, _ in tries:
                if scan(out).recordings != before.recordings:
                    sys.exit(f"two ringvault runs archived different recordings ({out}, {rv_out})")
            runs.append(first)

            print("running ringvault sync again (nothing new)", file=sys.stderr)
            again, again_stdout = timed_run("ringvault sync, no change", url, rv_cmd, rv_env, rv_out,
                                            workdir / "resync.log")  # fmt: skip
            again.detail = {"summary": again_stdout.strip().splitlines()[-3:]}
            # the re-sync wrote nothing: it is charged only what it added
            again.recordings -= len(before.recordings)
            again.sidecars -= before.sidecars
            again.media_bytes -= before.media_bytes
            again.files_written -= before.files
            runs.append(again)

            sweep: list[Run] = []
            for level in [int(n) for n in args.sweep.split(",") if n.strip()]:
                print(f"running ringvault sync --concurrency {level}", file=sys.stderr)
                out = workdir / f"archive-c{level}"
                cmd = [sys.executable, "-m", "ringvault", "sync", "--archive", str(out), "--concurrency", str(level)]
                run, _ = timed_run(f"ringvault sync --concurrency {level}", url, cmd, rv_env, out,
                                   workdir / f"sync-c{level}.log")  # fmt: skip
                run.detail = {"bound": asdict(bound_of(run, devices, level, args.latency_ms))}
                sweep.append(run)
        load_after = os.getloadavg()[0]

        rv_files = before.recordings
        ratio = 0.0
        if baseline is not None:
            base_files = scan(base_out).recordings
            if base_files != rv_files:
                missing, extra = sorted(set(rv_files) - set(base_files)), sorted(set(base_files) - set(rv_files))
                differ = sorted(k for k in set(base_files) & set(rv_files) if base_files[k] != rv_files[k])
                sys.exit(f"the two runs archived different recordings: only ringvault {len(missing)}, only baseline "
                         f"{len(extra)}, different bytes {len(differ)}")  # fmt: skip
            ratio = baseline.wall_s / first.wall_s
        bound = bound_of(first, devices, args.concurrency, args.latency_ms)
        first.detail["bound"] = asdict(bound)
        print(markdown(runs, ratio))
        walls = ", ".join(f"{wall:.2f}" for wall in first.detail["walls_s"])
        print(
            f"\nBound of `ringvault sync` ({first.requests} requests, concurrency {args.concurrency}): {bound.text()}; "
            f"the (median) run took {first.wall_s:.2f} s = **{bound.seconds / first.wall_s:.0%} of the bound** "
            f"(runs: {walls} s)."
        )
        if sweep:
            print("\nConcurrency sweep (fresh archive each):\n")
            print(markdown(sweep, ratio).rsplit("\n\n", 1)[0])
            for run in sweep:
                level = Bound(**run.detail["bound"])
                print(f"- {run.name}: bound {level.text()}, {level.seconds / run.wall_s:.0%} of it")
        print(
            f"\nSame {len(rv_files)} recordings in both archives (same ding ids, same SHA-256)"
            if baseline is not None
            else f"\n{len(rv_files)} recordings"
        )
        print(
            f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} "
            f"{platform.machine()}; load average {load_before:.1f} before, {load_after:.1f} after; "
            f"latency {args.latency_ms:g} ms, {args.events} events x {devices} doorbells."
        )
        if baseline is not None:
            seed = baseline.detail["seed_as_written"]
            print(
                f"Seed 001 as written (one history(limit=300) call, kind='ding'): sees {seed['events_seen']} of "
                f"{len(rv_files)} events and would download {seed['dings_downloaded']} recordings."
            )
        if args.json is not None:
            doc = {
                "ratio": ratio,
                "bound": asdict(bound) | {"seconds": bound.seconds, "share": bound.seconds / first.wall_s},
                "same_recordings": len(rv_files),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
                "params": {"latency_ms": args.latency_ms, "events_per_device": args.events, "devices": devices,
                           "seed": args.seed, "concurrency": args.concurrency},
                "load_average": {"before": load_before, "after": load_after},
                "runs": [asdict(r) for r in runs],
                "sweep": [asdict(r) for r in sweep],
            }  # fmt: skip
            args.json.write_text(json.dumps(doc, indent=2))
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
