"""What the hub-socket families (``alarm``, ``lighting``, ``hub_unknown``) share: which family claims which hub device
kind, the ``HubFamily`` base that finds every location's hub devices and keeps them current, the entities every
hub device gets (battery, tamper, comm status), confirmed commands, and text/JSON made safe for the broker.

Not a family itself (the leading underscore keeps it out of the registry).

Why a shared base: the three families read the same hub socket (one ``HubConnection`` per location, opened by the
first ``get_devices``), and must agree on who owns a device — a device of a kind nobody claims is ``hub_unknown``'s,
so an unknown ``deviceType`` still shows up, never twice and never as a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import RingError
from ringvault.cloud.hub.kinds import HubDeviceKind
from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice, StatePayload
from ringvault.mqtt.settings import BridgeSettings
from ringvault.textsafe import printable

if TYPE_CHECKING:
    from ringvault.cloud.hub.connection import HubConnection
    from ringvault.cloud.hub.device import HubDevice
    from ringvault.cloud.location import Location
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext
    from ringvault.mqtt.options import BridgeOptions

__all__ = [
    "ACCESS_KINDS",
    "ALARM_KINDS",
    "CLIMATE_KINDS",
    "IGNORED_KINDS",
    "LIGHTING_KINDS",
    "HubFamily",
    "HubSite",
    "as_float",
    "as_int",
    "as_str",
    "clean",
    "common_entities",
    "confirm",
    "guarded",
    "is_thermostat_part",
    "on_off",
    "parse_number",
    "safe_json",
]

log = logging.getLogger("ringvault.mqtt.hub")

K = HubDeviceKind

#: Kinds the ``alarm`` family publishes (ring-mqtt lib/ring.js: the alarm device classes it builds).
ALARM_KINDS = frozenset(
    {
        K.SECURITY_PANEL,
        K.BASE_STATION,
        K.KEYPAD,
        K.CONTACT_SENSOR,
        K.MOTION_SENSOR,
        K.TILT_SENSOR,
        K.GLASSBREAK_SENSOR,
        K.SENSOR,
        K.FLOOD_FREEZE_SENSOR,
        K.TEMPERATURE_SENSOR,
        K.SMOKE_ALARM,
        K.CO_ALARM,
        K.SMOKE_CO_LISTENER,
        K.SIREN,
        K.RANGE_EXTENDER,
    }
)
#: Kinds the ``lighting`` family publishes (Smart Lighting and Z-Wave switches; ring-mqtt beam.js, switch.js,
#: multi-level-switch.js).
LIGHTING_KINDS = frozenset(
    {K.BEAMS_LIGHT, K.BEAMS_TRANSFORMER, K.BEAMS_MOTION_SENSOR, K.BEAMS_GROUP, K.LIGHT, K.SWITCH, K.DIMMER}
)
#: Kinds the ``access`` family publishes (locks and water valves; ring-mqtt lock.js, valve.js).
ACCESS_KINDS = frozenset({K.LOCK, K.VALVE})
#: Kinds the ``climate`` family publishes (ring-mqtt thermostat.js).
CLIMATE_KINDS = frozenset({K.THERMOSTAT})
#: Kinds nobody publishes: access codes are codes, not devices (ring-mqtt lib/ring.js returns "ignore" for them).
IGNORED_KINDS = frozenset({K.ACCESS_CODE})

#: Longest text (names, raw states) put in a payload or a device block.
MAX_TEXT = 200
#: Budget of a JSON attributes document (characters of strings and keys, roughly its size).
MAX_ATTRIBUTES = 16_000


# ---------------------------------------------------------------------------------------------------------------------
# values from Ring, read defensively: odd types read as None, never raise


def clean(value: object, limit: int = MAX_TEXT) -> str:
    """Ring's text (any object) as one printable line of at most ``limit`` characters: control and bidi characters
    and lone surrogates escaped (a surrogate cannot even be encoded for the broker)."""
    text = printable(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def on_off(flag: bool) -> str:
    """Home Assistant's default ``payload_on``/``payload_off``."""
    return "ON" if flag else "OFF"


