"""Smart Lighting and Z-Wave lights on MQTT: Beams lights (``light``, JSON schema, brightness when dimmable, an
on-duration ``number``), their motion status, Beams motion sensors, light groups, Z-Wave switches and dimmers.

Sources: tsightler/ring-mqtt ``devices/beam.js`` (which Beams types get a light, brightness and a motion sensor; the
``beam_duration`` number 0–32767 s used when switching on; groups switched through their REST group),
``switch.js`` (category 2 → light, else switch) and ``multi-level-switch.js`` (dimmers, brightness 0–100).
Home Assistant's ``light.mqtt`` JSON schema: ``schema: json``, ``supported_color_modes`` (``onoff`` or
``brightness``), ``brightness_scale``; the state and command payloads are JSON objects with ``state`` ON/OFF and
``brightness`` (the legacy ``brightness`` flag is deprecated, home-assistant/core #111676).

A light group's state is its REST group's ``lights_on`` (``GET groups/v1/…/groups/{id}/devices``, reference §4.7),
read at start, after every command, when the group's hub device changes, and when an on-duration runs out; the
hub device's ``on`` stands in when the location has no such REST group.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import RingError
from ringvault.cloud.hub.device import MAX_LIGHT_DURATION_S
from ringvault.cloud.hub.kinds import FAN_CATEGORY, HubDeviceKind
from ringvault.mqtt.families._hub import (
    LIGHTING_KINDS,
    HubFamily,
    HubSite,
    as_float,
    as_int,
    clean,
    common_entities,
    confirm,
    guarded,
    on_off,
    parse_number,
    ring_call,
)
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.cloud.hub.lights import LightGroup
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["ORDER", "LightingFamily", "make_family", "parse_light_command"]

ORDER = 30

log = logging.getLogger("ringvault.mqtt.lighting")
K = HubDeviceKind

#: A light group read less than this long ago is not read again for a hub update.
REREAD_S = 1.0
_BEAMS_WITH_MOTION = frozenset({K.BEAMS_MOTION_SENSOR, K.BEAMS_GROUP})
_LIGHT_USAGE = 'send {"state": "ON"|"OFF", "brightness": 0-100} or ON/OFF'


def parse_light_command(payload: str, what: str) -> tuple[bool | None, float | None]:
    """A JSON-schema light command: ``(on, brightness 0..100)``, each None when not given. ``ON``/``OFF`` alone
    are taken too. ``CommandRejected`` for anything else."""
    text = payload.strip()
    if text.upper() in ("ON", "OFF"):
        return text.upper() == "ON", None
    try:
        doc = json.loads(text)
    except ValueError:
        raise CommandRejected(f"{what}: not JSON; {_LIGHT_USAGE}") from None
    if not isinstance(doc, dict):
        raise CommandRejected(f"{what}: not a JSON object; {_LIGHT_USAGE}")
    state, level = doc.get("state"), doc.get("brightness")
    on: bool | None = None
    if state is not None:
        if not isinstance(state, str) or state.upper() not in ("ON", "OFF"):
            raise CommandRejected(f"{what}: state must be ON or OFF; {_LIGHT_USAGE}")
        on = state.upper() == "ON"
    brightness: float | None = None
    if level is not None:
        number = as_float(level)
        if number is None or not 0.0 <= number <= 100.0:
            raise CommandRejected(f"{what}: brightness must be a number from 0 to 100; {_LIGHT_USAGE}")
        brightness = number
    if on is None and brightness is None:
        raise CommandRejected(f"{what}: neither state nor brightness; {_LIGHT_USAGE}")
    return on, brightness


def _light_state(on: bool | None, level: float | None, dimmable: bool) -> StatePayload:
    """The JSON state document (keys sorted, so equal states give equal payloads)."""
    if on is None:
        return None
    doc: dict[str, Any] = {"state": on_off(on), "color_mode": "brightness" if dimmable else "onoff"}
    if dimmable and level is not None:
        doc["brightness"] = round(max(0.0, min(1.0, level)) * 100)
    return json.dumps(doc, sort_keys=True)


def _light_options(dimmable: bool) -> dict[str, Any]:
    if dimmable:
        return {"schema": "json", "supported_color_modes": ["brightness"], "brightness_scale": 100}
    return {"schema": "json", "supported_color_modes": ["onoff"]}


def _on(data: Mapping[str, Any]) -> bool | None:
    value = data.get("on")
    return value if isinstance(value, bool) else None


def _motion(data: Mapping[str, Any]) -> StatePayload:
    status = data.get("motionStatus")
    return on_off(status == "faulted") if isinstance(status, str) else None


class LightingFamily(HubFamily):
    """Every Smart Lighting and Z-Wave light/switch of every location (see the module docstring)."""

    name = "lighting"

    def __init__(self, options: BridgeOptions) -> None:
        super().__init__(options)
        self.durations: dict[str, int] = {}
        """per light (zid or group id): the on-duration in seconds used when switching on (0: Ring's default)"""
        self.groups: dict[str, LightGroup] = {}
        """REST light groups by group id"""
        self.group_docs: dict[str, dict[str, Any]] = {}
        """each REST group's last ``GET …/devices`` answer (Ring's state, read after every change)"""
        self._refreshing: set[str] = set()
        self._read_at: dict[str, float] = {}

    def claims(self, device: HubDevice) -> bool:
        return device.kind in LIGHTING_KINDS

    async def prepare(self, site: HubSite) -> None:
        for group in await site.location.get_light_groups():
            self.groups[group.id] = group
            try:
                self.group_docs[group.id] = await group.get_state()
                self._read_at[group.id] = time.monotonic()
            except RingError as err:
                log.warning("light group %s: %s", clean(group.name), clean(err.one_line, 400))

    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        kind = device.kind
        if kind in (K.BEAMS_LIGHT, K.BEAMS_TRANSFORMER):
            mqtt = self._beams_light(site, device)
        elif kind is K.BEAMS_MOTION_SENSOR:
            mqtt = site.mqtt_device(device, model="Lighting Motion Sensor")
            mqtt.add(_motion_entity(device, None))
        elif kind is K.BEAMS_GROUP:
            mqtt = self._hub_group(site, device)
        else:
            mqtt = self._zwave(site, device)
        common_entities(mqtt, device)
        return mqtt

    def extra(self, site: HubSite) -> list[MqttDevice]:
        """REST light groups of the location that no hub device stands for."""
        covered = {str(d.data.get("groupId")) for d in site.hub_devices() if d.kind is K.BEAMS_GROUP}
        built: list[MqttDevice] = []
        for group in self.groups.values():
            if group.location_id != site.location.id or group.id in covered or not group.id:
                continue
            mqtt = MqttDevice(
                location=site.location.id,
                ident=f"group-{group.id}",
                name=clean(group.name),
                model="Lighting Group",
                via=site.ctx.bridge,
            )
            mqtt.add(self._group_light(site, group, mqtt, None))
            mqtt.add(self._duration(group.id, 0))
            built.append(mqtt)
        return built

    def updated(self, site: HubSite, device: HubDevice, mqtt: MqttDevice) -> None:
        if device.kind is K.BEAMS_GROUP:
            group = self.groups.get(str(device.data.get("groupId")))
            if group is not None:
                self._refresh_soon(site, group, mqtt)

    # -- Beams lights ---------------------------------------------------------------------------------------------
    def _beams_light(self, site: HubSite, device: HubDevice) -> MqttDevice:
        dimmable = device.device_type == "switch.multilevel.beams"
        transformer = device.kind is K.BEAMS_TRANSFORMER
        mqtt = site.mqtt_device(device, model="Lighting Transformer" if transformer else "Lighting Switch/Light")
        zid = device.zid
        what = f"light {clean(device.name)}"

        async def command(payload: str) -> None:
            on, brightness = parse_light_command(payload, what)
            if brightness is not None and dimmable:
                await _set_level(site, device, brightness)
            if on is False:
                await confirm(device, lambda: device.set_light(False), lambda d: _on(d) is False, what="off",
                              timeout=site.timeout)  # fmt: skip
            elif on is True and not (brightness is not None and _on(device.data) is True):
                duration = self.durations.get(zid) or None
                await confirm(
                    device,
                    lambda: device.set_light(True, duration_s=duration),
                    lambda d: _on(d) is True,
                    what="on",
                    timeout=site.timeout,
                )

        mqtt.add(
            Entity(
                "light",
                "light",
                None,
                read=guarded(f"{zid} light",
                             lambda: _light_state(_on(device.data), as_float(device.data.get("level")), dimmable)),
                command=command,
                options=_light_options(dimmable),
            )
        )  # fmt: skip
        mqtt.add(self._duration(zid, as_int(device.data.get("onDuration")) or 0))
        if not transformer:
            mqtt.add(_motion_entity(device, "Motion"))
        return mqtt

    def _duration(self, key: str, initial: int) -> Entity:
        """The on-duration used when switching on (ring-mqtt beam.js ``beam_duration``: 0–32767 s, a box)."""
        stored = self.settings.get("light_duration", key)  # chosen in an earlier run
        if isinstance(stored, int) and 0 <= stored <= MAX_LIGHT_DURATION_S:
            initial = stored
        self.durations.setdefault(key, max(0, min(MAX_LIGHT_DURATION_S, initial)))

        async def command(payload: str) -> None:
            self.durations[key] = round(parse_number(payload, "light duration (seconds)", 0, MAX_LIGHT_DURATION_S))
            self.settings.set("light_duration", key, self.durations[key])

        return Entity(
            "number",
            "duration",
            "Duration",
            read=lambda: str(self.durations.get(key, 0)),
            command=command,
            options={"min": 0, "max": MAX_LIGHT_DURATION_S, "step": 1, "mode": "box", "unit_of_measurement": "s"},
            category="config",
            icon="mdi:timer-outline",
        )

    # -- light groups ---------------------------------------------------------------------------------------------
    def _hub_group(self, site: HubSite, device: HubDevice) -> MqttDevice:
        mqtt = site.mqtt_device(device, model="Lighting Group")
        group = self.groups.get(str(device.data.get("groupId")))
        mqtt.add(self._group_light(site, group, mqtt, device))
        mqtt.add(
            self._duration(group.id if group is not None else device.zid, as_int(device.data.get("onDuration")) or 0)
        )
        if device.kind in _BEAMS_WITH_MOTION:
            mqtt.add(_motion_entity(device, "Motion"))
        return mqtt

    def _group_light(
        self, site: HubSite, group: LightGroup | None, mqtt: MqttDevice, device: HubDevice | None
    ) -> Entity:
        key = group.id if group is not None else (device.zid if device is not None else "")
        name = clean(group.name if group is not None else device.name if device is not None else key)

        def read() -> StatePayload:
            doc = self.group_docs.get(group.id) if group is not None else None
            lights_on = doc.get("lights_on") if doc is not None else None
            if isinstance(lights_on, bool):
                return _light_state(lights_on, None, False)
            return _light_state(_on(device.data), None, False) if device is not None else None

        async def command(payload: str) -> None:
            on, _ = parse_light_command(payload, f"light group {name}")
            if on is None:
                raise CommandRejected(f"light group {name}: switch it ON or OFF (a group has no brightness)")
            duration = (self.durations.get(key) or None) if on else None
            if group is not None:
                if await ring_call(f"light group {name}", lambda: group.set_lights(on, duration)):
                    await ring_call(f"reading light group {name}", lambda: self._refresh(site, group, mqtt))
                    if duration:
                        self.later(duration + 1.0, lambda: self._refresh_soon(site, group, mqtt))
            elif device is not None:
                await confirm(device, lambda: device.set_light(on, duration_s=duration), lambda d: _on(d) is on,
                              what="on" if on else "off", timeout=site.timeout)  # fmt: skip

        return Entity(
            "light",
            "light",
            None,
            read=guarded(f"group {key} light", read),
            command=command,
            options=_light_options(False),
        )

    async def _refresh(self, site: HubSite, group: LightGroup, mqtt: MqttDevice) -> None:
        """Read the group's state from Ring and publish what changed."""
        self.group_docs[group.id] = await group.get_state()
        self._read_at[group.id] = time.monotonic()
        site.ctx.sink.changed(mqtt)

    def _refresh_soon(self, site: HubSite, group: LightGroup, mqtt: MqttDevice) -> None:
        """Read the group again in the background, unless a read is under way or was just made (a burst of hub
        updates, the first build right after ``prepare``) costs one REST call."""
        if group.id in self._refreshing or time.monotonic() - self._read_at.get(group.id, -1e9) < REREAD_S:
            return
        self._refreshing.add(group.id)

        async def run() -> None:
            try:
                await self._refresh(site, group, mqtt)
            finally:
                self._refreshing.discard(group.id)

        self.spawn(run(), f"reading light group {clean(group.name)}")

    # -- Z-Wave switches, dimmers, bulbs --------------------------------------------------------------------------
    def _zwave(self, site: HubSite, device: HubDevice) -> MqttDevice:
        """ring-mqtt switch.js / multi-level-switch.js: a switch in the lights category (2) is a light; a
        multilevel switch is a dimmable light, except fans (category 17), which are switched on and off here."""
        kind = device.kind
        category = device.category_id
        dimmable = kind is K.LIGHT or (kind is K.DIMMER and category != FAN_CATEGORY)
        as_light = dimmable or category == 2
        mqtt = site.mqtt_device(device, model="Dimming Light" if dimmable else "Light" if as_light else "Switch")
        what = f"{'light' if as_light else 'switch'} {clean(device.name)}"

        async def switch(on: bool) -> None:
            await confirm(device, lambda: device.set_light(on), lambda d: _on(d) is on, what=on_off(on).lower(),
                          timeout=site.timeout)  # fmt: skip

        if as_light:

            async def light_command(payload: str) -> None:
                on, brightness = parse_light_command(payload, what)
                if brightness is not None and dimmable:
                    await _set_level(site, device, brightness)
                if on is not None:
                    await switch(on)

            mqtt.add(
                Entity(
                    "light",
                    "light",
                    None,
                    read=guarded(f"{device.zid} light",
                                 lambda: _light_state(_on(device.data), as_float(device.data.get("level")), dimmable)),
                    command=light_command,
                    options=_light_options(dimmable),
                )
            )  # fmt: skip
        else:

            async def switch_command(payload: str) -> None:
                word = payload.strip().upper()
                if word not in ("ON", "OFF"):
                    raise CommandRejected(f"{what}: {clean(payload, 40)!r} is not ON or OFF")
                await switch(word == "ON")

            mqtt.add(
                Entity(
                    "switch",
                    "switch",
                    None,
                    read=guarded(f"{device.zid} switch", lambda: _switch_state(device.data)),
                    command=switch_command,
                    icon="mdi:fan" if category == FAN_CATEGORY else None,
                )
            )
        return mqtt


def _switch_state(data: Mapping[str, Any]) -> StatePayload:
    on = _on(data)
    return on_off(on) if on is not None else None


async def _set_level(site: HubSite, device: HubDevice, brightness: float) -> None:
    level = round(brightness) / 100.0

    def reached(data: Mapping[str, Any]) -> bool:
        value = as_float(data.get("level"))
        return value is not None and abs(value - level) < 0.005

    await confirm(device, lambda: device.set_brightness(level), reached, what=f"brightness {level:.0%}",
                  timeout=site.timeout)  # fmt: skip


def _motion_entity(device: HubDevice, name: str | None) -> Entity:
    read: Callable[[], StatePayload] = lambda: _motion(device.data)  # noqa: E731
    return Entity(
        "binary_sensor",
        "motion",
        name,
        read=guarded(f"{device.zid} motion", read),
        options={"device_class": "motion"},
    )


def make_family(options: BridgeOptions) -> LightingFamily:
    return LightingFamily(options)
