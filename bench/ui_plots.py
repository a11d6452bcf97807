"""Page latency of the web UI's activity and snapshots pages on a 100 k-event archive (issue 13, goal: < 300 ms at
the 95th percentile).

The archive is built fast, through the store's own batch writes (``upsert_events``, ``add_media_many``), not via the
simulator: 6 devices in two time zones (America/New_York, Europe/Rome), 100,000 events over 365 days (kinds motion,
ding, on_demand; each with a Ring-like ``raw`` JSON of about 1 KB, as a sync stores it, so rows are as wide as real
ones, and its recording's ``media`` row), and the snapshot tool's rows of 2 cameras, one every 10 minutes for the
last 30 days (8,640 ``media`` rows). No file is written: the pages never open one, only the image routes do.

``ringvault serve`` runs as its own process over it (loopback, no key); one client asks each page ``--requests``
times (200) one after the other, after 3 warm-up requests, and the table gives p50, p95 and max of the wall time of
each request (connection kept alive). The cases:

- ``/activity (first request)``: the first request after the server started, which counts the totals (two GROUP BY
  queries over all events, in each device's zone); timed once, before everything else;
- ``/activity``: the default view (all devices and kinds, bars per week: 53 weeks × 6 devices × 3 kinds), from the
  totals (each request checks the events' count and last rowid, and would add the events added since);
- ``/activity?device&kind``: a device and a kind (a different pair each time), folded from the same totals;
- ``/activity?since`` (a new range each time): a day range is counted by the database anew (``since`` moves by a
  day each request, so no request finds its counts kept);
- ``/snapshots``: the newest camera's newest day (144 snapshots, the gallery and the player's list);
- ``/snapshots?device&day``: a different camera and day each time.

Run from the repository root: ``.venv/bin/python -m bench.ui_plots [--events 100000] [--requests 200] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import env, free_port

DEVICES = [
    (101, "Front Door", "America/New_York"),
    (102, "Back Yard", "America/New_York"),
    (103, "Garage", "America/New_York"),
    (104, "Driveway", "America/New_York"),
    (201, "Lake House Door", "Europe/Rome"),
    (202, "Lake House Patio", "Europe/Rome"),
]
KINDS = (("motion", 0.75), ("ding", 0.2), ("on_demand", 0.05))
SNAPSHOT_CAMERAS = (101, 201)


def build_archive(root: Path, events: int, days: int = 365) -> None:
    """The archive, written through the store in batches."""
    from ringvault.archive.store import (
        ArchiveStore,
        DeviceRecord,
        EventRecord,
        LocationRecord,
        MediaKind,
        MediaRecord,
    )

    rng = random.Random(100_000)
    end = datetime(2026, 12, 6, 18, tzinfo=UTC)
    start = end - timedelta(days=days)
    span_s = int((end - start).total_seconds())
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    with ArchiveStore.open(root) as store:
        for location, zone in (("loc-home", "America/New_York"), ("loc-lake", "Europe/Rome")):
            store.upsert_location(LocationRecord(id=location, name=location, time_zone=zone))
        for device_id, name, zone in DEVICES:
            location = "loc-home" if zone == "America/New_York" else "loc-lake"
            raw = {"id": device_id, "description": name, "time_zone": zone, "kind": "doorbell_v4"}
            store.upsert_device(DeviceRecord(id=device_id, family="doorbots", name=name, raw=raw, location_id=location))
        per_device = events // len(DEVICES)
        for index, (device_id, _name, _zone) in enumerate(DEVICES):
            count = per_device + (events - per_device * len(DEVICES) if index == 0 else 0)
            batch: list[EventRecord] = []
            for n in range(count):
                # busier in the evening (a real doorbell's day): a skewed hour on top of a uniform instant
                at = start + timedelta(seconds=rng.randrange(span_s))
                kind = rng.choices(kinds, weights)[0]
                ding = f"{7_000_000_000_000_000_000 + device_id * 1_000_000 + n}"
                raw = {"id": int(ding), "kind": kind, "created_at": at.isoformat(), "doorbot": {"id": device_id},
                       "cv_properties": {"person_detected": None, "stream_broken": False, "detection_type": None},
                       "recording": {"status": "ready"}, "padding": "x" * 700}  # fmt: skip
                batch.append(EventRecord(id=ding, created_at=at, kind=kind, duration_s=20.0, raw=raw))
                if len(batch) == 5000:
                    _store_batch(store, device_id, batch)
                    batch = []
            if batch:
                _store_batch(store, device_id, batch)
        media: list[MediaRecord] = []
        for device_id in SNAPSHOT_CAMERAS:
            first = end - timedelta(days=30)
            for n in range(30 * 144):
                at = first + timedelta(minutes=10 * n)
                path = f"snapshots/{device_id}/{at:%Y/%m/%d/%H%M%S}.jpg"
                media.append(MediaRecord(kind=MediaKind.SNAPSHOT, path=path, bytes=40_000, sha256=f"{n:064x}",
                                         device_id=device_id, captured_at=at, content_type="image/jpeg"))  # fmt: skip
        store.add_media_many(media)


def _store_batch(store: Any, device_id: int, batch: list[Any]) -> None:
    """Events and, as a sync leaves them, each one's recording (a ``media`` row; the file is not written)."""
    from ringvault.archive.store import MediaKind, MediaRecord

    store.upsert_events(device_id, batch)
    recordings = [
        MediaRecord(kind=MediaKind.RECORDING, path=f"recordings/{device_id}/{e.id}.mp4", bytes=2_000_000,
                    sha256="0" * 64, device_id=device_id, event_id=e.id, content_type="video/mp4")
        for e in batch
    ]  # fmt: skip
    store.add_media_many(recordings, mark_events_done=True)