def parse_number(payload: str, what: str, low: float, high: float) -> float:
    """A command payload that must be a number in ``low..high`` (``CommandRejected`` naming the range otherwise)."""
    text = payload.strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        raise CommandRejected(f"{what} must be a number from {low:g} to {high:g}, not {clean(text, 40)!r}")
    return value


def safe_json(value: Any, budget: int = MAX_ATTRIBUTES) -> dict[str, Any]:
    """A JSON object made from Ring's data that always serializes (``allow_nan=False``) and stays small: strings
    cleaned and cut, non-finite numbers → None, odd types → their text, depth ≤ 5, at most 100 items per level, and
    about ``budget`` characters in all (``"_truncated": true`` marks a cut)."""
    state = {"left": budget, "cut": False}

    def text(item: object, limit: int) -> str:
        out = clean(item, limit)
        state["left"] = int(state["left"]) - len(out)
        return out

    def convert(item: Any, depth: int) -> Any:
        if int(state["left"]) <= 0:
            state["cut"] = True
            return None
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, int):
            return item if abs(item) < 2**63 else text(item, 40)
        if isinstance(item, float):
            return item if math.isfinite(item) else None
        if isinstance(item, str):
            return text(item, 500)
        if depth >= 5:
            state["cut"] = True
            return text(type(item).__name__, 20)
        if isinstance(item, Mapping):
            result: dict[str, Any] = {}
            for index, (key, sub) in enumerate(item.items()):
                if index >= 100 or int(state["left"]) <= 0:
                    state["cut"] = True
                    break
                result[text(key, 80)] = convert(sub, depth + 1)
            return result
        if isinstance(item, list | tuple):
            items: list[Any] = []
            for index, sub in enumerate(item):
                if index >= 100 or int(state["left"]) <= 0:
                    state["cut"] = True
                    break
                items.append(convert(sub, depth + 1))
            return items
        return text(item, 200)

    result = convert(dict(value) if isinstance(value, Mapping) else {"value": value}, 0)
    if state["cut"]:
        result["_truncated"] = True
    json.dumps(result, allow_nan=False)  # the promise: it serializes (a bug here should fail loudly in tests)
    return result  # type: ignore[no-any-return]


def is_thermostat_part(device: HubDevice) -> bool:
    """Whether ``device`` belongs to a thermostat and shows on the thermostat's Home Assistant device (the
    ``climate`` family's), never alone: the ``thermostat-operating-status`` device, or a device whose ``parentZid``
    is a thermostat (its temperature sensor). ring-mqtt lib/ring.js returns "ignore" for both."""
    if device.device_type == "thermostat-operating-status":
        return True
    parent = device.parent
    return parent is not None and parent.kind in CLIMATE_KINDS


def guarded(what: str, read: Callable[[], Any]) -> Callable[[], Any]:
    """``read`` that never raises: a failure is logged (one line) and reads as None (nothing is published). The
    readers below are written not to fail; this is the net under them, so one odd document never stops a bridge."""

    def call() -> Any:
        try:
            return read()
        except Exception as exc:  # any failure of one reader must not stop the bridge
            log.warning("reading %s failed: %s", what, clean(f"{type(exc).__name__}: {exc}"))
            return None

    return call


# ---------------------------------------------------------------------------------------------------------------------
# confirmed commands


async def confirm(
    device: HubDevice,
    send: Callable[[], Any],
    done: Callable[[Mapping[str, Any]], bool],
    *,
    what: str,
    timeout: float,  # noqa: ASYNC109 - the wait bound for Ring's answer
) -> bool:
    """Send a command (``send()``, awaited) and wait until the device's data satisfies ``done`` (its next update
    that does). True once Ring confirmed; False (and one log line) when no such update came within ``timeout`` —
    the bridge then republishes Ring's state, never the one asked for. A target already reached is confirmed at
    once (Ring may send no update for a no-op)."""
    if done(device.data):
        return await ring_call(f"{clean(device.name)}: {what}", send)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def check(data: Mapping[str, Any]) -> None:
        if not future.done() and done(data):
            future.set_result(None)

    unsubscribe = device.on_data.subscribe(check)
    try:
        if not await ring_call(f"{clean(device.name)}: {what}", send):
            return False
        async with asyncio.timeout(timeout):
            await future
        return True
    except TimeoutError:
        log.warning("%s: Ring did not confirm %s within %g s; showing Ring's state", clean(device.name), what, timeout)
        return False
    finally:
        unsubscribe()


