"""``https://app-snaps.ring.com/snapshots/next/{id}``: the current snapshot API (§6.1).

"next" blocks until the camera holds an image captured after ``after-ms`` (within ``max-wait-ms``, at most
``MAX_WAIT_S``), then answers the JPEG with ``Date`` (server time, from the simulator clock) and ``x-time-millis``
(capture time) — always both. Without a newer image it answers the newest one with its old ``x-time-millis``.
``extras=force`` asks the camera for a capture that completes ``snapshot_capture_delay_s`` later; battery cameras
capture at most every 10 minutes and otherwise keep their old image. ``uuid`` selects an event's image.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import StateDep, TokenDep
from ringvault.sim.replies import ASSET_OFFLINE, http_date, ring_json
from ringvault.sim.state import SimState
from ringvault.sim.world import Device, UnknownDevice, UnknownEvent

router = APIRouter(tags=["app-snaps"])

MAX_WAIT_S = 10.0  # [sim] hold at most this long when the client gives no (or a longer) max-wait-ms
POLL_STEP_S = 0.05


def _int(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _image(state: SimState, device: Device, captured_ms: int, label: str) -> Response:
    data = state.media.jpeg(device.id, captured_ms, label)
    headers = {"Date": http_date(state.clock.now()), "x-time-millis": str(captured_ms), "Cache-Control": "no-cache"}
    return state.faults.media_response(data, content_type="image/jpeg", headers=headers)


@router.get("/snapshots/next/{device_id}")
async def next_snapshot(device_id: str, request: Request, caller: TokenDep, state: StateDep) -> Response:
    params = request.query_params
    world = state.world
    try:
        device = world.device(int(device_id))
    except (ValueError, UnknownDevice):
        return Response(status_code=404)  # [sim] unknown camera: 404, empty body
    if not device.is_camera:
        return Response(status_code=404)

    snapshot_uuid = params.get("uuid")
    if snapshot_uuid:
        try:
            event = world.event_by_snapshot(snapshot_uuid)
        except UnknownEvent:
            return Response(status_code=404)
        if event.device_id != device.id:
            return Response(status_code=404)
        return _image(state, device, event.created_ms, f"{device.name} · {event.kind}")

    # [sim] A camera that produces no snapshots is refused at once with a JSON 404 (clients should not retry):
    # offline → Ring's ASSET_OFFLINE code; motion detection off (Modes, "Record Motion") → a reason string.
    blocked = world.snapshot_blocked(device)
    if blocked == "offline":
        return ring_json({"errors": [ASSET_OFFLINE]}, status=404)
    if blocked is not None:
        return ring_json({"error": "snapshots unavailable", "reason": blocked}, status=404)

    after_ms = _int(params.get("after-ms")) or 0
    max_wait_ms = _int(params.get("max-wait-ms"))
    wait_s = MAX_WAIT_S if max_wait_ms is None else max(0.0, min(max_wait_ms / 1000.0, MAX_WAIT_S))
    if params.get("extras") == "force":
        world.request_capture(device.id)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    latest = world.latest_capture(device.id)
    while (latest is None or latest <= after_ms) and loop.time() < deadline:
        if await request.is_disconnected():
            return Response(status_code=499)
        await asyncio.sleep(min(POLL_STEP_S, max(0.0, deadline - loop.time())))
        latest = world.latest_capture(device.id)
    if latest is None:
        return Response(status_code=404)
    return _image(state, device, latest, device.name)
