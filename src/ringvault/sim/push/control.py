"""Control routes of the simulated push service (nothing like them exists at Ring):

- ``GET /_sim/push``: where the MCS endpoint listens (host, port, the certificate file to trust), the Google hosts,
  Ring's push registrations, connected devices, pending messages, counters and the knobs;
- ``GET|PATCH /_sim/push/faults``: the ``PushConfig`` knobs (delay, duplicate/lose/drop the next messages, stale
  registrations, refused registration, Ring's PATCH status);
- ``POST /_sim/push/drop``: abort every MCS connection now;
- ``POST /_sim/devices/{id}/ding``, ``/motion`` ``{"detection"?: person|vehicle|package|motion}``, ``/unlock``
  (intercoms): create the event in the device's history (``unlock`` records an unlock) and push it;
- ``POST /_sim/locations/{id}/alarm`` ``{"kind": mode_none|mode_some|siren|silenced, "device_zid"?}``: push an
  alarm notice for a location with an alarm hub.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ringvault.sim.deps import StateDep
from ringvault.sim.push import notifications
from ringvault.sim.push.config import PushConfig
from ringvault.sim.push.google import CHECKIN_HOST, INSTALLATIONS_HOST, REGISTRATIONS_HOST
from ringvault.sim.replies import ring_json
from ringvault.sim.state import SimState
from ringvault.sim.world import UnknownDevice

router = APIRouter(tags=["control"])

OptionalBody = Annotated[dict[str, Any] | None, Body()]


def _registrations(state: SimState) -> list[dict[str, Any]]:
    out = []
    for hardware_id, body in list(state.world.push_registrations.items()):
        found = body.get("device") if isinstance(body, dict) else None
        device: dict[str, Any] = found if isinstance(found, dict) else {}
        meta = device.get("metadata")
        metadata: dict[str, Any] = meta if isinstance(meta, dict) else {}
        token = device.get("push_notification_token")
        out.append(
            {
                "hardware_id": hardware_id,
                "pn_dict_version": metadata.get("pn_dict_version"),
                "pn_service": metadata.get("pn_service"),
                "os": device.get("os"),
                "token_registered_with_google": isinstance(token, str) and token in state.push.fcm,
                "session_live": state.auth.has_session(hardware_id),
            }
        )
    return out


@router.get("/push")
def push_info(state: StateDep) -> Response:
    """Where the MCS endpoint listens and which certificate to trust; registrations, connections, counters, knobs."""
    push = state.push
    with push.lock:
        pending = {str(aid): len(box) for aid, box in push.outbox.items() if box}
        stats = {k: v for k, v in vars(push.stats).items() if k != "events"}
        events = list(push.stats.events[-20:])
        counts = {
            "checkins": len(push.checkins),
            "gcm_registrations": len(push.gcm),
            "installations": len(push.installations),
            "fcm_registrations": len(push.fcm),
        }
    return ring_json(
        {
            "mcs": {"host": push.mcs_host, "port": push.mcs_port, "certificate": push.mcs_certificate}
            if push.mcs_port is not None
            else None,
            "google_hosts": [CHECKIN_HOST, INSTALLATIONS_HOST, REGISTRATIONS_HOST],
            "google": counts,
            "ring_registrations": _registrations(state),
            "connected": [str(aid) for aid in push.connected()],
            "pending": pending,
            "stats": stats,
            "recent": events,
            "faults": state.config.push.model_dump(mode="json"),
        }
    )


@router.get("/push/faults")
def get_faults(state: StateDep) -> dict[str, Any]:
    """The push knobs."""
    return state.config.push.model_dump(mode="json")


@router.patch("/push/faults", response_model=None)
def patch_faults(state: StateDep, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any] | JSONResponse:
    """Change some push knobs (validated; unknown fields refused), keep the others."""
    unknown = sorted(set(body) - set(PushConfig.model_fields))
    if unknown:
        return JSONResponse({"error": "unknown fields", "fields": unknown}, status_code=422)
    try:
        updated = PushConfig.model_validate({**state.config.push.model_dump(), **body})
    except ValidationError as exc:
        return JSONResponse({"error": "invalid", "detail": exc.errors(include_url=False)}, status_code=422)
    state.config.push = updated
    if "stale_registrations" in body:
        state.push.stale_registrations_changed()
    return updated.model_dump(mode="json")


@router.post("/push/drop")
def drop(state: StateDep) -> dict[str, int]:
    """Abort every MCS connection now (clients see a network failure and reconnect)."""
    return {"dropped": state.push.drop_connections()}


def _event_answer(state: SimState, event_json: dict[str, Any], pushes: list[dict[str, Any]]) -> Response:
    state.push.record_event({"event": event_json.get("id_str"), "kind": event_json.get("kind"), "pushes": pushes})
    return ring_json({"event": event_json, "pushes": pushes}, status=201)


@router.post("/devices/{device_id}/ding")
def ding(device_id: int, state: StateDep) -> Response:
    """A doorbell press (doorbells) or an intercom ring (intercoms): a history event and its push."""
    try:
        device = state.world.device(device_id)
    except UnknownDevice:
        return ring_json({"error": "unknown device"}, status=404)
    if not (device.is_intercom or device.family in ("doorbots", "authorized_doorbots")):
        return ring_json({"error": f"{device.kind} has no doorbell button"}, status=422)
    event = state.world.create_event(device.id, "ding")
    pushes = notifications.push_event(state, device, event)
    return _event_answer(state, state.world.event_summary(event, full=True), pushes)


@router.post("/devices/{device_id}/motion")
def motion(device_id: int, state: StateDep, body: OptionalBody = None) -> Response:
    """A motion (cameras), optionally with a detection: person, vehicle, package or plain motion."""
    detection = (body or {}).get("detection")
    if detection is not None and detection not in notifications.DETECTIONS:
        return ring_json({"error": f"detection must be one of {', '.join(notifications.DETECTIONS)}"}, status=422)
    try:
        device = state.world.device(device_id)
    except UnknownDevice:
        return ring_json({"error": "unknown device"}, status=404)
    if not device.is_camera:
        return ring_json({"error": f"{device.kind} detects no motion"}, status=422)
    event = state.world.create_event(device.id, "motion")
    if detection is not None:
        with state.world.lock:
            event.detection_type, event.person_detected, _ = notifications.DETECTIONS[detection]
    pushes = notifications.push_event(state, device, event)
    return _event_answer(state, state.world.event_summary(event, full=True), pushes)


@router.post("/devices/{device_id}/unlock")
def unlock(device_id: int, state: StateDep) -> Response:
    """An intercom unlock: recorded like a ``device_rpc`` unlock, pushed as v1 ``INTERCOM_UNLOCK_FROM_APP``."""
    try:
        device = state.world.device(device_id)
    except UnknownDevice:
        return ring_json({"error": "unknown device"}, status=404)
    if not device.is_intercom:
        return ring_json({"error": "not an intercom"}, status=422)
    record = state.world.unlock(device.id, {"method": "unlock_door", "source": "sim-control"})
    pushes = notifications.push_intercom_unlock(state, device)
    state.push.record_event({"event": None, "kind": "intercom_unlock", "pushes": pushes})
    return ring_json({"unlock": {"device_id": device.id, "at": record["at"]}, "pushes": pushes}, status=201)


@router.post("/locations/{location_id}/alarm")
def alarm(location_id: str, state: StateDep, body: Annotated[dict[str, Any], Body()]) -> Response:
    """An alarm notice for a location with a Ring Alarm hub (v1 ``gcmData``, §8.6)."""
    kind = body.get("kind")
    if kind not in notifications.ALARM_ACTIONS:
        return ring_json({"error": f"kind must be one of {', '.join(notifications.ALARM_ACTIONS)}"}, status=422)
    zid = body.get("device_zid")
    if zid is not None and not isinstance(zid, str | int):
        return ring_json({"error": "device_zid must be a string or an integer"}, status=422)
    if state.hub.location(location_id) is None:
        return ring_json({"error": "no alarm hub at this location"}, status=404)
    pushes = notifications.push_alarm(state, location_id, str(kind), None if zid is None else str(zid))
    state.push.record_event({"event": None, "kind": f"alarm_{kind}", "pushes": pushes})
    return ring_json({"alarm": {"location_id": location_id, "kind": kind}, "pushes": pushes}, status=201)
