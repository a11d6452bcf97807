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
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from ringvault import __version__

__all__ = ["NavItem", "environment", "nav_items", "register_nav", "render"]


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


def render(request: Request, template: str, *, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, plus what ``base.html`` needs: the page ``title``, the navigation
    bar with the current page marked, and ``csrf_token`` (from ``request.state.csrf_token`` when the session layer has
    set one; forms carry it in a hidden field and scripts read it from ``<meta name="csrf-token">``)."""
    values: dict[str, Any] = {
        "request": request,
        "title": title,
        "nav": nav_items(),
        "current_path": request.url.path,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "assets": "/assets",
    }
    values.update(context)
    html = environment.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
