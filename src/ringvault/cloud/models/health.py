"""``{"device_health":{…}}`` from ``doorbots/{id}/health`` and ``chimes/{id}/health``."""

from __future__ import annotations

from typing import ClassVar

from ringvault.cloud.models.base import LooseBool, LooseDatetime, LooseFloat, LooseIdInt, LooseInt, LooseStr, RingModel

__all__ = ["DeviceHealth"]


class DeviceHealth(RingModel):
    """A device's Wi-Fi signal, battery and firmware report. Accepts the document with or without its wrapper."""

    id: LooseIdInt = None
    average_signal_category: LooseStr = None
    average_signal_strength: LooseInt = None
    latest_signal_category: LooseStr = None
    latest_signal_strength: LooseInt = None
    wifi_name: LooseStr = None
    wifi_is_ring_network: LooseBool = None
    battery_percentage: LooseInt = None
    battery_percentage_category: LooseStr = None
    battery_voltage: LooseFloat = None
    battery_voltage_category: LooseStr = None
    firmware: LooseStr = None
    firmware_out_of_date: LooseBool = None
    updated_at: LooseDatetime = None
    packet_loss_category: LooseStr = None
    packet_loss_strength: LooseFloat = None
    transformer_voltage: LooseFloat = None
    transformer_voltage_category: LooseStr = None
    ext_power_state: LooseInt = None

    _wrapper_key: ClassVar[str | None] = "device_health"
