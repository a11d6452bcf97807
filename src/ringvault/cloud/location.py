"""``Location``: one Ring location (home) with its devices, camera events and location mode; the alarm and Smart
Lighting methods (hub socket, history, light groups) come from ``ringvault.cloud.hub.location.HubLocation``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from ringvault.cloud.camera import RingCamera, iter_event_pages
from ringvault.cloud.chime import RingChime
from ringvault.cloud.device import DeviceBase, RingDevice, Signal
from ringvault.cloud.endpoints import app_api, clients_api
from ringvault.cloud.errors import CapabilityError
from ringvault.cloud.hub.location import HubLocation
from ringvault.cloud.intercom import RingIntercom
from ringvault.cloud.models.events import CameraEventsPage, event_query
from ringvault.cloud.models.kinds import DeviceClass
from ringvault.cloud.models.locations import LocationMode, UserLocation
from ringvault.cloud.push.events import RingEvent

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp

__all__ = ["AnyDevice", "Location"]

AnyDevice = DeviceBase[Any]
LocationModeName = Literal["home", "away", "disarmed"]


class Location(HubLocation):
    """A Ring location: its ``data`` (``devices/v1/locations`` entry) and the devices whose ``location_id`` matches.

    ``cameras``, ``chimes`` and ``intercoms`` have their own classes; everything else (base stations, lighting
    bridges, unknown kinds) is in ``devices`` as ``RingDevice``. Alarm and Smart Lighting devices (sensors, keypads,
    lights ...) live behind the hub socket: ``await location.get_devices()`` (see ``HubLocation``).
    """

    def __init__(self, data: UserLocation, http: RingHttp, *, known: bool = True) -> None:
        self.data = data
        self._http = http
        self.known = known
        """False for a location made up for devices whose ``location_id`` is not among the account's locations."""
        self.cameras: list[RingCamera] = []
        self.chimes: list[RingChime] = []
        self.intercoms: list[RingIntercom] = []
        self.devices: list[RingDevice] = []
        self.on_location_mode: Signal[LocationMode] = Signal()
        self.on_alarm_notice: Signal[RingEvent] = Signal()
        """Alarm notices pushed by Ring (mode changes, siren sounded / silenced): ``RingEvent(kind="alarm")``."""
        self._init_hub()

    @property
    def id(self) -> str:
        return self.data.location_id or ""

    @property
    def name(self) -> str:
        return self.data.name or self.id or "(no location)"

    @property
    def all_devices(self) -> list[AnyDevice]:
        return [*self.cameras, *self.chimes, *self.intercoms, *self.devices]

    @property
    def has_hubs(self) -> bool:
        """True when the location has an alarm base station or a Smart Lighting bridge."""
        return any(d.device_class in (DeviceClass.BASE_STATION, DeviceClass.BEAMS_BRIDGE) for d in self.devices)

    @property
    def has_alarm_base_station(self) -> bool:
        return any(d.device_class is DeviceClass.BASE_STATION for d in self.devices)

    # -- membership (RingApi keeps these lists current) -----------------------------------------------------
    def _add(self, device: AnyDevice) -> None:
        if isinstance(device, RingCamera):
            self.cameras.append(device)
        elif isinstance(device, RingChime):
            self.chimes.append(device)
        elif isinstance(device, RingIntercom):
            self.intercoms.append(device)
        elif isinstance(device, RingDevice):
            self.devices.append(device)

    def _remove(self, device: AnyDevice) -> None:
        for bucket in (self.cameras, self.chimes, self.intercoms, self.devices):
            if device in bucket:
                bucket.remove(device)  # type: ignore[arg-type]

    # -- events ---------------------------------------------------------------------------------------------
    async def get_camera_events(
        self,
        limit: int = 50,
        kind: str | None = None,
        state: str | None = None,
        pagination_key: str | None = None,
        favorites: bool | None = None,
    ) -> CameraEventsPage:
        """One page of ``locations/{loc}/events`` (all cameras of the location, newest first)."""
        self._require_known()
        params = event_query(limit=limit, kind=kind, state=state, pagination_key=pagination_key, favorites=favorites)
        doc = await self._http.request_json("GET", clients_api(f"locations/{self.id}/events"), params=params)
        return CameraEventsPage.model_validate(doc)

    async def iter_camera_events(
        self, limit: int = 50, kind: str | None = None, state: str | None = None, pagination_key: str | None = None
    ) -> AsyncIterator[CameraEventsPage]:
        """Every page of the location's camera events, following ``pagination_key``."""
        async for page in iter_event_pages(
            self.get_camera_events, limit=limit, kind=kind, state=state, pagination_key=pagination_key
        ):
            yield page

    def _require_known(self) -> None:
        if not self.known or not self.id:
            raise CapabilityError(
                f"location {self.id or '(none)'} is not one of the account's locations",
                hint="Its devices are listed, but Ring serves events and modes only for the account's locations.",
            )

    # -- location modes -------------------------------------------------------------------------------------
    async def get_location_mode(self) -> LocationMode:
        """The camera-only location mode (``home``/``away``/``disarmed``, or ``disabled``/``unset``)."""
        self._require_known()
        mode = LocationMode.model_validate(await self._http.request_json("GET", app_api(f"mode/location/{self.id}")))
        self.on_location_mode.emit(mode)
        return mode

    async def set_location_mode(self, mode: LocationModeName | str) -> LocationMode:
        """Switch the location mode; returns the new state."""
        if mode not in ("home", "away", "disarmed"):
            raise ValueError("mode must be 'home', 'away' or 'disarmed'")
        self._require_known()
        doc = await self._http.request_json("POST", app_api(f"mode/location/{self.id}"), json={"mode": mode})
        result = LocationMode.model_validate(doc)
        if not result.mode:
            result = await self.get_location_mode()
        else:
            self.on_location_mode.emit(result)
        return result

    def __repr__(self) -> str:
        return f"<Location id={self.id!r} name={self.name!r} devices={len(self.all_devices)}>"
