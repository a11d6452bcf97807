"""Does a multi-GB Data Portability file download in constant memory? (Goal: peak RSS under 100 MB.)

Run: ``.venv/bin/python -m bench.portability_big_file [--size-gib 1.9] [--over-gib 2.1] [--parse-records 200000]``.

The simulator (in this process) serves a query whose ``Ring.EventManager.Events`` data set has one extra file of
``--size-gib`` (the ``big_file_bytes`` knob: generated while it is sent, never held in memory). A **child process**
runs the client exactly as an app would — Login with Ring (PKCE, auto-consent), createDataQuery,
listDataQueryRecords, then ``PortabilityClient.download`` of every schema and data file — and parses the first
``--parse-records`` records of the big file with the streaming reader (``iter_records``, ijson). This process reaps
the child with ``os.wait4`` and reads its peak resident set size (``ru_maxrss``), so the figure is the child's alone.

A second child does the same with a file of ``--over-gib`` (above the client's 2 GB cap): the download must be
refused (``DownloadTooLargeError``) without writing the file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GIB = 1024**3
REDIRECT_URI = "http://127.0.0.1/portability/callback"


# ---------------------------------------------------------------------------------------------------------------
# the child: the client, as an app runs it


def _vm_hwm_kib() -> int | None:
    """This process's peak RSS from /proc (a cross-check of the parent's ``ru_maxrss``)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


async def _child(cloud_url: str, dest: Path, parse_records: int, expect_refusal: bool) -> dict[str, Any]:
    import httpx

    from ringvault.portability.client import PortabilityClient
    from ringvault.portability.config import ClientCredentials
    from ringvault.portability.endpoints import endpoints_for
    from ringvault.portability.errors import DownloadTooLargeError
    from ringvault.portability.oauth import PortabilityAuth
    from ringvault.portability.scopes import Event, dataset_for_schema, iter_records

    credentials = ClientCredentials(
        os.environ["BENCH_DP_CLIENT_ID"], os.environ["BENCH_DP_CLIENT_SECRET"], REDIRECT_URI
    )
    auth = PortabilityAuth(credentials, endpoints=endpoints_for(cloud_url=cloud_url))
    result: dict[str, Any] = {"files": 0, "bytes": 0, "download_s": 0.0}
    async with PortabilityClient(auth) as client:
        request = auth.authorization_request()
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
            answer = await browser.get(request.url)  # the simulator consents at once (auto-consent knob)
        await auth.complete(request, answer.headers["location"])
        query_id = await client.create_query()
        records = await client.all_records(query_id)  # completion_delay_s = 0: COMPLETED at creation
        schemas: dict[str, Path] = {}
        biggest: tuple[int, Path, float, Path] | None = None
        for n, record in enumerate(records):
            schema_path = schemas.get(record.schema_url)
            if schema_path is None:
                schema_path = (await client.download(record.schema_url, dest / f"{n:03d}.schema.json")).path
                schemas[record.schema_url] = schema_path
            started = time.perf_counter()
            try:
                done = await client.download(record.file_url, dest / f"{n:03d}.json")
            except DownloadTooLargeError as exc:
                result["refused"] = {"error": str(exc), "seconds": round(time.perf_counter() - started, 3)}
                result["left_on_disk"] = sorted(p.name for p in os.scandir(dest) if p.name.startswith(f"{n:03d}."))
                continue
            seconds = time.perf_counter() - started
            result["files"] += 1
            result["bytes"] += done.bytes
            result["download_s"] += seconds
            if biggest is None or done.bytes > biggest[0]:
                biggest = (done.bytes, done.path, seconds, schema_path)
        result["listed_files"] = len(records)
        if biggest is not None and not expect_refusal:
            size, path, seconds, schema_path = biggest
            model = dataset_for_schema(schema_path.read_bytes()) or Event
            result["big_file"] = {
                "bytes": size,
                "dataset": model.NAME,
                "seconds": round(seconds, 2),
                "mib_per_s": round(size / seconds / 2**20),
            }
            started = time.perf_counter()
            parsed = 0
            for _record in iter_records(path, model):
                parsed += 1
                if parsed >= parse_records:
                    break
            parse_s = time.perf_counter() - started
            result["parsed"] = {"records": parsed, "seconds": round(parse_s, 2), "per_s": round(parsed / parse_s)}
    result["vm_hwm_kib"] = _vm_hwm_kib()
    return result


