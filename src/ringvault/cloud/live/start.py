"""Starting a live view of a ``RingCamera``: the guards, the ticket, the socket URL, then ``LiveViewSession``."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from ringvault.cloud.endpoints import (
    SIGNALLING_SOCKET,
    SIGNALSOCKET_TICKET_PATH,
    app_api,
    signalling_url,
    websocket_url,
)
from ringvault.cloud.errors import ResponseFormatError, RingHttpError
from ringvault.cloud.live.errors import LiveViewBlockedError
from ringvault.cloud.live.options import RING_ICE_SERVERS, LiveViewOptions
from ringvault.cloud.live.session import LiveViewSession
from ringvault.cloud.live.signalling import client_id
from ringvault.transport import register_secret

if TYPE_CHECKING:
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.http import RingHttp

__all__ = ["fetch_ticket", "start_live_view"]

log = logging.getLogger("ringvault.cloud.live")


async def fetch_ticket(http: RingHttp, name: str) -> str:
    """``POST clap/ticket/request/signalsocket`` (§9.1, a new ticket per stream); 403 → ``LiveViewBlockedError``."""
    try:
        doc = await http.request_json("POST", app_api(SIGNALSOCKET_TICKET_PATH))
    except RingHttpError as err:
        if err.status == 403:
            raise LiveViewBlockedError(f"live view of {name} is blocked by Modes (Ring refused the ticket)") from err
        raise
    ticket = doc.get("ticket") if isinstance(doc, dict) else None
    if not isinstance(ticket, str) or not ticket.strip():
        raise ResponseFormatError("the signalling ticket answer has no ticket")
    register_secret(ticket)
    return ticket


def live_view_disabled(camera: RingCamera) -> bool:
    settings = camera.data.settings
    return bool(settings is not None and settings.live_view_disabled)


async def start_live_view(
    camera: RingCamera, http: RingHttp, options: LiveViewOptions | None = None
) -> LiveViewSession:
    """Refuse at once when Modes disabled live view (§9.7, as rca does before connecting); else a ticket, the
    signalling URL (a new ``client_id`` per connection, the CLOUD_URL rule applied) and a started session."""
    opts = options or LiveViewOptions()
    if live_view_disabled(camera):
        raise LiveViewBlockedError(f"live view of {camera.name} is disabled by Modes (settings.live_view_disabled)")
    cloud_url = http.options.cloud_url
    if opts.ice_servers is None:
        # the simulator runs on this machine, and nothing may reach the internet: no STUN servers then
        opts = replace(opts, ice_servers=() if cloud_url else RING_ICE_SERVERS)
    ticket = await fetch_ticket(http, camera.name)
    url = signalling_url(ticket, client_id(), base=opts.signalling_url or SIGNALLING_SOCKET)
    resolved = websocket_url(url, cloud_url)

    async def socket_url() -> str:
        return resolved

    session = LiveViewSession(doorbot_id=camera.id, name=camera.name, socket_url=socket_url, options=opts)
    return await session.start()
