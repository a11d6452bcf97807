"""Rendering pages: one Jinja2 environment with autoescape on for every template, and the navigation bar.

Device names, event kinds and every other string that comes from Ring is user input (a device can be named
``<img src=x onerror=alert(1)>``): templates print them with ``{{ value }}`` (escaped); ``|safe`` and ``Markup`` are
not used on anything that came from Ring or from a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from ringvault import __version__
from ringvault.server.security import auth_kind
from ringvault.server.sessions import CSRF_COOKIE, CSRF_MAX_AGE_S, BrowserSessions, came_over_https, cookie_header

__all__ = ["NavItem", "csrf_token", "environment", "nav_items", "register_nav", "render", "set_csrf_cookie"]


@dataclass(frozen=True, slots=True)
class NavItem:
    """An entry of the navigation bar: ``order`` sorts them, ``path`` is where it links, ``label`` what it says."""

    order: int
    path: str
    label: str


_NAV: dict[str, NavItem] = {}


def register_nav(item: NavItem) -> None:
    _NAV[item.path] = item


def nav_items() -> list[NavItem]:
    return sorted(_NAV.values(), key=lambda item: (item.order, item.path))


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A timestamp as text (``—`` when there is none); pages that show local time convert before."""
    return value.strftime(fmt) if value is not None else "—"


def _make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ringvault.server.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,  # a misspelt variable is an error in the tests, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals["version"] = __version__
    return env


environment = _make_environment()


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser, also left in ``request.state.csrf_token`` (see ``server/sessions.py``): the
    signature of its session, or of the nonce in its CSRF cookie; a browser with neither gets a new nonce, which
    :func:`render` sets as a cookie with the page."""
    existing = getattr(request.state, "csrf_token", None)
    if isinstance(existing, str) and existing:
        return existing
    sessions: BrowserSessions = request.app.state.sessions
    token, nonce = sessions.page_token(request)
    request.state.csrf_token = token
    request.state.csrf_nonce = nonce
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Send the CSRF nonce :func:`csrf_token` made for this request, if it made one."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if isinstance(nonce, str):
        secure = came_over_https(request)
        response.headers.append("set-cookie", cookie_header(CSRF_COOKIE, nonce, max_age=CSRF_MAX_AGE_S, secure=secure))


def render(request: Request, template: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, plus what ``base.html`` needs: the page ``title``, the navigation
    bar with the current page marked, ``csrf_token`` (:func:`csrf_token`: forms carry it in a hidden field and
    scripts read it from ``<meta name="csrf-token">``) and ``session_active`` (a logout button)."""
    values: dict[str, Any] = {
        "request": request,
        "title": title,
        "nav": nav_items(),
        "current_path": request.url.path,
        "csrf_token": csrf_token(request),
        "session_active": auth_kind(request) == "session",
        "assets": "/assets",
    }
    values.update(context)
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    set_csrf_cookie(request, response)
    return response
