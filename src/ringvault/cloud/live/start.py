"""Starting a live view of a ``RingCamera``: the guards, the ticket, the socket URL, then ``LiveViewSession``."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ringvault.cloud.endpoints import (
    SIGNALLING_SOCKET,
    SIGNALSOCKET_TICKET_PATH,
    app_api,
    signalling_url,
    websocket_url,
)
from ringvault.cloud.errors import ResponseFormatError, RingHttpError
from ringvault.cloud.live.errors import LiveViewBlockedError, LiveViewLimitError
from ringvault.cloud.live.options import RING_ICE_SERVERS, LiveViewOptions
from ringvault.cloud.live.session import LiveViewSession
from ringvault.cloud.live.signalling import client_id
from ringvault.transport import register_secret

if TYPE_CHECKING:
    from ringvault.cloud.camera import RingCamera
    from ringvault.cloud.http import RingHttp

__all__ = ["MAX_SESSIONS", "MAX_SESSIONS_PER_CAMERA", "fetch_ticket", "open_sessions", "start_live_view"]

log = logging.getLogger("ringvault.cloud.live")

#: Live views open at once in this process: per camera, and in all (each costs a peer connection, two decoder
#: threads and its frames; Ring's own apps show one view per camera).
MAX_SESSIONS_PER_CAMERA = 2
MAX_SESSIONS = 16
_open: dict[int, set[LiveViewSession]] = {}


def open_sessions(camera_id: int | None = None) -> int:
    """Live views of this process not closed yet (of one camera, or all)."""
    if camera_id is not None:
        return len(_open.get(camera_id, ()))
    return sum(len(sessions) for sessions in _open.values())


def _admit(camera: RingCamera) -> None:
    if open_sessions(camera.id) >= MAX_SESSIONS_PER_CAMERA:
        raise LiveViewLimitError(
            f"{camera.name} already has {MAX_SESSIONS_PER_CAMERA} live views open in this process",
            hint="Close one (session.close()) before opening another.",
        )
    if open_sessions() >= MAX_SESSIONS:
        raise LiveViewLimitError(
            f"{MAX_SESSIONS} live views are open in this process", hint="Close one before opening another."
        )


def _track(session: LiveViewSession) -> None:
    sessions = _open.setdefault(session.doorbot_id, set())
    sessions.add(session)

    def forget() -> None:
        sessions.discard(session)
        if not sessions and _open.get(session.doorbot_id) is sessions:
            del _open[session.doorbot_id]

    session.on_cleanup(forget)


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
    if opts.host_addresses is None and cloud_url and _is_loopback_url(cloud_url):
        opts = replace(opts, host_addresses=("127.0.0.1",))
    _admit(camera)
    ticket = await fetch_ticket(http, camera.name)
    url = signalling_url(ticket, client_id(), base=opts.signalling_url or SIGNALLING_SOCKET)
    resolved = websocket_url(url, cloud_url)

    async def socket_url() -> str:
        return resolved

    session = LiveViewSession(doorbot_id=camera.id, name=camera.name, socket_url=socket_url, options=opts)
    _track(session)
    return await session.start()


def _is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (a simulator on 127.0.0.1, ::1 or localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
