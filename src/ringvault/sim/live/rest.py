"""Live view over REST (reference §4.11, §9.9): ``POST api.ring.com/integrations/v1/liveview/start`` (offer in,
answer out, no trickle ICE), ``.../end`` and ``PATCH .../options``.

The same guards and answerer as the socket. A REST session has no pings and no ``activate_session``: it ends at
``end``, at ``max_duration`` or when closed through ``/_sim/live``. Refusals are HTTP errors: an offline camera
404 ``{"errors":[7019]}`` (the device-scoped error of §12 row 11), live view disabled 403 (§12 row 22), an unknown
device 404, too many sessions 429, a bad or non-H.264 offer 400, a reused ``session_id`` 409 [sim for the last
four]. ``end`` and ``options`` answer 200 ``{}`` [sim: rca ignores the body], also for unknown sessions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import StateDep, TokenDep
from ringvault.sim.live.session import CLOSE_NORMAL, Refused
from ringvault.sim.replies import read_json_object, ring_json

router = APIRouter(tags=["live view"])

#: request bodies above this are refused (413) [sim]; an offer is a few KiB
MAX_BODY_BYTES = 64 * 1024


async def _body(request: Request) -> dict[str, Any] | Response:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        return ring_json({"error": "request body too large"}, status=413)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return ring_json({"error": "request body too large"}, status=413)
    body = await read_json_object(request)
    if body is None:
        return ring_json({"error": "a JSON object body is required"}, status=400)
    return body


@router.post("/start")
async def start(request: Request, caller: TokenDep, state: StateDep) -> Response:
    body = await _body(request)
    if isinstance(body, Response):
        return body
    rest_id = body.get("session_id")
    if not isinstance(rest_id, str) or not rest_id or len(rest_id) > 128:
        return ring_json({"error": "session_id (a string) is required"}, status=400)
    if body.get("protocol", "webrtc") != "webrtc":
        return ring_json({"error": "protocol must be webrtc"}, status=400)
    service = state.live
    try:
        session = service.open(body.get("device_id"), body.get("sdp"), "rest", rest_id=rest_id)
        delay = service.knobs.answer_delay_s
        if delay > 0:  # slow start
            await service.wait_closed(session, delay)
        answer = await service.answer(session, str(body["sdp"]))
    except Refused as refused:
        return ring_json(refused.body or {"error": refused.text}, status=refused.status)
    return ring_json({"sdp": answer})


@router.post("/end")
async def end(request: Request, caller: TokenDep, state: StateDep) -> Response:
    body = await _body(request)
    if isinstance(body, Response):
        return body
    session = state.live.find_rest(str(body.get("session_id") or ""))
    if session is not None:
        await state.live.close(session, CLOSE_NORMAL, "Ended by the client", "client")
    return ring_json({})


@router.patch("/options")
async def options(request: Request, caller: TokenDep, state: StateDep) -> Response:
    body = await _body(request)
    if isinstance(body, Response):
        return body
    session = state.live.find_rest(str(body.get("session_id") or ""))
    actions = body.get("actions")
    if session is not None and isinstance(actions, list) and "turn_off_stealth_mode" in actions:
        session.stealth_mode = False  # the camera's speaker is on (two-way audio)
    return ring_json({})
