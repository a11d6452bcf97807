"""Rows and records: the conversions between the archive's tables and the typed records the store returns, the
statements a download runs once per recording (built once), and the keyset cursor of event pages."""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update

from ringvault.archive.store.models import Device, Event, Media, SyncStateRow
from ringvault.archive.store.records import (
    DeviceRecord,
    DueRecording,
    EventRecord,
    MediaKind,
    MediaStatus,
    StoredDevice,
    StoredEvent,
    StoredMedia,
    SyncState,
)


class InvalidCursorError(ValueError):
    """A pagination cursor that ``query_events`` did not produce."""


#: Recordings a sync fetches: not archived yet, and not given up.
DUE_STATUSES = (MediaStatus.PENDING.value, MediaStatus.FAILED.value)


def file_identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the archive stores aware datetimes only")
    return value.astimezone(UTC)


# Statements a download runs once per recording, built once (no expression building or cache key per call).
MEDIA_TABLE = cast("Table", Media.__table__)
EVENT_TABLE = cast("Table", Event.__table__)
MEDIA_FIND = select(MEDIA_TABLE.c.id, MEDIA_TABLE.c.path, MEDIA_TABLE.c.event_id).where(
    or_(
        MEDIA_TABLE.c.path == bindparam("m_path"),
        and_(MEDIA_TABLE.c.event_id == bindparam("m_event"), MEDIA_TABLE.c.kind == bindparam("m_kind")),
    )
)
MEDIA_INSERT = insert(MEDIA_TABLE)
MEDIA_UPDATE = update(MEDIA_TABLE).where(MEDIA_TABLE.c.id == bindparam("m_id"))
MEDIA_DONE = (
    update(EVENT_TABLE)
    .where(EVENT_TABLE.c.id == bindparam("e_id"))
    .values(
        media_status=MediaStatus.DONE.value, media_attempts=EVENT_TABLE.c.media_attempts + 1, media_failures=0,
        media_next_attempt_at=None, media_last_error=None, updated_at=bindparam("e_now"),
    )
)  # fmt: skip
#: SET media_attempts + 1 and the columns passed with the parameters.
MEDIA_STATE = (
    update(EVENT_TABLE)
    .where(EVENT_TABLE.c.id == bindparam("e_id"))
    .values(media_attempts=EVENT_TABLE.c.media_attempts + 1)
)


def device_row(record: DeviceRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id, "family": record.family, "kind": record.kind, "name": record.name,
        "location_id": record.location_id, "account_id": record.account_id, "model": record.model,
        "slug": record.slug, "raw": record.raw, "first_seen_at": now, "last_seen_at": now,
    }  # fmt: skip


#: What ``due_recordings`` and ``failed_recordings`` read (see ``due_out``).
DUE_COLUMNS = (
    Event.id, Event.device_id, Event.created_at, Event.kind, Event.answered, Event.duration_s, Event.person_detected,
    Event.detection_type, Event.media_status, Event.media_failures, Event.media_last_error,
)  # fmt: skip


def due_out(row: Any) -> DueRecording:
    return DueRecording(
        id=row[0], device_id=row[1], created_at=row[2], kind=row[3], answered=row[4], duration_s=row[5],
        person_detected=row[6], detection_type=row[7], media_status=MediaStatus(row[8]), media_failures=row[9],
        media_last_error=row[10],
    )  # fmt: skip


def event_row(device_id: int, record: EventRecord, now: datetime) -> dict[str, Any]:
    if record.created_at.tzinfo is None:
        raise ValueError(f"event {record.id}: created_at must be timezone-aware")
    return {
        "id": str(record.id), "device_id": device_id, "location_id": record.location_id, "kind": record.kind,
        "created_at": record.created_at, "duration_s": record.duration_s, "answered": record.answered,
        "favorite": record.favorite, "state": record.state, "person_detected": record.person_detected,
        "detection_type": record.detection_type, "cv_properties": record.cv_properties,
        "recording_status": record.recording_status, "raw": record.raw,
        "media_status": MediaStatus(record.media_status).value, "media_attempts": 0, "media_failures": 0,
        "media_next_attempt_at": None, "media_last_error": None, "first_seen_at": now, "updated_at": now,
    }  # fmt: skip


def encode_cursor(created_at: datetime, event_id: str) -> str:
    payload = json.dumps([created_at.isoformat(), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, event_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created_at = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from exc
    if created_at.tzinfo is None or not isinstance(event_id, str):
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return created_at, event_id


def device_out(row: Device) -> StoredDevice:
    return StoredDevice(
        id=row.id, family=row.family, kind=row.kind, name=row.name, model=row.model, slug=row.slug,
        location_id=row.location_id, account_id=row.account_id, raw=row.raw, first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
    )  # fmt: skip


def event_out(row: Event) -> StoredEvent:
    return StoredEvent(
        id=row.id, device_id=row.device_id, location_id=row.location_id, kind=row.kind, created_at=row.created_at,
        duration_s=row.duration_s, answered=row.answered, favorite=row.favorite, state=row.state,
        person_detected=row.person_detected, detection_type=row.detection_type, cv_properties=row.cv_properties,
        recording_status=row.recording_status, raw=row.raw, media_status=MediaStatus(row.media_status),
        media_attempts=row.media_attempts, media_next_attempt_at=row.media_next_attempt_at,
        media_last_error=row.media_last_error, first_seen_at=row.first_seen_at, updated_at=row.updated_at,
        media_failures=row.media_failures,
    )  # fmt: skip


def media_out(row: Media) -> StoredMedia:
    return StoredMedia(
        id=row.id, kind=MediaKind(row.kind), path=row.path, bytes=row.bytes, sha256=row.sha256,
        device_id=row.device_id, event_id=row.event_id, content_type=row.content_type, validated=row.validated,
        captured_at=row.captured_at, downloaded_at=row.downloaded_at,
    )  # fmt: skip


def sync_out(row: SyncStateRow) -> SyncState:
    return SyncState(
        device_id=row.device_id, newest_event_id=row.newest_event_id, newest_created_at=row.newest_created_at,
        oldest_event_id=row.oldest_event_id, oldest_created_at=row.oldest_created_at, last_sync_at=row.last_sync_at,
        last_full_scan_at=row.last_full_scan_at, has_recordings=row.has_recordings,
    )  # fmt: skip
