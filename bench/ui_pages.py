"""How fast do the web UI's pages answer on a 100 k-event archive? (Issue 13's goal: under 300 ms at the 95th
percentile for every page.)

1. **Build** an archive quickly, without the simulator: one account, 2 locations, ``--devices`` cameras and
   doorbells, ``--events`` events spread over the last year written through ``ArchiveStore.upsert_events`` in
   batches, then in SQL: a ``media`` row (no file) for every event whose recording is ``done`` and the mix of states a
   long-lived archive has (about 2 % pending — half of them "not ready" with an error and a next try —, 0.5 %
   failed, 0.2 % given up, 8 % without a Protect plan). Data Portability: one customer with ``--records`` records of
   ``Ring.EventManager.Events`` (through ``import_records``), the grant marked ``refused`` so that the server starts
   no export against the unreachable Ring URL it is given.
2. **Serve** it: ``ringvault serve``'s app under uvicorn in a child process (this module with ``--serve``) on
   127.0.0.1, with the Data Portability app configured (fake credentials, Ring URL ``http://127.0.0.1:9``: nothing is
   ever sent there), stopped by its PID at the end.
3. **Time** ``--requests`` sequential GETs (keep-alive, after 5 warm-up ones) of every page of the navigation bar as
   it is at the time of the run (``ringvault.server.ui.page_modules()``: the ``NAV`` of each page module, so pages
   merged later are measured too), a playback page when a page module routes ``/timeline/{...}``, and the Sync and
   Data Portability sub-pages (a failed-recordings list, a customer, a page of records). Each page gets at most
   ``--page-seconds``; a page that used it up is marked.

Prints a Markdown table (p50, p95, max in ms, bytes of the page) and the archive's size. Run from the repository
root: ``.venv/bin/python -m bench.ui_pages [--events 100000] [--requests 200] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import env, free_port

CLIENT_ID = "amzn1.application-oa2-client.ringvaultbenchui000000000000001"
CLIENT_SECRET = "bench-only-secret-not-a-ring-credential"  # a placeholder, never sent anywhere
UNREACHABLE_RING = "http://127.0.0.1:9"
CUSTOMER = "bench-customer"
KINDS = ("motion", "motion", "motion", "ding", "on_demand")
START_TIMEOUT_S = 60.0


# -- building the archive ---------------------------------------------------------------------------------------


def build_archive(archive: Path, *, events: int, devices: int, records: int) -> dict[str, Any]:
    """The archive described in the module docstring; returns what it holds."""
    from ringvault.archive.store import (
        AccountRecord,
        ArchiveStore,
        DeviceRecord,
        EventRecord,
        LocationRecord,
        MediaStatus,
    )

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    span_s = 365 * 86400
    with ArchiveStore.open(archive) as store:
        account = store.upsert_account(AccountRecord(email="bench@ringvault.test", profile_id=1))
        locations = ["bench-home", "bench-shop"]
        for n, loc in enumerate(locations):
            store.upsert_location(
                LocationRecord(id=loc, account_id=account, name=f"Bench {n}", time_zone="Europe/Amsterdam")
            )
        store.upsert_devices(
            DeviceRecord(
                id=100_000 + d, family="doorbots" if d % 3 == 0 else "stickup_cams",
                kind="lpd_v2" if d % 3 == 0 else "stickup_cam_v4", name=f"Camera {d:02d}",
                location_id=locations[d % 2], account_id=account, model="bench",
                raw={"id": 100_000 + d, "description": f"Camera {d:02d}", "time_zone": "Europe/Amsterdam"},
            )
            for d in range(devices)
        )  # fmt: skip
        per_device = events // devices
        step = span_s / max(1, per_device)
        for d in range(devices):
            device_id = 100_000 + d
            batch: list[EventRecord] = []
            for n in range(per_device):
                at = now - timedelta(seconds=span_s - n * step - d * 7)
                ding = str(7_500_000_000_000_000_000 + d * 10_000_000 + n)
                kind = KINDS[(n + d) % len(KINDS)]
                batch.append(
                    EventRecord(
                        id=ding, created_at=at, kind=kind, location_id=locations[d % 2], duration_s=20.0 + n % 40,
                        answered=kind == "ding" and n % 2 == 0, favorite=False, state="timed_out",
                        person_detected=n % 4 == 0, detection_type="human" if n % 4 == 0 else None,
                        recording_status="ready",
                        raw={"id": int(ding), "id_str": ding, "kind": kind, "created_at": at.isoformat(),
                             "doorbot": {"id": device_id, "description": f"Camera {d:02d}"}, "duration": 20 + n % 40,
                             "recording": {"status": "ready"}, "cv_properties": {"person_detected": n % 4 == 0}},
                        media_status=MediaStatus.PENDING,
                    )
                )  # fmt: skip
                if len(batch) == 2000:
                    store.upsert_events(device_id, batch)
                    batch = []
            if batch:
                store.upsert_events(device_id, batch)
        if records:
            _portability(store, records)
    _states(archive / "archive.sqlite3")
    return {"build_s": round(time.perf_counter() - started, 1), **_describe(archive)}


def _states(database: Path) -> None:
    """The mix of recording states, and a media row for every recording done (SQL: minutes faster than the store)."""
    import sqlite3

    with sqlite3.connect(database) as conn:
        # rowid order is insertion order: spread the states with modulo on it
        conn.execute("UPDATE events SET media_status = 'no_media' WHERE rowid % 100 < 8")
        conn.execute(
            "UPDATE events SET media_status = 'failed', media_attempts = 3, media_failures = 1 + rowid % 5, "
            "media_last_error = 'ResponseFormatError: download of bench answered text/html, expected video/mp4' "
            "WHERE rowid % 1000 BETWEEN 100 AND 104"
        )
        conn.execute(
            "UPDATE events SET media_status = 'given_up', media_attempts = 30, media_failures = 10, "
            "media_last_error = 'RingServerError: 503 from the storage host' WHERE rowid % 1000 BETWEEN 200 AND 201"
        )
        conn.execute(
            "UPDATE events SET media_attempts = 1, media_next_attempt_at = created_at, "
            "media_last_error = 'the recording is not ready yet' WHERE rowid % 100 = 50"
        )
        conn.execute(
            "UPDATE events SET media_status = 'done' WHERE media_status = 'pending' AND rowid % 100 NOT IN (50, 51)"
        )
        conn.execute(
            "INSERT INTO media (event_id, device_id, kind, path, bytes, sha256, content_type, validated, captured_at,"
            " downloaded_at) SELECT id, device_id, 'recording', 'media/bench/' || device_id || '/' || id || '.mp4', "
            "4600, '0000000000000000000000000000000000000000000000000000000000000000', 'video/mp4', 1, created_at, "
            "created_at FROM events WHERE media_status = 'done'"
        )
    with sqlite3.connect(database) as conn:  # the size reported is the database's, not a write-ahead log's
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _portability(store: Any, records: int) -> None:
    from bench.portability_records import events as dp_events
    from ringvault.archive.store.portability_records import ImportRecord

    grant = store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=CLIENT_ID, customer=CUSTOMER)
    batch: list[ImportRecord] = []
    for n, data in enumerate(dp_events(records)):
        at = datetime.strptime(data["eventDate"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        batch.append(ImportRecord("Ring.EventManager.Events", f"bench-{n}", at, data))
        if len(batch) == 1000:
            store.portability.import_records(grant.id, None, batch)
            batch = []
    if batch:
        store.portability.import_records(grant.id, None, batch)
    store.portability.set_grant_status(grant.id, "refused")


def _describe(archive: Path) -> dict[str, Any]:
    import sqlite3

    database = archive / "archive.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        states = dict(conn.execute("SELECT media_status, count(*) FROM events GROUP BY media_status").fetchall())
        records = conn.execute("SELECT count(*) FROM portability_records").fetchone()[0]
        newest = conn.execute(
            "SELECT id FROM events WHERE media_status = 'done' ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        newest_done = newest[0] if newest else None
    size = database.stat().st_size
    return {
        "events": events, "states": states, "dp_records": records, "database_mib": round(size / 2**20, 1),
        "newest_done_event": newest_done,
    }  # fmt: skip


# -- serving it (the child process) -----------------------------------------------------------------------------


def serve(archive: Path, port: int, token_dir: Path) -> None:
    """``ringvault serve``'s app on 127.0.0.1:``port`` with the Data Portability app configured (runs until killed)."""
    import uvicorn

    from ringvault.portability.config import ClientCredentials, PortabilityConfig
    from ringvault.server import ServerSettings, create_app
    from ringvault.server.portability_settings import PortabilityServerSettings

    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET, f"http://127.0.0.1:{port}/portability/callback")
    config = PortabilityConfig(credentials=credentials, token_dir=token_dir, cloud_url=UNREACHABLE_RING)
    settings = ServerSettings(
        archive_dir=archive, token_file=token_dir / "no-login.json", cloud_url=UNREACHABLE_RING,
        portability=PortabilityServerSettings(config=config),
    )  # fmt: skip
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- timing -----------------------------------------------------------------------------------------------------


