"""The hub's control API under ``/_sim/hub`` (nothing like it exists at Ring): look at a location's hub devices as
the socket sends them, change sensors, sound alarms, and break the socket in the ways a client must survive.

- ``GET  /_sim/hub`` — every location with hubs: assets, devices, rooms, open sockets.
- ``GET  /_sim/hub/{loc}`` — one location (``assets[].devices`` = what ``DeviceInfoDocGetList`` answers per asset).
- ``POST /_sim/hub/{loc}/devices/{zid or name}/fault`` ``{"faulted": bool}`` — open/close a contact, trip/clear a
  motion sensor (``motionStatus`` on Beams), wet/dry a flood sensor; may start the entry delay.
- ``POST /_sim/hub/{loc}/devices/{zid or name}/impulse`` ``{"impulseType": "keypad.motion"}`` — an update that
  carries only an impulse (someone near a keypad).
- ``POST /_sim/hub/{loc}/alarm`` ``{"kind": "burglar"|"fire"|"co"|"panic"}`` — sound the alarm now.
- ``POST /_sim/hub/{loc}/drop`` — drop every socket of the location abruptly (no close frame).
- ``POST /_sim/hub/{loc}/disconnect-event`` — send ``HubDisconnectionEventType``.
- ``POST /_sim/hub/{loc}/assets/{uuid|base_station|bridge}/session`` ``{"status": "online"|"cell-backup"|"unknown"}``
  — ``SessionInfo``; ``unknown`` = offline (the asset answers no list requests and ignores writes).
- ``POST /_sim/hub/{loc}/assets/{asset}/silent`` ``{"silent": bool}`` — the asset never answers device lists.
- ``PUT  /_sim/hub/{loc}/frame-delay`` ``{"delay_ms": n}`` — delay every frame sent to the location's sockets.
- ``POST /_sim/hub/{loc}/devices`` ``{"asset"?, "document": {...}}`` — add a device of any ``deviceType``.
- ``POST /_sim/hub/{loc}/devices/{ref}/report`` ``{"device": {...}}`` — the device changed by itself (a lock turned
  by hand, jammed ...): its ``device.v1`` fields pushed as an update.
- ``POST /_sim/hub/{loc}/devices/{ref}/refuse`` ``{"refuse": bool}`` — a lock/valve refuses its commands.
- ``POST /_sim/hub/{loc}/devices/{zid or name}/temperature`` ``{"celsius": n}`` — a temperature sensor (a
  thermostat's own one too) reports a new room temperature.
- ``POST /_sim/hub/{loc}/raw`` ``{"text": "..."}`` or ``{"repeat": "x", "size": n}`` — push a raw text frame.
- ``PUT  /_sim/hub/tickets/refuse`` ``{"count": n|null, "status": 401, "stage": "handshake"|"ticket"}`` — refuse
  the next ``count`` tickets (null: all) at the socket handshake or at ``clap/tickets``; ``DELETE`` stops it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import Response

from ringvault.sim.deps import StateDep
from ringvault.sim.hub.model import HubDevice, HubLocation
from ringvault.sim.hub.rules import ALARM_KINDS
from ringvault.sim.hub.service import HUB_HOST, HubService, TicketRefusal
from ringvault.sim.replies import ring_json

router = APIRouter(tags=["control: hub"])

JsonBody = Annotated[dict[str, Any], Body()]
SESSION_STATUSES = ("online", "cell-backup", "unknown")
#: Raw frames pushed through the control API are capped (the simulator's own memory).
MAX_RAW_BYTES = 16 * 1024 * 1024
#: An impulse type the control API sends (Ring's are dotted words: ``keypad.motion``, ``security-panel.mode-switched``).
_IMPULSE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _problem(message: str, status: int = 422) -> Response:
    return ring_json({"error": message}, status=status)


def _hub(service: HubService, location_id: str) -> HubLocation | None:
    service.ensure_ticker()
    return service.location(location_id)


def _no_hub(location_id: str) -> Response:
    return _problem(f"location {location_id} has no base station or lighting bridge", 404)


def _device(service: HubService, location_id: str, device_ref: str) -> tuple[HubLocation, HubDevice] | Response:
    """The location's hub and one of its devices (by zid or name), or the 404 that says which is missing."""
    hub = _hub(service, location_id)
    if hub is None:
        return _no_hub(location_id)
    device = service.find_device(hub, device_ref)
    if device is None:
        return _problem(f"no hub device {device_ref!r} at {location_id}", 404)
    return hub, device


@router.get("")
async def hub_locations(state: StateDep) -> Response:
    """Every location with hubs: assets, devices (as the socket sends them), rooms, open sockets."""
    service = state.hub
    return ring_json({"host": HUB_HOST, "locations": [service.listing(h) for h in service.locations.values()]})


