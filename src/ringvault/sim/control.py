"""The simulator's control API under ``/_sim``: knobs, faults, statistics, 2FA codes, sessions, tokens, clock.

Nothing here exists at Ring. Tests and the ``ringvault sim`` user drive the simulated cloud through it. Faults
and statistics never apply to these routes.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from ringvault.sim.config import FaultConfig, SimConfig
from ringvault.sim.live.config import LiveConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.push.config import PushConfig
from ringvault.sim.state import SimState

router = APIRouter(tags=["control"])

JsonBody = Annotated[dict[str, Any], Body()]


class ClockAdvance(BaseModel):
    """Body of ``POST /_sim/clock``."""

    advance_s: float = Field(ge=0, description="seconds to move the simulated clock forward")


def _state(request: Request) -> SimState:
    return cast(SimState, request.app.state.sim)


def _invalid(exc: ValidationError | None = None, *, unknown: list[str] | None = None) -> JSONResponse:
    detail: list[Any] = json.loads(exc.json(include_url=False)) if exc is not None else []
    if unknown:
        detail.append({"type": "extra_forbidden", "loc": unknown, "msg": "unknown field"})
    return JSONResponse({"error": "invalid", "detail": detail}, status_code=422)


def _unknown_keys(patch: dict[str, Any], model: type[BaseModel]) -> list[str]:
    return sorted(set(patch) - set(model.model_fields))


def _bad_pattern(faults: FaultConfig) -> JSONResponse | None:
    if faults.path_pattern is None:
        return None
    try:
        re.compile(faults.path_pattern)
    except re.error as exc:
        detail = [{"type": "regex", "loc": ["path_pattern"], "msg": f"not a regular expression: {exc}"}]
        return JSONResponse({"error": "invalid", "detail": detail}, status_code=422)
    return None


@router.get("/")
async def index(request: Request) -> dict[str, Any]:
    """This index: every control endpoint with a one-line description."""
    endpoints: list[dict[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. duplicate operation ids of GET+HEAD routes
        paths: dict[str, Any] = request.app.openapi().get("paths", {})
    for path, operations in sorted(paths.items()):
        if not path.startswith("/_sim"):
            continue
        for method, operation in operations.items():
            text = str(operation.get("description") or operation.get("summary") or "")
            endpoints.append({"method": method.upper(), "path": path, "description": text.strip().split("\n")[0]})
    return {
        "service": "ringvault simulated Ring cloud",
        "ring_hosts": "send https://HOST/PATH to {this server}/HOST/PATH, e.g. /api.ring.com/clients_api/ring_devices",
        "docs": "/_sim/docs",
        "endpoints": endpoints,
    }


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    """The whole simulator configuration."""
    return _state(request).config.model_dump(mode="json")


@router.patch("/config", response_model=None)
async def patch_config(request: Request, patch: JsonBody) -> dict[str, Any] | JSONResponse:
    """Change any configuration fields (validated); world-shaping fields take effect at the next reset."""
    state = _state(request)
    unknown = _unknown_keys(patch, SimConfig)
    sections = (("faults", FaultConfig), ("portability", PortabilityConfig), ("push", PushConfig), ("live", LiveConfig))
    for section, model in sections:
        section_patch = patch.get(section)
        if isinstance(section_patch, dict):
            unknown += [f"{section}.{k}" for k in _unknown_keys(section_patch, model)]
    if unknown:
        return _invalid(unknown=unknown)
    merged = state.config.model_dump()
    for key, value in patch.items():
        if key in ("faults", "portability", "push", "live") and isinstance(value, dict):
            merged[key] = {**merged[key], **value}  # nested sections merge
        else:
            merged[key] = value
    try:
        updated = SimConfig.model_validate(merged)
    except ValidationError as exc:
        return _invalid(exc)
    if (refused := _bad_pattern(updated.faults)) is not None:
        return refused
    for key in patch:
        setattr(state.config, key, getattr(updated, key))
    if "faults" in patch or "seed" in patch:
        state.faults.reset()
    return state.config.model_dump(mode="json")


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    """The current fault knobs."""
    return _state(request).config.faults.model_dump(mode="json")


def _set_faults(state: SimState, values: dict[str, Any]) -> dict[str, Any] | JSONResponse:
    unknown = _unknown_keys(values, FaultConfig)
    if unknown:
        return _invalid(unknown=unknown)
    try:
        faults = FaultConfig.model_validate(values)
    except ValidationError as exc:
        return _invalid(exc)
    if (refused := _bad_pattern(faults)) is not None:
        return refused
    state.config.faults = faults
    state.faults.reset()
    return faults.model_dump(mode="json")


@router.put("/faults", response_model=None)
async def put_faults(request: Request, values: JsonBody) -> dict[str, Any] | JSONResponse:
    """Replace all fault knobs (fields left out go back to their defaults: off)."""
    return _set_faults(_state(request), values)


@router.patch("/faults", response_model=None)
async def patch_faults(request: Request, values: JsonBody) -> dict[str, Any] | JSONResponse:
    """Change some fault knobs, keep the others."""
    state = _state(request)
    return _set_faults(state, {**state.config.faults.model_dump(), **values})


@router.get("/stats")
async def get_stats(request: Request, prefix: str | None = None) -> dict[str, Any]:
    """Request counts per endpoint ("METHOD host/route") and per status; ?prefix= filters endpoint keys."""
    return _state(request).stats.counts(prefix)


@router.delete("/stats", status_code=204)
async def delete_stats(request: Request) -> Response:
    """Clear the counts and the request log."""
    state = _state(request)
    state.stats.reset()
    state.portability.reset_counters()
    return Response(status_code=204)


@router.get("/requests")
async def get_requests(request: Request, limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> dict[str, Any]:
    """The most recent Ring-host requests (oldest first) with selected headers; secrets are redacted."""
    items = _state(request).stats.requests(limit)
    return {"count": len(items), "requests": items}


@router.get("/2fa")
async def get_2fa(request: Request) -> dict[str, Any]:
    """The two-factor code a user would type now, the delivery mode and how many codes were sent."""
    state = _state(request)
    return {
        "code": state.auth.current_2fa_code(),
        "tsv_state": state.config.tsv_state if state.config.two_factor else None,
        "codes_sent": state.auth.codes_sent(),
    }


@router.get("/sessions")
async def get_sessions(request: Request) -> dict[str, Any]:
    """Live client sessions ("Authorized Client Devices"): hardware id, device model, expiry."""
    return {"sessions": [s.as_json() for s in _state(request).auth.sessions()]}


@router.delete("/sessions/{hardware_id}", status_code=204)
async def delete_session(request: Request, hardware_id: str, revoke: bool = True) -> Response:
    """Remove an authorized client device: end its session and revoke its tokens. With ``?revoke=false`` only the
    session ends (as when Ring drops sessions after ~24 h), so a client must re-create it."""
    if not _state(request).auth.delete_session(hardware_id, revoke=revoke):
        return JSONResponse({"error": f"no session or token for {hardware_id}"}, status_code=404)
    return Response(status_code=204)


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request) -> dict[str, int]:
    """Revoke every access and refresh token (the next refresh answers 401 invalid_grant)."""
    return {"revoked": _state(request).auth.revoke_all()}


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> dict[str, int]:
    """Expire every access token now (refresh tokens keep working)."""
    return {"expired": _state(request).auth.expire_access_tokens()}


def _clock_json(state: SimState) -> dict[str, Any]:
    return {"now": state.clock.now(), "now_ms": state.clock.now_ms(), "offset_s": state.clock.offset}


@router.get("/clock")
async def get_clock(request: Request) -> dict[str, Any]:
    """Simulated time: epoch seconds and milliseconds, and the offset from wall time."""
    return _clock_json(_state(request))


@router.post("/clock")
async def advance_clock(request: Request, body: ClockAdvance) -> dict[str, Any]:
    """Move simulated time forward by advance_s seconds (token/session expiry, recording readiness, retention)."""
    state = _state(request)
    state.clock.advance(body.advance_s)
    return _clock_json(state)


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    """Rebuild the simulated cloud from the current config (fresh world, tokens, sessions, stats); keep the clock."""
    old = _state(request)
    old.portability.close()  # its ticker stops; the new state starts its own on the next request
    old.hub.close()  # its sockets close (1001); clients reconnect with a ticket of the new world
    await old.live.close_all("Simulator reset", "server: reset")  # live views end on both sides
    # Google's side (check-ins, FCM registrations, MCS connections and outboxes) is not Ring's: it survives.
    request.app.state.sim = SimState.build(old.config, old.clock, push=old.push)
    return {"reset": True, "clock": _clock_json(old)}