def pages(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, path) of every page to time: the navigation bar's, a playback page, the sub-pages of Sync and DP."""
    from ringvault.server.ui import page_modules

    out: list[tuple[str, str]] = []
    playback: str | None = None
    for module in page_modules():
        nav = getattr(module, "NAV", None)
        if nav is not None:
            out.append((f"{nav.label} (nav)", nav.path))
        for route in getattr(module.router, "routes", []):
            path = getattr(route, "path", "")
            # the playback page (``/timeline/{id}``; ``/events/{id}`` only redirects there)
            if playback is None and re.fullmatch(r"/timeline/\{[^}/]+\}", path):
                playback = re.sub(r"\{[^}]+\}", str(info["newest_done_event"]), path)
    out.sort(key=lambda item: next((m.NAV.order for m in page_modules() if getattr(m, "NAV", None)
                                    and m.NAV.path == item[1]), 999))  # fmt: skip
    if playback is not None and info["newest_done_event"] is not None:
        out.append(("Playback", playback))
    out += [
        ("Sync: failed recordings", "/sync?status=failed"),
        ("DP: customer", f"/data-portability/customers/{CUSTOMER}"),
        ("DP: records page", f"/data-portability/customers/{CUSTOMER}/records?dataset=Ring.EventManager.Events"),
    ]
    return out


