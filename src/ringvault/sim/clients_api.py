"""``https://api.ring.com/clients_api/*``: devices, control, history, events, recordings, legacy snapshots, chimes.

Every route needs a bearer token and a session for the caller's hardware id (``SessionDep``). Shapes, status
codes and quirks follow the reference (sections 4, 5, 6, 10, 12); ``[sim]`` comments mark choices where Ring's
real behaviour is not known.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from ringvault.sim.deps import SessionDep, StateDep
from ringvault.sim.replies import (
    bracket_params,
    flag,
    get_device,
    no_content,
    not_found,
    read_json_object,
    require_json_put,
    ring_json,
)
from ringvault.sim.s3 import recording_url, share_url, thumbnail_url
from ringvault.sim.state import SimState
from ringvault.sim.world import Device, Event, UnknownEvent, UnsupportedOperation

router = APIRouter(tags=["clients_api"])

HISTORY_CAP = 100  # Ring returns at most 100 history items per call, whatever `limit` says
HISTORY_DEFAULT = 20  # [sim] page size without `limit`
EVENTS_DEFAULT = 50  # [sim]
EVENTS_CAP = 100  # [sim]


def _int_param(value: str | None, default: int | None = None) -> int | None:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        return default


def _event_device(state: SimState, device_id: int) -> Device:
    """A camera, doorbell or intercom ("doorbots" in Ring's URLs), else 404."""
    device = get_device(state, device_id)
    if not device.has_events:
        raise not_found()
    return device


def _doorbot(state: SimState, device_id: int) -> Device:
    """A device reachable under ``doorbots/{id}``, online (offline → 404 ``{"errors":[7019]}``)."""
    device = _event_device(state, device_id)
    return get_device(state, device.id, online=True)


def _chime(state: SimState, device_id: int) -> Device:
    device = get_device(state, device_id, online=True)
    if not device.is_chime:
        raise not_found()
    return device


# ---------------------------------------------------------------------------------------------------------------------
# account and discovery


@router.get("/ring_devices")
def ring_devices(caller: SessionDep, state: StateDep) -> Response:
    """All seven device families, always arrays (§10.1)."""
    return ring_json(state.world.ring_devices())


@router.get("/profile")
def profile(caller: SessionDep, state: StateDep) -> Response:
    return ring_json({"profile": state.auth.profile(caller.hardware_id)})


@router.patch("/device")
async def register_push(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Push registration (§8.2): Ring answers exactly 204 (prd refuses to start its listener otherwise) and keeps
    the body per hardware id; ``push_notification_token`` and ``metadata.pn_dict_version`` (``"2.0.0"``: the v2
    payload) decide where and how ``ringvault.sim.push`` delivers. The ``push.ring_patch_status`` knob refuses it
    (the error body is [sim])."""
    refused = state.config.push.ring_patch_status
    if refused != 204:
        return ring_json({"error": "push registration refused (simulated fault)"}, status=refused)
    body = await read_json_object(request)
    state.world.push_registrations[caller.hardware_id] = body or {}
    return no_content()


@router.get("/ringtones")
def ringtones(caller: SessionDep, state: StateDep) -> Response:
    audios = [
        {
            "user_id": "0",
            "id": str(index),
            "description": description,
            "kind": kind,
            "url": f"https://ringtones.ring.com/sim/{kind}/{index}.wav",
            "checksum": f"{(index * 2654435761) & 0xFFFFFFFF:08x}",
            "available": True,
        }
        for index, (description, kind) in enumerate(
            [("Ding Dong", "ding"), ("Westminster", "ding"), ("Motion Chirp", "motion"), ("Soft Bell", "motion")]
        )
    ]
    return ring_json(
        {
            "default_ding_user_id": "0",
            "default_ding_id": "0",
            "default_motion_user_id": "0",
            "default_motion_id": "2",
            "audios": audios,
        }
    )


@router.get("/locations/{location_id}/users")
def location_users(location_id: str, caller: SessionDep, state: StateDep) -> Response:
    world = state.world
    if world.location(location_id) is None:
        raise not_found()
    owner = world.owner()
    devices = [
        {"id": d.id, "role": "owner", "device_type": d.kind, "permissions": None}
        for d in world.devices_at(location_id)
        if d.is_intercom
    ]
    return ring_json(
        [
            {
                "id": owner["id"],
                "verified": True,
                "first_name": owner["first_name"],
                "last_name": owner["last_name"],
                "email": owner["email"],
                "object_type": "user",
                "devices": devices,
            }
        ]
    )


@router.post("/locations/{location_id}/invitations")
async def invite(location_id: str, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Invite a shared user (prd, intercoms); the answer is ignored by clients."""
    if state.world.location(location_id) is None:
        raise not_found()
    body = await read_json_object(request)
    invitation = (body or {}).get("invitation")
    if not isinstance(invitation, dict) or not invitation.get("invited_email"):
        return ring_json({"error": "invitation.invited_email is required"}, status=400)
    return ring_json({})


@router.delete("/locations/{location_id}/invitations/{user_id}")
def uninvite(location_id: str, user_id: str, caller: SessionDep, state: StateDep) -> Response:
    if state.world.location(location_id) is None:
        raise not_found()
    return ring_json({})


# ---------------------------------------------------------------------------------------------------------------------
# cameras: control and settings


@router.get("/doorbots/{device_id}/health")
def doorbot_health(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    device = _doorbot(state, device_id)
    return ring_json(state.world.health(device.id))


def _light(request: Request, state: SimState, device_id: int, on: bool) -> Response:
    require_json_put(request, state)
    device = _doorbot(state, device_id)
    try:
        state.world.set_light(device.id, on)
    except UnsupportedOperation:
        raise not_found() from None  # [sim] only devices whose entry has `led_status`
    return ring_json("ok")


@router.put("/doorbots/{device_id}/floodlight_light_on")
def light_on(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    return _light(request, state, device_id, True)


@router.put("/doorbots/{device_id}/floodlight_light_off")
def light_off(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    return _light(request, state, device_id, False)


def _siren(request: Request, state: SimState, device_id: int, on: bool) -> Response:
    require_json_put(request, state)
    device = _doorbot(state, device_id)
    duration: int | None = None
    if on:
        duration = _int_param(request.query_params.get("duration"))
        if duration is not None and not 1 <= duration <= 120:
            return ring_json({"error": "duration must be between 1 and 120"}, status=400)
    try:
        state.world.set_siren(device.id, on, duration)
    except UnsupportedOperation:
        raise not_found() from None  # [sim] only devices whose entry has `siren_status`
    return ring_json("ok")


@router.put("/doorbots/{device_id}/siren_on")
def siren_on(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    return _siren(request, state, device_id, True)


@router.put("/doorbots/{device_id}/siren_off")
def siren_off(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    return _siren(request, state, device_id, False)


async def _put_doorbot(device_id: int, request: Request, state: SimState) -> Response:
    require_json_put(request, state)
    device = _doorbot(state, device_id)
    params = bracket_params(request.query_params.multi_items(), "doorbot")
    body = await read_json_object(request)
    from_body = body.get("doorbot") if body else None
    if isinstance(from_body, dict):
        for key, value in from_body.items():
            if key == "settings" and isinstance(value, dict) and isinstance(params.get("settings"), dict):
                params["settings"].update(value)
            else:
                params[key] = value
    settings = params.get("settings")
    description = params.get("description")
    try:
        state.world.update_entry_settings(
            device.id,
            settings if isinstance(settings, dict) else {},
            description=str(description) if description else None,
        )
    except UnsupportedOperation:
        return ring_json({"error": "device has no settings"}, status=400)
    if body is None:
        return no_content()  # prd's query-string form: 204 in its tests
    return ring_json({})


@router.put("/doorbots/{device_id}")
async def put_doorbot(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """prd: ``doorbot[...]`` query-string settings, empty JSON body."""
    return await _put_doorbot(device_id, request, state)


@router.put("/doorbots/{device_id}/")
async def put_doorbot_slash(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """rca: ``{"doorbot":{"settings":{...}}}`` (trailing slash)."""
    return await _put_doorbot(device_id, request, state)


def _subscription(state: SimState, device_id: int, *, motions: bool, on: bool) -> Response:
    device = _event_device(state, device_id)
    state.world.set_subscription(device.id, motions=motions, on=on)
    return ring_json({})


@router.post("/doorbots/{device_id}/subscribe")
def subscribe(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    return _subscription(state, device_id, motions=False, on=True)


@router.post("/doorbots/{device_id}/unsubscribe")
def unsubscribe(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    return _subscription(state, device_id, motions=False, on=False)


@router.post("/doorbots/{device_id}/motions_subscribe")
def motions_subscribe(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    return _subscription(state, device_id, motions=True, on=True)


@router.post("/doorbots/{device_id}/motions_unsubscribe")
def motions_unsubscribe(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    return _subscription(state, device_id, motions=True, on=False)


# ---------------------------------------------------------------------------------------------------------------------
# history and events (§5)


def _history(request: Request, state: SimState, device_ids: list[int]) -> Response:
    limit = _int_param(request.query_params.get("limit"), HISTORY_DEFAULT) or HISTORY_DEFAULT
    limit = max(1, min(limit, HISTORY_CAP))
    older_than = _int_param(request.query_params.get("older_than"))
    favorites = flag(request.query_params.get("favorites"))
    return ring_json(state.world.history(device_ids, limit=limit, older_than=older_than, favorites=favorites))


@router.get("/doorbots/history")
def all_history(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Legacy: the history of every device, newest first."""
    ids = [d.id for d in state.world.devices.values() if d.has_events]
    return _history(request, state, ids)


@router.get("/doorbots/{device_id}/history")
def device_history(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """A JSON array, newest first, at most 100 items; older pages with ``older_than=<id>``."""
    device = _event_device(state, device_id)
    return _history(request, state, [device.id])


def _events(request: Request, state: SimState, device_ids: list[int]) -> Response:
    params = request.query_params
    limit = _int_param(params.get("limit"), EVENTS_DEFAULT) or EVENTS_DEFAULT
    page = state.world.event_page(
        device_ids,
        limit=max(1, min(limit, EVENTS_CAP)),
        pagination_key=_int_param(params.get("pagination_key")),
        kind=params.get("kind") or None,
        state=params.get("state") or None,
        favorites=flag(params.get("favorites")),
    )
    return ring_json(page)


@router.get("/locations/{location_id}/events")
def location_events(location_id: str, request: Request, caller: SessionDep, state: StateDep) -> Response:
    if state.world.location(location_id) is None:
        raise not_found()
    ids = [d.id for d in state.world.devices_at(location_id) if d.has_events]
    return _events(request, state, ids)


@router.get("/locations/{location_id}/devices/{device_id}/events")
def device_events(location_id: str, device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    device = _event_device(state, device_id)
    if device.location_id != location_id:
        raise not_found()
    return _events(request, state, [device.id])


@router.get("/video_search/history")
def video_search(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Events of one device in a date range (epoch ms); ``ding_id`` is a string, ``created_at`` epoch ms."""
    params = request.query_params
    device_id = _int_param(params.get("doorbot_id"))
    if device_id is None:
        return ring_json({"error": "doorbot_id is required"}, status=400)
    device = _event_device(state, device_id)
    date_from = _int_param(params.get("date_from"), 0) or 0
    date_to = _int_param(params.get("date_to"), state.clock.now_ms()) or state.clock.now_ms()
    events = state.world.video_search(device.id, date_from, date_to)
    if (params.get("order") or "asc").lower() == "asc":
        events.reverse()
    results: list[dict[str, Any]] = []
    for event in events:
        ready = state.world.recording_ready(event)
        results.append(
            {
                "ding_id": event.id_str,
                "created_at": event.created_ms,
                "hq_url": None,
                "lq_url": recording_url(request, state, event) if ready else None,  # [sim] URLs once ready
                "untranscoded_url": share_url(request, state, event) if ready else None,
                "thumbnail_url": thumbnail_url(request, state, event),
                "preroll_duration": None,
                "kind": event.kind,
                "state": event.state,
                "had_subscription": event.has_media,
                "favorite": event.favorite,
                "duration": int(event.duration),
                "cv_properties": {
                    "person_detected": event.person_detected,
                    "stream_broken": None,
                    "detection_type": event.detection_type,
                },
            }
        )
    return ring_json({"video_search": results})


# ---------------------------------------------------------------------------------------------------------------------
# recordings (§5.5)


def _media_event(state: SimState, ding_id: str) -> Event:
    """The event with a clip (Protect plan), else 404 (unknown ding, or [sim] no plan → no media)."""
    try:
        event = state.world.event(ding_id)
    except UnknownEvent:
        raise not_found() from None
    if not event.has_media:
        raise not_found()
    return event


@router.get("/dings/active")
def active_dings(caller: SessionDep, state: StateDep) -> Response:
    return ring_json(state.world.active_dings())


@router.get("/dings/{ding_id}/recording")
def recording(ding_id: str, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """302 to the pre-signed transcoded MP4, or ``{"url"}`` with ``disable_redirect=true``.

    The URL is handed out before the clip exists; until then it answers 404 (as at Ring)."""
    event = _media_event(state, ding_id)
    url = recording_url(request, state, event)
    if flag(request.query_params.get("disable_redirect")):
        return ring_json({"url": url})
    return RedirectResponse(url, status_code=302)


@router.get("/dings/{ding_id}/share/play")
def share_play(ding_id: str, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """``{"url"}`` of the untranscoded clip; an empty url while it is not ready yet."""
    event = _media_event(state, ding_id)
    ready = state.world.recording_ready(event)
    return ring_json({"url": share_url(request, state, event) if ready else ""})


@router.get("/dings/{ding_id}/share/download")
def share_download(ding_id: str, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """``{"url":""}`` until the file is prepared, then its URL (302 to it without ``disable_redirect``)."""
    event = _media_event(state, ding_id)
    if not state.world.recording_ready(event):
        return ring_json({"url": ""})
    url = share_url(request, state, event)
    if flag(request.query_params.get("disable_redirect")):
        return ring_json({"url": url})
    return RedirectResponse(url, status_code=302)


# ---------------------------------------------------------------------------------------------------------------------
# snapshots (legacy trio and by uuid, §6.2-6.3)


def _jpeg(state: SimState, device: Device, captured_ms: int, label: str | None = None) -> Response:
    data = state.media.jpeg(device.id, captured_ms, label or device.name)
    return state.faults.media_response(data, content_type="image/jpeg", headers={"x-time-millis": str(captured_ms)})


def _camera_ids(body: dict[str, Any] | None) -> list[int]:
    raw = body.get("doorbot_ids") if body else None
    if not isinstance(raw, list):
        return []
    ids: list[int] = []
    for value in raw:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


@router.get("/snapshots/timestamps")
def timestamps_get(caller: SessionDep) -> Response:
    """It used to be GET; Ring now answers 405."""
    return ring_json({"error": "Method Not Allowed"}, status=405, headers={"Allow": "POST"})


@router.post("/snapshots/timestamps")
async def timestamps(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Capture times (epoch ms) of the newest images. Asking also requests a capture, so the timestamp advances
    ``snapshot_capture_delay_s`` later (prd polls for that), except for battery cameras inside their 10-minute
    interval, offline cameras and cameras with motion detection off."""
    world = state.world
    out: list[dict[str, Any]] = []
    for device_id in _camera_ids(await read_json_object(request)):
        try:
            device = world.device(device_id)
        except KeyError:
            continue
        if not device.is_camera:
            continue
        world.request_capture(device.id)
        latest = world.latest_capture(device.id)
        if latest is not None:
            out.append({"doorbot_id": device.id, "timestamp": latest})
    return ring_json({"timestamps": out})


@router.put("/snapshots/update_all")
async def update_all(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """Ask cameras for a fresh capture: 204 (KZ treats anything else as failure)."""
    require_json_put(request, state)
    for device_id in _camera_ids(await read_json_object(request)):
        try:
            if state.world.device(device_id).is_camera:
                state.world.request_capture(device_id)
        except KeyError:
            continue
    return no_content()


@router.get("/snapshots/image/{device_id}")
def snapshot_image(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """The most recent JPEG, or 404 with the plain body ``no snapshot``."""
    device = get_device(state, device_id)
    latest = state.world.latest_capture(device.id) if device.is_camera else None
    if latest is None:
        return PlainTextResponse("no snapshot", status_code=404)
    return _jpeg(state, device, latest)


@router.get("/snapshots/uuid")
def snapshot_by_uuid(request: Request, caller: SessionDep, state: StateDep) -> Response:
    """The JPEG captured for an event (the push notification's ``img.snapshot_uuid``, with or without ``:n``)."""
    value = request.query_params.get("uuid") or ""
    try:
        event = state.world.event_by_snapshot(value)
    except UnknownEvent:
        raise not_found() from None
    device = state.world.device(event.device_id)
    return _jpeg(state, device, event.created_ms, f"{device.name} · {event.kind}")


# ---------------------------------------------------------------------------------------------------------------------
# chimes (§4.5)


async def _put_chime(device_id: int, request: Request, state: SimState) -> Response:
    require_json_put(request, state)
    device = _chime(state, device_id)
    params = bracket_params(request.query_params.multi_items(), "chime")
    body = await read_json_object(request)
    from_body = body.get("chime") if body else None
    if isinstance(from_body, dict):
        for key, value in from_body.items():
            if key == "settings" and isinstance(value, dict) and isinstance(params.get("settings"), dict):
                params["settings"].update(value)
            else:
                params[key] = value
    settings = params.get("settings")
    if isinstance(settings, dict) and "volume" in settings:
        try:
            volume = int(settings["volume"])
        except (TypeError, ValueError):
            return ring_json({"error": "volume must be 0..11"}, status=400)
        if not 0 <= volume <= 11:
            return ring_json({"error": "volume must be 0..11"}, status=400)
        settings["volume"] = volume
    world = state.world
    world.update_entry_settings(device.id, settings if isinstance(settings, dict) else {})
    world.update_chime_fields(device.id, {k: v for k, v in params.items() if k != "settings"})
    if body is None:
        return no_content()
    return ring_json({})


@router.put("/chimes/{device_id}")
async def put_chime(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """prd: ``chime[description]``, ``chime[settings][volume]`` in the query string."""
    return await _put_chime(device_id, request, state)


@router.put("/chimes/{device_id}/")
async def put_chime_slash(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """rca: ``{"chime":{"settings":{"volume":5}}}``."""
    return await _put_chime(device_id, request, state)


@router.post("/chimes/{device_id}/play_sound")
async def play_sound(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """rca sends JSON ``{"kind"}``, prd ``?kind=`` with an empty body; both work."""
    device = _chime(state, device_id)
    body = await read_json_object(request)
    kind = (body or {}).get("kind") or request.query_params.get("kind") or "ding"
    if kind not in ("ding", "motion"):
        return ring_json({"error": "kind must be ding or motion"}, status=400)
    state.world.play_sound(device.id, str(kind))
    return no_content()


@router.post("/chimes/{device_id}/do_not_disturb")
async def do_not_disturb(device_id: int, request: Request, caller: SessionDep, state: StateDep) -> Response:
    """``{"time": minutes}`` (max 1440) snoozes; no body clears. Shows in ``do_not_disturb.seconds_left``."""
    device = _chime(state, device_id)
    body = await read_json_object(request)
    minutes: float | None = None
    if body and body.get("time") is not None:
        try:
            minutes = float(body["time"])
        except (TypeError, ValueError):
            return ring_json({"error": "time must be a number of minutes"}, status=400)
    state.world.set_do_not_disturb(device.id, minutes)
    return no_content()


@router.get("/chimes/{device_id}/health")
def chime_health(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    device = _chime(state, device_id)
    return ring_json(state.world.health(device.id))


@router.get("/chimes/{device_id}/linked_doorbots")
def linked_doorbots(device_id: int, caller: SessionDep, state: StateDep) -> Response:
    """[sim] Shape unknown at Ring: an array of doorbell stubs of the chime's location."""
    device = get_device(state, device_id)
    if not device.is_chime:
        raise not_found()
    return ring_json(state.world.linked_doorbots(device.id))