async def ring_call(what: str, call: Callable[[], Any]) -> bool:
    """Await a Ring call from a command; a ``RingError`` (socket down, refused, timed out) is one log line and
    False — the command ends, the bridge republishes Ring's true state."""
    try:
        await call()
    except RingError as err:
        log.warning("%s failed: %s", what, clean(err.one_line, 400))
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------------
# devices and their common entities


@dataclass
class HubSite:
    """One location's hub as a family sees it: the location, its socket, and the family's devices by zid."""

    ctx: BridgeContext
    location: Location
    connection: HubConnection
    devices: dict[str, MqttDevice] = field(default_factory=dict)

    @property
    def timeout(self) -> float:
        """How long a command waits for Ring's answer (the location's hub command timeout)."""
        return self.location.hub_options.command_timeout_s

    def hub_devices(self) -> list[HubDevice]:
        return list(self.connection.devices.values())

    def hub_device_id(self, device: HubDevice) -> int | None:
        """The Ring device id of the hub (the ticket's asset) that lists ``device``, when the ticket names one."""
        for asset in self.connection.assets:
            if asset.uuid == device.asset_uuid and asset.doorbot_id is not None:
                return asset.doorbot_id
        return None

    def via(self, device: HubDevice) -> MqttDevice:
        """The device a hub device is reached through: its hub — the base station or lighting bridge (the ticket's
        asset that lists it) as a top-level Ring device, ``MqttDevice(location, ident=str(<its Ring device id>))``
        by the bridge's device conventions (the alarm family publishes a base station under that id, the ``other``
        family a lighting bridge; only the ids matter here) — or, when the ticket names no such device, the bridge
        itself."""
        hub_id = self.hub_device_id(device)
        if hub_id is not None:
            name = next((d.name for d in self.location.devices if d.id == hub_id), str(hub_id))
            return MqttDevice(location=self.location.id, ident=str(hub_id), name=clean(name))
        return self.ctx.bridge

    def mqtt_device(
        self, device: HubDevice, *, name: str | None = None, model: str | None = None, as_hub: bool = False
    ) -> MqttDevice:
        """The ``MqttDevice`` of a hub device (ident: its zid), available while the socket is open and Ring says
        the device talks to its hub (``commStatus``, as ring-mqtt's ``isOnline``).

        ``as_hub``: the device *is* the hub that lists it (the alarm base station's own ``hub.redsky`` device). It
        then takes the hub's Ring device id as its ident (one Home Assistant device for Ring's two records of one
        box: the account's device list and the hub's own device), and is reached through the bridge."""
        connection = self.connection

        def available() -> bool:
            return connection.connected and not device.is_offline

        hub_id = self.hub_device_id(device) if as_hub else None
        return MqttDevice(
            location=self.location.id,
            ident=str(hub_id) if hub_id is not None else device.zid,
            name=clean(name if name is not None else device.name),
            model=clean(model if model is not None else (device.device_type or "unknown"), 80),
            manufacturer=clean(as_str(device.data.get("manufacturerName")) or "Ring", 80),
            via=self.ctx.bridge if hub_id is not None else self.via(device),
            available=available,
        )


