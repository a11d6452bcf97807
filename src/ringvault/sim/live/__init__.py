"""The simulator's live view (reference §9, §4.11; docs/simulator.md "Live view"): the signalling WebSocket under
the CLOUD_URL rule, an aiortc answerer per session that streams a generated test pattern per camera with the
simulated time burnt in and a tone, the REST start/end/options path, and ``/_sim/live``.

Imports stay lazy: ``ringvault.sim.config`` imports ``live.config``, and aiortc is loaded only when the simulator
app is built. The package never imports ``ringvault.cloud``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SIGNALLING_HOST", "register"]

SIGNALLING_HOST = "api.prod.signalling.ring.devices.a2z.com"


def register(app: FastAPI) -> None:
    """Mount the signalling socket, the REST routes on ``api.ring.com`` and the control routes at ``/_sim/live``."""
    from ringvault.sim.live import control, rest, signalling

    app.add_api_websocket_route(f"/{SIGNALLING_HOST}/ws", signalling.signalling_socket, name="live_signalling")
    app.include_router(rest.router, prefix="/api.ring.com/integrations/v1/liveview")
    app.include_router(control.router, prefix="/_sim/live")
