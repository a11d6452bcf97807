"""The snapshots page (``/snapshots``): the snapshot tool's images, a gallery per camera and day, and a time-lapse
player for the day.

``ringvault snapshot`` keeps each image as a ``media`` row of kind ``snapshot`` (with its device and capture time,
no event) and a file under the archive (``MediaLayout.snapshot_path``, dated in the device's time zone). Days here are
the device's local days too. Images are served by media id only (``/snapshots/media/{id}`` and ``.../thumb``): the
id must be a snapshot row of the database, and its stored path must stay inside the archive; nothing of the request
becomes a path. Thumbnails are made once with Pillow and kept under ``<archive>/.cache/thumbnails/`` (named by the
id and the file's SHA-256, so a replaced file gets a new one); images no wider than a thumbnail are served as they
are.
"""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from ringvault.archive.dates import zone_named
from ringvault.archive.layout import ensure_inside
from ringvault.archive.store import StoredMedia
from ringvault.archive.store.activity import (
    SNAPSHOT,
    SnapshotCamera,
    SnapshotDay,
    device_zones,
    snapshot_cameras,
    snapshot_days,
    snapshots_of_day,
)
from ringvault.server.context import ServerContext
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=40, path="/snapshots", label="Snapshots")

#: thumbnails are at most this wide (and tall); smaller images are served as they are
THUMB_SIZE = 320
#: thumbnails shown per gallery page (the player gets the whole day)
GALLERY_PAGE = 240
THUMB_DIR = Path(".cache") / "thumbnails"
#: the largest id SQLite can store: anything above cannot be a row (and must not reach the database driver)
MAX_ID = 2**63 - 1
SPEEDS = (1, 2, 5, 10, 20)
DEFAULT_SPEED = 5


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera of the picker: its id, name, zone and snapshot count."""

    id: int
    name: str
    zone: str
    count: int


@dataclass(frozen=True, slots=True)
class Frame:
    """A snapshot as the page shows it: media id, local time of capture."""

    media_id: int
    time: str
    when: str


class _BadRequestError(ValueError):
    pass


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _parse_device(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise _BadRequestError(f"{value[:40]!r} is not a device id; pick a camera from the list")
    return int(text)


def _parse_day(value: str | None) -> date | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise _BadRequestError(f"{value[:40]!r} is not a day; use YYYY-MM-DD, e.g. 2026-12-06") from None


def _parse_page(value: str | None) -> int:
    if value is None or not value.strip():
        return 1
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) < 1:
        raise _BadRequestError(f"{value[:40]!r} is not a page number; pages count from 1")
    return int(text)


def _cameras(ctx: ServerContext, found: list[SnapshotCamera], zones: dict[int, str]) -> list[Camera]:
    names = {d.id: d.name or f"device {d.id}" for d in ctx.store.list_devices()}
    return [
        Camera(c.device_id, names.get(c.device_id, f"device {c.device_id}"), zones.get(c.device_id, "UTC"), c.count)
        for c in found
    ]


def _frame(media_id: int, captured_at: datetime, zone: tzinfo) -> Frame:
    local = captured_at.astimezone(zone)
    return Frame(media_id, local.strftime("%H:%M:%S"), local.strftime("%Y-%m-%d %H:%M:%S %Z"))


_DEFAULTS: dict[str, Any] = {
    "error": None, "cameras": [], "camera": None, "days": [], "day": None, "frames": [], "shown": [], "pages": 0,
    "page": 1, "speeds": SPEEDS, "speed": DEFAULT_SPEED, "note": None, "player": None, "gallery_page": GALLERY_PAGE,
}  # fmt: skip


def _page(request: Request, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    return render(request, "snapshots.html", title="Snapshots", status_code=status_code, **{**_DEFAULTS, **values})


@router.get("/snapshots", response_class=HTMLResponse)
def snapshots_page(request: Request, device: str | None = None, day: str | None = None, page: str | None = None) -> Any:
    ctx = _ctx(request)
    try:
        wanted_device, wanted_day, page_no = _parse_device(device), _parse_day(day), _parse_page(page)
    except _BadRequestError as exc:
        return _page(request, status_code=400, error=str(exc))
    zones = device_zones(ctx.store)
    cameras = _cameras(ctx, snapshot_cameras(ctx.store), zones)
    if not cameras:
        return _page(request)
    camera = next((c for c in cameras if c.id == wanted_device), None)
    if wanted_device is not None and camera is None:
        message = f"device {wanted_device} has no snapshots in the archive; pick a camera from the list"
        return _page(request, status_code=404, error=message, cameras=cameras)
    camera = camera or cameras[0]
    zone = zone_named(camera.zone)
    days: list[SnapshotDay] = snapshot_days(ctx.store, camera.id, camera.zone)
    chosen = next((d for d in days if d.day == wanted_day), None)
    note = None
    if chosen is None:
        chosen = days[0]
        if wanted_day is not None:
            note = f"{camera.name} has no snapshots on {wanted_day.isoformat()}; showing {chosen.day.isoformat()}"
    frames = [_frame(f.media_id, f.captured_at, zone) for f in snapshots_of_day(ctx.store, camera.id, chosen.day, zone)]
    pages = max(1, -(-len(frames) // GALLERY_PAGE))
    page_no = min(page_no, pages)
    shown = list(enumerate(frames))[(page_no - 1) * GALLERY_PAGE : page_no * GALLERY_PAGE]
    return _page(
        request, cameras=cameras, camera=camera, days=days, day=chosen, frames=frames, shown=shown, pages=pages,
        page=page_no, note=note, player={"frames": [[f.media_id, f.when] for f in frames], "name": camera.name},
    )  # fmt: skip


# -- images ----------------------------------------------------------------------------------------------------------


def _not_found(message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=404)


def _snapshot_file(ctx: ServerContext, media_id: int) -> tuple[StoredMedia, Path] | PlainTextResponse:
    """The snapshot row ``media_id`` and its file, or a 404 saying which is missing."""
    media = ctx.store.get_media(media_id) if 1 <= media_id <= MAX_ID else None
    if media is None or media.kind != SNAPSHOT:
        return _not_found(f"no snapshot {media_id} in the archive")
    try:
        path = ensure_inside(ctx.archive_dir, media.path)
        if not path.is_file():
            raise FileNotFoundError(path)
    except (ValueError, OSError):
        return _not_found(f"snapshot {media_id} is recorded but its file {media.path} is missing")
    return media, path


def _image_response(path: Path, content_type: str | None) -> FileResponse:
    media_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/snapshots/media/{media_id}")
def snapshot_image(request: Request, media_id: int) -> Response:
    """The snapshot's file, as the tool stored it."""
    found = _snapshot_file(_ctx(request), media_id)
    if isinstance(found, Response):
        return found
    media, path = found
    return _image_response(path, media.content_type)


