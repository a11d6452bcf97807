"""The snapshots page: the gallery shows exactly the snapshots the database lists for a camera and day, the
time-lapse player steps and plays through them in order, images are served by database id only.

The archive: the module's synced world, plus ``ringvault snapshot``'s own code (``take_snapshot`` into an
``ArchiveSink``) run against the simulator for every camera. The tool has no clock, so the earlier days of one camera
are written the way the tool writes each image (``ArchiveSink.destination`` → ``atomic_write_bytes`` →
``ArchiveSink.record``) with chosen capture times and 1280×720 JPEGs, as real cameras give.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image, ImageDraw

from ringvault.archive.files import atomic_write_bytes
from ringvault.archive.snapshots import ArchiveSink, take_snapshot
from ringvault.archive.store import ArchiveStore
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.camera import RingCamera, Snapshot
from ringvault.cloud.tokens import TokenStore
from ringvault.server import ServerSettings, create_app
from tests.cloud.http_helpers import fast_options
from tests.server.helpers import ServerThread
from tests.ui.conftest import UiPage, UiWorld, run_async

#: snapshots of the earlier days: every 2 hours from 00:30 local, plus one 30 s before local midnight
TIMES = [time(h, 30) for h in range(0, 24, 2)] + [time(23, 59, 30)]


@dataclass
class SnapWorld:
    world: UiWorld
    camera_id: int
    taken: int  # cameras the tool snapshotted from the simulator


def _jpeg(text: str, hour: int = 12) -> bytes:
    """A 1280x720 JPEG whose sky is lighter around noon (so a time-lapse shows the day go by)."""
    light = 1 - abs(hour - 12) / 12
    sky = (int(20 + 110 * light), int(30 + 150 * light), int(60 + 180 * light))
    image = Image.new("RGB", (1280, 720), sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 470, 1280, 720), fill=(int(20 + 60 * light), int(40 + 90 * light), 30))
    draw.text((40, 40), text, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def _take_snapshots(world: UiWorld) -> tuple[int, int]:
    """The tool's snapshot of every camera, then two earlier days of one camera; returns (camera, taken)."""
    auth = RefreshTokenAuth(token_store=TokenStore(world.token_file))
    with ArchiveStore.open(world.archive) as store:
        async with RingApi(auth, fast_options(world.sim)) as api:
            names = {loc.id: loc.name for loc in await api.get_locations()}
            sink = ArchiveSink(store, world.archive, location_names=names)
            cameras = await api.get_cameras()
            outcomes = [await take_snapshot(c, sink, force=False, max_retries=2) for c in cameras]
            saved = [c for c, o in zip(cameras, outcomes, strict=True) if o.status == "saved"]
            assert len(saved) >= 2, [o.error for o in outcomes]
            camera: RingCamera = saved[0]
            zone = ZoneInfo(str(camera.raw.get("time_zone") or "UTC"))
            today = datetime.now(zone).date()
            for back in (1, 2):
                day = today - timedelta(days=back)
                for at in TIMES:
                    captured = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
                    image = _jpeg(f"{camera.name} {captured.isoformat()}", at.hour)
                    result = atomic_write_bytes(sink.destination(camera, captured), image)
                    sink.record(camera, Snapshot(image, captured, "image/jpeg"), result, validated=True)
    return camera.id, len(saved)


@pytest.fixture(scope="module")
def snap_world(ui_world: UiWorld) -> SnapWorld:
    camera_id, taken = run_async(_take_snapshots(ui_world))
    return SnapWorld(ui_world, camera_id, taken)


@pytest.fixture(scope="module")
def snap_server(snap_world: SnapWorld) -> Iterator[ServerThread]:
    server = ServerThread(create_app(snap_world.world.settings())).start()
    yield server
    server.stop()


@pytest.fixture
def snap_page(ui_page_factory: Callable[[str], UiPage], snap_server: ServerThread) -> UiPage:
    return ui_page_factory(snap_server.url)


