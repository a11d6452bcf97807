"""The web UI of ``ringvault serve`` (issue 13): pages rendered on the server, a little JavaScript, no build step.

Layout of this package:

- ``render.py``: the Jinja2 environment (autoescape on for every template) and :func:`render`, which every page uses.
- ``headers.py``: the security headers of every response (a Content-Security-Policy without inline scripts or
  styles: every script and style sheet is a file under ``/assets``).
- ``pages/<name>.py``: one module per page (or group of pages). A module defines ``router`` (an ``APIRouter``) and,
  for an entry in the navigation bar, ``NAV`` (a :class:`~ringvault.server.ui.render.NavItem`). Modules are found by
  :func:`page_modules`, so a new page is a new file and touches nothing else.
- ``templates/``: ``base.html`` (the layout) and one template per page; ``static/``: the files served at
  ``/assets`` (``ui.css``, ``ui.js`` and each page's own script).

Data reaches the browser in the HTML itself (escaped by Jinja2), in ``data-*`` attributes, or in
``<script type="application/json">`` blocks written with ``|tojson`` (which escapes ``<``, ``>`` and ``&``); never by
building markup from Ring data in JavaScript with ``innerHTML``: scripts use ``textContent`` and DOM methods.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "install_ui", "page_modules", "warm_up"]

#: where the UI's scripts, style sheets and images are served from
ASSETS_URL = "/assets"


def page_modules() -> list[ModuleType]:
    """Every module of ``ringvault.server.ui.pages``, in name order."""
    from ringvault.server.ui import pages

    names = sorted(info.name for info in pkgutil.iter_modules(pages.__path__) if not info.name.startswith("_"))
    return [importlib.import_module(f"{pages.__name__}.{name}") for name in names]


def install_ui(app: FastAPI) -> None:
    """Add the pages and ``/assets`` to ``app`` (the pages are not part of the OpenAPI schema)."""
    from ringvault.server.ui.render import register_nav

    for module in page_modules():
        router: APIRouter = module.router
        app.include_router(router, include_in_schema=False)
        nav = getattr(module, "NAV", None)
        if nav is not None:
            register_nav(nav)
    from importlib.resources import files

    app.mount(ASSETS_URL, StaticFiles(directory=str(files("ringvault.server.ui") / "static")), name="assets")


def warm_up(app: FastAPI) -> None:
    """When the server has started: each page module's ``warm_up(app)`` (e.g. the activity page counts its totals
    in a thread so that its first visit does not wait). A failure is logged, never fatal."""
    import logging

    for module in page_modules():
        hook = getattr(module, "warm_up", None)
        if hook is None:
            continue
        try:
            hook(app)
        except Exception:
            logging.getLogger("ringvault.server").exception("warming up %s failed", module.__name__)
