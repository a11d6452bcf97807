"""How long the web UI's devices page takes on a big archive: ``GET /`` of a real ``ringvault serve`` app over an
archive of 20 devices with 100,000 events, 100,000 recordings and 20,000 snapshots (rows only: the page reads no
file), measured from an HTTP client on loopback (uvicorn in a thread).

    .venv/bin/python -m bench.ui_devices_page [--events 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ringvault.archive.store import DB_FILENAME, ArchiveStore, DeviceRecord, EventRecord, LocationRecord, MediaRecord
from ringvault.server import ServerSettings, create_app
from tests.server.helpers import ServerThread

DEVICES = 20


def build(archive: Path, events: int, snapshots: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with ArchiveStore.open(archive) as store:
        store.upsert_location(LocationRecord(id="loc-1", name="Home", time_zone="Europe/Rome"))
        health = {"rssi": -51, "rssi_category": "good"}
        raw = {"alerts": {"connection": "online"}, "battery_life": "71", "health": health}
        store.upsert_devices(
            DeviceRecord(id=1000 + n, family="doorbots", kind="lpd_v4", name=f"Door {n}", location_id="loc-1", raw=raw)
            for n in range(DEVICES)
        )
        per_device = events // DEVICES
        for n in range(DEVICES):
            device = 1000 + n
            records = [
                EventRecord(id=str(10**15 + n * per_device + i), created_at=start + timedelta(minutes=7 * i + n),
                            kind="ding" if i % 3 == 0 else "motion", location_id="loc-1")
                for i in range(per_device)
            ]  # fmt: skip
            store.upsert_events(device, records)
            recordings = [
                MediaRecord(kind="recording", path=f"media/{device}/{r.id}.mp4", bytes=1000, sha256="0" * 64,
                            device_id=device, event_id=r.id, captured_at=r.created_at)
                for r in records
            ]  # fmt: skip
            snaps = [
                MediaRecord(kind="snapshot", path=f"media/{device}/snap-{i}.jpg", bytes=500, sha256="1" * 64,
                            device_id=device, captured_at=start + timedelta(minutes=35 * i))
                for i in range(snapshots // DEVICES)
            ]  # fmt: skip
            # snapshots first: the newest snapshot lies behind every recording in the index the page walks (the
            # worst case: a snapshot round long ago, then a sync of every recording)
            store.add_media_many(snaps + recordings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--without-index", action="store_true", help="drop ix_media_device_id_kind_id (migration 0015) to compare"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        began = time.perf_counter()
        build(archive, args.events, args.snapshots)
        if args.without_index:
            with closing(sqlite3.connect(archive / DB_FILENAME)) as conn:
                conn.execute("DROP INDEX ix_media_device_id_kind_id")
        print(f"archive built in {time.perf_counter() - began:.1f} s")
        with ServerThread(create_app(ServerSettings(archive_dir=archive))) as server, httpx.Client() as client:
            for _ in range(5):  # warm up
                client.get(server.url + "/").raise_for_status()
            times = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                answer = client.get(server.url + "/")
                times.append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
            assert answer.text.count('class="card device"') == DEVICES
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    variant = " (without the index of migration 0015)" if args.without_index else ""
    print(
        f"GET / (devices page), {args.events} events, {args.snapshots} snapshots, {DEVICES} devices, "
        f"{args.requests} requests{variant}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
        f"max {times[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