@router.get("/snapshots/media/{media_id}/thumb")
def snapshot_thumbnail(request: Request, media_id: int) -> Response:
    """A JPEG at most ``THUMB_SIZE`` pixels wide and tall, made once and cached beside the archive."""
    ctx = _ctx(request)
    found = _snapshot_file(ctx, media_id)
    if isinstance(found, Response):
        return found
    media, path = found
    cache = ctx.archive_dir / THUMB_DIR / f"{media.id}-{media.sha256[:16]}-{THUMB_SIZE}.jpg"
    if cache.is_file():
        return _image_response(cache, "image/jpeg")
    made = _make_thumbnail(path, cache)
    if made is None:  # small already, or not an image Pillow reads: the original
        return _image_response(path, media.content_type)
    return _image_response(cache, "image/jpeg")


def _make_thumbnail(source: Path, dest: Path) -> Path | None:
    """Write a downscaled copy of ``source`` to ``dest`` (atomically); ``None`` when ``source`` is no larger than a
    thumbnail or cannot be read as an image."""
    from PIL import Image, UnidentifiedImageError

    from ringvault.archive.files import atomic_write_bytes

    try:
        with Image.open(source) as image:
            if max(image.size) <= THUMB_SIZE:
                return None
            image.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at a reduced scale, much faster
            small = image.convert("RGB")
            small.thumbnail((THUMB_SIZE, THUMB_SIZE))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80, optimize=True)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    atomic_write_bytes(dest, out.getvalue(), validate=None, sync_dir=False)
    return dest
