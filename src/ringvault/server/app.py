"""``create_app``: the FastAPI application behind ``ringvault serve``.

Routers live one concern per module and are listed in :data:`ROUTERS`; a new surface (the Data Portability
notifications in ``server/portability.py``) is one more entry there. Every error is JSON ``{"error": "<one
line>"}``: bad input 400, missing API key 401, unknown ids 404, a full job queue 409, a body over 1 MB 413; Ring
failures map to 503 (not logged in: run ``ringvault login``), 429 (rate-limited) and 502 (Ring failed or cannot be
reached). No request ends in a 500 that the server could have foreseen: a body nested too deeply for the JSON parser
is a 400 like any other unreadable body.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from this server (``fastapi-offline`` ships
them): they work on a machine with no internet access, and the browser asks no other host for anything.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringvault import __version__
from ringvault.cloud.errors import (
    AuthenticationError,
    DeviceNotFoundError,
    RateLimitedError,
    RingError,
)
from ringvault.server import api, connector, events, hub, live, portability
from ringvault.server.context import Clock, ServerContext, ServerSettings
from ringvault.server.security import (
    MAX_BODY_BYTES,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    body_too_large,
    install_log_redaction,
)
from ringvault.server.sessions import BrowserSessions, LoginThrottle
from ringvault.server.ui import install_ui, warm_up
from ringvault.server.ui.headers import SecurityHeadersMiddleware

__all__ = ["ROUTERS", "create_app"]

log = logging.getLogger("ringvault.server")

#: Every router of the server, in the order they are included.
#: ``events`` before ``api``: ``/api/events/stream`` and ``/status`` are not event ids of ``/api/events/{id}``.
ROUTERS: list[APIRouter] = [
    api.health, connector.router, events.router, api.router, hub.router, live.router, portability.router,
]  # fmt: skip
#: where /docs and /redoc load Swagger UI's and ReDoc's files from (this server)
DOCS_STATIC_URL = "/docs/static"


def _ring_status(exc: RingError) -> int:
    if isinstance(exc, AuthenticationError):
        return 503
    if isinstance(exc, RateLimitedError):
        return 429
    if isinstance(exc, DeviceNotFoundError):
        return 404
    return 502  # Ring failed, answered something unexpected, or cannot be reached


def _validation_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    message = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = str(exc.detail)
        if exc.status_code == 413 and detail == "Content Too Large":  # Starlette's counter of streamed bodies
            detail = body_too_large(MAX_BODY_BYTES)
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"error": _validation_line(exc)}, status_code=400)

    async def ring_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RingError)
        log.warning("Ring request failed: %s", exc.one_line)
        return JSONResponse({"error": exc.one_line}, status_code=_ring_status(exc))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(RingError, ring_error)


def create_app(settings: ServerSettings, *, clock: Clock | None = None) -> FastAPI:
    """The server for ``settings``: opens (and migrates) the archive now, closes it when the app shuts down.

    ``clock`` replaces the wall clock that decides what "today" is (tests).
    """
    ctx = ServerContext(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction(settings.api_key)
        await ctx.start()
        warm_up(_app)
        try:
            yield
        finally:
            await ctx.aclose()

    app = FastAPIOffline(
        title="ringvault",
        version=__version__,
        summary="Your Ring archive over HTTP: the seed-001 connector, a JSON API and Data Portability imports.",
        lifespan=lifespan,
        static_url=DOCS_STATIC_URL,
        # no "valid" badge: Swagger UI would send the spec's URL to validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.ctx = ctx
    # the web UI's sessions and CSRF tokens (server/sessions.py), shared by the middleware and the pages
    app.state.sessions = BrowserSessions(settings.api_key)
    app.state.login_throttle = LoginThrottle()
    for router in ROUTERS:
        app.include_router(router)
    install_ui(app)
    _install_error_handlers(app)
    # the last added runs first: the security headers (on every answer, refusals included), the key, session, Host
    # and CSRF checks, then the body bound
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, sessions=app.state.sessions)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
