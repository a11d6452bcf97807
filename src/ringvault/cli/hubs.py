"""What the hub commands (``alarm``, ``lights``, ``devices``, ``mode``) share: which locations have which hub, hub
devices as rows, sensors for ``--bypass``, and reading several hubs where one that fails costs only its own part.

Only locations whose ``ring_devices`` list an alarm base station or a lighting bridge are ever connected to
(reference §7.1); the hub socket is closed with the ``RingApi`` (``with_api``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.hub import HubDevice
    from ringvault.cloud.location import Location

T = TypeVar("T")

#: Ring's alarm modes (``security-panel`` ``mode``) in the words the Ring app shows.
MODE_WORDS = {"none": "disarmed", "some": "home", "all": "away"}

#: A battery at or below this level counts as low (also any ``batteryStatus: "low"``).
LOW_BATTERY_PERCENT = 20

#: ``type_label`` values of devices ``--bypass`` accepts: the alarm's sensors (contact, motion, glass-break,
#: flood/freeze, tilt, temperature ...), which are what the Ring app lets one bypass when arming.
BYPASSABLE_TYPES = frozenset({"alarm sensor"})

#: ``type_label`` of what ``ringvault lights`` switches over the hub (Beams lights, Z-Wave bulbs).
LIGHT_TYPES = frozenset({"light"})


def mode_word(ring_mode: str | None) -> str:
    return MODE_WORDS.get(ring_mode or "", ring_mode or "unknown")


def alarm_locations(locations: Sequence[Location]) -> list[Location]:
    return [loc for loc in locations if loc.known and loc.has_alarm_base_station]


def hub_locations(locations: Sequence[Location]) -> list[Location]:
    return [loc for loc in locations if loc.known and loc.has_hubs]


def lighting_locations(locations: Sequence[Location]) -> list[Location]:
    """Locations with a Smart Lighting bridge (light groups live there)."""
    from ringvault.cloud.models.kinds import DeviceClass

    return [
        loc for loc in locations if loc.known and any(d.device_class is DeviceClass.BEAMS_BRIDGE for d in loc.devices)
    ]


async def alarm_location(api: RingApi, query: str | None) -> Location:
    """The location ``--location`` names among those with a Ring Alarm, or the only one."""
    from ringvault.cli.targets import pick_location

    return pick_location(alarm_locations(await api.get_locations()), query, what="a Ring Alarm", among="alarm ")


def is_alarm_device(device: HubDevice) -> bool:
    """A device of the alarm (not Smart Lighting, not an access code)."""
    kind = str(device.kind)
    return not kind.startswith("beams_") and kind != "access_code"


def low_battery(device: HubDevice) -> bool:
    if (device.battery_status or "").lower() == "low":
        return True
    return device.battery_level is not None and device.battery_level <= LOW_BATTERY_PERCENT


def device_brief(device: HubDevice) -> dict[str, Any]:
    """A hub device in JSON output: its zid, name and what it is."""
    return {"zid": device.zid, "name": device.name, "type": device.type_label, "device_type": device.device_type}


def pick_sensors(devices: Sequence[HubDevice], queries: Sequence[str]) -> list[HubDevice]:
    """The sensors ``--bypass`` names (name, unique part of a name, or zid), in the order given, once each."""
    from ringvault.cli.targets import pick

    sensors = [d for d in devices if d.type_label in BYPASSABLE_TYPES]
    chosen: list[HubDevice] = []
    for query in queries:
        sensor = pick(sensors, query, ids=lambda d: [d.zid], name=lambda d: d.name, what="sensor")
        if sensor not in chosen:
            chosen.append(sensor)
    return chosen


@dataclass
class PerLocation:
    """What a read over several locations' hubs gave: results by location, and one line per location that failed."""

    results: list[tuple[Location, Any]] = field(default_factory=list)
    failures: list[tuple[Location, BaseException]] = field(default_factory=list)

    def warning_lines(self, what: str) -> list[str]:
        return [f"warning: {what} of {loc.name} not listed: {_one_line(exc)}" for loc, exc in self.failures]


def _one_line(exc: BaseException) -> str:
    from ringvault.cli.common import error_line

    return error_line(exc)[0]


async def each_location(locations: Sequence[Location], read: Callable[[Location], Awaitable[T]]) -> PerLocation:
    """``read`` every location at once; a location whose hub (or REST call) fails is reported, not fatal.

    Only Ring's own failures (``RingError``: hub unreachable, timed out, HTTP errors) are tolerated; a bug still
    ends the command."""
    from ringvault.cloud.errors import RingError

    outcome = PerLocation()
    answers = await asyncio.gather(*(read(loc) for loc in locations), return_exceptions=True)
    for location, answer in zip(locations, answers, strict=True):
        if isinstance(answer, RingError):
            outcome.failures.append((location, answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            outcome.results.append((location, answer))
    return outcome


#: How long a command waits for the hub to confirm a change it sent (the hub answers in well under a second).
CONFIRM_TIMEOUT_S = 10.0


async def confirmed(device: HubDevice, check: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether ``device.data`` satisfies ``check`` now or after one of its updates within ``CONFIRM_TIMEOUT_S``.

    Updates are merged into ``data`` as they arrive, so one that came before this call is seen in ``data``."""
    if check(device.data):
        return True
    seen: asyncio.Event = asyncio.Event()

    def on_data(data: dict[str, Any]) -> None:
        if check(data):
            seen.set()

    unsubscribe = device.on_data.subscribe(on_data)
    try:
        if check(device.data):
            return True
        try:
            await asyncio.wait_for(seen.wait(), CONFIRM_TIMEOUT_S)
        except TimeoutError:
            return check(device.data)
        return True
    finally:
        unsubscribe()
