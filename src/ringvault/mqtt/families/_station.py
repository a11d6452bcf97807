"""Entities of the alarm's boxes (ring-mqtt base-station.js, keypad.js, range-extender.js): the volume of a base
station or keypad as a slider, AC power and the backup battery as diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ringvault.mqtt.families._hub import HubSite, as_float, as_str, clean, confirm, guarded, on_off, parse_number
from ringvault.mqtt.model import Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice

__all__ = ["power_entities", "volume_entity"]


def volume_entity(site: HubSite, device: HubDevice) -> Entity:
    """Volume 0–100 % (ring-mqtt base-station.js / keypad.js: a slider ``number``; Ring's ``volume`` is 0..1)."""

    def read() -> StatePayload:
        volume = as_float(device.data.get("volume"))
        return str(round(max(0.0, min(1.0, volume)) * 100)) if volume is not None else None

    async def command(payload: str) -> None:
        level = round(parse_number(payload, f"volume of {clean(device.name)}", 0, 100)) / 100.0

        def reached(data: Mapping[str, Any]) -> bool:
            volume = as_float(data.get("volume"))
            return volume is not None and abs(volume - level) < 0.005

        await confirm(
            device, lambda: device.set_volume(level), reached, what=f"volume {level:.0%}", timeout=site.timeout
        )

    return Entity(
        "number",
        "volume",
        "Volume",
        read=guarded(f"{device.zid} volume", read),
        command=command,
        options={"min": 0, "max": 100, "step": 1, "mode": "slider", "unit_of_measurement": "%"},
        category="config",
        icon="mdi:volume-high",
    )


def power_entities(mqtt: MqttDevice, device: HubDevice) -> None:
    """AC power (``acStatus`` ok/error) and the backup battery (``batteryBackup``) as diagnostics."""
    if "acStatus" in device.data:

        def ac() -> StatePayload:
            status = as_str(device.data.get("acStatus"))
            return on_off(status == "ok") if status is not None else None

        mqtt.add(
            Entity(
                "binary_sensor",
                "ac_power",
                "AC Power",
                read=guarded(f"{device.zid} ac power", ac),
                options={"device_class": "power"},
                category="diagnostic",
            )
        )
    if "batteryBackup" in device.data:

        def backup() -> StatePayload:
            status = as_str(device.data.get("batteryBackup"))
            return clean(status, 40) if status else None

        mqtt.add(
            Entity(
                "sensor",
                "battery_backup",
                "Battery Backup",
                read=guarded(f"{device.zid} battery backup", backup),
                category="diagnostic",
                icon="mdi:battery-charging",
            )
        )
