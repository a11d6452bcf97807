"""``RingApi``: the entry point of the Ring client (locations, devices, polling), built on one ``RingHttp``."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ringvault.cloud.camera import RingCamera
from ringvault.cloud.chime import RingChime
from ringvault.cloud.device import DeviceBase, RingDevice, Signal
from ringvault.cloud.endpoints import clients_api, devices_api
from ringvault.cloud.errors import CapabilityError, DeviceNotFoundError, ResponseFormatError, RingError
from ringvault.cloud.http import RingHttp
from ringvault.cloud.intercom import RingIntercom
from ringvault.cloud.location import AnyDevice, Location
from ringvault.cloud.models.base import to_id_int
from ringvault.cloud.models.devices import (
    CameraEntry,
    ChimeEntry,
    DeviceEntry,
    IntercomEntry,
    RingDevices,
)
from ringvault.cloud.models.kinds import FAMILIES, DeviceClass, device_class
from ringvault.cloud.models.locations import Profile, UserLocation
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.push.events import RingEvent
from ringvault.cloud.push.store import PushStore

if TYPE_CHECKING:
    from ringvault.cloud.auth import RefreshTokenUpdate, RingAuth
    from ringvault.cloud.http import Event
    from ringvault.cloud.push.hub import NotificationHub, NotificationStatus, PolledDevice

__all__ = ["AmbiguousDeviceError", "RingApi", "RingDevicesSnapshot"]

log = logging.getLogger(__name__)


class AmbiguousDeviceError(RingError):
    """More than one device matches a name given to ``find_device``."""

    hint = "Use the numeric device id instead (`ringvault devices` lists them)."


@dataclass
class RingDevicesSnapshot:
    """Every device of the account (within ``location_ids``), grouped by what ringvault makes of them.

    ``unknown_families`` holds devices from ``ring_devices`` keys ringvault does not know (by key).
    """

    cameras: list[RingCamera] = field(default_factory=list)
    chimes: list[RingChime] = field(default_factory=list)
    intercoms: list[RingIntercom] = field(default_factory=list)
    base_stations: list[RingDevice] = field(default_factory=list)
    beams_bridges: list[RingDevice] = field(default_factory=list)
    other: list[RingDevice] = field(default_factory=list)
    unknown_families: dict[str, list[RingDevice]] = field(default_factory=dict)

    @property
    def all(self) -> list[AnyDevice]:
        found: list[AnyDevice] = [
            *self.cameras,
            *self.chimes,
            *self.intercoms,
            *self.base_stations,
            *self.beams_bridges,
            *self.other,
        ]
        for devices in self.unknown_families.values():
            found.extend(devices)
        return found

    def __len__(self) -> int:
        return len(self.all)


class RingApi:
    """An async client for a Ring account.

    ``RingApi(auth, options)`` owns one ``RingHttp``; close it with ``await api.disconnect()`` or use
    ``async with RingApi(...) as api``. Locations and device objects are built once and then kept current: with
    ``camera_status_polling_seconds`` set, a background task re-reads ``ring_devices``, feeds each device's
    ``on_data`` and adds or removes devices that appeared or disappeared.
    """

    def __init__(self, auth: RingAuth, options: RingApiOptions | None = None, *, http: RingHttp | None = None) -> None:
        self.auth = auth
        self.options = options or RingApiOptions()
        self.http = http or RingHttp(auth, self.options)
        self._owns_http = http is None
        self._locations: list[Location] | None = None
        self._built_locations: list[Location] = []
        self._devices: dict[tuple[str, int], AnyDevice] = {}
        self._build_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._http_closed = False
        self.ring_devices: RingDevices | None = None
        """The last ``ring_devices`` document read (parsed; ``.raw`` is the JSON)."""
        self.on_device_added: Signal[AnyDevice] = Signal()
        self.on_device_removed: Signal[AnyDevice] = Signal()
        self.on_devices_refreshed: Signal[RingDevices] = Signal()
        self.on_new_notification: Signal[RingEvent] = Signal()
        """Every event of the account (push or polling fallback), once ``start_notifications()`` runs."""
        self.on_notification_updated: Signal[RingEvent] = Signal()
        """A later push for an event already delivered that brings its snapshot (``snapshot_uuid``) for the first
        time: battery doorbells push twice, the first time without the image (reference §8.4)."""
        self.on_notifications_connected: Signal[NotificationStatus] = Signal()
        """Emitted whenever events may have been missed that the cameras' history still shows: after every login to
        the push server (the first, each reconnect, each restart of the listener) and when push gives way to
        polling. Catch up from history then (``ringvault.archive.follow`` does)."""
        self._notifications: NotificationHub | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def __aenter__(self) -> RingApi:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        """Stop polling, close every location's hub socket and the HTTP client (when this ``RingApi`` created it)."""
        self._closed = True
        await self.stop_notifications()
        for location in self._built_locations:
            try:
                await location.disconnect()
            except Exception:  # closing must go on for the others
                log.exception("closing the hub socket of %s failed", location.name)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._owns_http and not self._http_closed:
            self._http_closed = True
            await self.http.aclose()

    async def aclose(self) -> None:
        await self.disconnect()

    @property
    def on_refresh_token_updated(self) -> Event[RefreshTokenUpdate]:
        """The auth's refresh-token event: ``api.on_refresh_token_updated.subscribe(cb)``; persist every rotation."""
        return self.auth.on_refresh_token_updated

    # -- real-time events -----------------------------------------------------------------------------------
    async def start_notifications(
        self,
        *,
        push: bool = True,
        store: PushStore | None = None,
        poll_interval_s: float | None = None,
        poll_requests_per_s: float | None = None,
    ) -> NotificationStatus:
        """Start receiving events: push notifications (FCM), or, when push cannot be set up (or ``push=False``),
        polling of the cameras' history at a bounded rate. Returns how events arrive (``status.mode``,
        ``status.reason``). The FCM credentials and the delivered ids are kept beside the token file (``store``
        overrides; without a token file they live in memory only). ``disconnect()`` stops it."""
        from ringvault.cloud.push.hub import POLL_INTERVAL_S, POLL_REQUESTS_PER_S, NotificationHub

        if self._notifications is not None:
            return self._notifications.status
        await self.get_locations()
        if store is None:
            token_store = getattr(self.auth, "token_store", None)
            store = PushStore.beside(token_store.path) if token_store is not None else PushStore(None)
        hub = NotificationHub(
            self.http,
            store,
            self._route_event,
            self._polled_devices,
            cloud_url=self.options.cloud_url,
            route_update=self._route_update,
            device_model=self.options.control_center_display_name,
            poll_interval_s=poll_interval_s if poll_interval_s is not None else POLL_INTERVAL_S,
            poll_requests_per_s=poll_requests_per_s if poll_requests_per_s is not None else POLL_REQUESTS_PER_S,
            on_connected=self.on_notifications_connected.emit,
        )
        self._notifications = hub
        return await hub.start(push=push)

    async def reregister_push(self) -> NotificationStatus:
        """Register push anew (a new FCM token, told to Ring) in place of the running registration: what fixes a
        token Ring has silently stopped pushing to, which a reconnect does not (reference §8.7; dgreif/ring #1241).
        Returns how events arrive afterwards (``polling`` with the reason when the new registration failed).
        ``PushNotOursError`` when notifications are not running here or another process receives push."""
        from ringvault.cloud.push.hub import PushNotOursError

        hub = self._notifications
        if hub is None:
            raise PushNotOursError("notifications are not running: start them before registering push anew")
        return await hub.reregister_push()

    @property
    def notifications(self) -> NotificationHub | None:
        """The running notification hub (its ``status``, ``listener``, ``poller``), or None."""
        return self._notifications

    async def stop_notifications(self) -> None:
        hub, self._notifications = self._notifications, None
        if hub is not None:
            await hub.stop()
        for device in self._devices.values():
            if isinstance(device, RingCamera | RingIntercom):
                device._clear_notifications()

    def _polled_devices(self) -> list[PolledDevice]:
        from ringvault.cloud.push.hub import PolledDevice

        found: list[PolledDevice] = []
        for device in self._devices.values():
            if isinstance(device, RingCamera) and device.has_event_history:
                found.append(PolledDevice(device, intercom=False))
            elif isinstance(device, RingIntercom):
                found.append(PolledDevice(device, intercom=True))
        return found

    def _route_update(self, event: RingEvent) -> None:
        self.on_notification_updated.emit(event)
        for device in self._devices.values():
            if isinstance(device, RingCamera) and device.id == event.device_id:
                device.on_notification_updated.emit(event)

    def _route_event(self, event: RingEvent) -> None:
        """Hand an event to the account's stream, its device's streams and (alarm notices) its location."""
        self.on_new_notification.emit(event)
        device = None
        if event.device_id is not None:
            candidates = (d for d in self._devices.values() if isinstance(d, RingCamera | RingIntercom))
            device = next((d for d in candidates if d.id == event.device_id), None)
        if isinstance(device, RingCamera | RingIntercom):
            device._push_event(event)
        elif event.kind not in ("alarm",):
            log.debug("event %s for a device that is not ours (id %s)", event.kind, event.device_id)
        if event.kind == "alarm":
            location_id = event.location_id or (device.location_id if device is not None else None)
            for location in self._locations or []:
                if location.id == location_id:
                    location.on_alarm_notice.emit(event)

    # -- raw documents --------------------------------------------------------------------------------------
    async def fetch_ring_devices(self) -> RingDevices:
        """``GET clients_api/ring_devices``, parsed (``.raw`` keeps the JSON)."""
        doc = await self.http.request_json("GET", clients_api("ring_devices"))
        if not isinstance(doc, dict):
            raise ResponseFormatError("ring_devices did not answer a JSON object")
        devices = RingDevices.model_validate(doc)
        self.ring_devices = devices
        return devices

    async def fetch_user_locations(self) -> list[UserLocation]:
        """``GET devices/v1/locations`` (all of the account's locations, unfiltered)."""
        doc = await self.http.request_json("GET", devices_api("locations"))
        items = doc.get("user_locations") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ResponseFormatError("devices/v1/locations answered without user_locations")
        return [UserLocation.model_validate(item) for item in items if isinstance(item, dict)]

    async def get_profile(self) -> Profile:
        """The account profile (name, e-mail, features)."""
        return Profile.model_validate(await self.http.request_json("GET", clients_api("profile")))

    # -- locations and devices ------------------------------------------------------------------------------
    async def get_locations(self, *, refresh: bool = False) -> list[Location]:
        """The account's locations (only ``location_ids`` when set), each with its devices.

        Built once and cached; ``refresh=True`` re-reads locations and ``ring_devices``. Starts polling when
        configured.
        """
        async with self._build_lock:
            if self._locations is None or refresh:
                user_locations, ring_devices = await asyncio.gather(
                    self.fetch_user_locations(), self.fetch_ring_devices()
                )
                self._apply(user_locations, ring_devices)
                self._start_polling()
            assert self._locations is not None
            return list(self._locations)

    async def get_cameras(self) -> list[RingCamera]:
        return [camera for location in await self.get_locations() for camera in location.cameras]

    async def get_chimes(self) -> list[RingChime]:
        return [chime for location in await self.get_locations() for chime in location.chimes]

    async def get_intercoms(self) -> list[RingIntercom]:
        return [intercom for location in await self.get_locations() for intercom in location.intercoms]

    async def get_all_devices(self) -> list[AnyDevice]:
        """Every device object (cameras, chimes, intercoms, and generic devices) of the visible locations."""
        return [device for location in await self.get_locations() for device in location.all_devices]

    async def get_devices(self) -> RingDevicesSnapshot:
        """Every device, grouped: cameras, chimes, intercoms, base stations, bridges, other, unknown families."""
        snapshot = RingDevicesSnapshot()
        for device in await self.get_all_devices():
            if isinstance(device, RingCamera):
                snapshot.cameras.append(device)
            elif isinstance(device, RingChime):
                snapshot.chimes.append(device)
            elif isinstance(device, RingIntercom):
                snapshot.intercoms.append(device)
            elif isinstance(device, RingDevice):
                if device.family not in FAMILIES:
                    snapshot.unknown_families.setdefault(device.family, []).append(device)
                elif device.device_class is DeviceClass.BASE_STATION:
                    snapshot.base_stations.append(device)
                elif device.device_class is DeviceClass.BEAMS_BRIDGE:
                    snapshot.beams_bridges.append(device)
                else:
                    snapshot.other.append(device)
        return snapshot

    async def get_location(self, location_id: str) -> Location:
        for location in await self.get_locations():
            if location.id == location_id:
                return location
        raise DeviceNotFoundError(
            f"no location {location_id!r}", hint="`ringvault devices --json` shows the location_id of every device."
        )

    async def find_device(self, id_or_name: str | int) -> AnyDevice:
        """A device by numeric id or by name (case-insensitive; a unique partial name also works).

        Raises ``DeviceNotFoundError`` (with close names in the hint) or ``AmbiguousDeviceError``.
        """
        devices = await self.get_all_devices()
        query = str(id_or_name).strip()
        wanted_id = to_id_int(query) if query.isascii() and query.isdigit() else None  # "²" is a digit, no int
        if wanted_id is not None:
            by_id = [d for d in devices if d.id == wanted_id]
            if len(by_id) == 1:
                return by_id[0]
            if len(by_id) > 1:
                raise AmbiguousDeviceError(f"{len(by_id)} devices have id {query}: {_describe(by_id)}")
        folded = query.casefold()
        exact = [d for d in devices if d.name.casefold() == folded]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            raise AmbiguousDeviceError(f"{len(exact)} devices are named {query!r}: {_describe(exact)}")
        partial = [d for d in devices if folded and folded in d.name.casefold()]
        if len(partial) == 1:
            return partial[0]
        if len(partial) > 1:
            raise AmbiguousDeviceError(f"{query!r} matches {len(partial)} devices: {_describe(partial)}")
        names = [d.name for d in devices]
        close = difflib.get_close_matches(query, names, n=3, cutoff=0.5)
        if not close:
            lowered = {n.casefold(): n for n in names}
            close = [lowered[n] for n in difflib.get_close_matches(folded, list(lowered), n=3, cutoff=0.5)]
        listing = "`ringvault devices` lists every device with its id."
        if close:
            hint = "Did you mean " + ", ".join(repr(n) for n in close) + "? " + listing
        elif names:
            shown = ", ".join(repr(n) for n in sorted(names)[:6])
            hint = f"Known devices include {shown}{', ...' if len(names) > 6 else ''}. {listing}"
        else:
            hint = "No devices are visible (check location_ids). " + listing
        raise DeviceNotFoundError(f"no device with id or name {query!r}", hint=hint)

    async def find_camera(self, id_or_name: str | int) -> RingCamera:
        """Like ``find_device``, but the device must be a camera or doorbell (``CapabilityError`` otherwise)."""
        device = await self.find_device(id_or_name)
        if not isinstance(device, RingCamera):
            raise CapabilityError(
                f"{device.name} is a {device.model} ({device.kind}), not a camera",
                hint="`ringvault devices` lists which devices are cameras.",
            )
        return device

    # -- building and refreshing ----------------------------------------------------------------------------
    def _wanted(self, location_id: str | None) -> bool:
        ids = self.options.location_ids
        return ids is None or (location_id is not None and location_id in set(ids))

    def _new_device(self, family: str, entry: DeviceEntry) -> AnyDevice:
        cls = device_class(family, entry.kind)
        if cls in (DeviceClass.CAMERA, DeviceClass.DOORBELL) and isinstance(entry, CameraEntry):
            return RingCamera(entry, family, self.http, self.options)
        if cls is DeviceClass.CHIME and isinstance(entry, ChimeEntry):
            return RingChime(entry, family, self.http, self.options)
        if cls is DeviceClass.INTERCOM and isinstance(entry, IntercomEntry):
            return RingIntercom(entry, family, self.http, self.options)
        return RingDevice(entry, family, self.http, self.options)

    def _apply(self, user_locations: list[UserLocation] | None, ring_devices: RingDevices) -> None:
        """Bring locations and device objects in line with freshly read documents."""
        if user_locations is not None:
            by_id = {loc.id: loc for loc in self._locations or []}
            locations: list[Location] = []
            for data in user_locations:
                if not self._wanted(data.location_id):
                    continue
                existing = by_id.get(data.location_id or "")
                if existing is not None:
                    existing.data = data
                    existing.known = True
                    locations.append(existing)
                else:
                    locations.append(self._new_location(data))
            self._locations = locations
        assert self._locations is not None
        index = {loc.id: loc for loc in self._locations}

        seen: set[tuple[str, int]] = set()
        for family, entry in ring_devices.all_entries():
            if entry.id is None:
                log.warning("ignoring a %s entry without id (kind %s)", family, entry.kind)
                continue
            if not self._wanted(entry.location_id):
                continue
            key = (family, entry.id)
            seen.add(key)
            device = self._devices.get(key)
            if device is not None and type(device.data) is type(entry):
                device.update_data(entry)
                continue
            if device is not None:  # the family's model changed (e.g. kind changed): rebuild
                self._drop(key, device)
            device = self._new_device(family, entry)
            self._devices[key] = device
            location = index.get(entry.location_id or "")
            if location is None:
                location = self._new_location(
                    UserLocation.model_validate({"location_id": entry.location_id}), known=False
                )
                self._locations.append(location)
                index[location.id] = location
            location._add(device)
            if user_locations is None:  # a refresh, not the first build
                self.on_device_added.emit(device)
        for key in [k for k in self._devices if k not in seen]:
            self._drop(key, self._devices[key])
        self._locations[:] = [loc for loc in self._locations if loc.known or loc.all_devices]
        current = set(map(id, self._locations))
        self._built_locations = [loc for loc in self._built_locations if id(loc) in current or loc.hub is not None]
        self.on_devices_refreshed.emit(ring_devices)

    def _new_location(self, data: UserLocation, *, known: bool = True) -> Location:
        """A new ``Location``, remembered so that ``disconnect`` closes its hub socket even after a refresh dropped
        it from ``get_locations``."""
        location = Location(data, self.http, known=known)
        self._built_locations.append(location)
        return location

    def _drop(self, key: tuple[str, int], device: AnyDevice) -> None:
        self._devices.pop(key, None)
        device.removed = True
        for location in self._locations or []:
            location._remove(device)
        self.on_device_removed.emit(device)

    async def refresh_devices(self) -> RingDevices:
        """Re-read ``ring_devices`` now and update every device object (what polling does)."""
        if self._locations is None:
            await self.get_locations()
            assert self.ring_devices is not None
            return self.ring_devices
        devices = await self.fetch_ring_devices()
        self._apply(None, devices)
        return devices

    # -- polling --------------------------------------------------------------------------------------------
    def _start_polling(self) -> None:
        if self._tasks or self._closed:
            return
        seconds = self.options.camera_status_polling_seconds
        if seconds is not None and seconds > 0:
            self._tasks.append(asyncio.create_task(self._poll_devices(seconds), name="ringvault-device-poll"))
        mode_seconds = self.options.location_mode_polling_seconds
        if mode_seconds is not None and mode_seconds > 0:
            self._tasks.append(asyncio.create_task(self._poll_modes(mode_seconds), name="ringvault-mode-poll"))

    async def _poll_devices(self, seconds: float) -> None:
        while not self._closed:
            await asyncio.sleep(seconds)
            try:
                await self.refresh_devices()
            except RingError as exc:
                log.warning("camera status polling: %s", exc.one_line)
            except Exception:
                log.exception("camera status polling failed")

    async def _poll_modes(self, seconds: float) -> None:
        while not self._closed:
            for location in list(self._locations or []):
                if not location.known or location.has_alarm_base_station:
                    continue
                try:
                    await location.get_location_mode()  # emits location.on_location_mode
                except RingError as exc:
                    log.warning("location mode polling for %s: %s", location.name, exc.one_line)
            await asyncio.sleep(seconds)

    @property
    def polling(self) -> bool:
        return any(not t.done() for t in self._tasks)


def _describe(devices: Iterable[DeviceBase[Any]]) -> str:
    return ", ".join(f"{d.name!r} (id {d.id}, {d.model})" for d in devices)
