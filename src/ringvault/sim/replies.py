"""Helpers shared by the simulator's data routers: Ring-shaped errors, device lookup, PUT rules, query parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from email.utils import formatdate
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ringvault.sim.auth import SimHTTPError
from ringvault.sim.state import SimState
from ringvault.sim.world import Device, Location, UnknownDevice

#: §12 row 11: device offline (ASSET_OFFLINE).
ASSET_OFFLINE = 7019

_BRACKETS = re.compile(r"\[([^\]]*)\]")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d+$")


def ring_json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A compact JSON answer. Python's encoder writes big ints as bare integers, as Ring does."""
    return JSONResponse(content, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def not_found(body: dict[str, Any] | None = None) -> SimHTTPError:
    return SimHTTPError(404, body if body is not None else {"error": "Not Found"})


def http_date(epoch_s: float) -> str:
    return formatdate(epoch_s, usegmt=True)


def get_location(state: SimState, location_id: str) -> Location:
    """The account's location, or 404."""
    location = state.world.location(location_id)
    if location is None:
        raise not_found()
    return location


def get_device(state: SimState, device_id: int, *, online: bool = False) -> Device:
    """The device, or 404; with ``online=True`` an offline device answers 404 ``{"errors":[7019]}``."""
    try:
        device = state.world.device(device_id)
    except UnknownDevice:
        raise not_found() from None
    if online and device.offline:
        raise SimHTTPError(404, {"errors": [ASSET_OFFLINE]})
    return device


def require_json_put(request: Request, state: SimState) -> None:
    """Ring answers 422 to a PUT whose content type is present and not JSON (since Oct 2024; switchable).

    A PUT with no content type at all is accepted: ring-client-api has sent body-less PUTs without one since mid-2024
    and they work on Ring; the October 2024 422s hit clients that sent a non-JSON type (aiohttp adds
    ``application/octet-stream``). Reference §12 row 15, issue 11."""
    if not state.config.strict_put_content_type:
        return
    header = request.headers.get("content-type")
    if header is None or not header.strip():
        return
    content_type = header.split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise SimHTTPError(422, {"error": "Unprocessable Entity", "error_description": "unsupported content type"})


async def read_json_object(request: Request) -> dict[str, Any] | None:
    """The JSON object body, None when the body is empty or not a JSON object."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def coerce(value: str) -> Any:
    """Query-string values as the app would have meant them: ints, floats, booleans, else the string."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


def bracket_params(items: Iterable[tuple[str, str]], root: str) -> dict[str, Any]:
    """``doorbot[settings][chime_settings][type]=0`` → ``{"settings": {"chime_settings": {"type": 0}}}``."""
    out: dict[str, Any] = {}
    for key, value in items:
        if not key.startswith(root + "["):
            continue
        path = _BRACKETS.findall(key[len(root) :])
        if not path or any(not part for part in path):
            continue
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value if path == ["description"] else coerce(value)
    return out


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")
