"""Plain records going into and coming out of the archive store.

The store takes and returns these dataclasses only: it does not depend on ``ringvault.cloud``, so the sync, the
Data Portability importer and tests can all feed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "AccountRecord",
    "Counts",
    "DeviceRecord",
    "DueRecording",
    "EventPage",
    "EventRecord",
    "LocationRecord",
    "MediaKind",
    "MediaRecord",
    "MediaStatus",
    "PendingMedia",
    "StoredDevice",
    "StoredEvent",
    "StoredMedia",
    "SyncState",
    "UpsertResult",
]


class MediaStatus(StrEnum):
    """Where an event's recording stands (``events.media_status``)."""

    PENDING = "pending"
    """Not downloaded yet (maybe not ready at Ring yet); due at ``media_next_attempt_at`` (``NULL``: the next run)."""
    DONE = "done"
    """Downloaded, validated and recorded in ``media``."""
    FAILED = "failed"
    """The last attempt failed (``media_last_error`` says why); ``media_failures`` runs in a row so far. Retried at
    ``media_next_attempt_at`` (``NULL``: the next run)."""
    GIVEN_UP = "given_up"
    """Failed on too many runs: no longer retried automatically (``ringvault sync --retry-failed`` retries it)."""
    NO_MEDIA = "no_media"
    """The event has no recording (no Protect plan, recordings disabled)."""


class MediaKind(StrEnum):
    """What a ``media`` row holds."""

    RECORDING = "recording"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A Ring account, keyed by its login e-mail."""

    email: str
    profile_id: int | None = None
    created_at: datetime | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LocationRecord:
    """A Ring location (``location_id`` is Ring's string id)."""

    id: str
    account_id: int | None = None
    name: str | None = None
    time_zone: str | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A Ring device: ``family`` is Ring's list name (``doorbots``...), ``kind`` its kind string (``lpd_v4``...)."""

    id: int
    family: str
    kind: str | None = None
    name: str | None = None
    location_id: str | None = None
    account_id: int | None = None
    model: str | None = None
    slug: str | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event (ding, motion, on_demand, ...) of a device. ``id`` is the exact ding id as text.

    ``created_at`` must be timezone-aware. ``media_status`` is only used when the event is first stored (an event
    of a device without a Protect plan starts as ``no_media``); later upserts never reset the media state.
    """

    id: str
    created_at: datetime
    kind: str | None = None
    location_id: str | None = None
    duration_s: float | None = None
    answered: bool | None = None
    favorite: bool | None = None
    state: str | None = None
    person_detected: bool | None = None
    detection_type: str | None = None
    cv_properties: dict[str, Any] | None = None
    recording_status: str | None = None
    raw: dict[str, Any] | None = None
    media_status: MediaStatus = MediaStatus.PENDING


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """A file in the archive: ``path`` is relative to the archive directory (POSIX separators)."""

    kind: MediaKind
    path: str
    bytes: int
    sha256: str
    device_id: int | None = None
    event_id: str | None = None
    content_type: str | None = None
    validated: bool = False
    captured_at: datetime | None = None
    downloaded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """How many rows an upsert inserted (``new``) and how many already existed (``updated``)."""

    new: int = 0
    updated: int = 0


@dataclass(frozen=True, slots=True)
class StoredDevice:
    """A device as stored."""

    id: int
    family: str
    kind: str | None
    name: str | None
    model: str | None
    slug: str | None
    location_id: str | None
    account_id: int | None
    raw: dict[str, Any] | None
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored, with its media state."""

    id: str
    device_id: int
    location_id: str | None
    kind: str | None
    created_at: datetime
    duration_s: float | None
    answered: bool | None
    favorite: bool | None
    state: str | None
    person_detected: bool | None
    detection_type: str | None
    cv_properties: dict[str, Any] | None
    recording_status: str | None
    raw: dict[str, Any] | None
    media_status: MediaStatus
    media_attempts: int
    media_next_attempt_at: datetime | None
    media_last_error: str | None
    first_seen_at: datetime
    updated_at: datetime
    media_failures: int = 0


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A ``media`` row."""

    id: int
    kind: MediaKind
    path: str
    bytes: int
    sha256: str
    device_id: int | None
    event_id: str | None
    content_type: str | None
    validated: bool
    captured_at: datetime | None
    downloaded_at: datetime


@dataclass(frozen=True, slots=True)
class PendingMedia:
    """An event whose recording is still to be fetched (``events_needing_media``)."""

    event_id: str
    device_id: int
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DueRecording:
    """An event whose recording a sync should fetch now (``ArchiveStore.due_recordings``): what the download, the
    file name and the sidecar need, read in one query with the rest of its batch."""

    id: str
    device_id: int
    created_at: datetime
    kind: str | None
    answered: bool | None
    duration_s: float | None
    person_detected: bool | None
    detection_type: str | None
    media_status: MediaStatus
    media_failures: int
    media_last_error: str | None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of ``query_events``: pass ``next_cursor`` back to get the next page (``None`` at the end)."""

    events: list[StoredEvent]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SyncState:
    """Per-device sync progress: the newest event reached (the watermark) and the oldest one reached."""

    device_id: int
    newest_event_id: str | None = None
    newest_created_at: datetime | None = None
    oldest_event_id: str | None = None
    oldest_created_at: datetime | None = None
    last_sync_at: datetime | None = None
    last_full_scan_at: datetime | None = None
    has_recordings: bool | None = None
    """Whether the device had a Ring Protect plan on its last sync (``None``: not known yet)."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Row counts of the archive (``media_by_status`` counts events per ``media_status``)."""

    accounts: int
    locations: int
    devices: int
    events: int
    media: int
    media_bytes: int
    media_by_status: dict[str, int] = field(default_factory=dict)