def timed(client: httpx.Client, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        began = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    return out


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "n": len(ordered)}


def run(events: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rv-ui-bench-") as tmp:
        archive = Path(tmp) / "archive"
        began = time.perf_counter()
        build_archive(archive, events)
        built_s = time.perf_counter() - began
        port = free_port()
        child_env = env(RINGVAULT_HOME=str(Path(tmp) / "home"))
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [sys.executable, "-m", "ringvault", "serve", "--archive", str(archive), "--port", str(port)],
            env=child_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("ringvault serve did not start: " + (Path(tmp) / "serve.log").read_text())
                time.sleep(0.2)
            first = date(2025, 12, 1)
            snap_days = [date(2026, 12, 6) - timedelta(days=i) for i in range(30)]
            kinds = [k for k, _ in KINDS]
            cases = {
                "/activity": ["/activity"] * requests,
                "/activity?device&kind": [
                    f"/activity?device={DEVICES[i % 6][0]}&kind={kinds[i % 3]}" for i in range(requests)
                ],
                "/activity?since (a new range each time)": [
                    f"/activity?since={first + timedelta(days=i % 300)}" for i in range(requests)
                ],
                "/snapshots": ["/snapshots"] * requests,
                "/snapshots?device&day": [
                    f"/snapshots?device={SNAPSHOT_CAMERAS[i % 2]}&day={snap_days[i % 30]}" for i in range(requests)
                ],
            }
            results: dict[str, Any] = {}
            with httpx.Client(base_url=base, timeout=60) as client:
                once = timed(client, ["/activity"])
                results["/activity (first request: the totals)"] = {**summary(once), "bytes": 0}
                for name, urls in cases.items():
                    timed(client, urls[:3])  # warm-up (the cold cases use other ranges than their first three)
                    results[name] = summary(timed(client, urls[3:] + urls[:3]))
                    size = len(client.get(urls[0]).content)
                    results[name]["bytes"] = size
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return {
        "events": events,
        "requests": requests,
        "build_s": round(built_s, 1),
        "cpu": os.cpu_count(),
        "python": platform.python_version(),
        "cases": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = run(args.events, args.requests)
    print(f"{out['events']:,} events (archive built in {out['build_s']} s), {out['requests']} requests per page, "
          f"{out['cpu']} CPUs, Python {out['python']}")  # fmt: skip
    print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KiB':>7}")
    for name, s in out["cases"].items():
        print(f"{name:44} {s['p50']:8.1f} {s['p95']:8.1f} {s['max']:8.1f} {s['bytes'] / 1024:7.0f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
