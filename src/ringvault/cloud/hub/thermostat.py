"""Z-Wave thermostats on the hub socket (``temperature-control.thermostat``): a typed reading of one, and its
checked writes.

The fields (reference §7.7; what rca leaves untyped is read as tsightler/ring-mqtt ``devices/thermostat.js`` reads
it): ``mode`` (``off``/``heat``/``cool``/``auto``/``aux``), ``setPoint`` in °C within ``setPointMin``..
``setPointMax``, ``modeSetpoints`` (one entry per mode the thermostat offers; ``auto``'s carries ``deadBand`` and
``deadBandMin``), ``deadBand`` (auto range = setPoint ± deadBand), ``fanMode`` and ``supportedFanModes``. The room
temperature and what the system does right now live on two child devices linked by ``parentZid`` (ring-mqtt
lib/ring.js ``childDevices``): a ``sensor.temperature`` (``celsius``) and a ``thermostat-operating-status``
(``operatingMode``: ``heat``/``cool``/``off``).

Writes are ``{"device":{"v1":{...}}}`` (§7.8). A value the thermostat cannot take is refused here with a one-line
``ValueError`` before anything is sent (Ring would push the old value back).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ringvault.cloud.errors import CapabilityError
from ringvault.cloud.hub.device import flatten
from ringvault.cloud.hub.kinds import HubDeviceKind

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice

__all__ = [
    "DEFAULT_DEAD_BAND_MIN",
    "DEFAULT_SET_POINT_RANGE",
    "OPERATING_STATUS_TYPE",
    "THERMOSTAT_MODES",
    "Confirmation",
    "Thermostat",
]

#: Every mode a Ring thermostat can have, in the order they are offered (rca ``ThermostatMode`` plus ``auto``,
#: which ring-mqtt reads from ``modeSetpoints``).
THERMOSTAT_MODES = ("off", "heat", "cool", "auto", "aux")
#: rca ``ThermostatMode``: the modes of a thermostat that lists no ``modeSetpoints``.
_RCA_MODES = ("off", "heat", "cool", "aux")
#: ring-mqtt thermostat.js: the set point range (°C) it accepts when the thermostat reports none.
DEFAULT_SET_POINT_RANGE = (10.0, 37.22223)
#: ring-mqtt thermostat.js: the smallest auto dead band when ``modeSetpoints.auto.deadBandMin`` is absent.
DEFAULT_DEAD_BAND_MIN = 1.11111
#: The child device that says whether the system heats or cools right now.
OPERATING_STATUS_TYPE = "thermostat-operating-status"
_TEMPERATURE_SENSOR_TYPE = "sensor.temperature"


Confirmation = Literal["applied", "refused", "timeout"]
"""Ring's answer to a thermostat write (``Thermostat.write_and_confirm``)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class Thermostat:
    """One thermostat hub device read as a thermostat (``Thermostat(device)``; ``CapabilityError`` for any other
    device). Everything is read from the device's current ``data`` (and its children's) at each access."""

    def __init__(self, device: HubDevice) -> None:
        if device.kind is not HubDeviceKind.THERMOSTAT:
            raise CapabilityError(f"{device.name} ({device.type_label}) is not a thermostat")
        self.device = device

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def mode(self) -> str | None:
        mode = self.device.data.get("mode")
        return mode if isinstance(mode, str) else None

    @property
    def _mode_setpoints(self) -> dict[str, Any]:
        value = self.device.data.get("modeSetpoints")
        return value if isinstance(value, dict) else {}

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes it offers: ``off``, the known modes of ``modeSetpoints`` (rca's heat/cool/off/aux without
        them), and ``aux`` (emergency heat) wherever ``heat`` is offered (ring-mqtt offers it on every thermostat)."""
        setpoints = self._mode_setpoints
        offered = {str(key) for key in setpoints} if setpoints else set(_RCA_MODES)
        offered.add("off")
        if "heat" in offered:
            offered.add("aux")
        return tuple(mode for mode in THERMOSTAT_MODES if mode in offered)

    @property
    def set_point(self) -> float | None:
        """The target temperature (°C) of the current mode (the middle of the range in ``auto``)."""
        return _number(self.device.data.get("setPoint"))

    @property
    def set_point_range(self) -> tuple[float, float]:
        low = _number(self.device.data.get("setPointMin"))
        high = _number(self.device.data.get("setPointMax"))
        default_low, default_high = DEFAULT_SET_POINT_RANGE
        low, high = (low if low is not None else default_low), (high if high is not None else default_high)
        return (low, high) if low < high else DEFAULT_SET_POINT_RANGE

    @property
    def dead_band(self) -> float | None:
        return _number(self.device.data.get("deadBand"))

    @property
    def dead_band_min(self) -> float:
        auto = self._mode_setpoints.get("auto")
        value = _number(auto.get("deadBandMin")) if isinstance(auto, dict) else None
        return value if value is not None and value > 0 else DEFAULT_DEAD_BAND_MIN

    @property
    def auto_range(self) -> tuple[float, float] | None:
        """``(low, high)`` = setPoint ∓ deadBand (ring-mqtt thermostat.js), when both are known."""
        set_point, band = self.set_point, self.dead_band
        if set_point is None or band is None:
            return None
        return set_point - band, set_point + band

    @property
    def fan_mode(self) -> str | None:
        value = self.device.data.get("fanMode")
        return value if isinstance(value, str) else None

    @property
    def fan_modes(self) -> tuple[str, ...]:
        """``supportedFanModes``; ``auto`` alone when the thermostat lists none (ring-mqtt)."""
        value = self.device.data.get("supportedFanModes")
        modes = tuple(m for m in value if isinstance(m, str) and m) if isinstance(value, list) else ()
        return modes or ("auto",)

    @property
    def temperature_sensor(self) -> HubDevice | None:
        return next((d for d in self.device.children if d.device_type == _TEMPERATURE_SENSOR_TYPE), None)

    @property
    def operating_status(self) -> HubDevice | None:
        return next((d for d in self.device.children if d.device_type == OPERATING_STATUS_TYPE), None)

    @property
    def temperature(self) -> float | None:
        """The room temperature (°C): the child temperature sensor's ``celsius``."""
        sensor = self.temperature_sensor
        return _number(sensor.data.get("celsius")) if sensor is not None else None

    @property
    def operating_mode(self) -> str | None:
        """What the system does now (``heat``, ``cool``, ``off``), from the operating-status child."""
        status = self.operating_status
        value = status.data.get("operatingMode") if status is not None else None
        return value if isinstance(value, str) else None

    # -- writing -------------------------------------------------------------------------------------------
    def write_for(
        self,
        *,
        mode: str | None = None,
        set_point: float | None = None,
        dead_band: float | None = None,
        fan_mode: str | None = None,
    ) -> dict[str, Any]:
        """The checked ``device.v1`` fields of a write (``ValueError`` in one line for a value it cannot take)."""
        name = self.device.name
        v1: dict[str, Any] = {}
        if mode is not None:
            if mode not in self.modes:
                raise ValueError(f"{name}: mode must be one of {', '.join(self.modes)}, got {mode!r}")
            v1["mode"] = mode
        if set_point is not None:
            low, high = self.set_point_range
            value = _number(set_point)
            if value is None or not low <= value <= high:
                raise ValueError(f"{name}: set point must be from {low:g} to {high:g} °C, got {set_point!r}")
            v1["setPoint"] = value
        if dead_band is not None:
            value = _number(dead_band)
            if value is None or value < self.dead_band_min - 1e-9:
                raise ValueError(f"{name}: dead band must be at least {self.dead_band_min:g} °C, got {dead_band!r}")
            v1["deadBand"] = value
        if fan_mode is not None:
            if fan_mode not in self.fan_modes:
                raise ValueError(f"{name}: fan mode must be one of {', '.join(self.fan_modes)}, got {fan_mode!r}")
            v1["fanMode"] = fan_mode
        if not v1:
            raise ValueError(f"{name}: give a mode, set point, dead band or fan mode to set")
        return v1

    def range_write(self, low: float, high: float) -> dict[str, Any]:
        """The ``setPoint``/``deadBand`` write for an auto range ``low``..``high`` (°C): its middle and half-width,
        the half-width raised to ``dead_band_min`` when narrower (ring-mqtt thermostat.js ``setAutoSetPoint``)."""
        lo, hi = _number(low), _number(high)
        if lo is None or hi is None or lo >= hi:
            raise ValueError(f"{self.device.name}: the auto range needs low < high, got {low!r}..{high!r}")
        middle = (lo + hi) / 2
        return self.write_for(set_point=middle, dead_band=max(hi - middle, self.dead_band_min))

    async def set(
        self,
        *,
        mode: str | None = None,
        set_point: float | None = None,
        dead_band: float | None = None,
        fan_mode: str | None = None,
    ) -> None:
        """Send one checked write (see ``write_for``)."""
        v1 = self.write_for(mode=mode, set_point=set_point, dead_band=dead_band, fan_mode=fan_mode)
        await self.device.set_info({"device": {"v1": v1}})

    async def set_range(self, low: float, high: float) -> None:
        """Set the auto range (see ``range_write``)."""
        await self.device.set_info({"device": {"v1": self.range_write(low, high)}})

    async def write_and_confirm(self, v1: Mapping[str, Any], *, timeout: float) -> Confirmation:  # noqa: ASYNC109
        """Send a checked write (``write_for``/``range_write``) and wait for Ring's answer: the updates that carry
        each written field — the new value, or the old one pushed back when Ring refuses it (the hub's answer to
        every write, §7.8). ``applied`` when every field now holds what was asked, ``refused`` when one does not,
        ``timeout`` when no such answer came within ``timeout`` seconds. A write that changes nothing is
        ``applied`` at once (Ring need not answer a no-op)."""
        wanted = dict(v1)
        if self._holds(wanted):
            await self.device.set_info({"device": {"v1": wanted}})
            return "applied"
        pending = set(wanted)

        def answered(doc: Mapping[str, Any]) -> bool:
            pending.difference_update(flatten(doc))
            return not pending

        future = self.device._next_update(answered)  # registered before the write it answers
        try:
            await self.device.set_info({"device": {"v1": wanted}})
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            return "timeout"
        finally:
            self.device._forget(future)
        return "applied" if self._holds(wanted) else "refused"

    def _holds(self, v1: Mapping[str, Any]) -> bool:
        """Whether the device's data already holds every value of ``v1`` (numbers to 0.01)."""
        for key, value in v1.items():
            current = self.device.data.get(key)
            if isinstance(value, float):
                number = _number(current)
                if number is None or abs(number - value) > 0.01:
                    return False
            elif current != value:
                return False
        return True

    def __repr__(self) -> str:
        return f"<Thermostat zid={self.device.zid!r} mode={self.mode!r} set_point={self.set_point!r}>"
