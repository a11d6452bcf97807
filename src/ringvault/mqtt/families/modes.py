"""Location modes on MQTT: a ``select`` (home / away / disarmed) for each location whose cameras follow Ring's
location modes.

Which locations (ring-client-api ``Location.supportsLocationModeSwitching``, as ring-mqtt uses it in lib/ring.js):
none with an alarm base station (their mode is the security panel's, reference §4.8: see the ``alarm`` family),
none without cameras, and only when Ring answers a mode that is neither ``disabled`` nor ``unset`` and not
``readOnly``. ring-mqtt shows the mode as an ``alarm_control_panel`` (devices/modes-panel.js); the issue asks for a
``select`` with Ring's own words, which says what it is.

The state is Ring's last answer (``Location.on_location_mode``: every ``get_location_mode`` /
``set_location_mode``). Modes are not pushed, so they are polled — by ``RingApi`` when its
``location_mode_polling_seconds`` is set, else here every ``POLL_S`` seconds (ring-mqtt's
``locationModePollingSeconds``: 20).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import RingError
from ringvault.mqtt.families._hub import clean, guarded, safe_json
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.location import Location
    from ringvault.cloud.models.locations import LocationMode
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["MODES", "ORDER", "POLL_S", "ModesFamily", "make_family"]

ORDER = 50
MODES = ("home", "away", "disarmed")
POLL_S = 20.0

log = logging.getLogger("ringvault.mqtt.modes")


class ModesFamily:
    """One ``MqttDevice(location=<id>, ident="location")`` per location with switchable camera modes."""

    name = "modes"

    def __init__(self, options: BridgeOptions, *, poll_s: float = POLL_S) -> None:
        self.options = options
        self.poll_s = poll_s
        self.devices: dict[str, MqttDevice] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._poller: asyncio.Task[None] | None = None

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        built: list[MqttDevice] = []
        locations: list[Location] = []
        for location in await ctx.api.get_locations():
            if not location.known or location.has_alarm_base_station or not location.cameras:
                continue
            try:
                mode = await location.get_location_mode()
            except RingError as err:
                log.warning("location mode of %s: %s", clean(location.name), clean(err.one_line, 400))
                continue
            if not mode.is_switchable:
                continue
            device = self._device(ctx, location)
            self.devices[location.id] = device
            self._unsubscribe.append(location.on_location_mode.subscribe(_changed(ctx, device)))
            locations.append(location)
            built.append(device)
        polling = ctx.api.options.location_mode_polling_seconds
        if locations and not (polling and polling > 0):
            self._poller = asyncio.create_task(self._poll(locations), name="ringvault-mqtt-mode-poll")
        return built

    def on_event(self, event: RingEvent) -> None:
        """Location modes are not in Ring's events."""

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)

    def _device(self, ctx: BridgeContext, location: Location) -> MqttDevice:
        device = MqttDevice(
            location=location.id,
            ident="location",
            name=f"{clean(location.name)} Mode",
            model="Location Mode",
            via=ctx.bridge,
        )
        name = clean(location.name)

        def current() -> LocationMode | None:
            return location.on_location_mode.value

        def available() -> bool:
            """Unavailable while Ring says modes are off (``disabled``/``unset``) or read-only."""
            mode = current()
            return mode is not None and mode.is_switchable

        device.available = available

        def read() -> StatePayload:
            mode = current()
            return mode.mode if mode is not None and mode.mode in MODES else None

        def attributes() -> dict[str, Any]:
            mode = current()
            if mode is None:
                return {}
            return safe_json(
                {
                    "ring_mode": mode.mode,
                    "read_only": mode.read_only,
                    "last_update": mode.last_update.isoformat() if mode.last_update is not None else None,
                    "devices_not_yet_participating": len(mode.not_yet_participating or []),
                }
            )

        async def command(payload: str) -> None:
            wanted = payload.strip().lower()
            if wanted not in MODES:
                raise CommandRejected(
                    f"location mode of {name}: {clean(payload, 40)!r} is not one of {', '.join(MODES)}"
                )
            try:
                await location.set_location_mode(wanted)  # answers (and emits) Ring's new mode
            except RingError as err:
                log.warning("location mode of %s: %s", name, clean(err.one_line, 400))

        device.add(
            Entity(
                "select",
                "mode",
                None,
                read=guarded(f"{location.id} mode", read),
                command=command,
                attributes=guarded(f"{location.id} mode attributes", attributes),
                options={"options": list(MODES)},
                icon="mdi:home-lock",
            )
        )
        return device

    async def _poll(self, locations: list[Location]) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            for location in locations:
                try:
                    await location.get_location_mode()  # emits on_location_mode → sink.changed
                except RingError as err:
                    log.warning("location mode of %s: %s", clean(location.name), clean(err.one_line, 400))


def _changed(ctx: BridgeContext, device: MqttDevice) -> Callable[[LocationMode], None]:
    def changed(_mode: LocationMode) -> None:
        ctx.sink.changed(device)

    return changed


def make_family(options: BridgeOptions) -> ModesFamily:
    return ModesFamily(options)
