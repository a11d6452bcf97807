"""A live-view recording kept in the archive as an ``on_demand`` event, the kind Ring gives its own live views.

The file goes where the archive's layout puts an event's recording (``MediaLayout.recording_path``, kind
``on_demand``), written and verified the way a sync stores a download: an ``AtomicFile`` (temporary name in the
final directory, fsync, ``validate_mp4``, SHA-256, rename), the JSON sidecar beside it, the directory fsynced, and
only then the database rows: the event (``kind = on_demand``) and its ``media`` row, marked done. A failure or a
cancellation before the rename leaves no file and no row.

The event id is Ring's ding id when the session id (a JWT, §9.5 [unconfirmed]) names one, so that the event a later
sync reads from Ring's history is the same row; otherwise a local id ``live-{camera id}-{epoch ms}`` that no Ring
ding id can take (they are numbers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.archive.files import AtomicFile, WriteResult, write_sidecar
from ringvault.archive.ids import UnstorableIdError, fits_archive, unstorable_reason
from ringvault.archive.layout import DeviceRef, MediaLayout, ensure_inside, slugify
from ringvault.archive.sidecar import SidecarEvent, build_sidecar
from ringvault.archive.store import (
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    LocationRecord,
    MediaKind,
    MediaRecord,
    MediaStatus,
)
from ringvault.archive.validate import validate_mp4
from ringvault.transport.files import fsync_dir

if TYPE_CHECKING:
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.live import LiveViewSession

__all__ = ["ArchivedLiveView", "ding_id_of_session", "record_into_archive"]

log = logging.getLogger("ringvault.archive.live")

KIND = "on_demand"
_DIGITS = re.compile(r"^[0-9]{1,30}$")


@dataclass(frozen=True)
class ArchivedLiveView:
    event_id: str
    path: Path
    relative_path: str
    bytes: int
    sha256: str
    duration_s: float
    created_at: datetime


def ding_id_of_session(session_id: str | None) -> str | None:
    """The ``ding_id`` claim of a session JWT, when it is one and has a numeric one (never verified: only read)."""
    if not session_id or session_id.count(".") != 2:
        return None
    payload = session_id.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    ding = claims.get("ding_id") if isinstance(claims, dict) else None
    text = str(ding) if isinstance(ding, int | str) and not isinstance(ding, bool) else ""
    return text if _DIGITS.match(text) else None


def _ref(camera: RingCamera, location_name: str | None) -> DeviceRef:
    zone = camera.raw.get("time_zone")
    return DeviceRef(
        device_id=camera.id,
        name=camera.name,
        location_id=camera.location_id or "",
        location_name=location_name,
        time_zone=zone if isinstance(zone, str) else None,
    )


async def record_into_archive(
    session: LiveViewSession,
    camera: RingCamera,
    store: ArchiveStore,
    root: Path,
    *,
    duration: float,
    location_name: str | None = None,
    layout: MediaLayout | None = None,
    on_wait: Callable[[], None] | None = None,
) -> ArchivedLiveView:
    """Record ``duration`` seconds of ``session`` into the archive at ``root`` (see the module docstring).

    It holds the archive's writer lock while it writes (a sync of the same archive waits for it; one running makes
    this wait, and ``on_wait`` hears so), and notes its folder in the sync's in-flight list before the temporary
    file exists: a recording killed midway leaves a ``.part`` file that the next sync removes, and no sync cleaning
    up after a killed run can remove the temporary file of a recording under way."""
    if not fits_archive(camera.id):
        raise UnstorableIdError(unstorable_reason(camera.id))
    from ringvault.archive.sync.run import archive_lock

    async with archive_lock(root, on_wait=on_wait):
        return await _record(session, camera, store, root, duration, location_name, layout)


async def _record(
    session: LiveViewSession,
    camera: RingCamera,
    store: ArchiveStore,
    root: Path,
    duration: float,
    location_name: str | None,
    layout: MediaLayout | None,
) -> ArchivedLiveView:
    from ringvault.archive.sync.download import Inflight

    layout = layout or MediaLayout()
    created_at = datetime.now(UTC)
    event_id = ding_id_of_session(session.session_id) or f"live-{camera.id}-{int(created_at.timestamp() * 1000)}"
    ref = _ref(camera, location_name)
    rel = layout.recording_path(ref, created_at=created_at, kind=KIND, ding_id=event_id)
    directory = await asyncio.to_thread(ensure_inside, root, rel.parent)
    inflight = Inflight(await asyncio.to_thread(root.resolve))
    await asyncio.to_thread(inflight.note, directory)  # (never reset here: a killed sync's own list stays)
    dest = directory / rel.name
    part = AtomicFile(dest, validate=validate_mp4)
    await asyncio.to_thread(part.__enter__)
    try:
        result = await session.record(part.path, duration)
    except BaseException:
        part.abort()
        raise

    def commit() -> WriteResult:
        written = part.commit(sync_dir=False)
        document = build_sidecar(
            SidecarEvent(ding_id=event_id, created_at=created_at, kind=KIND, duration=round(result.duration_s, 3)),
            device_id=camera.id, device_name=camera.name, location_id=ref.location_id, location_name=location_name,
            video_file_name=dest.name, status="done", sha256=written.sha256, size=written.bytes,
            zone=layout.zone_for(ref),
        )  # fmt: skip
        try:
            write_sidecar(MediaLayout.sidecar_path(dest), document, sync_dir=False)
        except BaseException:
            with contextlib.suppress(OSError):
                dest.unlink()
            raise
        fsync_dir(directory)
        return written

    # A thread cannot be stopped: a cancellation waits for the commit to settle (in place, or removed).
    future = asyncio.ensure_future(asyncio.to_thread(commit))
    try:
        written = await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise
    _store_rows(store, camera, ref, event_id, created_at, result.duration_s, rel.as_posix(), written)
    return ArchivedLiveView(
        event_id=event_id, path=dest, relative_path=rel.as_posix(), bytes=written.bytes, sha256=written.sha256,
        duration_s=result.duration_s, created_at=created_at,
    )  # fmt: skip


def _store_rows(
    store: ArchiveStore,
    camera: RingCamera,
    ref: DeviceRef,
    event_id: str,
    created_at: datetime,
    duration_s: float,
    rel: str,
    written: WriteResult,
) -> None:
    """The rows, after the file and its sidecar are in place (as a sync records a download)."""
    location_id = camera.location_id or None
    if location_id is not None:
        store.upsert_location(LocationRecord(id=location_id, name=ref.location_name))
    store.upsert_device(
        DeviceRecord(
            id=camera.id, family=camera.family, kind=camera.kind, name=camera.name, location_id=location_id,
            model=camera.model, slug=slugify(camera.name, fallback="device"),
        )
    )  # fmt: skip
    store.upsert_events(
        camera.id,
        [
            EventRecord(
                id=event_id, created_at=created_at, kind=KIND, location_id=location_id, duration_s=round(duration_s, 3),
                answered=True, raw={"source": "ringvault live", "kind": KIND}, media_status=MediaStatus.PENDING,
            )
        ],
    )  # fmt: skip
    store.add_media(
        MediaRecord(
            kind=MediaKind.RECORDING, path=rel, bytes=written.bytes, sha256=written.sha256, device_id=camera.id,
            event_id=event_id, content_type="video/mp4", validated=True, captured_at=created_at,
            downloaded_at=store.now(),
        ),
        mark_event_done=True,
    )  # fmt: skip