def child_main(args: argparse.Namespace) -> None:
    dest = Path(args.dest)
    try:
        out = asyncio.run(_child(args.cloud_url, dest, args.parse_records, args.expect_refusal))
    finally:
        for path in dest.iterdir():  # the 1.9 GiB file is not kept
            path.unlink()
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------------------------
# the parent: simulator, child processes, peak RSS


def _run_child(cloud_url: str, dest: Path, parse_records: int, *, expect_refusal: bool) -> tuple[dict[str, Any], int]:
    from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bench.portability_big_file", "child", "--cloud-url", cloud_url, "--dest", str(dest)]
    cmd += ["--parse-records", str(parse_records)] + (["--expect-refusal"] if expect_refusal else [])
    env = {**os.environ, "BENCH_DP_CLIENT_ID": DEMO_CLIENT_ID, "BENCH_DP_CLIENT_SECRET": DEMO_CLIENT_SECRET}
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, env=env, cwd=Path(__file__).resolve().parent.parent)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"the child failed (exit {proc.returncode}); see its error above")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode")
    child = sub.add_parser("child", help="(internal) the client run measured")
    child.add_argument("--cloud-url", required=True)
    child.add_argument("--dest", required=True)
    child.add_argument("--parse-records", type=int, default=200_000)
    child.add_argument("--expect-refusal", action="store_true")
    parser.add_argument("--size-gib", type=float, default=1.9, help="the big file, under the 2 GB cap")
    parser.add_argument("--over-gib", type=float, default=2.1, help="a file above the cap (0: skip)")
    parser.add_argument("--parse-records", type=int, default=200_000, help="records of the big file to parse")
    parser.add_argument("--workdir", type=Path, default=None, help="where files are downloaded (default: a temp dir)")
    args = parser.parse_args()
    if args.mode == "child":
        child_main(args)
        return

    from ringvault.sim.config import SimConfig
    from ringvault.sim.portability.config import PortabilityConfig, demo_app
    from ringvault.sim.server import SimServer

    size = int(args.size_gib * GIB)
    app = demo_app().model_copy(update={"notification_url": None})  # nobody listens; the child lists at once
    portability = PortabilityConfig(apps=[app], auto_consent=True, completion_delay_s=0.0, big_file_bytes=size)
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as work,
        SimServer(
            SimConfig(
                seed=5, locations=1, events_per_device=10, media_cache_dir=Path(work) / "media", portability=portability
            )
        ) as sim,
    ):
        started = time.perf_counter()
        result, maxrss_kib = _run_child(sim.url, Path(work) / "under", args.parse_records, expect_refusal=False)
        wall = time.perf_counter() - started
        big, parsed = result["big_file"], result["parsed"]
        hwm = (result["vm_hwm_kib"] or 0) / 1024
        print(f"big file ({big['dataset']}): {big['bytes']:,} bytes ({big['bytes'] / GIB:.2f} GiB)")
        print(f"  downloaded in {big['seconds']} s = {big['mib_per_s']} MiB/s")
        print(f"  all {result['files']} data files of the query: {result['bytes']:,} bytes; child wall {wall:.1f} s")
        print(f"  streaming parse: {parsed['records']:,} records in {parsed['seconds']} s ({parsed['per_s']:,}/s)")
        print(f"  child peak RSS: {maxrss_kib / 1024:.1f} MiB (ru_maxrss; the child's own VmHWM {hwm:.1f} MiB)")
        verdict = "OK" if maxrss_kib < 100 * 1024 else "OVER"
        print(f"  goal peak RSS < 100 MB: {verdict}")
        if args.over_gib > 0:
            _over_the_cap(sim.url, Path(work) / "over", int(args.over_gib * GIB))
        if verdict != "OK":
            raise SystemExit(1)


def _over_the_cap(cloud_url: str, dest: Path, size: int) -> None:
    import httpx

    httpx.patch(f"{cloud_url}/_sim/portability/config", json={"big_file_bytes": size}, timeout=10).raise_for_status()
    result, maxrss_kib = _run_child(cloud_url, dest, 0, expect_refusal=True)
    refused = result.get("refused")
    if refused is None:
        raise SystemExit(f"a {size:,}-byte file was NOT refused by the client's 2 GiB cap")
    print(f"over the cap: a {size:,}-byte file ({size / GIB:.2f} GiB) refused in {refused['seconds']} s")
    print(f"  {refused['error']}")
    hwm = (result["vm_hwm_kib"] or 0) / 1024
    print(f"  nothing left on disk: {not result['left_on_disk']}; child peak RSS {maxrss_kib / 1024:.1f} MiB", end="")
    print(f" (ru_maxrss; VmHWM {hwm:.1f} MiB)")


if __name__ == "__main__":
    main()
