"""The simulated Ring cloud as one ASGI app: every Ring host is a path prefix (``/api.ring.com/...``).

``create_app`` mounts the OAuth token endpoint, the session endpoint, the ``/_sim`` control API and the data
routes (``ringvault.sim.routes``), and wraps everything in the fault/statistics middleware.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ringvault.sim import auth, control
from ringvault.sim.auth import SimHTTPError
from ringvault.sim.config import SimConfig
from ringvault.sim.faults import FaultMiddleware, install_log_filter
from ringvault.sim.routes import register_data_routes
from ringvault.sim.state import SimState


async def _sim_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SimHTTPError)
    return exc.response()


def create_app(config: SimConfig | None = None, *, state: SimState | None = None) -> FastAPI:
    """Build the simulator app around ``state`` (or a new state built from ``config``)."""
    if state is None:
        state = SimState.build(config or SimConfig())
    app = FastAPI(
        title="ringvault simulated Ring cloud",
        description="Ring's account API, simulated. Control API under /_sim/.",
        docs_url="/_sim/docs",
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.sim = state
    app.add_exception_handler(SimHTTPError, _sim_http_error)
    app.include_router(auth.router, prefix="/oauth.ring.com")
    app.include_router(auth.session_router, prefix="/api.ring.com")
    app.include_router(control.router, prefix="/_sim")
    register_data_routes(app)
    app.add_middleware(FaultMiddleware)
    install_log_filter()
    return app