def common_entities(mqtt: MqttDevice, device: HubDevice) -> None:
    """Battery level, tamper and comm status: the diagnostic entities ring-mqtt gives every socket device that
    reports them (ring-mqtt devices/base-socket-device.js ``initAttributeEntities``)."""
    data = device.data
    if "batteryLevel" in data:
        mqtt.add(
            Entity(
                "sensor",
                "battery",
                "Battery",
                read=guarded(f"{device.zid} battery", lambda: _battery(device)),
                attributes=guarded(f"{device.zid} battery attributes", lambda: _battery_attributes(device)),
                options={"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"},
                category="diagnostic",
            )
        )
    if "tamperStatus" in data:
        mqtt.add(
            Entity(
                "binary_sensor",
                "tamper",
                "Tamper",
                read=guarded(f"{device.zid} tamper", lambda: _tamper(device)),
                options={"device_class": "tamper"},
                category="diagnostic",
            )
        )
    mqtt.add(
        Entity(
            "sensor",
            "info",
            "Status",
            read=guarded(f"{device.zid} status", lambda: _comm_status(device)),
            attributes=guarded(f"{device.zid} info", lambda: info_attributes(device)),
            category="diagnostic",
            icon="mdi:information-outline",
        )
    )


def _battery(device: HubDevice) -> StatePayload:
    level = as_int(device.data.get("batteryLevel"))
    return str(max(0, min(100, level))) if level is not None else None


def _battery_attributes(device: HubDevice) -> dict[str, Any]:
    status = as_str(device.data.get("batteryStatus"))
    return {"battery_status": clean(status, 40) if status else None}


def _tamper(device: HubDevice) -> StatePayload:
    status = as_str(device.data.get("tamperStatus"))
    return on_off(status == "tamper") if status is not None else None


def _comm_status(device: HubDevice) -> StatePayload:
    status = as_str(device.data.get("commStatus"))
    return clean(status, 40) if status else "ok"


#: The health fields ring-mqtt publishes as a socket device's info attributes (base-socket-device.js).
_INFO_FIELDS = (
    "acStatus",
    "batteryBackup",
    "batteryLevel",
    "batteryStatus",
    "brightness",
    "commStatus",
    "deviceType",
    "firmwareUpdate",
    "lastCommTime",
    "lastUpdate",
    "linkQuality",
    "powerSave",
    "serialNumber",
    "tamperStatus",
    "volume",
)


def info_attributes(device: HubDevice) -> dict[str, Any]:
    data = device.data
    picked = {key: data[key] for key in _INFO_FIELDS if key in data}
    alarm = data.get("alarmInfo")
    if isinstance(alarm, Mapping) and isinstance(alarm.get("state"), str):
        picked["alarmState"] = alarm["state"]
    return safe_json(picked, budget=4000)


# ---------------------------------------------------------------------------------------------------------------------
# the family base


#: Locations whose hub did not list its devices in time at a family's start: the hub families after it do not wait
#: again (one wait, one log line, for the bridge's start).
_UNLISTED: weakref.WeakSet[Location] = weakref.WeakSet()