@router.put("/tickets/refuse")
async def refuse_tickets(state: StateDep, body: JsonBody) -> Response:
    """Refuse the next `count` tickets (null: all) with `status`, at the handshake or at clap/tickets."""
    count = body.get("count")
    status = body.get("status", 401)
    stage = body.get("stage", "handshake")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        return _problem("count must be a positive integer or null (all)")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        return _problem("status must be an HTTP error status (400..599)")
    if stage not in ("handshake", "ticket"):
        return _problem('stage must be "handshake" or "ticket"')
    with state.hub.lock:
        state.hub.refusal = TicketRefusal(count, status, str(stage))
    return ring_json({"count": count, "status": status, "stage": stage})


@router.delete("/tickets/refuse")
async def stop_refusing(state: StateDep) -> Response:
    """Stop refusing tickets."""
    with state.hub.lock:
        state.hub.refusal = None
    return Response(status_code=204)


@router.get("/{location_id}")
async def hub_location(location_id: str, state: StateDep) -> Response:
    """One location's assets with their devices exactly as DeviceInfoDocGetList sends them, and rooms."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    state.hub.advance()
    return ring_json(state.hub.listing(hub))


@router.post("/{location_id}/devices/{device_ref}/fault")
async def fault(location_id: str, device_ref: str, state: StateDep, body: JsonBody) -> Response:
    """Open/close a contact, trip/clear motion, wet/dry a flood sensor: {"faulted": bool}."""
    found = _device(state.hub, location_id, device_ref)
    if isinstance(found, Response):
        return found
    hub, device = found
    faulted = body.get("faulted")
    if not isinstance(faulted, bool):
        return _problem('send {"faulted": true|false}')
    state.hub.set_fault(hub, device, faulted)
    return ring_json(device.document())


@router.post("/{location_id}/devices/{device_ref}/impulse")
async def impulse(location_id: str, device_ref: str, state: StateDep, body: JsonBody) -> Response:
    """The device reports an impulse and nothing else: {"impulseType": "keypad.motion"} (someone at a keypad)."""
    found = _device(state.hub, location_id, device_ref)
    if isinstance(found, Response):
        return found
    hub, device = found
    kind = body.get("impulseType")
    if not isinstance(kind, str) or not _IMPULSE.fullmatch(kind):
        return _problem('send {"impulseType": "keypad.motion"} (letters, digits, ".", "-" and "_"; at most 64)')
    state.hub.impulse(hub, device, kind)
    return ring_json(device.document())


@router.post("/{location_id}/alarm")
async def alarm(location_id: str, state: StateDep, body: JsonBody) -> Response:
    """Sound the alarm now: {"kind": "burglar"|"fire"|"co"|"panic"}."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    kind = body.get("kind", "burglar")
    if kind not in ALARM_KINDS:
        return _problem(f"kind must be one of {', '.join(ALARM_KINDS)}")
    if not state.hub.trigger_alarm(hub, str(kind)):
        return _problem("this location has no security panel", 409)
    panel = hub.devices[hub.panel_zid or ""]
    return ring_json(panel.document())


@router.post("/{location_id}/drop")
async def drop(location_id: str, state: StateDep) -> Response:
    """Drop every hub socket of the location abruptly (TCP reset, no close frame)."""
    if _hub(state.hub, location_id) is None:
        return _no_hub(location_id)
    return ring_json({"dropped": state.hub.drop(location_id)})


@router.post("/{location_id}/disconnect-event")
async def disconnect_event(location_id: str, state: StateDep) -> Response:
    """Send HubDisconnectionEventType to every socket of the location (clients reconnect)."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    return ring_json({"sent": state.hub.send_disconnection_event(hub)})


@router.post("/{location_id}/assets/{asset_ref}/session")
async def session(location_id: str, asset_ref: str, state: StateDep, body: JsonBody) -> Response:
    """Take an asset offline/online: {"status": "online"|"cell-backup"|"unknown"} (pushed as SessionInfo)."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    asset = state.hub.find_asset(hub, asset_ref)
    if asset is None:
        return _problem(f"no asset {asset_ref!r} at {location_id}", 404)
    status = body.get("status")
    if status not in SESSION_STATUSES:
        return _problem(f"status must be one of {', '.join(SESSION_STATUSES)}")
    state.hub.set_session(hub, asset, str(status))
    return ring_json({"uuid": asset.uuid, "connectionStatus": asset.connection_status})


