"""Ring.EventManager: camera and doorbell events, and device state changes."""

from __future__ import annotations

from typing import Annotated, ClassVar

from ringvault.portability.scopes.base import (
    Bool,
    DataSetRecord,
    DateTime,
    Float,
    Number,
    ObjectList,
    Str,
    TolerantModel,
)


class Detection(TolerantModel):
    """A detection type assigned at a point in time during an event."""

    detection_type: Str = None
    event_date: DateTime = None


class SecurityAlert(TolerantModel):
    """A security alert detected during an event (e.g. a human), with its time."""

    alert_id: Str = None
    alert_name: Str = None
    alert_state_type: Str = None
    event_date: DateTime = None


class Event(DataSetRecord):
    """Ring.EventManager.Events: one event of a device (ding, motion, on demand ...)."""

    NAME: ClassVar[str] = "Ring.EventManager.Events"
    DESCRIPTION: ClassVar[str] = "Events of cameras and doorbells: type, time, duration, detections, alerts"
    # Seed 003 lists no event or device id: an event is created at a time ("The date and time when the event was
    # created") of a type, by a device at a place ("Latitude/Longitude of the device location"). Its status,
    # duration, detections, alerts and the owner's favourite can change after that: they make new versions.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("event_date", "event_type", "latitude", "longitude")
    VOLATILE_FIELDS: ClassVar[frozenset[str]] = frozenset({"is_favorited"})

    duration: Number = None
    event_type: Str = None
    event_date: DateTime = None
    expires_at: DateTime = None
    status: Str = None
    end_to_end_encryption: Bool = None
    detections: Annotated[list[Detection] | None, ObjectList] = None
    human_detected: Bool = None
    detection_type: Str = None
    is_favorited: Bool = None
    event_created_with_alexa: Bool = None
    event_from_sidewalk: Bool = None
    event_responded_by_alexa: Bool = None
    security_alerts: Annotated[list[SecurityAlert] | None, ObjectList] = None
    streaming_mode: Str = None
    reviewed_by_virtual_security_guard: Bool = None
    virtual_security_guard: Str = None
    latitude: Float = None
    longitude: Float = None
    is_initiated_by_event_owner: Bool = None


class EventMetadata(TolerantModel):
    """Context of a device event: the new state and why it changed."""

    device_state: Str = None
    device_state_change_reason: Str = None


class DeviceEvent(DataSetRecord):
    """Ring.EventManager.DeviceEvents: an internal device event (came online, 24x7 recording enabled ...)."""

    NAME: ClassVar[str] = "Ring.EventManager.DeviceEvents"
    DESCRIPTION: ClassVar[str] = "Device state changes: online/offline, enabled/disabled and why"
    # No device field in seed 003's table: a state change is its time and its classification (messageType, the
    # precise category); eventMetadata is "additional contextual information" about it.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("event_date", "message_type", "category")

    event_date: DateTime = None
    message_type: Str = None
    category: Str = None
    event_metadata: Annotated[list[EventMetadata] | None, ObjectList] = None
