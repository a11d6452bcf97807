"""What the hubs do: the alarm's state machine, device writes and commands, and the timers the ticker runs.

Every state change becomes one ``DataUpdate``/``DeviceInfoDocType`` message carrying a partial document with the
device's ``zid`` (reference §7.5) and a ``context``; mode switches also carry ``impulse`` (ring-mqtt reads
``security-panel.mode-switched.*``, ``security-panel.exit-delay``, ``security-panel.alarm-cleared``). The message
goes to every socket of the location and into rs/history. Callers hold the service lock.

Rules and their sources (the rest is [sim], see docs/simulator.md):
- switch-mode (§7.8, §7.9): ``mode`` none/some/all, ``bypass`` absent, ``[]`` or a list of zids; the first panel
  update after it carries the resulting mode: the new one, or the OLD one when arming is refused because an
  armed sensor is faulted and not bypassed (rca's setAlarmMode then fails).
- Which sensors arm [sim]: away (``all``) arms contact and motion sensors, home (``some``) contact sensors only.
- Exit delay [sim: away 60 s, home 0 s by default]: ``transitionDelayEndTimestamp`` (§7.7) and PassthruType
  ``security-panel.countdown`` frames ``{transition:"exit",timeLeft,total}`` (ring-mqtt security-panel.js).
- Entry delay [sim: 30 s]: an armed, unbypassed sensor that faults after the exit delay sets ``alarmInfo``
  ``{state:"entry-delay"}``, countdown frames with ``transition:"entry"``, then ``alarmInfo`` ``burglar-alarm``
  and the siren on. Disarming clears the alarm (``security-panel.alarm-cleared``).
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ringvault.sim.hub import access, thermostat
from ringvault.sim.hub.history import (
    LEVEL_ALARM,
    LEVEL_MODE,
    LEVEL_SENSOR,
    LEVEL_SETTING,
    LEVEL_TIMER,
    Actor,
    HistoryStore,
    make_context,
)
from ringvault.sim.hub.model import (
    BRIGHTNESS_TYPES,
    LEVEL_SWITCH_TYPES,
    LIGHT_TYPES,
    SIREN_TYPES,
    SWITCH_TYPES,
    VOLUME_TYPES,
    HubDevice,
    HubLocation,
)

JSON = dict[str, Any]

MODES = ("none", "some", "all")
#: Sensors that arm in each mode [sim].
ARMED_TYPES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "some": frozenset({"sensor.contact"}),
    "all": frozenset({"sensor.contact", "sensor.motion"}),
}
ALARM_KINDS = {
    "burglar": "burglar-alarm",
    "fire": "fire-alarm",
    "co": "co-alarm",
    "panic": "panic",
    "verified-burglar": "user-verified-burglar-alarm",  # rs/monitoring userAlarm user-verified-burglar-xa
    "verified-fire": "user-verified-co-or-fire-alarm",  # userAlarm user-verified-fire-xa
}
SYSTEM = Actor("system", "", "Ring Alarm")
#: [sim] Beams ``light-mode.set`` durations are capped like homebridge caps them.
MAX_LIGHT_DURATION_S = 32767


@dataclass
class Timing:
    """The knobs the rules read (from ``SimConfig``)."""

    exit_delay_home_s: int
    exit_delay_away_s: int
    entry_delay_s: int
    light_duration_s: int


@dataclass
class Effects:
    """Collects the frames one operation produces and records its history items."""

    hub: HubLocation
    now_ms: int
    actor: Actor
    history: HistoryStore
    new_id: Callable[[], str]
    frames: list[JSON] = field(default_factory=list)
    #: alarm notices the phones get for this operation: (control-API kind, device zid or None), see ``notice``
    notices: list[tuple[str, str | None]] = field(default_factory=list)

    def notice(self, kind: str, device_zid: str | None = None) -> None:
        """Ring pushes an alarm notice for this change (reference §8.6; the push stand-in sends it)."""
        self.notices.append((kind, device_zid))

    def update(
        self,
        device: HubDevice,
        v1: JSON,
        *,
        v2: JSON | None = None,
        impulses: Iterable[str] = (),
        level: int = LEVEL_SETTING,
        record: bool = True,
        actor: Actor | None = None,
    ) -> None:
        """Apply ``v1``/``v2`` to the device and push them as one partial document (recorded in rs/history
        unless ``record`` is false: refusals change nothing)."""
        device.device.update(copy.deepcopy(v1))
        if v2:
            device.general.update(copy.deepcopy(v2))
        asset = self.hub.assets.get(device.asset_uuid)
        asset_uuid = asset.uuid if asset else device.asset_uuid
        doc: JSON = {
            "general": {"v2": {"zid": device.zid, **copy.deepcopy(v2 or {})}},
            "device": {"v1": copy.deepcopy(v1)},
        }
        kinds = list(impulses)
        if kinds:
            doc["impulse"] = {"v1": [{"impulseType": kind, "data": {}} for kind in kinds]}
        context = make_context(
            at_ms=self.now_ms,
            actor=actor or self.actor,
            location_id=self.hub.location_id,
            asset_uuid=asset_uuid,
            zid=device.zid,
            name=device.name,
            level=level,
            event_id=self.new_id(),
        )
        msg = {
            "msg": "DataUpdate",
            "datatype": "DeviceInfoDocType",
            "src": asset_uuid,
            "body": [doc],
            "context": context,
        }
        self.frames.append({"channel": "DataUpdate", "msg": msg})
        if record:
            category = asset.category if asset else "alarm"
            self.history.add(self.hub.location_id, category=category, level=level, affected=device.zid, item=msg)

    def countdown(self, panel: HubDevice, transition: str, time_left: int, total: int) -> None:
        """A PassthruType ``security-panel.countdown`` frame (ring-mqtt); the ``msg`` name is [sim]."""
        body = [{"zid": panel.zid, "type": "security-panel.countdown",
                 "data": {"transition": transition, "timeLeft": time_left, "total": total}}]  # fmt: skip
        msg = {"msg": "Passthru", "datatype": "PassthruType", "src": panel.asset_uuid, "body": body}
        self.frames.append({"channel": "DataUpdate", "msg": msg})


def _panel(hub: HubLocation) -> HubDevice | None:
    return hub.devices.get(hub.panel_zid) if hub.panel_zid else None


def _is_faulted(device: HubDevice) -> bool:
    return bool(device.device.get("faulted")) or device.device.get("motionStatus") == "faulted"


def armed_sensors(hub: HubLocation, mode: str) -> list[HubDevice]:
    """The sensors that ``mode`` arms, in list order."""
    types = ARMED_TYPES.get(mode, frozenset())
    return [d for d in hub.devices.values() if d.device_type in types]


# ---------------------------------------------------------------------------------------------------------------------
# security panel


def switch_mode(fx: Effects, data: Any, timing: Timing) -> str | None:
    """``security-panel.switch-mode``; returns the resulting mode (None when the location has no panel)."""
    hub = fx.hub
    panel = _panel(hub)
    if panel is None:
        return None
    old = str(panel.device.get("mode", "none"))
    body = data if isinstance(data, dict) else {}
    mode = body.get("mode")
    raw_bypass = body.get("bypass")
    bypass = [str(z) for z in raw_bypass if isinstance(z, str)] if isinstance(raw_bypass, list) else []
    if mode not in MODES:
        fx.update(panel, {"mode": old}, record=False)  # [sim] an unknown mode is refused like a faulted sensor
        return old
    faulted = [s for s in armed_sensors(hub, str(mode)) if _is_faulted(s) and s.zid not in bypass]
    if faulted:
        fx.update(panel, {"mode": old}, record=False)  # §7.9: the first update keeps the old mode
        return old
    alarm = hub.alarm
    impulses = [f"security-panel.mode-switched.{mode}"]
    v1: JSON = {"mode": mode}
    alarming = panel.device.get("alarmInfo") is not None or alarm.entry_ends_ms is not None
    if alarming and mode == "none":
        impulses.append("security-panel.alarm-cleared")
        v1["alarmInfo"] = None
        v1["siren"] = {"state": "off"}
        alarm.entry_ends_ms = None
        alarm.entry_faulted = []
    delay = 0
    if mode == "some":
        delay = timing.exit_delay_home_s
    elif mode == "all":
        delay = timing.exit_delay_away_s
    if mode == "none":
        alarm.bypassed = []
        alarm.exit_ends_ms = None
        v1["transitionDelayEndTimestamp"] = None
    else:
        alarm.bypassed = list(bypass)
        if delay > 0:
            alarm.exit_ends_ms = fx.now_ms + delay * 1000
            alarm.exit_total_s = delay
            impulses.append("security-panel.exit-delay")
            v1["transitionDelayEndTimestamp"] = alarm.exit_ends_ms
        else:
            alarm.exit_ends_ms = None
            v1["transitionDelayEndTimestamp"] = None
    alarm.last_countdown = None
    fx.update(panel, v1, impulses=impulses, level=LEVEL_MODE)
    if mode != old:
        # §8.6: MODE_NONE / MODE_SOME notices, the NONE one without device_zid (dgreif/ring #1083); no notice is
        # known for away ("all": ring-client-api's action list has none) [unconfirmed], so the sim sends none
        if mode == "none":
            fx.notice("mode_none")
        elif mode == "some":
            fx.notice("mode_some")
    if alarm.exit_ends_ms is not None:
        fx.countdown(panel, "exit", delay, delay)
        alarm.last_countdown = ("exit", delay)
    return str(mode)


def set_siren(fx: Effects, on: bool) -> bool:
    panel = _panel(fx.hub)
    if panel is None:
        return False
    was_on = (panel.device.get("siren") or {}).get("state") == "on"
    alarming = panel.device.get("alarmInfo") is not None
    fx.update(panel, {"siren": {"state": "on" if on else "off"}}, level=LEVEL_ALARM)
    # §8.6: a siren the user sounds is HANDLE_NEW_USER_SOUND_SIREN; silencing it (not an alarm's siren) is
    # HANDLE_NEW_NON_ALARM_SIREN_SILENCED
    if on and not was_on:
        fx.notice("siren", panel.zid)
    elif not on and was_on and not alarming:
        fx.notice("silenced", panel.zid)
    return True


def trigger_alarm(fx: Effects, kind: str, faulted: list[str] | None = None) -> bool:
    """Sound the alarm now: ``alarmInfo`` with the state for ``kind`` and the siren on; smoke and CO also show on
    the smoke/CO listener."""
    panel = _panel(fx.hub)
    state = ALARM_KINDS.get(kind)
    if panel is None or state is None:
        return False
    alarm = fx.hub.alarm
    alarm.entry_ends_ms = None
    info: JSON = {"state": state, "timestamp": fx.now_ms, "uuid": fx.new_id()}
    if faulted:
        info["faultedDevices"] = list(faulted)
    fx.update(panel, {"alarmInfo": info, "siren": {"state": "on"}, "transitionDelayEndTimestamp": None},
              level=LEVEL_ALARM)  # fmt: skip
    if kind in ("fire", "co"):
        for listener in fx.hub.by_type("listener.smoke-co"):
            key = "smoke" if kind == "fire" else "co"
            fx.update(listener, {key: {"alarmStatus": "active"}}, level=LEVEL_ALARM)
    return True


# ---------------------------------------------------------------------------------------------------------------------
# sensors


def set_fault(fx: Effects, device: HubDevice, faulted: bool, timing: Timing) -> None:
    """A sensor opens/closes (contact), trips/clears (motion), or a flood sensor gets wet; may start the entry delay."""
    kind = device.device_type
    sensor = Actor("device", device.zid, device.name)
    if kind == "motion-sensor.beams" or ("motionStatus" in device.device and "faulted" not in device.device):
        fx.update(device, {"motionStatus": "faulted" if faulted else "clear"}, level=LEVEL_SENSOR, actor=sensor)
    elif kind == "sensor.flood-freeze":
        fx.update(device, {"faulted": faulted, "flood": {"faulted": faulted}}, level=LEVEL_SENSOR, actor=sensor)
    else:
        fx.update(device, {"faulted": faulted}, level=LEVEL_SENSOR, actor=sensor)
    if faulted:
        _maybe_entry_delay(fx, device, timing)


def _maybe_entry_delay(fx: Effects, device: HubDevice, timing: Timing) -> None:
    hub = fx.hub
    panel = _panel(hub)
    if panel is None:
        return
    mode = str(panel.device.get("mode", "none"))
    alarm = hub.alarm
    if device.device_type not in ARMED_TYPES.get(mode, frozenset()) or device.zid in alarm.bypassed:
        return
    if alarm.exit_ends_ms is not None or alarm.entry_ends_ms is not None or panel.device.get("alarmInfo"):
        return  # [sim] faults during the exit delay or an alarm already under way change nothing
    if timing.entry_delay_s <= 0:
        trigger_alarm(fx, "burglar", [device.zid])
        return
    alarm.entry_ends_ms = fx.now_ms + timing.entry_delay_s * 1000
    alarm.entry_total_s = timing.entry_delay_s
    alarm.entry_faulted = [device.zid]
    info = {"state": "entry-delay", "faultedDevices": [device.zid], "timestamp": fx.now_ms, "uuid": fx.new_id()}
    fx.update(panel, {"alarmInfo": info, "transitionDelayEndTimestamp": alarm.entry_ends_ms}, level=LEVEL_ALARM,
              actor=Actor("device", device.zid, device.name))  # fmt: skip
    fx.countdown(panel, "entry", timing.entry_delay_s, timing.entry_delay_s)
    alarm.last_countdown = ("entry", timing.entry_delay_s)


# ---------------------------------------------------------------------------------------------------------------------
# device writes and commands


def _unit(value: Any) -> float | None:
    """A 0..1 number, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def write_fields(fx: Effects, device: HubDevice, v1: JSON) -> None:
    """``{"device":{"v1":{...}}}`` writes. ``volume`` on ``hub.redsky``/``security-keypad`` (rca, §7.8),
    ``brightness`` on base stations and keypads (homebridge), ``on``/``level`` on Beams lights and Z-Wave switches
    (§7.8; ``level`` on multilevel ones). [sim] A value out of
    0..1 (or of the wrong type) is not applied: the device's current value is pushed back unchanged, so a client
    waiting for the update sees the refusal. Fields a device type does not take are ignored."""
    kind = device.device_type
    if kind == thermostat.THERMOSTAT_TYPE:  # mode, setPoint, deadBand, fanMode: sim/hub/thermostat.py
        thermostat.write(fx, device, v1)
        return
    applied: JSON = {}
    refused: JSON = {}
    for key, value in v1.items():
        if key in ("volume", "brightness", "level"):
            allowed = (
                (key == "volume" and kind in VOLUME_TYPES and "volume" in device.device)
                or (key == "brightness" and kind in BRIGHTNESS_TYPES)
                or (key == "level" and (kind in LIGHT_TYPES or kind in LEVEL_SWITCH_TYPES))
            )
            if not allowed:
                continue
            unit = _unit(value)
            if unit is None:
                refused[key] = device.device.get(key)
            else:
                applied[key] = unit
        elif key == "chirps" and kind == "security-keypad":  # ring-mqtt keypad.js: "enabled" / "disabled"
            if value in ("enabled", "disabled"):
                applied["chirps"] = value
            else:
                refused["chirps"] = device.device.get("chirps")
        elif key == "on" and kind == "siren":  # (the outdoor strobe takes siren-test commands instead)
            if isinstance(value, bool):
                applied["sirenStatus"] = "active" if value else "inactive"
            else:
                refused["sirenStatus"] = device.device.get("sirenStatus")
        elif key == "on" and (kind in LIGHT_TYPES or kind in SWITCH_TYPES):
            if isinstance(value, bool):
                applied["on"] = value
                if not value:
                    fx.hub.lights_off_at_ms.pop(device.zid, None)
            else:
                refused["on"] = device.device.get("on")
    if applied:
        fx.update(device, applied, level=LEVEL_SETTING)
    if refused:
        fx.update(device, refused, record=False)