class HubFamily(ABC):
    """Finds every location's hub devices, builds an ``MqttDevice`` for each device it ``claims``, and keeps them
    current: a device's ``on_data`` → ``sink.changed``; the socket closing or opening → every device of the
    location (availability); a device that appears later (``on_device_added``) → ``sink.add_device``."""

    name = "hub"

    def __init__(self, options: BridgeOptions) -> None:
        self.options = options
        self.settings = BridgeSettings()
        """What the user set through the bridge, kept across restarts (the context's, from ``start``)."""
        self.sites: list[HubSite] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- what a subclass decides ---------------------------------------------------------------------------
    @abstractmethod
    def claims(self, device: HubDevice) -> bool: ...

    @abstractmethod
    def build(self, site: HubSite, device: HubDevice) -> MqttDevice | None: ...

    async def prepare(self, site: HubSite) -> None:  # noqa: B027 - an optional hook
        """Per-location REST reads a family needs before its devices are built (light groups ...)."""

    def build_order(self, device: HubDevice) -> int:
        """Devices others name as ``via`` first (base stations)."""
        return 0

    def updated(self, site: HubSite, device: HubDevice, mqtt: MqttDevice) -> None:  # noqa: B027 - an optional hook
        """A claimed device's data changed (after ``sink.changed``): timers and the like."""

    def extra(self, site: HubSite) -> list[MqttDevice]:
        """Devices of the location that are not hub devices (REST-only light groups ...)."""
        return []

    # -- the Family protocol ---------------------------------------------------------------------------------
    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        self.settings = ctx.settings
        built: list[MqttDevice] = []
        for location in await ctx.api.get_locations():
            if not location.has_hubs:
                continue
            built.extend(await self._start_location(ctx, location))
        return built

    def on_event(self, event: RingEvent) -> None:  # noqa: B027 - an optional hook
        """Hub devices change through the socket, not through push events."""

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- plumbing ----------------------------------------------------------------------------------------------
    async def _start_location(self, ctx: BridgeContext, location: Location) -> list[MqttDevice]:
        if location not in _UNLISTED or location.hub is None:  # a hub family before this one waited already
            try:
                # the location's own bound (``get_devices`` alone waits its fixed default of 20 s)
                await location.get_devices(timeout=location.hub_options.devices_timeout_s)
            except RingError as err:
                # the socket keeps trying: devices it lists later arrive through on_device_added
                _UNLISTED.add(location)
                log.warning("hub devices of %s not listed yet (they are published once they are): %s",
                            clean(location.name), clean(err.one_line, 400))  # fmt: skip
        connection = location.hub
        if connection is None:
            return []
        site = HubSite(ctx, location, connection)
        try:
            await self.prepare(site)
        except RingError as err:
            log.warning("%s: %s: %s", self.name, clean(location.name), err.one_line)
        self.sites.append(site)
        # from here on nothing awaits until the subscriptions are in place: no device can slip between the two
        devices = sorted(connection.devices.values(), key=self.build_order)
        built = [mqtt for device in devices if (mqtt := self._add(site, device)) is not None]
        built.extend(self.extra(site))
        self._unsubscribe.append(connection.on_device_added.subscribe(lambda device: self._late(site, device)))
        self._unsubscribe.append(location.on_hub_connected.subscribe(lambda _up: self._all_changed(site)))
        return built

    def _add(self, site: HubSite, device: HubDevice) -> MqttDevice | None:
        if device.zid in site.devices or not self.claims(device):
            return None
        try:
            mqtt = self.build(site, device)
        except Exception as exc:  # one odd device must not stop the others
            log.warning("%s: cannot publish hub device %s: %s", self.name, clean(device.zid), clean(exc))
            return None
        if mqtt is None:
            return None
        site.devices[device.zid] = mqtt

        def changed(_data: Mapping[str, Any]) -> None:
            site.ctx.sink.changed(mqtt)
            self.updated(site, device, mqtt)

        self._unsubscribe.append(device.on_data.subscribe(changed))
        self.updated(site, device, mqtt)
        return mqtt

    def _late(self, site: HubSite, device: HubDevice) -> None:
        mqtt = self._add(site, device)
        if mqtt is not None:
            log.info("%s: new hub device %s (%s)", self.name, clean(device.name), clean(device.device_type, 80))
            site.ctx.sink.add_device(mqtt)

    def _all_changed(self, site: HubSite) -> None:
        for mqtt in site.devices.values():
            site.ctx.sink.changed(mqtt)

    def later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``delay_s`` (cancelled at ``aclose``)."""
        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled() and t.when() > loop.time()]
        self._timers.append(loop.call_later(max(0.0, delay_s), callback))

    def spawn(self, coro: Any, what: str) -> None:
        """Run a coroutine in the background (cancelled at ``aclose``); a failure is one log line."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def finished(done: asyncio.Future[Any]) -> None:
            self._tasks.discard(task)
            if done.cancelled():
                return
            exc = done.exception()
            if isinstance(exc, RingError):
                log.warning("%s: %s failed: %s", self.name, what, clean(exc.one_line, 400))
            elif exc is not None:
                log.warning("%s: %s failed: %s", self.name, what, clean(f"{type(exc).__name__}: {exc}", 400))

        task.add_done_callback(finished)
