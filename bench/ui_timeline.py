"""How fast are the timeline and playback pages on a 100 k-event archive? (Goal: under 300 ms at the 95th percentile.)

Run: ``.venv/bin/python -m bench.ui_timeline [--events 100000] [--requests 200] [--keep DIR]``.

Builds an archive quickly — devices in three time zones, events over a year (kinds, detections, answered, every media
state) written through the store's batch upsert, a ``media`` row per archived recording, device snapshots every
ten minutes for two cameras — then starts ``ringvault serve`` on it (a subprocess on a free loopback port, as a
user runs it), and times ``--requests`` sequential GETs of each page: the first page, each filter, the filters
together, a page half-way down (keyset cursor), a playback page. Prints p50/p95/max per page and over all.
Timings are client-side wall time (request sent → whole body read) over loopback, plus the server process's CPU time
per request (which a busy machine does not inflate the way it does wall time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx

from bench.common import env, free_port
from ringvault.archive.store import (
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
)
from ringvault.archive.store.rows import encode_cursor

ZONES = ("America/New_York", "Europe/Rome", None)
KINDS = (("motion", 0.65), ("ding", 0.25), ("on_demand", 0.10))
DETECTIONS = (
    ("human", True, 0.30),
    ("vehicle", False, 0.10),
    ("package_delivery", False, 0.05),
    ("motion", False, 0.55),
)
STATUSES = (
    (MediaStatus.DONE, 0.85), (MediaStatus.PENDING, 0.05), (MediaStatus.FAILED, 0.03),
    (MediaStatus.GIVEN_UP, 0.02), (MediaStatus.NO_MEDIA, 0.05),
)  # fmt: skip
DEVICES = 12
T = TypeVar("T")
#: archived recordings that get a real file (the playback pages are timed on those)
FILES = 200


def _pick(rng: random.Random, table: tuple[tuple[T, float], ...]) -> T:
    return rng.choices([value for value, _ in table], weights=[weight for _, weight in table])[0]


def build(archive: Path, events: int, seed: int = 13) -> dict[str, object]:
    """Write the archive; returns what the requests need (device ids, an archived event, a deep cursor)."""
    rng = random.Random(seed)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    started = time.perf_counter()
    with ArchiveStore.open(archive) as store:
        devices: list[int] = []
        for index in range(DEVICES):
            zone = ZONES[index % len(ZONES)]
            location = f"loc-{index % len(ZONES)}"
            store.upsert_location(LocationRecord(id=location, name=f"Location {location}", time_zone=zone))
            device_id = 100_000_000 + index
            raw = {"time_zone": zone} if zone else {}
            store.upsert_device(
                DeviceRecord(id=device_id, family="doorbots" if index % 3 == 0 else "stickup_cams",
                             kind="lpd_v4", name=f"Camera {index:02d}", location_id=location, raw=raw)
            )  # fmt: skip
            devices.append(device_id)
        by_device: dict[int, list[EventRecord]] = {d: [] for d in devices}
        statuses: dict[str, MediaStatus] = {}
        ding = 7_400_000_000_000_000_000
        for n in range(events):
            device = rng.choice(devices)
            kind = _pick(rng, KINDS)
            at = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
            word, person = None, None
            if kind == "motion":
                word, person, _ = rng.choices(DETECTIONS, weights=[d[2] for d in DETECTIONS])[0]
            status = _pick(rng, STATUSES)
            event_id = str(ding + n * 7919)
            statuses[event_id] = status
            by_device[device].append(
                EventRecord(
                    id=event_id, created_at=at, kind=kind, duration_s=float(rng.randint(5, 60)),
                    answered=(rng.random() < 0.3) if kind == "ding" else False, person_detected=person,
                    detection_type=word, location_id=None, media_status=status.value,
                    cv_properties=_cv(word, person), raw=_raw(event_id, at, kind, device, word, person),
                )
            )  # fmt: skip
        for device, records in by_device.items():
            store.upsert_events(device, records)
        for event_id, status in statuses.items():
            if status is MediaStatus.PENDING:
                continue
            if status in (MediaStatus.FAILED, MediaStatus.GIVEN_UP):
                store.mark_event_media(event_id, status, "HTTP 500 from the storage host", failures=3)
        done = [
            (device, record) for device, records in by_device.items() for record in records
            if statuses[str(record.id)] is MediaStatus.DONE
        ]  # fmt: skip
        media = [
            MediaRecord(
                kind=MediaKind.RECORDING, path=f"media/{device}/{record.id}.mp4", bytes=4096, sha256="0" * 64,
                event_id=str(record.id), device_id=device, content_type="video/mp4", validated=True,
                captured_at=record.created_at,
            )
            for device, record in done
        ]  # fmt: skip
        for start in range(0, len(media), 5000):
            store.add_media_many(media[start : start + 5000])
        snapshots = [
            MediaRecord(
                kind=MediaKind.SNAPSHOT, path=f"snapshots/{device}/{i}.jpg", bytes=2048, sha256="1" * 64,
                device_id=device, content_type="image/jpeg", validated=True,
                captured_at=now - timedelta(minutes=10 * i),
            )
            for device in devices[:2] for i in range(20_000)
        ]  # fmt: skip
        for start in range(0, len(snapshots), 5000):
            store.add_media_many(snapshots[start : start + 5000])
        sample = _sample_mp4()
        played = []
        for device, record in done[:FILES]:
            path = archive / "media" / str(device) / f"{record.id}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sample)
            played.append(str(record.id))
        page = store.query_events(limit=1, cursor=None)
        assert page.events, "the archive has events"
        with store.engine.connect() as connection:
            deep = connection.exec_driver_sql(
                "SELECT created_at, id FROM events ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
                (min(50 * 1000, events // 2),),
            ).first()
        assert deep is not None
        deep_at = datetime.fromisoformat(str(deep[0])).replace(tzinfo=UTC)
    print(f"built {events:,} events, {len(media):,} recordings, {len(snapshots):,} snapshots "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    return {"devices": devices, "played": played, "deep_cursor": encode_cursor(deep_at, str(deep[1]))}


def _cv(word: str | None, person: bool | None) -> dict[str, object]:
    return {"person_detected": person, "stream_broken": False, "detection_type": word, "cv_triggers": None,
            "detection_types": [word] if word else None, "security_alerts": None}  # fmt: skip


def _raw(
    event_id: str, at: datetime, kind: str, device: int, word: str | None, person: bool | None
) -> dict[str, object]:
    """About the size and shape of a history item Ring sends (the ``raw`` column of a real archive)."""
    return {
        "id": int(event_id), "created_at": at.isoformat(), "answered": False, "events": [], "kind": kind,
        "favorite": False, "snapshot_url": "", "recording": {"status": "ready"}, "duration": 30,
        "cv_properties": _cv(word, person),
        "properties": {"is_alexa": False, "is_sidewalk": False, "is_autoreply": False},
        "doorbot": {"id": device, "description": f"Camera {device % 100:02d}", "type": "lpd_v4"},
        "device_placement": None, "geolocation": None, "last_location": None, "siren": None, "is_e2ee": False,
        "had_subscription": True, "owner_id": "12345678",
    }  # fmt: skip


def _sample_mp4() -> bytes:
    """A real H.264 MP4 from the simulator's media generator (4 s)."""
    from ringvault.sim.config import SimConfig
    from ringvault.sim.media import MediaStore

    with tempfile.TemporaryDirectory() as cache:
        media = MediaStore(SimConfig(media_cache_dir=Path(cache)))
        return media.mp4("7400000000000000000", seconds=4.0, label="bench")


