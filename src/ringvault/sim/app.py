"""The simulated Ring cloud as one ASGI app: every Ring host is a path prefix (``/api.ring.com/...``).

``create_app`` mounts the OAuth token endpoint, the session endpoint, the ``/_sim`` control API, the data
routes (``ringvault.sim.routes``) and the Data Portability service (``ringvault.sim.portability``), and wraps
everything in the fault/statistics middleware.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringvault.sim import auth, control, hub, live, push
from ringvault.sim.auth import SimHTTPError
from ringvault.sim.config import SimConfig
from ringvault.sim.faults import FaultMiddleware, install_log_filter
from ringvault.sim.portability import control as dp_control
from ringvault.sim.portability import intake as dp_intake
from ringvault.sim.portability import oauth as dp_oauth
from ringvault.sim.routes import register_data_routes
from ringvault.sim.state import SimState


async def _sim_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SimHTTPError)
    return exc.response()


async def _unknown_path(request: Request, exc: Exception) -> Response:
    """Paths nothing serves answer Ring's 404 body ``{"status":404,"error":"Not Found"}`` (quoted from api.ring.com
    in tsightler/ring-mqtt#646) instead of FastAPI's ``{"detail":"Not Found"}``; other HTTP errors stay FastAPI's."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return JSONResponse({"status": 404, "error": "Not Found"}, status_code=404)
    return await http_exception_handler(request, exc)


def create_app(config: SimConfig | None = None, *, state: SimState | None = None) -> FastAPI:
    """Build the simulator app around ``state`` (or a new state built from ``config``)."""
    if state is None:
        state = SimState.build(config or SimConfig())
    app = FastAPI(
        title="ringvault simulated Ring cloud",
        description="Ring's account API and Data Portability service, simulated. Control API under /_sim/.",
        docs_url="/_sim/docs",
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.sim = state
    app.add_exception_handler(SimHTTPError, _sim_http_error)
    app.add_exception_handler(StarletteHTTPException, _unknown_path)
    app.include_router(auth.router, prefix="/oauth.ring.com")
    app.include_router(auth.session_router, prefix="/api.ring.com")
    app.include_router(control.router, prefix="/_sim")
    # Data Portability: Login with Ring on both OAuth hosts, the six intake hosts, its files and notifications.
    app.include_router(dp_oauth.router, prefix=f"/{dp_oauth.RING_OAUTH_HOST}")
    app.include_router(dp_oauth.router, prefix=f"/{dp_oauth.BLINK_OAUTH_HOST}")
    app.include_router(dp_oauth.blink_token_router, prefix=f"/{dp_oauth.BLINK_OAUTH_HOST}")
    app.include_router(dp_control.router, prefix="/_sim/portability")
    dp_intake.register(app)
    register_data_routes(app)
    hub.register(app)
    push.register(app)
    live.register(app)
    app.add_middleware(FaultMiddleware)
    install_log_filter()
    return app
