"""A keypad's extras beside its volume (ring-mqtt ``devices/keypad.js``): proximity motion — the keypad lights up
when someone comes near and Ring sends an update carrying only the impulse ``keypad.motion`` — as a ``motion``
binary sensor held ``KEYPAD_MOTION_HOLD_S`` after the last one (ring-mqtt holds it 20 s; every new impulse starts
the hold again), and the chirps setting (``chirps`` ``enabled``/``disabled``) as a config ``switch``. A chirps
command returns once Ring's update shows the new value (``confirm``), never assumed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ringvault.mqtt.families._hub import HubSite, as_str, clean, confirm, guarded, on_off
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice, Impulse

__all__ = ["KEYPAD_MOTION_HOLD_S", "KEYPAD_MOTION_IMPULSE", "keypad_extras"]

#: ring-mqtt keypad.js: ``impulseType === 'keypad.motion'``, held 20000 ms.
KEYPAD_MOTION_IMPULSE = "keypad.motion"
KEYPAD_MOTION_HOLD_S = 20.0


def keypad_extras(
    site: HubSite,
    device: HubDevice,
    mqtt: MqttDevice,
    *,
    later: Callable[[float, Callable[[], None]], None],
    subscriptions: list[Callable[[], None]],
    hold_s: float = KEYPAD_MOTION_HOLD_S,
) -> None:
    """Add the proximity ``motion`` sensor and, when Ring reports the setting, the ``chirps`` switch to ``mqtt``.
    ``later`` runs a callback after a delay (the family's, cancelled when it stops); ``subscriptions`` collects the
    unsubscribe functions the family calls when it stops."""
    held_until = [0.0]  # monotonic time the motion ends

    def motion() -> StatePayload:
        return on_off(time.monotonic() < held_until[0])

    def impulse(seen: Impulse) -> None:
        if seen.kind != KEYPAD_MOTION_IMPULSE:
            return
        held_until[0] = time.monotonic() + hold_s
        site.ctx.sink.changed(mqtt)
        # the hold's end re-reads the sensor; a later impulse moved the end, so this one's timer then reads ON
        later(hold_s + 0.05, lambda: site.ctx.sink.changed(mqtt))

    subscriptions.append(device.on_impulse.subscribe(impulse))
    mqtt.add(
        Entity(
            "binary_sensor",
            "motion",
            "Motion",
            read=guarded(f"{device.zid} keypad motion", motion),
            options={"device_class": "motion"},
        )
    )
    if "chirps" in device.data:
        mqtt.add(_chirps(site, device))


def _chirps(site: HubSite, device: HubDevice) -> Entity:
    def read() -> StatePayload:
        chirps = as_str(device.data.get("chirps"))
        return on_off(chirps == "enabled") if chirps in ("enabled", "disabled") else None

    async def command(payload: str) -> None:
        word = payload.strip().upper()
        if word not in ("ON", "OFF"):
            raise CommandRejected(f"chirps of {clean(device.name)}: {clean(payload, 40)!r} is not ON or OFF")
        wanted = "enabled" if word == "ON" else "disabled"

        def reached(data: Mapping[str, Any]) -> bool:
            return data.get("chirps") == wanted

        await confirm(
            device, lambda: device.set_chirps(word == "ON"), reached, what=f"chirps {wanted}", timeout=site.timeout
        )

    return Entity(
        "switch",
        "chirps",
        "Chirps",
        read=guarded(f"{device.zid} chirps", read),
        command=command,
        category="config",
        icon="mdi:bird",
    )
