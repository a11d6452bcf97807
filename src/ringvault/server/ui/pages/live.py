"""The live view page (``/live/{device_id}``, issue 14 Deliver 4): a camera's live view in the browser.

The page holds a ``<video>`` element and Start / Stop buttons; ``static/live.js`` makes the browser's
``RTCPeerConnection``, sends its offer to ``POST /api/live/{device_id}`` and plays the answer's tracks
(``server/live.py`` relays the camera's session to it). The devices page links here from every camera card.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store.device_overview import DeviceOverview, device_overview
from ringvault.server.context import ServerContext
from ringvault.server.ui.render import render

router = APIRouter()

#: device families that stream (Ring's doorbells and cameras; chimes, intercoms and hubs have no live view, §9.8)
LIVE_FAMILIES = frozenset({"doorbots", "authorized_doorbots", "stickup_cams"})


def has_live_view(device: DeviceOverview) -> bool:
    return device.family in LIVE_FAMILIES


@router.get("/live/{device_id}", response_class=HTMLResponse)
def live_page(request: Request, device_id: int = Path(ge=1, le=2**63 - 1)) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    device = next((d for d in device_overview(ctx.store) if d.id == device_id), None)
    if device is None or not has_live_view(device):
        return render(request, "live.html", title="No such camera", status_code=404, device=None)
    return render(request, "live.html", title=f"Live: {device.name or device.id}", device=device)