def db_snapshots(archive: Path) -> dict[int, dict[date, list[int]]]:
    """The database's snapshots (the tool's rows: kind snapshot, no event) by device and local day, in capture order;
    the day computed here with zoneinfo from the device's ``time_zone``."""
    with sqlite3.connect(archive / "archive.sqlite3") as db:
        zones = {}
        for device_id, raw, location_zone in db.execute(
            "SELECT d.id, d.raw, l.time_zone FROM devices d LEFT JOIN locations l ON l.id = d.location_id"
        ):
            name = (json.loads(raw) if raw else {}).get("time_zone") or location_zone or "UTC"
            zones[int(device_id)] = ZoneInfo(name)
        rows = db.execute(
            "SELECT id, device_id, captured_at FROM media WHERE kind = 'snapshot' AND event_id IS NULL "
            "ORDER BY captured_at, id"
        ).fetchall()
    out: dict[int, dict[date, list[int]]] = {}
    for media_id, device_id, captured_at in rows:
        local = datetime.fromisoformat(captured_at).replace(tzinfo=UTC).astimezone(zones[int(device_id)])
        out.setdefault(int(device_id), {}).setdefault(local.date(), []).append(int(media_id))
    return out


def gallery_ids(ui: UiPage) -> list[int]:
    return [int(x) for x in ui.page.eval_on_selector_all(".snapshot-grid li", "els => els.map(e => e.dataset.mediaId)")]


def test_the_gallery_shows_exactly_the_snapshots_of_each_camera_and_day(
    snap_page: UiPage, snap_world: SnapWorld
) -> None:
    expected = db_snapshots(snap_world.world.archive)
    assert len(expected) == snap_world.taken
    assert len(expected[snap_world.camera_id]) >= 3, "today and two earlier days"
    for device_id, days in expected.items():
        for day, ids in days.items():
            snap_page.open(f"/snapshots?device={device_id}&day={day.isoformat()}")
            assert gallery_ids(snap_page) == ids, (device_id, day)
            assert snap_page.page.get_attribute("#timelapse", "data-count") == str(len(ids))
        # the day picker lists that camera's days, newest first, with their counts
        options = snap_page.page.eval_on_selector_all("#snapshot-day option", "els => els.map(e => e.value)")
        assert options == [d.isoformat() for d in sorted(days, reverse=True)]
    # without parameters: the camera with the newest snapshot, its newest day
    snap_page.open("/snapshots")
    device = int(snap_page.page.get_attribute("#timelapse", "data-device") or 0)
    day = date.fromisoformat(snap_page.page.get_attribute("#timelapse", "data-day") or "")
    assert day == max(expected[device])
    # thumbnails load lazily, each with a text alternative
    snap_page.open(f"/snapshots?device={snap_world.camera_id}&day={sorted(expected[snap_world.camera_id])[0]}")
    images = snap_page.page.locator(".snapshot-grid img")
    assert images.count() == len(TIMES)
    for i in range(images.count()):
        assert images.nth(i).get_attribute("loading") == "lazy"
        assert (images.nth(i).get_attribute("alt") or "").strip()
    snap_page.screenshot("snapshots")


def _shown(ui: UiPage) -> int:
    src = ui.page.get_attribute("#tl-image", "src") or ""
    return int(src.rsplit("/", 1)[-1])