@router.post("/{location_id}/assets/{asset_ref}/silent")
async def silent(location_id: str, asset_ref: str, state: StateDep, body: JsonBody) -> Response:
    """Make an asset never answer DeviceInfoDocGetList/RoomGetList: {"silent": bool}."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    asset = state.hub.find_asset(hub, asset_ref)
    if asset is None:
        return _problem(f"no asset {asset_ref!r} at {location_id}", 404)
    value = body.get("silent")
    if not isinstance(value, bool):
        return _problem('send {"silent": true|false}')
    with state.hub.lock:
        asset.silent = value
    return ring_json({"uuid": asset.uuid, "silent": asset.silent})


@router.put("/{location_id}/frame-delay")
async def frame_delay(location_id: str, state: StateDep, body: JsonBody) -> Response:
    """Delay every frame sent to the location's sockets: {"delay_ms": n} (0 = off)."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    value = body.get("delay_ms")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600_000:
        return _problem("delay_ms must be a number of milliseconds, 0..600000")
    with state.hub.lock:
        hub.frame_delay_s = float(value) / 1000.0
    return ring_json({"delay_ms": value})


@router.post("/{location_id}/devices")
async def add_device(location_id: str, state: StateDep, body: JsonBody) -> Response:
    """Add a device document of any deviceType (unknown ones too) to an asset (default: the base station)."""
    hub = _hub(state.hub, location_id)
    if hub is None:
        return _no_hub(location_id)
    document = body.get("document")
    if not isinstance(document, dict):
        return _problem('send {"document": {...}} (a {general:{v2}, device:{v1}} or a flat document)')
    asset_ref = body.get("asset")
    asset = (
        state.hub.find_asset(hub, str(asset_ref))
        if asset_ref is not None
        else (hub.base_station or next(iter(hub.assets.values())))
    )
    if asset is None:
        return _problem(f"no asset {asset_ref!r} at {location_id}", 404)
    device = state.hub.add_device(hub, asset, document)
    if device is None:
        return _problem("a device with this zid exists", 409)
    return ring_json({"asset": asset.uuid, "document": device.document()}, status=201)


@router.post("/{location_id}/devices/{device_ref}/report")
async def report(location_id: str, device_ref: str, state: StateDep, body: JsonBody) -> Response:
    """The device changed by itself: {"device": {...device.v1 fields}} pushed as its update (locks, valves ...)."""
    found = _device(state.hub, location_id, device_ref)
    if isinstance(found, Response):
        return found
    hub, device = found
    fields = body.get("device")
    if not isinstance(fields, dict) or not fields or "zid" in fields:
        return _problem('send {"device": {"field": value, ...}} (device.v1 fields, at least one, no zid)')
    state.hub.report(hub, device, fields)
    return ring_json(device.document())


@router.post("/{location_id}/devices/{device_ref}/refuse")
async def refuse(location_id: str, device_ref: str, state: StateDep, body: JsonBody) -> Response:
    """Make a lock or valve refuse its commands (its state pushed back unchanged): {"refuse": bool}."""
    found = _device(state.hub, location_id, device_ref)
    if isinstance(found, Response):
        return found
    hub, device = found
    value = body.get("refuse")
    if not isinstance(value, bool):
        return _problem('send {"refuse": true|false}')
    state.hub.set_refusing(hub, device, value)
    return ring_json({"zid": device.zid, "refuse": value})


@router.post("/{location_id}/raw")
async def raw(location_id: str, state: StateDep, body: JsonBody) -> Response:
    """Push a raw text frame to the location's sockets: {"text"} or {"repeat": "x", "size": n} (oversized tests)."""
    if _hub(state.hub, location_id) is None:
        return _no_hub(location_id)
    text = body.get("text")
    if text is None:
        repeat, size = body.get("repeat", "x"), body.get("size")
        if not isinstance(repeat, str) or not repeat or isinstance(size, bool) or not isinstance(size, int):
            return _problem('send {"text": "..."} or {"repeat": "x", "size": n}')
        if not 0 < size <= MAX_RAW_BYTES:
            return _problem(f"size must be 1..{MAX_RAW_BYTES}")
        text = (repeat * (size // len(repeat) + 1))[:size]
    if not isinstance(text, str):
        return _problem("text must be a string")
    return ring_json({"sent": state.hub.push_raw(location_id, text), "length": len(text)})


@router.post("/{location_id}/devices/{device_ref}/temperature")
async def temperature(location_id: str, device_ref: str, state: StateDep, body: JsonBody) -> Response:
    """A temperature sensor reports a new room temperature: {"celsius": n} (-50..100)."""
    found = _device(state.hub, location_id, device_ref)
    if isinstance(found, Response):
        return found
    hub, device = found
    celsius = body.get("celsius")
    if isinstance(celsius, bool) or not isinstance(celsius, int | float) or not -50 <= celsius <= 100:
        return _problem('send {"celsius": n} with n from -50 to 100')
    if "celsius" not in device.device and "celsius" not in device.general:
        return _problem(f"hub device {device_ref!r} reports no temperature")
    state.hub.set_temperature(hub, device, float(celsius))
    return ring_json(device.document())
