"""The JSON sidecar kept next to every archived recording: seed 001's format plus device, location and checksum.

Seed 001 (ringface-connector) writes, per event::

    {"ringId": "7386533937534579876", "date": "20210411", "eventName": "20210411-135700",
     "createdAt": "2021-04-11T13:57:00.000000Z", "answered": false, "kind": "ding", "duration": 30,
     "videoFileName": "./data/videos/20210411-135700.mp4", "status": "UNPROCESSED"}

:func:`build_sidecar` produces exactly these keys (``ringId`` always a string: ding ids exceed 2^53; ``date`` and
``eventName`` in UTC unless a zone is given, ``createdAt`` ISO-8601 UTC with ``Z``; ``videoFileName`` the path
relative to the archive root), then ``deviceId``, ``deviceName``, ``locationId``, ``locationName`` (ids as
strings), and, when known, ``personDetected``, ``detectionType``, ``sha256`` and ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import PurePath

from ringvault.archive.files import iso_utc

__all__ = ["SEED_001_KEYS", "SidecarEvent", "build_sidecar"]

#: The keys of seed 001's sidecar, in its order.
SEED_001_KEYS = (
    "ringId",
    "date",
    "eventName",
    "createdAt",
    "answered",
    "kind",
    "duration",
    "videoFileName",
    "status",
)


@dataclass(frozen=True)
class SidecarEvent:
    """The event fields a sidecar records (plain values, independent of the cloud models)."""

    ding_id: int | str
    created_at: datetime
    kind: str
    answered: bool | None = None
    duration: int | float | None = None
    person_detected: bool | None = None
    detection_type: str | None = None


def _id_str(value: int | str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{what} must be an int or a str, not {type(value).__name__} (floats lose precision)")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} must not be empty")
    return text


def build_sidecar(
    event: SidecarEvent,
    *,
    device_id: int | str,
    device_name: str | None,
    location_id: str,
    location_name: str | None,
    video_file_name: str | PurePath,
    status: str,
    sha256: str | None = None,
    size: int | None = None,
    zone: tzinfo | None = None,
) -> dict[str, object]:
    """The sidecar for ``event``. ``zone`` sets the zone of ``date`` and ``eventName`` (UTC by default; pass the
    layout's zone to keep ``eventName`` equal to the file name's stamp); ``size`` is written as ``bytes``."""
    created = event.created_at if event.created_at.tzinfo is not None else event.created_at.replace(tzinfo=UTC)
    local = created.astimezone(zone or UTC)
    video = video_file_name.as_posix() if isinstance(video_file_name, PurePath) else str(video_file_name)
    sidecar: dict[str, object] = {
        "ringId": _id_str(event.ding_id, "ding id"),
        "date": local.strftime("%Y%m%d"),
        "eventName": local.strftime("%Y%m%d-%H%M%S"),
        "createdAt": iso_utc(created),
        "answered": event.answered,
        "kind": event.kind,
        "duration": event.duration,
        "videoFileName": video,
        "status": status,
        "deviceId": _id_str(device_id, "device id"),
        "deviceName": device_name,
        "locationId": _id_str(location_id, "location id"),
        "locationName": location_name,
    }
    optional: dict[str, object] = {
        "personDetected": event.person_detected,
        "detectionType": event.detection_type,
        "sha256": sha256,
        "bytes": size,
    }
    sidecar.update({key: value for key, value in optional.items() if value is not None})
    return sidecar