def test_the_time_lapse_steps_and_plays_in_capture_order(snap_page: UiPage, snap_world: SnapWorld) -> None:
    days = db_snapshots(snap_world.world.archive)[snap_world.camera_id]
    day = sorted(days)[0]
    ids = days[day]
    snap_page.open(f"/snapshots?device={snap_world.camera_id}&day={day.isoformat()}")
    assert _shown(snap_page) == ids[0]
    # the next images are preloaded
    requested = {url for _m, url, _h in snap_page.requests}
    assert any(url.endswith(f"/snapshots/media/{ids[1]}") for url in requested)
    # the arrow keys step through the day in order, and back
    snap_page.page.focus("#timelapse")
    seen = [_shown(snap_page)]
    for _ in ids[1:]:
        snap_page.page.keyboard.press("ArrowRight")
        seen.append(_shown(snap_page))
    assert seen == ids
    snap_page.page.keyboard.press("ArrowRight")  # stays on the last
    assert _shown(snap_page) == ids[-1]
    snap_page.page.keyboard.press("ArrowLeft")
    assert _shown(snap_page) == ids[-2]
    assert snap_page.page.text_content("#tl-position") == f"{len(ids) - 1} / {len(ids)}"
    snap_page.page.keyboard.press("Home")
    assert _shown(snap_page) == ids[0]
    # space plays at the chosen speed to the last snapshot, every one shown on the way, then stops
    snap_page.page.select_option("#tl-speed", "20")
    snap_page.page.evaluate(
        """() => { window.__shown = []; const img = document.getElementById('tl-image');
        new MutationObserver(() => window.__shown.push(img.dataset.mediaId))
            .observe(img, {attributes: true, attributeFilter: ['src']}); }"""
    )
    snap_page.page.focus("#timelapse")
    snap_page.page.keyboard.press(" ")
    assert snap_page.page.get_attribute("#tl-play", "aria-pressed") == "true"
    snap_page.page.wait_for_function(
        "() => document.getElementById('tl-play').getAttribute('aria-pressed') === 'false'", timeout=60_000
    )
    assert _shown(snap_page) == ids[-1]
    assert [int(x) for x in snap_page.page.evaluate("window.__shown")] == ids[1:]
    # space pauses: play again from the start, pause at once, the image stays where it stopped
    snap_page.page.keyboard.press(" ")
    snap_page.page.keyboard.press(" ")
    assert snap_page.page.get_attribute("#tl-play", "aria-pressed") == "false"
    stopped = _shown(snap_page)
    snap_page.page.wait_for_timeout(300)
    assert _shown(snap_page) == stopped
    # a thumbnail of the gallery opens its snapshot in the player
    snap_page.page.click(f".snapshot-grid li[data-media-id='{ids[3]}'] a")
    assert _shown(snap_page) == ids[3]


def test_images_are_served_by_database_id_only(snap_server: ServerThread, snap_world: SnapWorld) -> None:
    archive = snap_world.world.archive
    with sqlite3.connect(archive / "archive.sqlite3") as db:
        snaps = db.execute("SELECT id, path FROM media WHERE kind = 'snapshot' ORDER BY id").fetchall()
        recording = db.execute("SELECT id FROM media WHERE kind = 'recording' LIMIT 1").fetchone()
        highest = db.execute("SELECT max(id) FROM media").fetchone()[0]
    big = db_snapshots(archive)[snap_world.camera_id]
    big_id = big[sorted(big)[0]][0]
    small_id = next(i for i, path in snaps if i not in {x for ids in big.values() for x in ids})
    with httpx.Client(base_url=snap_server.url, timeout=60) as client:
        # the full image is the archive's file, byte for byte
        for media_id, path in snaps[:3]:
            response = client.get(f"/snapshots/media/{media_id}")
            assert response.status_code == 200
            assert response.content == (archive / path).read_bytes()
            assert response.headers["content-type"] == "image/jpeg"
        # a 1280x720 snapshot gets a thumbnail made with Pillow, kept on disk beside the archive
        thumb = client.get(f"/snapshots/media/{big_id}/thumb")
        assert thumb.status_code == 200
        with Image.open(io.BytesIO(thumb.content)) as image:
            assert image.format == "JPEG" and max(image.size) <= 320 and image.size[0] == 320
        cached = list((archive / ".cache" / "thumbnails").glob(f"{big_id}-*.jpg"))
        assert len(cached) == 1 and cached[0].read_bytes() == thumb.content
        assert client.get(f"/snapshots/media/{big_id}/thumb").content == thumb.content
        # the simulator's 320x180 snapshot is small already: served as it is
        small_path = dict(snaps)[small_id]
        assert client.get(f"/snapshots/media/{small_id}/thumb").content == (archive / small_path).read_bytes()
        # ids the database does not list as snapshots: 404, with nothing of the archive in the answer
        missing = [highest + 1, 0, 2**63, 10**30] + ([recording[0]] if recording else [])
        for media_id in missing:
            for suffix in ("", "/thumb"):
                response = client.get(f"/snapshots/media/{media_id}{suffix}")
                assert response.status_code == 404, (media_id, suffix)
        # a path where an id belongs is no id
        for bad in ("..%2F..%2Farchive.sqlite3", "%2e%2e", "1;2", "-1"):
            response = client.get(f"/snapshots/media/{bad}")
            assert response.status_code in (400, 404, 422), bad
            assert b"SQLite" not in response.content


