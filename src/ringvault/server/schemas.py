"""The JSON shapes of the server (pydantic models: they validate requests and document ``/docs``).

Ids: device ids are numbers (below 2^53), event (ding) ids are strings (they exceed 2^53). Times are ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ringvault.archive.store import StoredDevice, StoredEvent, StoredMedia, SyncState

__all__ = [
    "ConnectorEvent",
    "DeviceOut",
    "ErrorOut",
    "EventDetailOut",
    "EventOut",
    "EventPageOut",
    "HealthOut",
    "JobAccepted",
    "JobOut",
    "MediaOut",
    "SyncRequest",
]


class ErrorOut(BaseModel):
    """Every error: one line saying what went wrong and what to do."""

    error: str


#: bounds of a sync request: more devices than any account has, names longer than Ring allows, are refused (400)
MAX_DEVICES = 200
MAX_KINDS = 20
DeviceSpec = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
KindName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,40}$")]
WhenText = Annotated[str, StringConstraints(max_length=64)]


class SyncRequest(BaseModel):
    """Body of ``POST /api/sync`` (every field optional; the same meaning as ``ringvault sync``'s options).

    Bounded: at most 200 devices (ids or names of at most 200 characters) and 20 kinds; dates at most 64
    characters."""

    model_config = ConfigDict(extra="forbid")

    device: list[DeviceSpec] | None = Field(
        None, max_length=MAX_DEVICES, description="device ids or names (one or a list); default every device"
    )
    kind: list[KindName] | None = Field(
        None, max_length=MAX_KINDS, description="event kinds to download (ding, motion, ...)"
    )
    since: WhenText | None = Field(None, description="YYYY-MM-DD or an ISO date-time (UTC when naive)")
    until: WhenText | None = Field(None, description="YYYY-MM-DD (inclusive) or an ISO date-time (exclusive)")
    metadata_only: bool = Field(False, description="store events, download nothing")
    newest_first: bool = Field(False, description="download the newest recordings first")
    retry_failed: bool = Field(
        False, description="first make every failed and given-up recording due again (`ringvault sync --retry-failed`)"
    )
    hub: bool = Field(
        True, description="also keep the alarm and lighting hubs' devices and history (left out with `device`)"
    )

    @field_validator("device", "kind", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str | int):
            return [str(value)]
        if isinstance(value, list):
            return [str(item) if isinstance(item, int) else item for item in value]
        return value


class JobAccepted(BaseModel):
    job_id: str
    state: str
    created: bool = Field(description="false when an identical queued job was returned instead of a new one")


class JobOut(BaseModel):
    """A sync job. ``summary`` holds the sync's counters once it ran (``SyncSummary``)."""

    id: str
    state: str = Field(description="queued, running, done or failed")
    request: dict[str, Any] = Field(
        description="the options the job runs, normalized (device, kind, since, until, metadata_only, newest_first)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None
    progress: dict[str, Any] | None = Field(description="phase (history/media), done, total, message")
    summary: dict[str, Any] | None
    error: str | None


class DeviceOut(BaseModel):
    id: int
    name: str | None
    family: str
    kind: str | None
    model: str | None
    location_id: str | None
    time_zone: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    last_sync_at: datetime | None
    newest_event_id: str | None
    newest_event_at: datetime | None

    @classmethod
    def of(cls, device: StoredDevice, state: SyncState | None) -> DeviceOut:
        zone = (device.raw or {}).get("time_zone")
        return cls(
            id=device.id, name=device.name, family=device.family, kind=device.kind, model=device.model,
            location_id=device.location_id, time_zone=zone if isinstance(zone, str) else None,
            first_seen_at=device.first_seen_at, last_seen_at=device.last_seen_at,
            last_sync_at=state.last_sync_at if state else None,
            newest_event_id=state.newest_event_id if state else None,
            newest_event_at=state.newest_created_at if state else None,
        )  # fmt: skip


class MediaOut(BaseModel):
    id: int
    kind: str
    path: str = Field(description="relative to the archive directory")
    url: str = Field(description="GET it from this server (Range requests supported)")
    bytes: int
    sha256: str
    content_type: str | None
    validated: bool
    captured_at: datetime | None
    downloaded_at: datetime

    @classmethod
    def of(cls, media: StoredMedia) -> MediaOut:
        return cls(
            id=media.id, kind=media.kind.value, path=media.path, url=f"/api/media/{media.id}", bytes=media.bytes,
            sha256=media.sha256, content_type=media.content_type, validated=media.validated,
            captured_at=media.captured_at, downloaded_at=media.downloaded_at,
        )  # fmt: skip


class EventOut(BaseModel):
    id: str
    device_id: int
    location_id: str | None
    kind: str | None
    created_at: datetime
    duration_s: float | None
    answered: bool | None
    favorite: bool | None
    person_detected: bool | None
    detection_type: str | None
    recording_status: str | None
    media_status: str = Field(description="pending, done, failed (retried by later syncs), given_up or no_media")
    media_attempts: int
    media_last_error: str | None
    first_seen_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, event: StoredEvent) -> EventOut:
        return cls(
            id=event.id, device_id=event.device_id, location_id=event.location_id, kind=event.kind,
            created_at=event.created_at, duration_s=event.duration_s, answered=event.answered,
            favorite=event.favorite, person_detected=event.person_detected, detection_type=event.detection_type,
            recording_status=event.recording_status, media_status=event.media_status.value,
            media_attempts=event.media_attempts, media_last_error=event.media_last_error,
            first_seen_at=event.first_seen_at, updated_at=event.updated_at,
        )  # fmt: skip


class EventDetailOut(EventOut):
    """An event with its media rows and the JSON Ring sent for it."""

    cv_properties: dict[str, Any] | None
    raw: dict[str, Any] | None
    media: list[MediaOut]


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class HealthOut(BaseModel):
    status: str
    version: str
    counts: dict[str, Any]
    sync_running: bool


class ConnectorEvent(BaseModel):
    """One event of a seed-001 connector answer: seed 001's keys first (``ringId`` ... ``status``), then more.

    ``status``: ``downloaded`` (the recording is in the archive), ``pending`` (Ring has not prepared it yet; ask
    again later), ``failed``, ``no_media`` (no Ring Protect plan) or ``skipped`` (held by the caller; listed only
    with ``include_held=true``). ``date`` and ``eventName`` are in the device's time zone, ``createdAt`` in UTC.
    """

    ringId: str
    date: str
    eventName: str
    createdAt: str
    answered: bool | None
    kind: str | None
    duration: float | None
    videoFileName: str | None = Field(description="relative to the archive directory; null when not downloaded")
    status: str
    deviceId: str
    deviceName: str | None
    locationId: str
    locationName: str | None
    personDetected: bool | None = None
    detectionType: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    mediaId: int | None = None
    videoUrl: str | None = None
    error: str | None = None
