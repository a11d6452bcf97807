"""The "app API" (``prd-api-us.prd.rings.solutions/api/v1``, formerly ``app.ring.com/api/v1``): location modes and
tickets. Served on both hosts, as ring-mqtt still asks ``app.ring.com`` for the signalling ticket (§1, §4.8, §4.10).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import StateDep, TokenDep
from ringvault.sim.hub.rest import apply_mode_actions
from ringvault.sim.hub.service import HUB_HOST
from ringvault.sim.replies import get_location, read_json_object, ring_json
from ringvault.sim.state import SimState
from ringvault.sim.world import Location

router = APIRouter(tags=["app API"])

MODES = ("home", "away", "disarmed")
HUB_FAMILIES = ("base_stations", "beams_bridges")


def _mode_json(state: SimState, location: Location) -> dict[str, Any]:
    waiting = [
        {"deviceId": d.id, "deviceIdType": "doorbot"}
        for d in state.world.devices_at(location.id)
        if d.is_camera and not d.entry.get("owned", True)
    ]
    return {
        "mode": location.mode,
        "lastUpdateTimeMS": location.mode_updated_ms,
        "securityStatus": {"md": "none", "returnTopic": f"sim/{location.id}/mode"},
        "readOnly": False,
        "notYetParticipatingInMode": waiting,
    }


@router.get("/mode/location/{location_id}")
def get_mode(location_id: str, caller: TokenDep, state: StateDep) -> Response:
    return ring_json(_mode_json(state, get_location(state, location_id)))


@router.post("/mode/location/{location_id}")
async def set_mode(location_id: str, request: Request, caller: TokenDep, state: StateDep) -> Response:
    location = get_location(state, location_id)
    body = await read_json_object(request) or {}
    mode = body.get("mode")
    if mode not in MODES:
        return ring_json({"error": f"mode must be one of {', '.join(MODES)}"}, status=400)
    state.world.set_mode(location.id, str(mode))
    apply_mode_actions(state, location.id, str(mode))
    return ring_json(_mode_json(state, location))


@router.get("/clap/tickets")
def tickets(request: Request, caller: TokenDep, state: StateDep) -> Response:
    """Assets (the location's base stations and bridges), a hub host and a one-time ticket."""
    location = get_location(state, request.query_params.get("locationID") or "")
    refused = state.hub.ticket_refused_status()
    if refused is not None:  # control API: /_sim/hub/tickets/refuse with stage "ticket"
        return ring_json({"error": "ticket refused", "status": refused}, status=refused)
    assets = [
        {
            "doorbotId": d.id,
            "kind": d.kind,
            "onBattery": False,
            "status": "offline" if d.offline else "online",
            "uuid": d.asset_uuid,
        }
        for d in state.world.devices_at(location.id)
        if d.family in HUB_FAMILIES
    ]
    return ring_json(
        {
            "assets": assets,
            "host": HUB_HOST,  # [sim] a made-up Ring host name, served under the path-prefix rule
            "subscriptionTopics": [],
            "ticket": state.world.issue_ticket("hub", location.id),
        }
    )


@router.post("/clap/ticket/request/signalsocket")
def signalsocket_ticket(caller: TokenDep, state: StateDep) -> Response:
    """``{"ticket"}`` for live-view signalling; 403 when live view is blocked (``live_view_disabled``).

    [sim] The request names no camera, so it is refused when any camera of the account has live view disabled.
    """
    if any(d.is_camera and d.live_view_disabled for d in state.world.devices.values()):
        return ring_json({"error": "Forbidden", "error_description": "live view is disabled by Modes"}, status=403)
    return ring_json({"ticket": state.world.issue_ticket("signalsocket", None)})