def test_a_snapshot_whose_file_is_gone_is_404(tmp_path: Path) -> None:
    """A row whose file was deleted (or whose stored path leaves the archive) serves nothing."""
    from ringvault.archive.store import DeviceRecord, MediaKind, MediaRecord

    archive = tmp_path / "archive"
    with ArchiveStore.open(archive) as store:
        store.upsert_device(DeviceRecord(id=5, family="doorbots", name="Porch"))
        captured = datetime(2026, 12, 1, 12, tzinfo=UTC)
        gone = store.add_media(MediaRecord(kind=MediaKind.SNAPSHOT, path="porch/gone.jpg", bytes=10, sha256="0" * 64,
                                           device_id=5, captured_at=captured))  # fmt: skip
        outside = store.add_media(MediaRecord(kind=MediaKind.SNAPSHOT, path="../outside.jpg", bytes=10,
                                              sha256="1" * 64, device_id=5, captured_at=captured))  # fmt: skip
    (tmp_path / "outside.jpg").write_bytes(_jpeg("outside"))
    server = ServerThread(create_app(ServerSettings(archive_dir=archive))).start()
    try:
        for media_id in (gone, outside):
            for suffix in ("", "/thumb"):
                response = httpx.get(f"{server.url}/snapshots/media/{media_id}{suffix}", timeout=30)
                assert response.status_code == 404
                assert "missing" in response.text
        # the page still lists the day (the database has it), and says so in the gallery
        page = httpx.get(f"{server.url}/snapshots", timeout=30)
        assert page.status_code == 200 and f'data-media-id="{gone}"' in page.text
    finally:
        server.stop()


def test_bad_parameters_and_unknown_cameras_say_what_to_do(snap_page: UiPage) -> None:
    snap_page.allow_console_error("status of 40")
    snap_page.open("/snapshots?day=yesterday", status=400)
    assert "not a day; use YYYY-MM-DD" in (snap_page.page.text_content("[role=alert]") or "")
    snap_page.open("/snapshots?device=abc", status=400)
    assert "not a device id" in (snap_page.page.text_content("[role=alert]") or "")
    snap_page.open("/snapshots?device=123456789", status=404)
    assert "has no snapshots" in (snap_page.page.text_content("[role=alert]") or "")
    # a day without snapshots: the camera's newest day, saying so
    snap_page.open("/snapshots?day=1999-01-01")
    assert "no snapshots on 1999-01-01" in (snap_page.page.text_content("[role=status]") or "")


def test_an_archive_without_snapshots_says_what_to_do(tmp_path: Path, ui_page_factory: Callable[[str], UiPage]) -> None:
    ArchiveStore.open(tmp_path / "empty").close()
    server = ServerThread(create_app(ServerSettings(archive_dir=tmp_path / "empty"))).start()
    try:
        ui = ui_page_factory(server.url)
        ui.open("/snapshots")
        assert "ringvault snapshot --all" in (ui.page.text_content(".empty") or "")
    finally:
        server.stop()


def test_the_page_fits_a_phone(snap_page: UiPage, snap_world: SnapWorld) -> None:
    snap_page.page.set_viewport_size({"width": 390, "height": 844})
    snap_page.open(f"/snapshots?device={snap_world.camera_id}")
    width = snap_page.page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
