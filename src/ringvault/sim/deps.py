"""FastAPI dependencies for the simulator's Ring routes: the shared state, the bearer token, the session.

Use ``TokenDep`` on every Ring API route and ``SessionDep`` on ``clients_api/*`` routes (reference section 3.2:
the session check applies only there). Raise ``SimHTTPError`` to answer with one of Ring's exact JSON bodies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ringvault.sim.auth import Caller, SimHTTPError
from ringvault.sim.state import SimState

__all__ = [
    "Caller",
    "SessionDep",
    "SimHTTPError",
    "StateDep",
    "TokenDep",
    "get_state",
    "require_session",
    "require_token",
]


def get_state(request: Request) -> SimState:
    """The running simulator's state (``app.state.sim``; replaced as a whole by ``POST /_sim/reset``)."""
    state: SimState = request.app.state.sim
    return state


async def require_token(request: Request) -> Caller:
    """A valid, unexpired, unrevoked bearer access token, else 401 ``invalid_token``."""
    state = get_state(request)
    return state.auth.authenticate(request.headers.get("authorization"), request.headers.get("hardware_id"))


async def require_session(request: Request) -> Caller:
    """``require_token`` plus a live session for the caller's hardware id on ``clients_api/*`` calls, else
    404 ``{"error": "Session not found for <hardware_id>"}``."""
    caller = await require_token(request)
    path = request.url.path
    if "/clients_api/" in path and not path.rstrip("/").endswith("/clients_api/session"):
        get_state(request).auth.require_session(caller.hardware_id)
    return caller


TokenDep = Annotated[Caller, Depends(require_token)]
SessionDep = Annotated[Caller, Depends(require_session)]
StateDep = Annotated[SimState, Depends(get_state)]
