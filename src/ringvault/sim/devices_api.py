"""``https://api.ring.com/{devices,commands,groups}/v1``: locations, device settings, intercom RPC, light groups.

Bearer token required (``TokenDep``); no session check (Ring applies it to ``clients_api`` only).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import StateDep, TokenDep
from ringvault.sim.push import notifications
from ringvault.sim.replies import get_device, not_found, read_json_object, require_json_put, ring_json
from ringvault.sim.state import SimState
from ringvault.sim.world import LightGroup, UnsupportedOperation

router = APIRouter(tags=["devices/commands/groups v1"])


@router.get("/devices/v1/locations")
def locations(caller: TokenDep, state: StateDep) -> Response:
    """``{"user_locations":[...]}`` (§10.7)."""
    return ring_json({"user_locations": state.world.user_locations()})


@router.get("/devices/v1/devices/{device_id}/settings")
def get_settings(device_id: int, caller: TokenDep, state: StateDep) -> Response:
    device = get_device(state, device_id, online=True)
    try:
        return ring_json(state.world.settings_document(device.id))
    except UnsupportedOperation:
        raise not_found() from None


@router.patch("/devices/v1/devices/{device_id}/settings")
async def patch_settings(device_id: int, request: Request, caller: TokenDep, state: StateDep) -> Response:
    """Deep-merge a partial document and return the whole document (rca reads it)."""
    device = get_device(state, device_id, online=True)
    patch = await read_json_object(request)
    if patch is None:
        return ring_json({"error": "a JSON object body is required"}, status=400)
    try:
        return ring_json(state.world.patch_settings_document(device.id, patch))
    except UnsupportedOperation:
        raise not_found() from None


@router.put("/commands/v1/devices/{device_id}/device_rpc")
async def device_rpc(device_id: int, request: Request, caller: TokenDep, state: StateDep) -> Response:
    """Intercom JSON-RPC: ``unlock_door`` → ``{"result":{"code":0},"id":<request id>,"jsonrpc":"2.0"}``."""
    require_json_put(request, state)
    device = get_device(state, device_id, online=True)
    if not device.is_intercom:
        raise not_found()
    body = await read_json_object(request) or {}
    rpc = body.get("request")
    if not isinstance(rpc, dict):
        return ring_json({"error": "request is required"}, status=400)
    request_id = rpc.get("id")
    if rpc.get("method") != "unlock_door":
        return ring_json({"error": {"code": -32601, "message": "Method not found"}, "id": request_id, "jsonrpc": "2.0"})
    state.world.unlock(device.id, rpc)
    notifications.push_intercom_unlock(state, device)  # the app's unlock notice (§8.6, reference §14 checklist)
    return ring_json({"result": {"code": 0}, "id": request_id, "jsonrpc": "2.0"})


# ---------------------------------------------------------------------------------------------------------------------
# Smart Lighting groups (§4.7)


def _group_json(group: LightGroup) -> dict[str, Any]:
    return {
        "device_group_id": group.id,
        "location_id": group.location_id,
        "name": group.name,
        "devices": [dict(d) for d in group.devices],
        "created_at": group.created_at,
        "updated_at": group.created_at,
        "deleted_at": None,
        "external_id": None,
    }


def _group_devices_json(state: SimState, group: LightGroup) -> dict[str, Any]:
    on = state.world.group_lights_on(group)
    return {
        "device_group_id": group.id,
        "lights_on": on,
        "motion_detection_on": group.motion_detection_on,
        "motion_notifications_on": True,
        "motion_activated_lights": True,
        "motion_message_on": False,
        "siren_on": False,
        "motion_snooze_on": False,
        "motion_snooze_seconds_left": 0,
        "motion_light_duration_seconds": 60,
        "devices": [{"id": str(d["doorbot_id"]), "lights_on": on, "name": d["name"]} for d in group.devices],
    }


def _group(state: SimState, location_id: str, group_id: str) -> LightGroup:
    group = state.world.group(location_id, group_id)
    if group is None:
        raise not_found()
    return group


@router.get("/groups/v1/locations/{location_id}/groups")
def groups(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    """``{"device_groups":[...]}`` (prd crashes without the key), empty for locations without groups."""
    if state.world.location(location_id) is None:
        raise not_found()
    return ring_json({"device_groups": [_group_json(g) for g in state.world.groups_at(location_id)]})


@router.get("/groups/v1/locations/{location_id}/groups/{group_id}/devices")
def group_devices(location_id: str, group_id: str, caller: TokenDep, state: StateDep) -> Response:
    return ring_json(_group_devices_json(state, _group(state, location_id, group_id)))


@router.post("/groups/v1/locations/{location_id}/groups/{group_id}/devices")
async def set_group_devices(
    location_id: str, group_id: str, request: Request, caller: TokenDep, state: StateDep
) -> Response:
    """``{"lights_on":{"enabled":true,"duration_seconds":60}}``; the next GET shows the new ``lights_on``."""
    group = _group(state, location_id, group_id)
    body = await read_json_object(request) or {}
    lights = body.get("lights_on")
    if isinstance(lights, dict) and "enabled" in lights:
        duration = lights.get("duration_seconds")
        seconds = float(duration) if isinstance(duration, int | float) and duration > 0 else None
        state.world.set_group_lights(group, bool(lights["enabled"]), seconds)
    return ring_json({})
