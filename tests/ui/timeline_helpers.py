"""What the timeline and playback tests share: a simulator world prepared before its one sync, and the database's
own answers (plain SQL through ``sqlite3``, never the page's queries) to compare the pages with."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ringvault.archive.store import DB_FILENAME
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sync_once
from tests.ui.conftest import UiWorld, run_async

#: Ring's detection words of each class, written out here independently of the page's code
PERSON = ("human", "person", "person_detected", "loitering")
VEHICLE = ("vehicle", "vehicle_detected")
PACKAGE = ("package", "package_delivery", "package_pickup", "package_detected")
EVENT_ID = re.compile(r'data-event-id="(\d+)"')
COUNT = re.compile(r'id="timeline-count" data-count="(\d+)"')


@contextmanager
def prepared_world(
    config: SimConfig,
    base: Path,
    prepare: Callable[[SimServer], None] | None = None,
    after: Callable[[UiWorld], None] | None = None,
) -> Iterator[UiWorld]:
    """A simulator with ``config``; ``prepare(sim)`` runs before the one sync into the archive, ``after(world)``
    after it."""
    archive = base / "archive"
    with SimServer(config) as sim:
        if prepare is not None:
            prepare(sim)
        run_async(sync_once(sim, base, archive))
        world = UiWorld(sim=sim, base=base, archive=archive, token_file=base / "tokens" / "token.json")
        if after is not None:
            after(world)
        yield world


def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{sim.url}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


@dataclass(frozen=True)
class Row:
    id: str
    device_id: int
    kind: str | None
    created_at: datetime
    person_detected: bool | None
    detection_type: str | None
    media_status: str
    media_last_error: str | None


def db_events(archive: Path) -> list[Row]:
    """Every event, newest first by (created_at, id), read with sqlite3."""
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        rows = conn.execute(
            "SELECT id, device_id, kind, created_at, person_detected, detection_type, media_status, media_last_error "
            "FROM events ORDER BY created_at DESC, id DESC"
        ).fetchall()
    return [
        Row(r[0], r[1], r[2], datetime.fromisoformat(r[3]).replace(tzinfo=UTC), None if r[4] is None else bool(r[4]),
            r[5], r[6], r[7])
        for r in rows
    ]  # fmt: skip


def db_count(archive: Path, where: str, params: tuple[Any, ...] = ()) -> int:
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM events WHERE {where}", params).fetchone()[0])


def db_zones(archive: Path) -> dict[int, ZoneInfo]:
    """Each device's time zone (Ring's ``time_zone`` in the device's JSON; UTC without one)."""
    with sqlite3.connect(archive / DB_FILENAME) as conn:
        rows = conn.execute("SELECT id, raw FROM devices").fetchall()
    zones: dict[int, ZoneInfo] = {}
    for device_id, raw in rows:
        name = (json.loads(raw) if raw else {}).get("time_zone")
        zones[device_id] = ZoneInfo(name) if name else ZoneInfo("UTC")
    return zones


def local_day_range(rows: list[Row], zones: dict[int, ZoneInfo], since: date, until: date) -> list[Row]:
    """The events whose day in their device's zone is within [since, until]."""
    return [
        r for r in rows if since <= r.created_at.astimezone(zones.get(r.device_id, ZoneInfo("UTC"))).date() <= until
    ]


def detection_sql(name: str) -> str:
    """The WHERE of a detection class, written for the test (the classes exclude each other)."""

    def words(values: tuple[str, ...]) -> str:
        return "(" + ", ".join(f"'{w}'" for w in values) + ")"

    person = f"(COALESCE(person_detected, 0) = 1 OR COALESCE(detection_type, '') IN {words(PERSON)})"
    if name == "person":
        return person
    if name == "vehicle":
        return f"(NOT {person} AND detection_type IN {words(VEHICLE)})"
    if name == "package":
        return f"(NOT {person} AND detection_type IN {words(PACKAGE)})"
    return f"(NOT {person} AND COALESCE(detection_type, '') NOT IN {words(VEHICLE + PACKAGE)})"


def shown(html: str) -> tuple[int, list[str]]:
    """(the count a timeline page shows, the event ids of its rows in order)."""
    match = COUNT.search(html)
    assert match is not None, "the page shows a count"
    return int(match.group(1)), EVENT_ID.findall(html)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def large_mp4(path: Path, *, seconds: int = 15, size: tuple[int, int] = (320, 180), fps: int = 10) -> int:
    """Write a real H.264 MP4 (faststart, like Ring's) of a few megabytes — noise compresses badly — at ``path``;
    returns its size. The simulator's clips are a few kilobytes, which a browser reads whole in its first request:
    a recording as large as Ring's is needed to see a seek ask for a byte range."""
    import os

    import av
    from PIL import Image

    container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(seconds * fps):
            image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()
    return path.stat().st_size


def add_snapshot(world: UiWorld, device_id: int, captured_at: datetime) -> int:
    """A device snapshot in the archive, as ``ringvault snapshot --archive`` keeps one (a real JPEG from the
    simulator's generator, a ``media`` row of kind snapshot with the device and capture time); returns its id."""
    import hashlib

    from ringvault.archive.store import ArchiveStore, MediaKind, MediaRecord
    from ringvault.sim.media import MediaStore

    image = MediaStore(world.sim.config).jpeg(device_id, int(captured_at.timestamp() * 1000), "timeline test")
    path = Path("snapshots") / str(device_id) / f"{captured_at:%Y%m%d-%H%M%S}.jpg"
    (world.archive / path).parent.mkdir(parents=True, exist_ok=True)
    (world.archive / path).write_bytes(image)
    with ArchiveStore.open(world.archive) as store:
        return store.add_media(
            MediaRecord(
                kind=MediaKind.SNAPSHOT, path=path.as_posix(), bytes=len(image),
                sha256=hashlib.sha256(image).hexdigest(), device_id=device_id, content_type="image/jpeg",
                validated=True, captured_at=captured_at,
            )
        )  # fmt: skip
