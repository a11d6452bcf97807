"""``/_sim/live``: the live view sessions and their faults (nothing like it exists at Ring).

- ``GET /_sim/live``: open sessions (id, camera, via, state, started, frames sent, audio frames both ways, closed
  by...), the last closed ones, and how many peer connections and session tasks are still open;
- ``GET|PATCH /_sim/live/config``: the knobs (``SimConfig.live``; also ``PATCH /_sim/config {"live": {...}}``);
- ``POST /_sim/live/sessions/{id}/close`` ``{"after_s"?, "code"?, "text"?}``: close a session now (``close``
  frame, peer closed) or after ``after_s`` seconds; ``id`` is the listing's ``id`` or the ``session_id``;
- ``POST /_sim/live/close`` ``{"camera_id"?}``: close every session (of one camera).

A camera goes offline with ``PATCH /_sim/devices/{id} {"offline": true}``; live view is disabled by Modes with
``{"live_view_disabled": true}`` there too.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from ringvault.sim.live.config import LiveConfig
from ringvault.sim.live.session import CLOSE_NORMAL
from ringvault.sim.state import SimState

router = APIRouter(tags=["control"])

JsonBody = Annotated[dict[str, Any], Body()]


def _state(request: Request) -> SimState:
    return cast(SimState, request.app.state.sim)


@router.get("")
async def sessions(request: Request) -> dict[str, Any]:
    """Live view sessions (open and recently closed), open peer connections and tasks."""
    return _state(request).live.listing()


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    """The live view knobs."""
    return _state(request).config.live.model_dump(mode="json")


@router.patch("/config", response_model=None)
async def patch_config(request: Request, patch: JsonBody) -> dict[str, Any] | JSONResponse:
    """Change some live view knobs (validated; 422 on errors or unknown keys)."""
    state = _state(request)
    unknown = sorted(set(patch) - set(LiveConfig.model_fields))
    if unknown:
        return JSONResponse({"error": "invalid", "detail": [{"loc": unknown, "msg": "unknown field"}]}, 422)
    try:
        updated = LiveConfig.model_validate({**state.config.live.model_dump(), **patch})
    except ValidationError as exc:
        return JSONResponse({"error": "invalid", "detail": exc.errors(include_url=False, include_context=False)}, 422)
    state.config.live = updated
    return updated.model_dump(mode="json")


@router.post("/sessions/{session_ref}/close", response_model=None)
async def close_session(session_ref: str, request: Request, body: JsonBody | None = None) -> Response:
    """Close one session now, or ``after_s`` seconds from now (``code``/``text`` of the close frame optional)."""
    service = _state(request).live
    session = next((s for s in service.sessions.values() if session_ref in (s.id, s.session_id)), None)
    if session is None:
        return JSONResponse({"error": "no open session with this id"}, status_code=404)
    body = body or {}
    after = body.get("after_s")
    code = body.get("code", CLOSE_NORMAL)
    text = body.get("text", "Session closed by the camera")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(text, str) or len(text) > 500:
        return JSONResponse({"error": "code must be an integer and text a string"}, status_code=422)
    if after is not None:
        if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
            return JSONResponse({"error": "after_s must be a number >= 0"}, status_code=422)
        service.schedule_close(session, float(after), code, text)
        return JSONResponse(session.summary(), status_code=202)
    await service.close(session, code, text, "server: control")
    return JSONResponse(session.summary())


@router.post("/close")
async def close_all(request: Request, body: JsonBody | None = None) -> dict[str, Any]:
    """Close every open session, or those of ``camera_id``."""
    service = _state(request).live
    camera = (body or {}).get("camera_id")
    closed = 0
    for session in list(service.sessions.values()):
        if camera is None or session.camera_id == camera:
            await service.close(session, CLOSE_NORMAL, "Session closed by the camera", "server: control")
            closed += 1
    return {"closed": closed}
