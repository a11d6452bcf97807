"""``HubConnection``: one location's alarm / Smart Lighting socket (reference §7), on ``ReconnectingWebSocket``.

- **Ticket** (§7.2): ``GET clap/tickets`` through ``RingHttp`` (its retries and 401 refresh) before every attempt,
  since a ticket is single use (§7.10). Only assets whose ``kind`` starts with ``base_station`` or ``beams_bridge``
  speak the protocol; without one there is nothing to connect to (``HubUnavailableError`` at once).
- **Open** (§7.3): ``DeviceInfoDocGetList`` to every asset of the ticket, supported or not (as rca). ``seq`` is one
  counter per location that a reconnect does not reset.
- **Device lists** (§7.5): devices are known once every supported asset has answered (the answered set is reset
  with each ticket); ``get_devices`` waits for that with a timeout and then names the silent hubs
  (``HubTimeoutError``) where rca waits forever. A fresh list replaces each device's document and fires ``on_data``
  only for devices that changed, so a reconnect shows what changed while the socket was down.
- **Updates**: ``DataUpdate`` / ``DeviceInfoDocType`` partial documents are merged by ``zid``; an unknown ``zid``
  becomes a new device. ``SessionInfo``: an asset that went offline (or to cellular backup) and is ``online`` again
  gets its list re-requested. ``HubDisconnectionEventType`` (any channel), a close or an error: reconnect with a new
  ticket. Other datatypes (``PassthruType`` countdowns ...) go to ``on_message`` only.
- **Hostile frames** never crash: the transport drops frames that are not JSON objects, too deep or too big;
  here envelopes without a ``msg`` object, bodies that are not lists, and items that are not objects or lack a
  ``zid`` are ignored and counted (``ignored``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ringvault.cloud.device import Signal
from ringvault.cloud.endpoints import app_api, hub_socket_url, hub_tickets_params, valid_host, websocket_url
from ringvault.cloud.errors import (
    AuthenticationError,
    HubTimeoutError,
    HubUnavailableError,
    ResponseFormatError,
    RingError,
)
from ringvault.cloud.hub.device import HubDevice, zid_of
from ringvault.cloud.hub.options import HubOptions
from ringvault.transport import (
    ExponentialBackoff,
    ReconnectingWebSocket,
    WebSocketUnavailableError,
    register_secret,
)

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp

__all__ = ["HubConnection", "TicketAsset", "supported_asset"]

log = logging.getLogger("ringvault.cloud.hub")

DEVICE_LIST = "DeviceInfoDocGetList"
SESSION_INFO = "SessionInfo"
DISCONNECTION = "HubDisconnectionEventType"
DEVICE_DOC = "DeviceInfoDocType"


class TicketAsset:
    """One ``assets[]`` entry of a ticket: ``uuid``, ``kind``, ``doorbot_id``, ``status``; ``raw`` keeps it all."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)
        self.uuid = str(raw.get("uuid") or "")
        self.kind = str(raw.get("kind") or "")
        doorbot_id = raw.get("doorbotId")
        self.doorbot_id = doorbot_id if isinstance(doorbot_id, int) and not isinstance(doorbot_id, bool) else None
        self.status = raw.get("status") if isinstance(raw.get("status"), str) else None

    @property
    def supported(self) -> bool:
        return supported_asset(self.kind)

    def describe(self) -> str:
        return f"{self.kind or 'hub'} {self.uuid}"

    def __repr__(self) -> str:
        return f"<TicketAsset {self.describe()}>"


def supported_asset(kind: str) -> bool:
    """Whether a ticket asset speaks the hub protocol (rca ``isWebSocketSupportedAsset``)."""
    return kind.startswith(("base_station", "beams_bridge"))