def time_page(client: httpx.Client, path: str, requests: int, budget_s: float) -> dict[str, Any]:
    for _ in range(5):
        warm = client.get(path)
        if warm.status_code != 200:
            return {"path": path, "status": warm.status_code, "error": warm.text[:200]}
    times: list[float] = []
    size = 0
    deadline = time.monotonic() + budget_s
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        size = len(answer.content)
        if answer.status_code != 200:
            return {"path": path, "status": answer.status_code, "error": answer.text[:200]}
        if time.monotonic() > deadline:
            break
    times.sort()
    return {
        "path": path, "status": 200, "n": len(times), "p50_ms": statistics.median(times),
        "p95_ms": times[max(0, round(0.95 * len(times)) - 1)], "max_ms": times[-1], "bytes": size,
        "cut_short": len(times) < requests,
    }  # fmt: skip


def start_server(archive: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ui_pages", "--serve", str(archive), "--port", str(port),
         "--token-dir", str(workdir / "dp-tokens")],
        env=env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}; see {workdir / 'serve.log'}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    sys.exit(f"the server did not start within {START_TIMEOUT_S:.0f} s; see {workdir / 'serve.log'}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server this bench started (by its PID), harder if it does not go."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| Page | Path | Requests | p50 ms | p95 ms | max ms | Page bytes |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if r["status"] != 200:
            lines.append(f"| {r['label']} | `{r['path']}` | HTTP {r['status']} | | | | |")
            continue
        cut = " (budget used up)" if r["cut_short"] else ""
        lines.append(
            f"| {r['label']} | `{r['path']}` | {r['n']}{cut} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['max_ms']:.1f} | {r['bytes']:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--records", type=int, default=20_000, help="Data Portability records of the customer")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--page-seconds", type=float, default=90.0, help="time budget of one page")
    parser.add_argument("--archive", type=Path, help="reuse (or build once into) this archive directory")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port, args.token_dir)
        return

    with tempfile.TemporaryDirectory(prefix="rv-bench-ui-") as tmp:
        workdir = Path(tmp)
        archive = args.archive or workdir / "archive"
        if (archive / "archive.sqlite3").exists():
            info = {"build_s": None, **_describe(archive)}
        else:
            print(f"building {args.events:,} events and {args.records:,} DP records into {archive} ...", flush=True)
            info = build_archive(archive, events=args.events, devices=args.devices, records=args.records)
        print(f"archive: {json.dumps(info)}", flush=True)
        proc, url = start_server(archive, workdir)
        results: list[dict[str, Any]] = []
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for label, path in pages(info):
                    result = time_page(client, path, args.requests, args.page_seconds)
                    results.append({"label": label, **result})
                    print(f"  {label:<28} {json.dumps(result)}", flush=True)
        finally:
            stop(proc)
    print()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"archive: {info['events']:,} events ({info['states']}), {info['dp_records']:,} DP records, "
          f"database {info['database_mib']} MiB, built in {info['build_s']} s")  # fmt: skip
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"archive": info, "pages": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