def impulse(fx: Effects, device: HubDevice, kind: str) -> None:
    """Something a device saw that changes none of its fields: a partial document with only an ``impulse`` (ring-mqtt
    keypad.js reads ``impulse.v1[0].impulseType == "keypad.motion"`` from such an update: someone near a keypad).
    [sim] not recorded in rs/history (no setting changed)."""
    fx.update(device, {}, impulses=(kind,), record=False)


def light_mode(fx: Effects, device: HubDevice, data: Any, timing: Timing) -> None:
    """Beams ``light-mode.set``: ``{"lightMode":"on","duration":s}`` (duration optional, at most 32767) or
    ``{"lightMode":"default"}`` (off, back to motion-activated)."""
    if device.device_type not in LIGHT_TYPES or not isinstance(data, dict):
        return
    if data.get("lightMode") == "on":
        duration = data.get("duration")
        seconds = int(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else 0
        if seconds <= 0:
            seconds = int(device.device.get("onDuration") or timing.light_duration_s)
        seconds = min(seconds, MAX_LIGHT_DURATION_S)
        fx.hub.lights_off_at_ms[device.zid] = fx.now_ms + seconds * 1000
        fx.update(device, {"on": True}, level=LEVEL_SETTING)
    elif data.get("lightMode") == "default":
        fx.hub.lights_off_at_ms.pop(device.zid, None)
        fx.update(device, {"on": False}, level=LEVEL_SETTING)


def apply_set(fx: Effects, device: HubDevice, item: JSON, timing: Timing) -> None:
    """One ``DeviceInfoSet`` body item for ``device``: commands (``command.v1``) and field writes (``device.v1``)."""
    command = item.get("command")
    commands = command.get("v1") if isinstance(command, dict) else None
    if isinstance(commands, list):
        for entry in commands:
            if not isinstance(entry, dict):
                continue
            kind, data = entry.get("commandType"), entry.get("data")
            if device.device_type == "security-panel":
                if kind == "security-panel.switch-mode":
                    switch_mode(fx, data, timing)
                elif kind == "security-panel.sound-siren":
                    set_siren(fx, True)
                elif kind == "security-panel.silence-siren":
                    set_siren(fx, False)
            elif access.takes(device, kind):
                access.command(fx, device, str(kind))
            elif kind == "light-mode.set":
                light_mode(fx, device, data, timing)
            elif kind in ("siren-test.start", "siren-test.stop") and device.device_type in SIREN_TYPES - {"siren"}:
                fx.update(device, {"sirenStatus": "active" if kind == "siren-test.start" else "inactive"},
                          level=LEVEL_SETTING)  # fmt: skip
    fields = item.get("device")
    v1 = fields.get("v1") if isinstance(fields, dict) else None
    if isinstance(v1, dict):
        write_fields(fx, device, v1)


# ---------------------------------------------------------------------------------------------------------------------
# timers


def tick(fx: Effects) -> None:
    """Exit delay end, entry delay end (→ burglar alarm), countdown frames once per simulated second, Beams lights
    switched on for a duration going off."""
    hub = fx.hub
    panel = _panel(hub)
    alarm = hub.alarm
    now = fx.now_ms
    if panel is not None and alarm.exit_ends_ms is not None:
        if now >= alarm.exit_ends_ms:
            alarm.exit_ends_ms = None
            alarm.last_countdown = None
            fx.update(panel, {"transitionDelayEndTimestamp": None}, level=LEVEL_TIMER, actor=SYSTEM)
        else:
            _countdown(fx, panel, "exit", alarm.exit_ends_ms, alarm.exit_total_s)
    if panel is not None and alarm.entry_ends_ms is not None:
        if now >= alarm.entry_ends_ms:
            faulted = alarm.entry_faulted
            alarm.entry_faulted = []
            alarm.last_countdown = None
            fx.actor = SYSTEM
            trigger_alarm(fx, "burglar", faulted)
        else:
            _countdown(fx, panel, "entry", alarm.entry_ends_ms, alarm.entry_total_s)
    for zid, off_at in list(hub.lights_off_at_ms.items()):
        if now >= off_at:
            del hub.lights_off_at_ms[zid]
            light = hub.devices.get(zid)
            if light is not None:
                fx.update(light, {"on": False}, level=LEVEL_SETTING, actor=SYSTEM)


def _countdown(fx: Effects, panel: HubDevice, transition: str, ends_ms: int, total: int) -> None:
    left = max(0, math.ceil((ends_ms - fx.now_ms) / 1000))
    if fx.hub.alarm.last_countdown != (transition, left):
        fx.hub.alarm.last_countdown = (transition, left)
        fx.countdown(panel, transition, left, total)


def new_event_id() -> str:
    return str(uuid.uuid4())
