"""The login form of a server with an API key (``/login``) and the logout (``POST /logout``).

Not in the navigation bar. ``/login`` and ``/logout`` are open paths (``server/security.py``); the login form is
CSRF-protected by the nonce cookie like every other form (so no other site can log a browser in with a key of its
choosing), and the logout by the session's token. A server without a key has no sessions: both redirect to ``/``.
"""

from __future__ import annotations

import logging
import math
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ringvault.server.security import auth_kind, safe_next
from ringvault.server.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    SESSION_STATE,
    BrowserSessions,
    LoginThrottle,
    came_over_https,
    cookie_header,
)
from ringvault.server.ui.render import render

router = APIRouter()
log = logging.getLogger("ringvault.server")
#: the form fields read (anything else in the body is ignored; the key field is bounded like any text)
MAX_KEY_CHARS = 512


def _sessions(request: Request) -> BrowserSessions:
    sessions: BrowserSessions = request.app.state.sessions
    return sessions


def _login_form(request: Request, *, next_path: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    return render(
        request, "login.html", title="Log in", status_code=status_code, nav=[], next_path=next_path, error=error
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    target = safe_next(next)
    sessions = _sessions(request)
    if not sessions.enabled or auth_kind(request) == "session":  # nothing to log in to, or logged in already
        return RedirectResponse(target, status_code=303)
    return _login_form(request, next_path=target)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the key (CSRF was checked by the middleware): a session cookie and back to ``next``, or the form with
    one line saying what went wrong."""
    sessions = _sessions(request)
    fields = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), max_num_fields=20))
    target = safe_next(fields.get("next"))
    if not sessions.enabled:
        return RedirectResponse(target, status_code=303)
    throttle: LoginThrottle = request.app.state.login_throttle
    client = request.client.host if request.client else "unknown"
    wait = throttle.wait_s(client)
    if wait > 0:
        message = f"Too many wrong keys from your address: wait {math.ceil(wait)} s, then try again."
        response = _login_form(request, next_path=target, error=message, status_code=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    key = fields.get("key", "")
    if not key.strip():
        return _login_form(request, next_path=target, error="Enter the API key the server was started with.",
                           status_code=400)  # fmt: skip
    if len(key) > MAX_KEY_CHARS or not sessions.check_key(key):
        throttle.failed(client)
        log.warning("a wrong API key was entered in the login form (client %s)", client)
        return _login_form(
            request,
            next_path=target,
            error="Wrong API key: enter the key the server was started with (RINGVAULT_API_KEY).",
            status_code=401,
        )
    throttle.succeeded(client)
    _session_id, cookie = sessions.new_session()
    redirect = RedirectResponse(target, status_code=303)
    secure = came_over_https(request)
    redirect.headers.append(
        "set-cookie", cookie_header(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_S, secure=secure)
    )
    return redirect


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session (its cookie is refused from now on) and clear the cookies; back to the login form."""
    sessions = _sessions(request)
    state = request.scope.get("state", {})
    session_id = state.get(SESSION_STATE) if isinstance(state, dict) else None
    if isinstance(session_id, str):
        sessions.end_session(session_id)
    response = RedirectResponse("/login" if sessions.enabled else "/", status_code=303)
    secure = came_over_https(request)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.headers.append("set-cookie", cookie_header(name, "", max_age=0, secure=secure))
    return response