@contextlib.contextmanager
def serve(archive: Path, home: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    exe = Path(sys.executable).with_name("ringvault")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ringvault"]
    child_env = env(RINGVAULT_HOME=str(home))
    log = (home / "serve.log").open("wb")
    process = subprocess.Popen(
        [*cmd, "serve", "--archive", str(archive), "--port", str(port)], env=child_env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ringvault serve did not start; see {home / 'serve.log'}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def pages(info: dict[str, object]) -> dict[str, list[str]]:
    devices = info["devices"]
    played = info["played"]
    assert isinstance(devices, list) and isinstance(played, list)
    first, rome = devices[0], devices[1]
    return {
        "first page": ["/timeline"],
        "device": [f"/timeline?device={first}"],
        "kind ding": ["/timeline?kind=ding"],
        "detection package": ["/timeline?detection=package"],
        "detection other": ["/timeline?detection=other"],
        "days (a month)": ["/timeline?since=2026-06-01&until=2026-06-30"],
        "all filters": [f"/timeline?device={rome}&kind=motion&detection=person&since=2026-03-01&until=2026-09-30"],
        "deep page (half-way)": [f"/timeline?cursor={info['deep_cursor']}"],
        "next rows (scroll)": [f"/timeline/rows?kind=motion&cursor={info['deep_cursor']}"],
        "playback": [f"/timeline/{event}" for event in played],
        "playback, filtered": [f"/timeline/{event}?kind=motion&since=2026-01-01" for event in played],
    }


def time_requests(url: str, paths: list[str], count: int) -> list[float]:
    times: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in paths[:3]:  # warm up (the first request of a route compiles its statements)
            client.get(path).raise_for_status()
        for n in range(count):
            path = paths[n % len(paths)]
            start = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - start)
            response.raise_for_status()
    return times


def _cpu_s(pid: int) -> float:
    """The server process's CPU time so far (user + system, /proc), to tell its work from waiting for a core."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(ordered) * 1000:7.1f} {p95 * 1000:7.1f} {ordered[-1] * 1000:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page (default 200)")
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it (default: a temporary dir)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: time the archive built there before")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="rv-bench-timeline-"))
    archive, home = work / "archive", work / "home"
    home.mkdir(parents=True, exist_ok=True)
    saved = work / "bench-info.json"
    try:
        if args.reuse and saved.exists():
            info = json.loads(saved.read_text())
        else:
            info = build(archive, args.events)
            saved.write_text(json.dumps(info))
        everything: list[float] = []
        print(f"{'page':30} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'cpu ms':>7}  ({args.requests} requests each)")
        with serve(archive, home) as (url, pid):
            for name, paths in pages(info).items():
                cpu = _cpu_s(pid)
                times = time_requests(url, paths, args.requests)
                cpu_ms = (_cpu_s(pid) - cpu) * 1000 / (args.requests + 3)
                everything.extend(times)
                print(f"{name:30} {_ms(times)} {cpu_ms:7.1f}", flush=True)
        print(f"{'all':30} {_ms(everything)}")
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the end; python {sys.version.split()[0]}")
        print("cpu ms: the server's CPU time per request (user + system), whatever the machine's load")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
