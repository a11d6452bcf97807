"""The devices page (``/``): every camera, doorbell, chime and intercom in the archive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ringvault.server.context import ServerContext
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=10, path="/", label="Devices")


@router.get("/", response_class=HTMLResponse)
def devices_page(request: Request) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    devices = sorted(ctx.store.list_devices(), key=lambda d: ((d.name or "").casefold(), d.id))
    return render(request, "devices.html", title="Devices", devices=devices)
