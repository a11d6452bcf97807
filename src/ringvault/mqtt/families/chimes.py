"""Ring Chimes in Home Assistant: volume, snooze (do-not-disturb), test sounds, Wi-Fi signal.

Mirrors ring-mqtt's chime (tsightler/ring-mqtt ``devices/chime.js``): ``volume`` (number 0-11, slider, config),
``snooze`` (switch; ON snoozes for ``snooze_minutes``, OFF clears it; attribute ``minutes_remaining``),
``snooze_minutes`` (number 1-1440, box, config; ring-mqtt's default 1440), and the test sounds. ring-mqtt shows the
test sounds as switches that turn themselves off after 5 s; ringvault uses Home Assistant ``button``s
(``play_ding_sound``, ``play_motion_sound``), which is what they are. ``snooze_left`` (sensor, minutes) shows the
time left, counted down from Ring's ``do_not_disturb.seconds_left`` as of the last read.

``snooze_minutes`` is the bridge's own setting (Ring keeps no "next snooze length"): 1440 until set, then kept across
restarts in the bridge's settings (``ringvault.mqtt.settings``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ringvault.mqtt.families._rest import (
    HealthPoller,
    RestFamily,
    confirm,
    display_name,
    parse_int,
    parse_on_off,
    shown,
    signal_entity,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.chime import RingChime
    from ringvault.mqtt.model import BridgeContext, StatePayload
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["DEFAULT_SNOOZE_MINUTES", "ChimeDevice", "ChimeFamily", "make_family"]

log = logging.getLogger(__name__)

DEFAULT_SNOOZE_MINUTES = 1440


@dataclass(eq=False)
class ChimeDevice:
    chime: RingChime
    ctx: BridgeContext
    health: HealthPoller
    snooze_minutes: int = DEFAULT_SNOOZE_MINUTES
    device: MqttDevice = field(init=False)
    snooze_ends: float = 0.0  # time.monotonic() when Ring's do-not-disturb runs out, as of the last read
    _timer: asyncio.TimerHandle | None = None
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        chime = self.chime
        self.device = MqttDevice(
            location=chime.location_id or "unknown",
            ident=str(chime.id),
            name=display_name(chime.name, f"Chime {chime.id}"),
            model=chime.model,
            sw_version=chime.data.firmware_version,
            via=self.ctx.bridge,
            available=lambda: not (chime.is_offline or chime.removed),
        )
        stored = self.ctx.settings.get("snooze_minutes", str(chime.id))
        if isinstance(stored, int) and 1 <= stored <= 1440:  # chosen in an earlier run (Ring keeps no such value)
            self.snooze_minutes = stored
        self._build()
        self._read_snooze()
        self._unsubscribe.append(chime.on_data.subscribe(self._data))

    def changed(self) -> None:
        self.ctx.sink.changed(self.device)

    def _data(self, _entry: object) -> None:
        self._read_snooze()
        self.changed()

    def _read_snooze(self) -> None:
        """Ring says how many seconds of do-not-disturb are left when the device list is read: count down from
        there, and look again when it runs out (the device list may not be read again for a while)."""
        left = self.chime.snooze_seconds_left
        self.snooze_ends = time.monotonic() + left if left > 0 else 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if left > 0:
            with contextlib.suppress(RuntimeError):
                self._timer = asyncio.get_running_loop().call_later(left + 0.05, self.changed)

    @property
    def snooze_left_s(self) -> float:
        return max(0.0, self.snooze_ends - time.monotonic())

    def _build(self) -> None:
        add = self.device.add
        add(
            Entity(
                "number",
                "volume",
                "Volume",
                read=self._volume,
                command=self._set_volume,
                options={"min": 0, "max": 11, "step": 1, "mode": "slider"},
                category="config",
                icon="mdi:volume-high",
            )
        )
        add(
            Entity(
                "switch",
                "snooze",
                "Snooze",
                read=lambda: "ON" if self.snooze_left_s > 0 else "OFF",
                command=self._set_snooze,
                attributes=self._snooze_attributes,
                options={"payload_on": "ON", "payload_off": "OFF"},
                icon="mdi:bell-sleep",
            )
        )
        add(
            Entity(
                "number",
                "snooze_minutes",
                "Snooze minutes",
                read=lambda: str(self.snooze_minutes),
                command=self._set_snooze_minutes,
                options={"min": 1, "max": 1440, "step": 1, "mode": "box", "unit_of_measurement": "min"},
                category="config",
                icon="mdi:timer-sand",
            )
        )
        add(
            Entity(
                "sensor",
                "snooze_left",
                "Snooze left",
                read=lambda: str(math.ceil(self.snooze_left_s / 60)),
                options={"device_class": "duration", "unit_of_measurement": "min"},
                icon="mdi:timer-sand",
            )
        )
        for kind in ("ding", "motion"):
            add(
                Entity(
                    "button",
                    f"play_{kind}_sound",
                    f"Play {kind} sound",
                    command=self._player(kind),
                    options={"payload_press": "PRESS"},
                    icon="mdi:bell-ring",
                )
            )
        add(signal_entity(lambda: self.health.signal(self.chime.id)))

    def _volume(self) -> StatePayload:
        volume = self.chime.volume
        return None if volume is None else str(volume)

    def _snooze_attributes(self) -> Mapping[str, Any]:
        return {"minutes_remaining": math.ceil(self.snooze_left_s / 60)}

    async def _set_volume(self, payload: str) -> None:
        from ringvault.cloud.chime import MAX_VOLUME

        what = f"{self.device.name} volume"
        volume = parse_int(payload, what, 0, MAX_VOLUME)
        await confirm(self.chime.set_volume(volume), self.ctx.api.refresh_devices, what)

    async def _set_snooze(self, payload: str) -> None:
        what = f"{self.device.name} snooze"
        on = parse_on_off(payload, what)
        action = self.chime.snooze(self.snooze_minutes) if on else self.chime.clear_snooze()
        await confirm(action, self.ctx.api.refresh_devices, what)
        self._read_snooze()

    async def _set_snooze_minutes(self, payload: str) -> None:
        from ringvault.cloud.chime import MAX_SNOOZE_MINUTES

        self.snooze_minutes = parse_int(payload, f"{self.device.name} snooze minutes", 1, MAX_SNOOZE_MINUTES)
        self.ctx.settings.set("snooze_minutes", str(self.chime.id), self.snooze_minutes)

    def _player(self, kind: Literal["ding", "motion"]) -> Callable[[str], Any]:
        async def play(payload: str) -> None:
            what = f"{self.device.name} play {kind} sound"
            if payload.strip().upper() != "PRESS":
                raise CommandRejected(f"{what}: {shown(payload)} is not a command; send PRESS")

            async def nothing() -> None:  # a test ring changes no state to re-read
                return None

            await confirm(self.chime.play_sound(kind), nothing, what)

        return play

    def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ChimeFamily(RestFamily["RingChime", ChimeDevice]):
    name = "chimes"

    async def listed(self, api: RingApi) -> list[RingChime]:
        return await api.get_chimes()

    def accepts(self, device: object) -> bool:
        from ringvault.cloud.chime import RingChime

        return isinstance(device, RingChime)

    def make_unit(self, device: RingChime, ctx: BridgeContext, health: HealthPoller) -> ChimeDevice:
        return ChimeDevice(device, ctx, health)

    def ring_device(self, unit: ChimeDevice) -> RingChime:
        return unit.chime

    def replaced(self, old: ChimeDevice, new: ChimeDevice) -> None:
        new.snooze_minutes = old.snooze_minutes  # (chimes have no events of their own: ``unit_event`` stays a no-op)


def make_family(options: BridgeOptions) -> ChimeFamily:
    return ChimeFamily(options)
