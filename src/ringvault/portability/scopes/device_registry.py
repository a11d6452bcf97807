"""Ring.RingDeviceRegistry: the customer's locations, devices, groups and sharing."""

from __future__ import annotations

from typing import ClassVar

from ringvault.portability.scopes.base import Bool, DataSetRecord, DateTime, Float, Int, Str, StrList


class Location(DataSetRecord):
    """Ring.RingDeviceRegistry.Location: a location (home, office) with its address and coordinates."""

    NAME: ClassVar[str] = "Ring.RingDeviceRegistry.Location"
    DESCRIPTION: ClassVar[str] = "Locations: name, address, time zone, coordinates, type"
    # Seed 003's table has no location id; locationName is the "Field provided by the user to label the location".
    # Address, coordinates, time zone and type are facts about it that can change (a rename makes a new record).
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_name",)

    location_name: Str = None
    address: Str = None
    city: Str = None
    state: Str = None
    zip_code: Str = None
    country: Str = None
    timezone: Str = None
    latitude: Float = None
    longitude: Float = None
    location_type: Str = None
    location_subtype: Str = None


class Authorization(DataSetRecord):
    """Ring.RingDeviceRegistry.Authorization: whether a device or group is shared with other users."""

    NAME: ClassVar[str] = "Ring.RingDeviceRegistry.Authorization"
    DESCRIPTION: ClassVar[str] = "Device and group sharing: owner or shared user"
    # deviceGroup is the "Name of the device or group chosen by the user"; hasSharedUser is what can change.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("device_group",)

    has_shared_user: Bool = None
    device_group: Str = None


class Device(DataSetRecord):
    """Ring.RingDeviceRegistry.Device: a device, its setup date and its video and subscription settings."""

    NAME: ClassVar[str] = "Ring.RingDeviceRegistry.Device"
    DESCRIPTION: ClassVar[str] = "Devices: name, id, setup date, video storage and subscription settings"
    # deviceId is the "ID that is unique to a device." (seed 003); name, settings and subscriptions change.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("device_id",)

    device_name: Str = None
    device_id: Str = None
    event_date: DateTime = None
    timezone: Str = None
    latitude: Float = None
    longitude: Float = None
    video_storage_enabled: Bool = None
    show_video_enabled: Bool = None
    max_days_video_is_stored: Int = None
    rich_notifications_eligible: Bool = None
    people_detection_eligible: Bool = None
    continuous_video_recording_subscribed: Bool = None
    offline_motion_recording_subscribed: Bool = None


class Group(DataSetRecord):
    """Ring.RingDeviceRegistry.Group: a device group and the names of its devices."""

    NAME: ClassVar[str] = "Ring.RingDeviceRegistry.Group"
    DESCRIPTION: ClassVar[str] = "Device groups and their devices"
    # groupName is the "Customer provided group name"; the devices in the group change.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("group_name",)

    group_name: Str = None
    devices: StrList = None
