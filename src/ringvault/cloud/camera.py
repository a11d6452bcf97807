"""``RingCamera``: doorbells and cameras (``doorbots``, ``authorized_doorbots``, ``stickup_cams``, ONVIF cameras)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from ringvault.cloud.device import DeviceBase
from ringvault.cloud.endpoints import API_VERSION, SNAPS_API, clients_api
from ringvault.cloud.errors import CapabilityError, NotFoundError, RecordingNotReadyError, ResponseFormatError
from ringvault.cloud.models.base import to_id_str
from ringvault.cloud.models.devices import CameraEntry
from ringvault.cloud.models.events import CameraEventsPage, HistoryItem, VideoSearchResult, event_query
from ringvault.cloud.models.health import DeviceHealth
from ringvault.cloud.models.kinds import CAMERA_FAMILIES, Capabilities, DeviceClass, capabilities
from ringvault.cloud.push.streams import CameraNotifications

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp
    from ringvault.cloud.live import LiveViewOptions, LiveViewSession
    from ringvault.cloud.options import RingApiOptions
    from ringvault.transport import DownloadProgress, DownloadResult

__all__ = [
    "FORCE_SNAPSHOT_INTERVAL_S",
    "HISTORY_PAGE_MAX",
    "RingCamera",
    "Snapshot",
    "ding_id_string",
    "iter_event_pages",
    "signed_url_lifetime_s",
]

HISTORY_PAGE_MAX = 100
"""Ring returns at most 100 history items per call, whatever ``limit`` says."""
FORCE_SNAPSHOT_INTERVAL_S = 10.0
"""At most one forced capture per camera in this many seconds (a newer request reuses the last image)."""
BATTERY_SNAPSHOT_INTERVAL_S = 600.0
"""With ``avoid_snapshot_battery_drain``, battery cameras reuse their last image for this long."""
SNAPSHOT_TIMEOUT_S = 20.0

EventState = Literal["missed", "accepted", "person_detected"]

THIRD_PARTY_CAMERA_KINDS = frozenset({"onvif_camera"})
"""Cameras of other makers that the Ring app shows (``other`` family): Ring stores no events or snapshots for them."""


@dataclass(frozen=True)
class Snapshot:
    """A JPEG from ``app-snaps.ring.com``; ``captured_at`` comes from ``x-time-millis`` (the capture time)."""

    image: bytes
    captured_at: datetime
    content_type: str
    time_millis: int | None = None

    @property
    def age_s(self) -> float:
        return max(0.0, (datetime.now(UTC) - self.captured_at).total_seconds())


def ding_id_string(ding_id: str | int) -> str:
    """The exact string form of a ding id. Floats are refused: one above 2^53 has already lost digits."""
    if isinstance(ding_id, bool) or not isinstance(ding_id, str | int):
        raise TypeError(f"ding ids must be str (or int), not {type(ding_id).__name__}; use ding_id_str / id_str")
    text = str(ding_id).strip()
    if not text:
        raise ValueError("empty ding id")
    return text


async def iter_event_pages(
    fetch: Callable[..., Awaitable[CameraEventsPage]],
    *,
    limit: int,
    kind: str | None,
    state: str | None,
    pagination_key: str | None,
) -> AsyncIterator[CameraEventsPage]:
    """Walk ``pagination_key`` until an empty page, a missing key, or a key that does not move."""
    key = pagination_key
    seen: set[str] = set()
    while True:
        page = await fetch(limit=limit, kind=kind, state=state, pagination_key=key)
        if page.events:
            yield page
        if not page.events or not page.pagination_key or page.pagination_key in seen:
            return
        seen.add(page.pagination_key)
        key = page.pagination_key


class RingCamera(CameraNotifications, DeviceBase[CameraEntry]):
    """A Ring doorbell or camera: light, siren, health, settings, events, history, recordings and snapshots.

    ``data`` is the latest ``ring_devices`` entry; subscribe to ``on_data`` for updates (with camera status polling
    enabled in ``RingApiOptions``). Events (``on_doorbell_pressed``, ``on_motion_detected``, ``on_active_dings``,
    ``on_new_notification``) flow once ``RingApi.start_notifications()`` runs (``ringvault.cloud.push.streams``).
    """

    def __init__(self, entry: CameraEntry, family: str, http: RingHttp, options: RingApiOptions) -> None:
        super().__init__(entry, family, http, options)
        self._snapshot: Snapshot | None = None
        self._snapshot_fetched_at: float | None = None  # monotonic
        self._last_forced_at: float | None = None  # monotonic
        self._snapshot_lock = asyncio.Lock()
        self._init_notifications()

    # -- properties -----------------------------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return capabilities(self.kind, self.raw)

    @property
    def is_doorbot(self) -> bool:
        """True for doorbells: any ``doorbots``/``authorized_doorbots`` entry, or a doorbell kind elsewhere."""
        if self.family in CAMERA_FAMILIES:
            return self.family != "stickup_cams"
        return self.device_class is DeviceClass.DOORBELL

    @property
    def has_light(self) -> bool:
        return self.capabilities.light

    @property
    def has_siren(self) -> bool:
        return self.capabilities.siren

    @property
    def has_battery(self) -> bool:
        return self.capabilities.battery

    @property
    def has_event_history(self) -> bool:
        """False for third-party (ONVIF) cameras shown in the Ring app: Ring keeps no events, history or snapshots
        for them (its event endpoints answer 404), so ``get_events`` raises ``CapabilityError`` for them."""
        return self.kind not in THIRD_PARTY_CAMERA_KINDS

    @property
    def battery_level(self) -> int | None:
        """The lower of the two battery values (0-100), or None for wired cameras."""
        values = [v for v in (self.data.battery_life, self.data.battery_life_2) if v is not None]
        if not values or not self.has_battery:
            return None
        return max(0, min(100, min(values)))

    @property
    def light_on(self) -> bool:
        return self.data.light_on

    @property
    def siren_on(self) -> bool:
        return self.data.siren_on

    @property
    def motion_detection_enabled(self) -> bool | None:
        return self.data.motion_detection_enabled

    @property
    def has_subscription(self) -> bool:
        """A Ring Protect plan covers this camera (``features.show_recordings``): recordings are available."""
        return bool(self.data.features is not None and self.data.features.show_recordings)

    def _url(self, suffix: str = "") -> str:
        return clients_api(f"doorbots/{self.id}{suffix}")

    async def _put_empty(self, url: str, params: dict[str, Any] | None = None) -> None:
        await self._http.request("PUT", url, params=params, content=b"", headers={"Content-Type": "application/json"})

    # -- light and siren ------------------------------------------------------------------------------------
    async def set_light(self, on: bool) -> None:
        """Switch the floodlight / spotlight on or off (CapabilityError when the camera has no light)."""
        if not self.has_light:
            raise CapabilityError(f"{self.name} ({self.model}) has no light")
        await self._put_empty(self._url("/floodlight_light_on" if on else "/floodlight_light_off"))
        self._patch_local({"led_status": "on" if on else "off"})

    async def set_siren(self, on: bool, duration_s: int | None = None) -> None:
        """Sound the siren (optionally for ``duration_s`` seconds, 1-120) or silence it."""
        if not self.has_siren:
            raise CapabilityError(f"{self.name} ({self.model}) has no siren")
        if on:
            params = None
            if duration_s is not None:
                if not 1 <= duration_s <= 120:
                    raise ValueError("siren duration must be 1..120 seconds")
                params = {"duration": duration_s}
            await self._put_empty(self._url("/siren_on"), params)
            self._patch_local({"siren_status": {"seconds_remaining": duration_s or 30}})
        else:
            await self._put_empty(self._url("/siren_off"))
            self._patch_local({"siren_status": {"seconds_remaining": 0}})

    # -- health and settings --------------------------------------------------------------------------------
    async def get_health(self) -> DeviceHealth:
        """``GET doorbots/{id}/health``: Wi-Fi signal, battery, firmware."""
        return DeviceHealth.model_validate(await self._http.request_json("GET", self._url("/health")))

    async def update_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH a partial settings document (Ring deep-merges it); returns the updated document.

        A change of ``motion_detection_enabled`` also shows at once in ``data.settings`` (as it does at Ring)."""
        doc = await super().update_settings(patch)
        motion = patch.get("motion_settings")
        if isinstance(motion, dict) and "motion_detection_enabled" in motion:
            self._patch_local({"settings": {"motion_detection_enabled": motion["motion_detection_enabled"]}})
        return doc

    async def set_motion_detection(self, enabled: bool) -> dict[str, Any]:
        return await self.update_settings({"motion_settings": {"motion_detection_enabled": enabled}})

    # -- events and history ---------------------------------------------------------------------------------
    def _require_location(self) -> str:
        if not self.location_id:
            raise CapabilityError(f"{self.name} has no location_id; Ring lists events per location")
        return self.location_id

    async def get_events(
        self,
        limit: int = 50,
        kind: str | None = None,
        state: EventState | str | None = None,
        pagination_key: str | None = None,
        favorites: bool | None = None,
    ) -> CameraEventsPage:
        """One page of ``locations/{loc}/devices/{id}/events`` (newest first)."""
        params = event_query(limit=limit, kind=kind, state=state, pagination_key=pagination_key, favorites=favorites)
        url = clients_api(f"locations/{self._require_location()}/devices/{self.id}/events")
        try:
            doc = await self._http.request_json("GET", url, params=params)
        except NotFoundError as exc:
            if self.has_event_history:
                raise
            raise CapabilityError(
                f"{self.name} is a third-party ({self.model}) camera: Ring keeps no event history for it",
                hint="Check camera.has_event_history before asking for events.",
            ) from exc
        return CameraEventsPage.model_validate(doc)

    async def iter_events(
        self, limit: int = 50, kind: str | None = None, state: str | None = None, pagination_key: str | None = None
    ) -> AsyncIterator[CameraEventsPage]:
        """Every page of events, following ``pagination_key`` until Ring has no more."""
        async for page in iter_event_pages(
            self.get_events, limit=limit, kind=kind, state=state, pagination_key=pagination_key
        ):
            yield page

    async def get_history(
        self, limit: int = HISTORY_PAGE_MAX, older_than: str | int | None = None
    ) -> list[HistoryItem]:
        """One page of ``doorbots/{id}/history``, newest first; ``older_than`` is the id of the last item seen."""
        params: dict[str, Any] = {"limit": max(1, min(limit, HISTORY_PAGE_MAX))}
        if older_than is not None:
            params["older_than"] = ding_id_string(older_than)
        doc = await self._http.request_json("GET", self._url("/history"), params=params)
        if not isinstance(doc, list):
            raise ResponseFormatError(f"history of {self.name} is not a JSON array")
        return [HistoryItem.model_validate(item) for item in doc if isinstance(item, dict)]

    async def iter_history(
        self, page_size: int = HISTORY_PAGE_MAX, older_than: str | int | None = None
    ) -> AsyncIterator[list[HistoryItem]]:
        """Every page of history, newest first, paging by ``older_than`` until a short or empty page."""
        size = max(1, min(page_size, HISTORY_PAGE_MAX))
        cursor = ding_id_string(older_than) if older_than is not None else None
        while True:
            page = await self.get_history(limit=size, older_than=cursor)
            if page:
                yield page
            last = page[-1].id_str if page else None
            if len(page) < size or last is None or last == cursor:
                return
            cursor = last

    async def video_search(
        self, date_from: datetime | int, date_to: datetime | int, order: Literal["asc", "desc"] = "asc"
    ) -> list[VideoSearchResult]:
        """``video_search/history`` between two times (datetimes or epoch ms)."""
        items = await self._video_search_items(date_from, date_to, order)
        return [VideoSearchResult.model_validate(item) for item in items]

    async def recording_urls(self, date_from: datetime | int, date_to: datetime | int) -> dict[str, str]:
        """The recording URLs ``video_search/history`` gives between two times: ding id (string) -> the pre-signed
        URL of the recording as the camera made it (``untranscoded_url``, see ``VideoSearchResult.recording_url``),
        for the events that have one. Reads only those two fields (no model per event: a sync asks this for every
        batch of recordings it downloads)."""
        urls: dict[str, str] = {}
        for item in await self._video_search_items(date_from, date_to, "asc"):
            ding = to_id_str(item.get("ding_id_str")) or to_id_str(item.get("ding_id"))
            url = item.get("untranscoded_url")
            if ding and isinstance(url, str) and url.strip():
                urls[ding] = url.strip()
        return urls

    async def _video_search_items(
        self, date_from: datetime | int, date_to: datetime | int, order: Literal["asc", "desc"]
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "doorbot_id": self.id,
            "date_from": _epoch_ms(date_from),
            "date_to": _epoch_ms(date_to),
            "order": order,
            "api_version": API_VERSION,
            "includes[]": "pva",
        }
        doc = await self._http.request_json("GET", clients_api("video_search/history"), params=params)
        items = doc.get("video_search") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise ResponseFormatError(f"video search for {self.name} returned no video_search list")
        return [item for item in items if isinstance(item, dict)]

    # -- recordings -----------------------------------------------------------------------------------------
    async def get_recording_url(self, ding_id: str | int, *, transcoded: bool = False) -> str:
        """A pre-signed MP4 URL for an event (string ding id). RecordingNotReadyError while Ring prepares it."""
        ding = ding_id_string(ding_id)
        path = f"dings/{ding}/recording" if transcoded else f"dings/{ding}/share/play"
        doc = await self._http.request_json("GET", clients_api(path), params={"disable_redirect": "true"})
        url = doc.get("url") if isinstance(doc, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise RecordingNotReadyError(f"recording {ding} of {self.name} is not ready yet")
        return url

    async def download_recording(
        self,
        ding_id: str | int,
        dest: Path,
        *,
        transcoded: bool = False,
        progress: DownloadProgress | None = None,
        fsync: bool = True,
    ) -> DownloadResult:
        """Fetch the recording URL and stream the MP4 to ``dest`` (no Ring auth is sent to the storage host).
        ``progress(bytes_written, total)`` follows the download (see ``RingHttp.download``); ``fsync=False`` leaves
        making the file durable to the caller."""
        ding = ding_id_string(ding_id)
        url = await self.get_recording_url(ding, transcoded=transcoded)
        return await self.download_recording_from(url, dest, ding_id=ding, progress=progress, fsync=fsync)

    async def download_recording_from(
        self,
        url: str,
        dest: Path,
        *,
        ding_id: str | int,
        progress: DownloadProgress | None = None,
        fsync: bool = True,
    ) -> DownloadResult:
        """Stream the MP4 at a pre-signed ``url`` Ring handed out (``share/play``, or ``video_search``'s
        ``untranscoded_url``) to ``dest``, without Ring auth. 404 (not ready, or gone) raises
        RecordingNotReadyError; an expired or refused URL raises RingHttpError (403); an answer that is not
        ``video/mp4`` (an error page) raises ResponseFormatError."""
        try:
            return await self._http.download(
                url, Path(dest), auth=False, expected_type="video/mp4", progress=progress, fsync=fsync
            )
        except NotFoundError as exc:
            ding = ding_id_string(ding_id)
            raise RecordingNotReadyError(f"recording {ding} of {self.name} is not available yet ({exc})") from exc

    # -- snapshots ------------------------------------------------------------------------------------------
    def _check_snapshot_possible(self) -> None:
        if self.is_offline:
            raise CapabilityError(
                f"{self.name} is offline; Ring has no snapshot to give", hint="Bring the camera back online first."
            )
        if self.motion_detection_enabled is False:
            raise CapabilityError(
                f"{self.name} has motion detection off (Modes or Record Motion), so it takes no snapshots",
                hint="Turn motion detection on in the Ring app (or update_settings) to get snapshots.",
            )

    async def get_snapshot(
        self, *, force: bool = True, max_wait_ms: int | None = None, uuid: str | None = None
    ) -> Snapshot:
        """The camera's latest JPEG from ``app-snaps.ring.com/snapshots/next/{id}``.

        ``force`` asks the camera for a new capture (at most once per 10 s per camera; within that window the last
        image is returned). With ``avoid_snapshot_battery_drain``, battery cameras reuse an image for 10 minutes.
        ``uuid`` fetches the image of a specific notification instead.
        """
        if uuid is None:
            self._check_snapshot_possible()
        async with self._snapshot_lock:
            now = time.monotonic()
            cached = self._snapshot
            if uuid is None and cached is not None and self._snapshot_fetched_at is not None:
                age = now - self._snapshot_fetched_at
                if (
                    self._options.avoid_snapshot_battery_drain
                    and self.has_battery
                    and age < BATTERY_SNAPSHOT_INTERVAL_S
                ):
                    return cached
                if age < FORCE_SNAPSHOT_INTERVAL_S:
                    return cached
            send_force = force and uuid is None
            if (
                send_force
                and self._last_forced_at is not None
                and now - self._last_forced_at < FORCE_SNAPSHOT_INTERVAL_S
            ):
                send_force = False
            after_ms = cached.time_millis if cached and cached.time_millis else 0
            if send_force and not after_ms and not self.has_battery:
                # "next" means newer than after-ms: with none known Ring answers at once with the image it already
                # holds, and the forced capture would be lost. Learn that image's time first, then wait past it.
                # (Battery cameras capture at most every ~10 minutes: waiting would usually end in the old image.)
                current = await self._http.request(
                    "GET",
                    f"{SNAPS_API}/next/{self.id}",
                    params={"after-ms": 0},
                    headers={"Accept": "image/jpeg"},
                    timeout=SNAPSHOT_TIMEOUT_S,
                )
                after_ms = _snapshot_from(current.content, current.headers).time_millis or 0
            params: dict[str, Any] = {"after-ms": after_ms}
            if max_wait_ms is not None:
                params["max-wait-ms"] = max_wait_ms
            if send_force:
                params["extras"] = "force"
            if uuid is not None:
                params["uuid"] = uuid.split(":", 1)[0]
            response = await self._http.request(
                "GET",
                f"{SNAPS_API}/next/{self.id}",
                params=params,
                headers={"Accept": "image/jpeg"},
                timeout=SNAPSHOT_TIMEOUT_S,
            )
            if send_force:
                self._last_forced_at = now
            snapshot = _snapshot_from(response.content, response.headers)
            if uuid is None:
                self._snapshot = snapshot
                self._snapshot_fetched_at = time.monotonic()
            return snapshot

    @property
    def last_snapshot(self) -> Snapshot | None:
        return self._snapshot

    # -- live view ------------------------------------------------------------------------------------------
    async def start_live_view(self, options: LiveViewOptions | None = None) -> LiveViewSession:
        """A started WebRTC live view (``ringvault.cloud.live``): frames, JPEGs, MP4 recordings. Close it (or use
        it as an async context manager). ``LiveViewBlockedError`` when Modes disabled live view; the other
        ``LiveViewError``s when the camera is offline, asleep, refuses, or the media connection fails."""
        from ringvault.cloud.live import start_live_view  # aiortc and PyAV: only when a live view is asked for

        return await start_live_view(self, self._http, options)

    # -- push subscriptions ---------------------------------------------------------------------------------
    async def subscribe_to_dings(self) -> None:
        await self._http.request("POST", self._url("/subscribe"))
        self._patch_local({"subscribed": True})

    async def unsubscribe_from_dings(self) -> None:
        await self._http.request("POST", self._url("/unsubscribe"))
        self._patch_local({"subscribed": False})

    async def subscribe_to_motions(self) -> None:
        await self._http.request("POST", self._url("/motions_subscribe"))
        self._patch_local({"subscribed_motions": True})

    async def unsubscribe_from_motions(self) -> None:
        await self._http.request("POST", self._url("/motions_unsubscribe"))
        self._patch_local({"subscribed_motions": False})


def signed_url_lifetime_s(url: str) -> float | None:
    """``X-Amz-Expires`` of a pre-signed storage URL (seconds it stays valid after signing), or None."""
    for name, value in parse_qsl(urlsplit(url).query):
        if name.lower() == "x-amz-expires":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds if seconds > 0 else None
    return None


def _epoch_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    return int(value)


def _snapshot_from(content: bytes, headers: Any) -> Snapshot:
    if not content:
        raise ResponseFormatError("the snapshot answer was empty")
    millis_text = headers.get("x-time-millis")
    millis: int | None = None
    if millis_text:
        try:
            millis = int(float(millis_text))
        except ValueError:
            millis = None
    if millis is not None:
        captured = datetime.fromtimestamp(millis / 1000, tz=UTC)
    else:
        captured = _http_date(headers.get("date")) or datetime.now(UTC)
    content_type = (headers.get("content-type") or "image/jpeg").split(";", 1)[0].strip()
    return Snapshot(image=content, captured_at=captured, content_type=content_type, time_millis=millis)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
