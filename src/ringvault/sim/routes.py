"""Mount the simulator's data routers at their host prefixes, plus the data side of the control API.

Control routes (nothing like them exists at Ring):
- ``GET /_sim/world[?events=list|full|count]``: the account (with the current 2FA code), locations, devices and
  their events;
- ``POST /_sim/events`` ``{"device_id", "kind"?, "at"?}``: record a new event now (or at epoch ``at``);
- ``PATCH /_sim/devices/{id}`` ``{"offline"?, "show_recordings"?, "motion_detection_enabled"?,
  "live_view_disabled"?, "battery_life"?, "description"?, "id"?, "entry"?}``: change a device; answers its
  ``ring_devices`` entry. ``id`` renumbers the device everywhere; ``entry`` is merged into its raw entry as is
  (hostile-input tests: any field, any value);
- ``PATCH /_sim/locations/{id}`` ``{"name"}``: rename a location.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Query
from fastapi.responses import Response

from ringvault.sim import app_api, clients_api, devices_api, s3, snaps
from ringvault.sim.deps import StateDep
from ringvault.sim.replies import ring_json
from ringvault.sim.world import UnknownDevice, UnsupportedOperation

EVENT_KINDS = (
    "ding",
    "motion",
    "on_demand",
    "alarm",
    "on_demand_link",
    "door_activity",
    "key_access",
    "DELETED_FOOTAGE",
    "OFFLINE_FOOTAGE",
    "OFFLINE_MOTION",
)
CONTROL_PATCH_KEYS = frozenset(
    {
        "offline",
        "show_recordings",
        "motion_detection_enabled",
        "live_view_disabled",
        "battery_life",
        "description",
        "id",
        "entry",
    }
)

control = APIRouter(tags=["control"])


@control.get("/world")
def world(state: StateDep, events: Annotated[str, Query(pattern="^(list|full|count)$")] = "list") -> Response:
    """The simulated account: credentials and current 2FA code, locations, devices and events per device."""
    config = state.config
    summary = state.world.summary(events)
    summary["account"] = {
        "email": config.email,
        "password": config.password,
        "tsv_state": config.tsv_state,
        "phone": config.phone,
        "two_factor_code": state.auth.current_2fa_code(),
    }
    return ring_json(summary)


@control.post("/events")
def create_event(state: StateDep, body: Annotated[dict[str, Any], Body()]) -> Response:
    """Record a new event (default kind ``motion``) for a camera, doorbell or intercom; answers the event."""
    try:
        device_id = int(body["device_id"])
    except (KeyError, TypeError, ValueError):
        return ring_json({"error": "device_id (integer) is required"}, status=422)
    kind = str(body.get("kind") or "motion")
    if kind not in EVENT_KINDS:
        return ring_json({"error": f"kind must be one of {', '.join(EVENT_KINDS)}"}, status=422)
    at = body.get("at")
    try:
        event = state.world.create_event(device_id, kind, float(at) if at is not None else None)
    except UnknownDevice:
        return ring_json({"error": "unknown device"}, status=404)
    except UnsupportedOperation as exc:
        return ring_json({"error": str(exc)}, status=422)
    return ring_json(state.world.event_summary(event, full=True), status=201)


@control.patch("/devices/{device_id}")
def patch_device(device_id: int, state: StateDep, body: Annotated[dict[str, Any], Body()]) -> Response:
    """Change a device (offline, Protect plan, motion detection, live view, battery, name, id, raw entry fields)."""
    unknown = sorted(set(body) - CONTROL_PATCH_KEYS)
    if unknown:
        return ring_json({"error": "unknown fields", "fields": unknown, "allowed": sorted(CONTROL_PATCH_KEYS)}, 422)
    new_id = body.get("id")
    if "id" in body and (isinstance(new_id, bool) or not isinstance(new_id, int)):
        return ring_json({"error": "id must be an integer"}, status=422)
    if "entry" in body and not isinstance(body["entry"], dict):
        return ring_json({"error": "entry must be an object"}, status=422)
    try:
        return ring_json(state.world.control_patch(device_id, body))
    except UnknownDevice:
        return ring_json({"error": "unknown device"}, status=404)
    except UnsupportedOperation as exc:
        return ring_json({"error": str(exc)}, status=409)


@control.patch("/locations/{location_id}")
def patch_location(location_id: str, state: StateDep, body: Annotated[dict[str, Any], Body()]) -> Response:
    """Rename a location: ``{"name"}`` (any text, as the owner may type it)."""
    if set(body) != {"name"} or not isinstance(body["name"], str):
        return ring_json({"error": 'send exactly {"name": "..."}'}, status=422)
    location = state.world.rename_location(location_id, body["name"])
    if location is None:
        return ring_json({"error": "unknown location"}, status=404)
    return ring_json(location)


def register_data_routes(app: FastAPI) -> None:
    """Include every data router at its Ring host prefix, and the data control routes under ``/_sim``."""
    app.include_router(clients_api.router, prefix="/api.ring.com/clients_api")
    app.include_router(devices_api.router, prefix="/api.ring.com")
    app.include_router(app_api.router, prefix="/prd-api-us.prd.rings.solutions/api/v1")
    app.include_router(app_api.router, prefix="/app.ring.com/api/v1", include_in_schema=False)
    app.include_router(snaps.router, prefix="/app-snaps.ring.com")
    app.include_router(s3.router)
    app.include_router(control, prefix="/_sim")
