"""The Ring Alarm and Smart Lighting hub socket (reference §7) and what rides on it.

Module map:

- ``kinds``       ``HubDeviceKind``, ``AlarmMode``, ``deviceType`` → kind and label (tolerant: unknown types kept).
- ``device``      ``HubDevice``: flattened data, merges, ``on_data``, ``set_info``/``send_command``, volume, lights.
- ``connection``  ``HubConnection``: tickets, the socket (``ringvault.transport.ReconnectingWebSocket``), ``seq``,
                  device lists, updates, ``SessionInfo``, reconnects.
- ``alarm``       arm/disarm with confirmation, sirens, ``AlarmArmError`` messages.
- ``lights``      ``LightGroup`` (REST ``groups/v1``).
- ``history``     ``rs/history`` pages and monitoring status.
- ``location``    ``HubLocation``: the ``Location`` methods built on the above.
- ``options``     ``HubOptions``: timeouts and bounds.

Names are imported lazily (the socket library loads only when a hub is used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringvault.cloud.errors import AlarmArmError, HubTimeoutError, HubUnavailableError
    from ringvault.cloud.hub.connection import HubConnection, TicketAsset
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.cloud.hub.kinds import AlarmMode, HubDeviceKind, kind_of, type_label
    from ringvault.cloud.hub.lights import LightGroup
    from ringvault.cloud.hub.options import HubOptions

_EXPORTS: dict[str, str] = {
    "AlarmArmError": "ringvault.cloud.errors",
    "AlarmMode": "kinds",
    "HubConnection": "connection",
    "HubDevice": "device",
    "HubDeviceKind": "kinds",
    "HubOptions": "options",
    "HubTimeoutError": "ringvault.cloud.errors",
    "HubUnavailableError": "ringvault.cloud.errors",
    "LightGroup": "lights",
    "TicketAsset": "connection",
    "kind_of": "kinds",
    "type_label": "kinds",
}

__all__ = [
    "AlarmArmError",
    "AlarmMode",
    "HubConnection",
    "HubDevice",
    "HubDeviceKind",
    "HubOptions",
    "HubTimeoutError",
    "HubUnavailableError",
    "LightGroup",
    "TicketAsset",
    "kind_of",
    "type_label",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
