"""``HubLocation``: the alarm and Smart Lighting half of ``Location`` (a mixin, so ``cloud/location.py`` stays small).

Every method opens the location's hub socket lazily on first need; locations without a base station or lighting
bridge never open one (``get_devices`` answers ``[]``, alarm calls raise ``CapabilityError``). REST calls (history,
monitoring, light groups) need no socket.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ringvault.cloud.device import Signal
from ringvault.cloud.errors import CapabilityError
from ringvault.cloud.hub.alarm import find_security_panel, set_alarm_mode, sound_siren
from ringvault.cloud.hub.connection import HubConnection
from ringvault.cloud.hub.device import HubDevice
from ringvault.cloud.hub.history import fetch_alarm_history, fetch_monitoring_status, iter_alarm_history
from ringvault.cloud.hub.kinds import AlarmMode
from ringvault.cloud.hub.lights import LightGroup, fetch_light_groups
from ringvault.cloud.hub.options import HubOptions

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp

__all__ = ["HubLocation"]


class HubLocation(ABC):
    """Alarm, sirens, hub devices, rooms, history, monitoring and light groups of a location (``Location`` provides
    the identity below and calls ``_init_hub``)."""

    _http: RingHttp
    hub_options: HubOptions
    on_hub_connected: Signal[bool]
    _hub: HubConnection | None

    @property
    @abstractmethod
    def id(self) -> str: ...

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def has_hubs(self) -> bool: ...

    @property
    @abstractmethod
    def has_alarm_base_station(self) -> bool: ...

    def _init_hub(self) -> None:
        self.hub_options = HubOptions()
        self.on_hub_connected = Signal()
        self._hub = None

    @property
    def hub(self) -> HubConnection | None:
        """The hub connection once a call opened it (its ``socket.stats`` count frames and reconnects)."""
        return self._hub

    def _connection(self) -> HubConnection:
        if not self.has_hubs:
            raise CapabilityError(
                f"location {self.name} has no alarm base station or lighting bridge",
                hint="Alarm and Smart Lighting commands need a Ring Alarm or a Smart Lighting bridge.",
            )
        if self._hub is None:
            self._hub = HubConnection(
                self.id, self.name, self._http, self.hub_options, on_connected=self.on_hub_connected
            )
        return self._hub

    # -- devices -------------------------------------------------------------------------------------------
    async def get_devices(self, *, timeout: float | None = None) -> list[HubDevice]:  # noqa: ASYNC109
        """Every alarm and Smart Lighting device of the location ([] without hubs; no socket is opened then), waiting
        at most ``timeout`` s (None: ``hub_options.devices_timeout_s``)."""
        if not self.has_hubs:
            return []
        return await self._connection().get_devices(timeout=timeout)

    async def get_security_panel(self) -> HubDevice:
        """The alarm's security panel (``CapabilityError`` when the location has no Ring Alarm)."""
        if not self.has_alarm_base_station:
            raise CapabilityError(
                f"location {self.name} has no Ring Alarm base station",
                hint="Alarm commands need a Ring Alarm base station at the location.",
            )
        connection = self._connection()
        return find_security_panel(connection, await connection.get_devices())

    async def get_rooms(self) -> list[dict[str, Any]]:
        """The rooms each hub knows (``RoomGetList``), raw; [] without hubs."""
        if not self.has_hubs:
            return []
        connection = self._connection()
        await connection.get_devices()
        rooms: list[dict[str, Any]] = []
        for asset in connection.supported_assets:
            body = await connection.request_list("RoomGetList", asset.uuid)
            if isinstance(body, list):
                rooms.extend(item for item in body if isinstance(item, dict))
        return rooms

    # -- alarm ---------------------------------------------------------------------------------------------
    async def get_alarm_mode(self) -> AlarmMode:
        """``none`` (disarmed), ``some`` (home) or ``all`` (away)."""
        mode = (await self.get_security_panel()).mode
        if mode not in ("none", "some", "all"):
            raise CapabilityError(f"the security panel of {self.name} reports an unknown mode {mode!r}")
        return mode  # type: ignore[return-value]

    async def set_alarm_mode(self, mode: AlarmMode, bypass: Sequence[str] = (), *, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Switch the alarm and wait for the panel to confirm; ``AlarmArmError`` names the sensors in the way."""
        panel = await self.get_security_panel()
        connection = self._connection()
        devices = list(connection.devices.values()) or [panel]
        await set_alarm_mode(connection, devices, mode, bypass, timeout=timeout)

    async def arm_home(self, bypass: Sequence[str] = ()) -> None:
        """Arm in home mode (``some``), bypassing the sensors whose zids are given."""
        await self.set_alarm_mode("some", bypass, timeout=self.hub_options.command_timeout_s)

    async def arm_away(self, bypass: Sequence[str] = ()) -> None:
        """Arm in away mode (``all``), bypassing the sensors whose zids are given."""
        await self.set_alarm_mode("all", bypass, timeout=self.hub_options.command_timeout_s)

    async def disarm(self) -> None:
        await self.set_alarm_mode("none", timeout=self.hub_options.command_timeout_s)

    async def sound_siren(self) -> None:
        panel = await self.get_security_panel()
        await sound_siren(self._connection(), [panel], True)

    async def silence_siren(self) -> None:
        panel = await self.get_security_panel()
        await sound_siren(self._connection(), [panel], False)

    # -- REST: history, monitoring, light groups -----------------------------------------------------------
    async def get_alarm_history(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        category: str | None = None,
        affected_id: str | None = None,
        max_level: int = 50,
    ) -> list[dict[str, Any]]:
        """One page of ``rs/history`` (raw items, newest first)."""
        return await fetch_alarm_history(
            self._http,
            self.id,
            limit=limit,
            offset=offset,
            category=category,
            affected_id=affected_id,
            max_level=max_level,
        )

    async def iter_alarm_history(
        self, *, category: str | None = None, page_size: int = 50
    ) -> AsyncIterator[dict[str, Any]]:
        """Every ``rs/history`` item, newest first, paging by offset until a short page."""
        async for item in iter_alarm_history(self._http, self.id, category=category, page_size=page_size):
            yield item

    async def get_monitoring_status(self) -> dict[str, Any]:
        return await fetch_monitoring_status(self._http, self.id)

    async def get_light_groups(self) -> list[LightGroup]:
        return await fetch_light_groups(self._http, self.id)

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def disconnect(self) -> None:
        """Close the hub socket (if one was opened); a later call opens a new one."""
        hub, self._hub = self._hub, None
        if hub is not None:
            await hub.close()
