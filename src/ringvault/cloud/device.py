"""The base of every device object, a tiny subscription signal, and ``RingDevice`` for everything generic.

``RingDevice`` represents base stations, Smart Lighting bridges, garage openers and kinds nobody knows yet: it has
the identity every device has (``id``, ``name``, ``kind``, ``family``, ``location_id``, ``model``) and keeps the full
JSON entry. Cameras, chimes and intercoms have their own classes built on the same base.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ringvault.cloud.endpoints import devices_api
from ringvault.cloud.errors import ResponseFormatError
from ringvault.cloud.models.devices import DeviceEntry
from ringvault.cloud.models.kinds import DeviceClass, device_class, model_name

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp
    from ringvault.cloud.options import RingApiOptions

__all__ = ["DeviceBase", "RingDevice", "Signal", "deep_merge"]

log = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E", bound=DeviceEntry)


class Signal(Generic[T]):
    """A minimal observable: ``subscribe(cb)`` returns an unsubscribe function; ``emit(value)`` calls every callback.

    Callbacks may be plain functions or coroutine functions (the coroutine is scheduled on the running loop). A
    failing callback is logged and never disturbs the others. ``value`` holds the last emitted value.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.value: T | None = None

    def subscribe(self, callback: Callable[[T], Any]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    @property
    def subscriber_count(self) -> int:
        return len(self._callbacks)

    def emit(self, value: T) -> None:
        self.value = value
        for callback in list(self._callbacks):
            try:
                result = callback(value)
            except Exception:
                log.exception("a subscriber failed")
                continue
            if inspect.isawaitable(result):
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # no running loop: an async subscriber cannot be served from here
                    log.warning("an async subscriber was called outside an event loop; skipped")
                    if inspect.iscoroutine(result):
                        result.close()
                    continue
                task = asyncio.ensure_future(result, loop=loop)
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an async subscriber failed", exc_info=task.exception())


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``patch`` merged in; nested objects are merged, everything else replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class DeviceBase(Generic[E]):
    """Identity, latest data and ``on_data`` for any device of ``ring_devices``."""

    def __init__(self, entry: E, family: str, http: RingHttp, options: RingApiOptions) -> None:
        self._data: E = entry
        self.family: str = family
        self._http = http
        self._options = options
        self.on_data: Signal[E] = Signal()
        self.removed = False

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def data(self) -> E:
        """The latest parsed ``ring_devices`` entry (``data.raw`` is the JSON)."""
        return self._data

    @property
    def raw(self) -> dict[str, Any]:
        return self._data.raw

    @property
    def id(self) -> int:
        return self._data.id if self._data.id is not None else 0

    @property
    def name(self) -> str:
        """The user-given name (``description``), or ``kind id`` when Ring sent none."""
        return self._data.description or f"{self.kind or 'device'} {self.id}"

    @property
    def kind(self) -> str | None:
        return self._data.kind

    @property
    def location_id(self) -> str | None:
        return self._data.location_id

    @property
    def model(self) -> str:
        return model_name(self.kind, self.family)

    @property
    def device_class(self) -> DeviceClass:
        return device_class(self.family, self.kind)

    @property
    def is_offline(self) -> bool:
        """``alerts.connection == "offline"``."""
        return self._data.is_offline

    # -- data updates ---------------------------------------------------------------------------------------
    def update_data(self, entry: E) -> None:
        """Replace the data with a freshly fetched entry and notify ``on_data`` subscribers."""
        self._data = entry
        self.on_data.emit(entry)

    def _patch_local(self, patch: Mapping[str, Any]) -> None:
        """Apply a change we just made at Ring to the local copy (until the next ``ring_devices`` read)."""
        merged = deep_merge(self._data.raw, patch)
        self.update_data(type(self._data).model_validate(merged))

    # -- the settings document (cameras, chimes and intercoms share devices/v1) ------------------------------
    async def get_settings(self) -> dict[str, Any]:
        """The device settings document (``devices/v1/devices/{id}/settings``)."""
        doc = await self._http.request_json("GET", devices_api(f"devices/{self.id}/settings"))
        if not isinstance(doc, dict):
            raise ResponseFormatError(f"settings of {self.name} are not a JSON object")
        return doc

    async def update_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH a partial settings document (Ring deep-merges it); returns the updated document."""
        doc = await self._http.request_json("PATCH", devices_api(f"devices/{self.id}/settings"), json=patch)
        return doc if isinstance(doc, dict) and doc else await self.get_settings()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} name={self.name!r} kind={self.kind!r} family={self.family!r}>"


class RingDevice(DeviceBase[DeviceEntry]):
    """A device ringvault has no special class for: base stations, lighting bridges, garage openers, unknown kinds.

    Everything Ring sent is in ``data`` (parsed) and ``raw`` (JSON).
    """

    @property
    def is_hub(self) -> bool:
        """Base stations and lighting bridges are hubs (they carry the alarm / Smart Lighting WebSocket)."""
        return self.device_class in (DeviceClass.BASE_STATION, DeviceClass.BEAMS_BRIDGE)
