"""REST around the hubs, in Ring's shapes (reference §4.1, §4.8, §4.9, §5.4, §5.6):

App API (``prd-api-us.prd.rings.solutions/api/v1`` and ``app.ring.com/api/v1``):
- ``GET rs/history?accountId&limit&offset&category&maxLevel&affectedId`` — array of ``DataUpdate`` items, newest
  first (``limit`` default 50, [sim] capped at 100; ``maxLevel`` default 50 as rca sends it).
- ``GET rs/monitoring/accounts/{loc}`` and ``POST .../assets/{asset}/userAlarm`` (the asset must be the location's
  ``base_station_v1`` asset, as rca picks it).
- ``GET/POST/DELETE mode/location/{loc}/settings``, ``POST .../settings/setup``, ``GET/POST .../sharing``.

``api.ring.com``:
- ``GET recordings/public/footages/{id}`` — periodic footage ``{"meta":{"pagination_key","butch_size"},"data",
  "responseTimestamp"}``; [sim] the simulated account has no periodic-footage plan, so ``data`` is empty.
- ``GET integrations/amazonkey/v2/devices/lock_associations`` — an array; [sim] empty (no Amazon Key locks).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.auth import SimHTTPError
from ringvault.sim.deps import StateDep, TokenDep
from ringvault.sim.hub.history import DEFAULT_LIMIT, DEFAULT_MAX_LEVEL, MAX_LIMIT
from ringvault.sim.hub.model import BASE_STATION_KIND
from ringvault.sim.replies import get_device, get_location, not_found, read_json_object, ring_json
from ringvault.sim.state import SimState
from ringvault.sim.world import Location

app_router = APIRouter(tags=["app API: alarm"])
api_router = APIRouter(tags=["api.ring.com: footage, Amazon Key"])

#: §12 row 11: the asset does not exist (NO_ASSET).
NO_ASSET = 7050
SIGNAL_TYPES = {"user-verified-burglar-xa": "verified-burglar", "user-verified-fire-xa": "verified-fire"}
MODE_KEYS = ("disarmed", "home", "away")
MODE_ACTIONS = frozenset(
    {"disableMotionDetection", "enableMotionDetection", "blockLiveViewLocally", "allowLiveViewLocally"}
)


def _int_param(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimHTTPError(400, {"error": f"{name} must be an integer"}) from None
    if value < low:
        raise SimHTTPError(400, {"error": f"{name} must be at least {low}"})
    return min(value, high) if high is not None else value


# ---------------------------------------------------------------------------------------------------------------------
# rs/history and monitoring


@app_router.get("/rs/history")
def history(request: Request, caller: TokenDep, state: StateDep) -> Response:
    """Alarm and Smart Lighting history of ``accountId`` (a location id), newest first."""
    location = get_location(state, request.query_params.get("accountId") or "")
    category = request.query_params.get("category") or None
    if category is not None and category not in ("alarm", "beams"):
        return ring_json({"error": "category must be alarm or beams"}, status=400)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0)
    max_level = _int_param(request, "maxLevel", DEFAULT_MAX_LEVEL, 0)
    state.hub.advance()
    items = state.hub.history.query(
        location.id,
        limit=limit,
        offset=offset,
        category=category,
        max_level=max_level,
        affected_id=request.query_params.get("affectedId") or None,
    )
    return ring_json(items)


def _monitoring(state: SimState, location: Location, *, signal_sent: bool = False) -> dict[str, Any]:
    seed = f"ringvault-sim-monitoring:{state.config.seed}:{location.id}"
    return {
        "accountUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)),
        "externalServiceConfigType": "rrms",
        "accountState": "PROFESSIONAL",
        "eligibleForDispatch": True,
        "addressComplete": True,
        "contactsComplete": True,
        "codewordComplete": True,
        "alarmSignalSent": signal_sent,
        "professionallyMonitored": True,
        "userAcceptDispatch": True,
        "installationDate": int(state.world.start * 1000) - 200 * 86_400_000,
        "externalId": str(uuid.uuid5(uuid.NAMESPACE_OID, seed)).replace("-", "")[:12],
        "vrRequired": False,
        "vrUserOptIn": False,
        "cmsMonitoringType": "full",
        "dispatchSetupComplete": True,
    }


def _alarm_location(state: SimState, location_id: str) -> Location:
    """A location with a base station; [sim] others answer 404 ``{"errors":[7050]}`` (NO_ASSET)."""
    location = get_location(state, location_id)
    hub = state.hub.location(location.id)
    if hub is None or hub.base_station is None:
        raise SimHTTPError(404, {"errors": [NO_ASSET]})
    return location


@app_router.get("/rs/monitoring/accounts/{location_id}")
def monitoring(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    """Professional monitoring status of an alarm location."""
    return ring_json(_monitoring(state, _alarm_location(state, location_id)))


@app_router.post("/rs/monitoring/accounts/{location_id}/assets/{asset_uuid}/userAlarm")
async def user_alarm(
    location_id: str, asset_uuid: str, request: Request, caller: TokenDep, state: StateDep
) -> Response:
    """Dispatch: ``{alarmSessionUuid, currentTsMs, eventOccurredTime, signalType}``; sounds a user-verified alarm."""
    location = _alarm_location(state, location_id)
    hub = state.hub.location(location.id)
    base = hub.base_station if hub is not None else None
    if hub is None or base is None or base.uuid != asset_uuid or base.kind != BASE_STATION_KIND:
        raise SimHTTPError(404, {"errors": [NO_ASSET]})
    body = await read_json_object(request) or {}
    kind = SIGNAL_TYPES.get(str(body.get("signalType")))
    if kind is None:
        return ring_json({"error": f"signalType must be one of {', '.join(SIGNAL_TYPES)}"}, status=400)
    state.hub.ensure_ticker()
    state.hub.trigger_alarm(hub, kind)
    return ring_json(_monitoring(state, location, signal_sent=True))


# ---------------------------------------------------------------------------------------------------------------------
# location modes: settings and sharing (§4.8)


def _default_settings(state: SimState, location: Location) -> dict[str, Any]:
    """[sim] Every camera of the location listed in every mode with actions that change nothing."""
    cameras = [d for d in state.world.devices_at(location.id) if d.is_camera]
    entry = [
        {"deviceId": str(d.id), "deviceIdType": "doorbot", "actions": ["enableMotionDetection", "allowLiveViewLocally"]}
        for d in cameras
    ]
    return {"disarmed": entry, "home": [dict(e) for e in entry], "away": [dict(e) for e in entry],
            "lastUpdateTimeMS": location.mode_updated_ms}  # fmt: skip


def _settings(state: SimState, location: Location) -> dict[str, Any]:
    with state.hub.lock:
        stored = state.hub.mode_settings.get(location.id)
        return dict(stored) if stored is not None else _default_settings(state, location)


def _valid_settings(body: dict[str, Any]) -> str | None:
    for key in MODE_KEYS:
        items = body.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"{key} must be a list"
        for item in items:
            if not isinstance(item, dict) or "deviceId" not in item:
                return f"every {key} item needs a deviceId"
            actions = item.get("actions", [])
            if not isinstance(actions, list) or any(a not in MODE_ACTIONS for a in actions):
                return f"actions must be among {', '.join(sorted(MODE_ACTIONS))}"
    return None


@app_router.get("/mode/location/{location_id}/settings")
def get_mode_settings(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    return ring_json(_settings(state, get_location(state, location_id)))


@app_router.post("/mode/location/{location_id}/settings")
async def set_mode_settings(location_id: str, request: Request, caller: TokenDep, state: StateDep) -> Response:
    """``{"disarmed":[...],"home":[...],"away":[...]}``; the actions apply to cameras when the mode changes."""
    location = get_location(state, location_id)
    body = await read_json_object(request)
    if body is None:
        return ring_json({"error": "a JSON object body is required"}, status=400)
    if (problem := _valid_settings(body)) is not None:
        return ring_json({"error": problem}, status=400)
    settings = _settings(state, location)
    for key in MODE_KEYS:
        if key in body:
            settings[key] = body[key]
    settings["lastUpdateTimeMS"] = state.clock.now_ms()
    with state.hub.lock:
        state.hub.mode_settings[location.id] = settings
    return ring_json(settings)


@app_router.delete("/mode/location/{location_id}/settings")
def disable_modes(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    """Disable modes: the mode becomes ``disabled``."""
    location = get_location(state, location_id)
    state.world.set_mode(location.id, "disabled")
    return Response(status_code=204)


@app_router.post("/mode/location/{location_id}/settings/setup")
def enable_modes(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    """Enable modes (``disarmed`` when they were disabled or unset); answers the settings document."""
    location = get_location(state, location_id)
    if location.mode in ("disabled", "unset"):
        state.world.set_mode(location.id, "disarmed")
    return ring_json(_settings(state, location))


def _sharing(state: SimState, location: Location) -> dict[str, Any]:
    with state.hub.lock:
        stored = state.hub.mode_sharing.get(location.id)
        return dict(stored) if stored else {"sharedUsersEnabled": True, "lastUpdateTimeMS": location.mode_updated_ms}


@app_router.get("/mode/location/{location_id}/sharing")
def get_sharing(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    return ring_json(_sharing(state, get_location(state, location_id)))


@app_router.post("/mode/location/{location_id}/sharing")
async def set_sharing(location_id: str, request: Request, caller: TokenDep, state: StateDep) -> Response:
    """``{"sharedUsersEnabled": bool}``."""
    location = get_location(state, location_id)
    body = await read_json_object(request) or {}
    enabled = body.get("sharedUsersEnabled")
    if not isinstance(enabled, bool):
        return ring_json({"error": "sharedUsersEnabled must be true or false"}, status=400)
    sharing = {"sharedUsersEnabled": enabled, "lastUpdateTimeMS": state.clock.now_ms()}
    with state.hub.lock:
        state.hub.mode_sharing[location.id] = sharing
    return ring_json(sharing)


def apply_mode_actions(state: SimState, location_id: str, mode: str) -> None:
    """After a mode change: the actions of the new mode, only when settings were stored (POST settings) [sim]."""
    with state.hub.lock:
        settings = state.hub.mode_settings.get(location_id)
    if settings is None:
        return
    for item in settings.get(mode, []):
        try:
            device_id = int(item["deviceId"])
        except (KeyError, TypeError, ValueError):
            continue
        patch: dict[str, Any] = {}
        for action in item.get("actions", []):
            if action in ("disableMotionDetection", "enableMotionDetection"):
                patch["motion_detection_enabled"] = action == "enableMotionDetection"
            elif action in ("blockLiveViewLocally", "allowLiveViewLocally"):
                patch["live_view_disabled"] = action == "blockLiveViewLocally"
        if patch:
            try:
                state.world.control_patch(device_id, patch)
            except KeyError:  # the device is gone
                continue


# ---------------------------------------------------------------------------------------------------------------------
# api.ring.com


@api_router.get("/recordings/public/footages/{device_id}")
def footages(device_id: int, request: Request, caller: TokenDep, state: StateDep) -> Response:
    """Periodic footage of a camera; [sim] none in the simulated account (``data`` is empty)."""
    device = get_device(state, device_id)
    if not device.is_camera:
        raise not_found()
    now_ms = state.clock.now_ms()
    end = request.query_params.get("end_at_ms")
    pagination_key = int(end) if end is not None and end.isdigit() else now_ms
    return ring_json(
        {"meta": {"pagination_key": pagination_key, "butch_size": 50}, "data": [], "responseTimestamp": now_ms}
    )


@api_router.get("/integrations/amazonkey/v2/devices/lock_associations")
def lock_associations(caller: TokenDep, state: StateDep) -> Response:
    """Amazon Key lock associations: an array; [sim] empty."""
    return ring_json([])
