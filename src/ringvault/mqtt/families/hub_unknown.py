"""Hub devices no other family publishes (a ``deviceType`` ringvault does not know, panic buttons,
adapters ...): each appears as one diagnostic ``sensor`` whose state is Ring's ``deviceType`` and
whose JSON attributes are the device's flattened data (cleaned, bounded in size), so nothing Ring lists is hidden
and nothing in it can crash the bridge or break a payload. ring-mqtt logs such devices as "not supported" and
publishes nothing (lib/ring.js); the issue asks for them to appear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringvault.mqtt.families._hub import (
    ACCESS_KINDS,
    ALARM_KINDS,
    CLIMATE_KINDS,
    IGNORED_KINDS,
    LIGHTING_KINDS,
    HubFamily,
    HubSite,
    clean,
    guarded,
    is_thermostat_part,
    safe_json,
)
from ringvault.mqtt.model import Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["ORDER", "UnknownHubFamily", "make_family"]

ORDER = 40

#: The attributes document stays below this many characters (a hostile hub cannot make a huge payload).
ATTRIBUTES_BUDGET = 8_000


class UnknownHubFamily(HubFamily):
    """Every hub device of a kind the ``alarm``, ``lighting`` and ``access`` families leave alone."""

    name = "hub_unknown"

    def claims(self, device: HubDevice) -> bool:
        known = ALARM_KINDS | LIGHTING_KINDS | ACCESS_KINDS | IGNORED_KINDS | CLIMATE_KINDS
        return device.kind not in known and not is_thermostat_part(device)  # a thermostat's parts: climate's

    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        mqtt = site.mqtt_device(device)

        def read() -> StatePayload:
            return clean(device.device_type or "unknown", 100)

        def attributes() -> dict[str, Any]:
            return safe_json(device.data, budget=ATTRIBUTES_BUDGET)

        mqtt.add(
            Entity(
                "sensor",
                "state",
                "Device Type",
                read=guarded(f"{device.zid} state", read),
                attributes=guarded(f"{device.zid} attributes", attributes),
                category="diagnostic",
                icon="mdi:help-rhombus-outline",
            )
        )
        return mqtt


def make_family(options: BridgeOptions) -> UnknownHubFamily:
    return UnknownHubFamily(options)