class HubConnection:
    """The hub socket of one location. Opened lazily by the first call that needs it; ``close()`` ends it."""

    def __init__(
        self,
        location_id: str,
        location_name: str,
        http: RingHttp,
        options: HubOptions | None = None,
        *,
        on_connected: Signal[bool] | None = None,
    ) -> None:
        self.location_id = location_id
        self.location_name = location_name
        self._http = http
        self.options = options or HubOptions()
        self.seq = 1
        """the ``seq`` of the next frame we send (per location, kept across reconnects)"""
        self.assets: list[TicketAsset] = []
        """the current ticket's assets (all of them; ``supported_assets`` those that speak the protocol)"""
        self.devices: dict[str, HubDevice] = {}
        self.on_connected: Signal[bool] = on_connected if on_connected is not None else Signal()
        self.on_message: Signal[dict[str, Any]] = Signal()
        """every message (the envelope's ``msg`` object) as received, also of datatypes not handled here"""
        self.on_device_added: Signal[HubDevice] = Signal()
        self.ignored = 0
        """messages or body items that could not be used (no ``msg`` object, body not a list, no ``zid`` ...)"""
        self.tickets = 0
        """tickets fetched"""
        self._answered: set[str] = set()
        self._offline: set[str] = set()
        self._lists_complete = False
        """every supported asset of some ticket answered: ``devices`` is known (and kept current from then on)"""
        self._reply_waiters: list[tuple[str, str, asyncio.Future[Any]]] = []
        self._changed = asyncio.Event()
        self._socket: ReconnectingWebSocket | None = None
        self._closed = False
        self._background: set[asyncio.Future[None]] = set()
        self.mode_lock = asyncio.Lock()
        """held by a mode switch until the panel answered: the answer of one switch must not confirm another"""

    # -- public state --------------------------------------------------------------------------------------
    @property
    def supported_assets(self) -> list[TicketAsset]:
        return [asset for asset in self.assets if asset.supported]

    @property
    def connected(self) -> bool:
        return self._socket is not None and self._socket.is_open

    @property
    def socket(self) -> ReconnectingWebSocket | None:
        """The transport (its ``stats`` count connects, reconnects, frames); None before the first use."""
        return self._socket

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def _ensure_socket(self) -> ReconnectingWebSocket:
        if self._closed:
            raise HubUnavailableError(f"the hub connection of {self.location_name} was closed")
        if self._socket is None:
            opts = self.options
            self._socket = ReconnectingWebSocket(
                self._next_url,
                on_message=self._on_frame,
                on_open=self._on_open,
                on_close=self._on_close,
                name=f"hub {self.location_name}",
                backoff=ExponentialBackoff(
                    initial_s=opts.backoff_initial_s, max_s=opts.backoff_max_s, jitter_s=opts.backoff_jitter_s
                ),
                max_failures=opts.max_failures,
                fatal=_fatal,
                max_size=opts.max_frame_bytes,
                ping_interval_s=opts.ping_interval_s,
                ping_timeout_s=opts.ping_timeout_s,
                open_timeout_s=opts.open_timeout_s,
                stable_after_s=opts.stable_after_s,
            )
        if not self._socket.running:
            self._socket.start()
        return self._socket

    async def close(self) -> None:
        """Close the socket and stop reconnecting; pending waits end with ``HubUnavailableError``."""
        self._closed = True
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()
        for _, _, future in self._reply_waiters:
            if not future.done():
                future.set_exception(HubUnavailableError(f"the hub connection of {self.location_name} was closed"))
        self._reply_waiters.clear()
        self._notify()

    # -- the transport's hooks -----------------------------------------------------------------------------
    async def _next_url(self) -> str:
        """A new ticket (§7.2) and the socket URL it opens (the endpoint rule applied, ``http`` → ``ws``)."""
        doc = await self._http.request_json("GET", app_api("clap/tickets"), params=hub_tickets_params(self.location_id))
        self.tickets += 1
        if not isinstance(doc, dict):
            raise ResponseFormatError("clap/tickets did not answer a JSON object")
        ticket, host, raw_assets = doc.get("ticket"), doc.get("host"), doc.get("assets")
        if not isinstance(ticket, str) or not ticket:
            raise ResponseFormatError("clap/tickets answered without a ticket")
        register_secret(ticket)
        if not isinstance(host, str) or not valid_host(host):
            raise ResponseFormatError(f"clap/tickets answered an unusable host {str(host)[:80]!r}")
        assets = [TicketAsset(a) for a in raw_assets if isinstance(a, dict)] if isinstance(raw_assets, list) else []
        self.assets = [a for a in assets if a.uuid]
        self._answered.clear()
        self._offline.clear()
        if not self.supported_assets:
            raise HubUnavailableError(
                f"no alarm base station or lighting bridge found for location {self.location_name} "
                f"({self.location_id}) in its hub ticket",
                hint="The location has no hub the socket can talk to.",
            )
        return websocket_url(hub_socket_url(host, ticket), self._http.options.cloud_url)

    async def _on_open(self) -> None:
        self.on_connected.emit(True)
        self._notify()
        for asset in self.assets:  # every asset, supported or not (§7.3)
            await self._send_now(DEVICE_LIST, asset.uuid)

    def _on_close(self, reason: str) -> None:
        self.on_connected.emit(False)
        self._notify()

    # -- sending -------------------------------------------------------------------------------------------
    def _frame(self, msg_type: str, dst: str, *, datatype: str | None, body: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"msg": msg_type}
        if datatype is not None:
            msg["datatype"] = datatype
        msg["dst"] = dst
        if body is not None:
            msg["body"] = body
        msg["seq"] = self.seq
        self.seq += 1
        return {"channel": "message", "msg": msg}

    async def _send_now(self, msg_type: str, dst: str, *, datatype: str | None = None, body: Any = None) -> None:
        assert self._socket is not None
        await self._socket.send(self._frame(msg_type, dst, datatype=datatype, body=body), timeout=5.0)

    async def send_message(
        self,
        msg_type: str,
        dst: str,
        *,
        datatype: str | None = None,
        body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a wait bound passed on to the socket
    ) -> None:
        """Send one ``{"channel": "message", "msg": {...}}`` frame, waiting for an open socket."""
        socket = self._ensure_socket()
        wait = self.options.command_timeout_s if timeout is None else timeout
        try:
            # ``seq`` is taken once the socket is open, so frames leave in ``seq`` order (as rca numbers them)
            await socket.wait_open(timeout=wait)
            await socket.send(self._frame(msg_type, dst, datatype=datatype, body=body), timeout=wait)
        except WebSocketUnavailableError as err:
            raise self._unavailable(err) from None

    async def request_list(self, msg_type: str, asset_uuid: str, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Send a list request (``RoomGetList`` ...) to one asset and return the body of its answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = (msg_type, asset_uuid, future)
        self._reply_waiters.append(entry)
        wait = self.options.reply_timeout_s if timeout is None else timeout
        try:
            await self.send_message(msg_type, asset_uuid, timeout=wait)
            async with asyncio.timeout(wait):
                return await future
        except TimeoutError:
            raise HubTimeoutError(
                f"{self._asset_name(asset_uuid)} of {self.location_name} did not answer {msg_type} within {wait:g} s"
            ) from None
        finally:
            if entry in self._reply_waiters:
                self._reply_waiters.remove(entry)

    # -- device lists --------------------------------------------------------------------------------------
    async def get_devices(self, *, timeout: float | None = None) -> list[HubDevice]:  # noqa: ASYNC109
        """Every hub device of the location, once every hub has answered its device list (at most ``timeout`` s)."""
        socket = self._ensure_socket()
        if self._lists_complete:
            return list(self.devices.values())
        wait = self.options.devices_timeout_s if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                while not self._lists_complete:
                    changed = self._changed
                    await socket.wait_open(timeout=None)
                    if not self._lists_complete:
                        await changed.wait()
        except WebSocketUnavailableError as err:
            raise self._unavailable(err) from None
        except TimeoutError:
            raise self._silent(wait) from None
        return list(self.devices.values())

    def _silent(self, wait: float) -> HubTimeoutError:
        if not self.connected:
            last = self._socket.last_error if self._socket is not None else None
            reason = f" (last failure: {_describe(last)})" if last is not None else ""
            return HubTimeoutError(
                f"the hub socket of {self.location_name} did not open within {wait:g} s{reason}",
            )
        silent = [a.describe() for a in self.supported_assets if a.uuid not in self._answered]
        names = ", ".join(silent) or "a hub"
        its = "its" if len(silent) <= 1 else "their"
        return HubTimeoutError(
            f"{names} of location {self.location_name} did not answer {its} device list within {wait:g} s"
        )

    def _unavailable(self, err: WebSocketUnavailableError) -> RingError:
        last = err.last_error
        if isinstance(last, RingError) and isinstance(last, HubUnavailableError | AuthenticationError):
            return last
        if last is not None and err.failures:
            return HubUnavailableError(
                f"cannot open the hub socket of {self.location_name} after {err.failures} attempts: {_describe(last)}"
            )
        return HubUnavailableError(f"the hub socket of {self.location_name} is unavailable: {err}")

    def _asset_name(self, uuid: str) -> str:
        for asset in self.assets:
            if asset.uuid == uuid:
                return asset.describe()
        return f"hub {uuid}"

    # -- incoming ------------------------------------------------------------------------------------------
    def _on_frame(self, frame: dict[str, Any]) -> None:
        channel = frame.get("channel")
        msg = frame.get("msg")
        if not isinstance(msg, dict):
            self._ignore("a frame without a msg object")
            return
        self.on_message.emit(msg)
        msg_type, datatype, src = msg.get("msg"), msg.get("datatype"), msg.get("src")
        source = src if isinstance(src, str) else ""
        if datatype == DISCONNECTION:
            log.info("hub of %s asked us to reconnect (%s)", self.location_name, DISCONNECTION)
            if self._socket is not None:
                self._socket.request_reconnect(DISCONNECTION)
            return
        if msg_type == DEVICE_LIST:  # on any channel (rca scans every such message)
            self._apply_list(source, msg.get("body"))
        elif channel == "DataUpdate" and msg_type == SESSION_INFO:
            self._session_info(msg.get("body"))
        elif channel == "DataUpdate" and datatype == DEVICE_DOC:
            self._apply_updates(source, msg.get("body"), msg.get("context"))
        self._answer_waiters(msg_type, source, msg.get("body"))

    def _ignore(self, what: str) -> None:
        self.ignored += 1
        log.debug("hub of %s: ignored %s", self.location_name, what)

    def _items(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            self._ignore("a body that is not a list")
            return []
        items = [item for item in body if isinstance(item, dict)]
        if len(items) != len(body):
            self._ignore(f"{len(body) - len(items)} body items that are not objects")
        return items

    def _apply_list(self, src: str, body: Any) -> None:
        if body is None:
            return
        for doc in self._items(body):
            zid = zid_of(doc)
            if zid is None:
                self._ignore("a device document without a zid")
                continue
            device = self.devices.get(zid)
            if device is None:
                self._add(src, doc)
            else:
                device._apply_full(src, doc)
        if src:
            self._answered.add(src)
        supported = {a.uuid for a in self.supported_assets}
        if supported and supported <= self._answered and not self._lists_complete:
            self._lists_complete = True
            log.info("hub of %s: %d devices", self.location_name, len(self.devices))
        self._notify()

    def _apply_updates(self, src: str, body: Any, context: Any = None) -> None:
        for doc in self._items(body):
            zid = zid_of(doc)
            if zid is None:
                self._ignore("an update without a zid")
                continue
            device = self.devices.get(zid)
            if device is None:
                self._add(src or self._default_asset(), doc)
            else:
                device._apply_partial(doc, context)

    def _add(self, src: str, doc: dict[str, Any]) -> None:
        if len(self.devices) >= self.options.max_devices:
            self._ignore(f"a device beyond the limit of {self.options.max_devices}")
            return
        device = HubDevice(self, src, doc)
        self.devices[device.zid] = device
        self.on_device_added.emit(device)

    def _default_asset(self) -> str:
        supported = self.supported_assets
        return supported[0].uuid if supported else ""

    def _session_info(self, body: Any) -> None:
        known = {a.uuid: a for a in self.supported_assets}
        for item in self._items(body):
            uuid, status = item.get("assetUuid"), item.get("connectionStatus")
            asset = known.get(uuid) if isinstance(uuid, str) else None
            if asset is None:
                continue  # not an asset of this ticket (rca ignores those too)
            if status == "online":
                if asset.uuid in self._offline:
                    self._offline.discard(asset.uuid)
                    log.info("%s of %s is back online; asking for its devices", asset.describe(), self.location_name)
                    self._spawn_list_request(asset.uuid)
            elif asset.uuid not in self._offline:
                self._offline.add(asset.uuid)
                log.warning(
                    "%s of %s is offline or on cellular backup (%s)", asset.describe(), self.location_name, status
                )

    def _spawn_list_request(self, asset_uuid: str) -> None:
        async def request() -> None:
            try:
                await self.send_message(DEVICE_LIST, asset_uuid)
            except RingError as err:
                log.warning("asking %s for its devices failed: %s", asset_uuid, err)

        task = asyncio.ensure_future(request())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _answer_waiters(self, msg_type: Any, src: str, body: Any) -> None:
        for entry in list(self._reply_waiters):
            wanted_type, wanted_src, future = entry
            if wanted_type == msg_type and wanted_src == src and not future.done():
                future.set_result(body)
                self._reply_waiters.remove(entry)

    # -- REST helpers the devices need ---------------------------------------------------------------------
    async def set_light_group(self, group_id: str, on: bool, duration_s: int | None) -> None:
        from ringvault.cloud.hub.lights import set_light_group

        await set_light_group(self._http, self.location_id, group_id, on, duration_s)


def _fatal(exc: BaseException) -> bool:
    """Failures no retry can heal: a login the user must renew, a location without any hub."""
    return isinstance(exc, AuthenticationError | HubUnavailableError)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "?"
    if isinstance(exc, RingError):
        return str(exc)
    from ringvault.transport.websocket import describe_ws_failure

    return describe_ws_failure(exc)
