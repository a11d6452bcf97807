"""Taking camera snapshots and keeping them: into the archive (``media`` rows) or into a plain folder.

Each snapshot is fetched with retries, checked (a JPEG that decodes; an error body is never saved) and written
atomically under a name made from its capture time (``x-time-millis``), so an image the camera already gave is not
saved twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from ringvault.archive.files import MediaValidationError, WriteResult, atomic_write_bytes
from ringvault.archive.ids import UnstorableIdError, fits_archive, unstorable_reason
from ringvault.archive.layout import DeviceRef, MediaLayout, ensure_inside, slugify
from ringvault.archive.validate import sniff_error_body

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.cloud.camera import RingCamera, Snapshot

__all__ = [
    "ArchiveSink",
    "FolderSink",
    "SnapshotOutcome",
    "SnapshotSink",
    "folder_file_name",
    "take_snapshot",
]

Status = Literal["saved", "unchanged", "failed"]
RETRY_DELAY_S = 1.0


@dataclass(frozen=True)
class SnapshotOutcome:
    """What happened to one camera in one round."""

    device_id: int
    name: str
    status: Status
    path: Path | None = None
    captured_at: datetime | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class SnapshotSink(Protocol):
    """Where snapshots go."""

    def destination(self, camera: RingCamera, captured_at: datetime) -> Path: ...

    def record(self, camera: RingCamera, snapshot: Snapshot, result: WriteResult, validated: bool) -> None: ...


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def folder_file_name(name: str | None, device_id: int, captured_at: datetime) -> str:
    """``{device-slug}-{id}-{YYYYMMDD-HHMMSS}.jpg`` (capture time in UTC)."""
    stamp = _utc(captured_at).strftime("%Y%m%d-%H%M%S")
    return f"{slugify(name, fallback='camera')}-{device_id}-{stamp}.jpg"


@dataclass
class FolderSink:
    """A plain folder: ``{device-slug}-{id}-{YYYYMMDD-HHMMSS}.jpg``."""

    out_dir: Path

    def destination(self, camera: RingCamera, captured_at: datetime) -> Path:
        return Path(self.out_dir) / folder_file_name(camera.name, camera.id, captured_at)

    def record(self, camera: RingCamera, snapshot: Snapshot, result: WriteResult, validated: bool) -> None:
        return None


@dataclass
class ArchiveSink:
    """The archive: ``MediaLayout.snapshot_path`` under the archive root plus a ``media`` row of kind snapshot."""

    store: ArchiveStore
    root: Path
    layout: MediaLayout = field(default_factory=MediaLayout)
    location_names: dict[str, str] = field(default_factory=dict)
    _known_devices: set[int] = field(default_factory=set)

    def _ref(self, camera: RingCamera) -> DeviceRef:
        location_id = camera.location_id or ""
        zone = camera.raw.get("time_zone")
        return DeviceRef(
            device_id=camera.id,
            name=camera.name,
            location_id=location_id,
            location_name=self.location_names.get(location_id),
            time_zone=zone if isinstance(zone, str) else None,
        )

    def destination(self, camera: RingCamera, captured_at: datetime) -> Path:
        if not fits_archive(camera.id):  # refused before anything is written (a failed outcome, not a crash)
            raise UnstorableIdError(unstorable_reason(camera.id))
        return ensure_inside(self.root, self.layout.snapshot_path(self._ref(camera), captured_at))

    def _ensure_device(self, camera: RingCamera) -> None:
        from ringvault.archive.store import DeviceRecord, LocationRecord

        if camera.id in self._known_devices:
            return
        location_id = camera.location_id or None
        if location_id is not None:
            self.store.upsert_location(LocationRecord(id=location_id, name=self.location_names.get(location_id)))
        self.store.upsert_device(
            DeviceRecord(
                id=camera.id,
                family=camera.family,
                kind=camera.kind,
                name=camera.name,
                location_id=location_id,
                model=camera.model,
                slug=slugify(camera.name, fallback="device"),
            )
        )
        self._known_devices.add(camera.id)

    def record(self, camera: RingCamera, snapshot: Snapshot, result: WriteResult, validated: bool) -> None:
        from ringvault.archive.store import MediaKind, MediaRecord

        self._ensure_device(camera)
        rel = result.path.relative_to(Path(self.root).resolve()).as_posix()
        self.store.add_media(
            MediaRecord(
                kind=MediaKind.SNAPSHOT,
                path=rel,
                bytes=result.bytes,
                sha256=result.sha256,
                device_id=camera.id,
                content_type=snapshot.content_type or "image/jpeg",
                validated=validated,
                captured_at=_utc(snapshot.captured_at),
            )
        )


class _NotAJpegError(Exception):
    pass


def _quick_check(image: bytes) -> None:
    """The check that always runs (also with validation off): never keep an error body."""
    sniffed = sniff_error_body(image[:512])
    if sniffed:
        raise _NotAJpegError(sniffed)
    if not image.startswith(b"\xff\xd8"):
        raise _NotAJpegError("not a JPEG: no SOI marker (FF D8) at the start")


def _fatal(exc: BaseException) -> bool:
    """Errors that another attempt will not fix (offline, motion off, not a camera, login)."""
    from ringvault.cloud.errors import AuthenticationError, CapabilityError, DeviceOfflineError

    return isinstance(exc, CapabilityError | DeviceOfflineError | AuthenticationError | UnstorableIdError)


#: Third-party cameras shown in the Ring app (``other`` family); Ring stores no snapshots or history for them.
THIRD_PARTY_KIND = "onvif_camera"
THIRD_PARTY_SNAPSHOT_NOTE = (
    "Ring serves no snapshots for third-party (ONVIF) cameras (HTTP 404); take them from the camera itself"
)


def _describe(exc: BaseException) -> str:
    from ringvault.cloud.errors import RingError

    if isinstance(exc, RingError):
        return exc.one_line
    if isinstance(exc, MediaValidationError):
        return f"invalid image ({exc.reason})"
    return str(exc) or type(exc).__name__


async def take_snapshot(
    camera: RingCamera,
    sink: SnapshotSink,
    *,
    force: bool = True,
    max_retries: int = 3,
    validate: bool = True,
    last_seen: dict[int, datetime] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SnapshotOutcome:
    """Fetch, check and save one snapshot of ``camera`` (up to ``max_retries`` attempts, 1 s apart).

    ``last_seen`` maps device ids to the capture time last kept; an unchanged capture time is not saved again (nor is
    one whose file already exists). Failures come back as a ``failed`` outcome, never as an exception.
    """
    from ringvault.cloud.errors import RingError

    attempts = max(1, max_retries)
    error: BaseException | None = None
    for attempt in range(attempts):
        if attempt:
            await sleep(RETRY_DELAY_S)
        try:
            snapshot = await camera.get_snapshot(force=force)
            captured = _utc(snapshot.captured_at)
            if last_seen is not None and last_seen.get(camera.id) == captured:
                return SnapshotOutcome(camera.id, camera.name, "unchanged", captured_at=captured)
            _quick_check(snapshot.image)
            dest = sink.destination(camera, captured)
            if dest.exists():
                if last_seen is not None:
                    last_seen[camera.id] = captured
                return SnapshotOutcome(camera.id, camera.name, "unchanged", path=dest, captured_at=captured)
            result = atomic_write_bytes(dest, snapshot.image, validate="auto" if validate else None)
            sink.record(camera, snapshot, result, validated=result.check is not None and result.check.ok)
            if last_seen is not None:
                last_seen[camera.id] = captured
            return SnapshotOutcome(camera.id, camera.name, "saved", path=result.path, captured_at=captured)
        except (RingError, MediaValidationError, _NotAJpegError, OSError, ValueError) as exc:
            error = exc
            if _fatal(exc):
                break
    assert error is not None
    from ringvault.cloud.errors import NotFoundError

    if isinstance(error, NotFoundError) and camera.kind == THIRD_PARTY_KIND:
        return SnapshotOutcome(camera.id, camera.name, "failed", error=THIRD_PARTY_SNAPSHOT_NOTE)
    return SnapshotOutcome(camera.id, camera.name, "failed", error=_describe(error))
