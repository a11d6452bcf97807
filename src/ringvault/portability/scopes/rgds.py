"""Ring.RGDS: where devices are placed on the location's map."""

from __future__ import annotations

from typing import ClassVar

from ringvault.portability.scopes.base import DataSetRecord, DateTime, Float, Number, Str


class DeviceLocationMapReference(DataSetRecord):
    """Ring.RGDS.DeviceLocationMapReference: a device's position and the map settings it is shown with."""

    NAME: ClassVar[str] = "Ring.RGDS.DeviceLocationMapReference"
    DESCRIPTION: ClassVar[str] = "Device positions on the map: coordinates, rotation, zoom, style, accuracy"
    # eventDate is "the point in time the location was created": the pin itself; its position, rotation, zoom, style,
    # accuracy and expiry are settings of it that can change (seed 003's field table).
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("event_date",)

    event_date: DateTime = None
    device_latitude: Float = None
    device_longitude: Float = None
    map_rotation: Number = None
    zoom: Float = None
    map_style: Str = None
    expires_at: DateTime = None
    horizontal_accuracy: Number = None
