"""The simulated Ring Alarm and Smart Lighting hubs: the hub WebSocket, its seeded devices, rs/history, the REST
around them and the ``/_sim/hub`` control API (reference §4.8, §4.9, §5.4, §7; docs/simulator.md).

The package never imports ``ringvault.cloud``: it mirrors Ring, not our client.
"""

from __future__ import annotations

from fastapi import FastAPI

from ringvault.sim.hub.service import HUB_HOST

__all__ = ["HUB_HOST", "register"]

APP_API_PREFIXES = ("/prd-api-us.prd.rings.solutions/api/v1", "/app.ring.com/api/v1")


def register(app: FastAPI) -> None:
    """Mount the socket at ``/{HUB_HOST}/ws``, the REST routes at their hosts and the control API at ``/_sim/hub``."""
    from ringvault.sim.hub import control, endpoint, rest

    app.add_api_websocket_route(f"/{HUB_HOST}/ws", endpoint.hub_socket, name="hub_socket")
    for index, prefix in enumerate(APP_API_PREFIXES):
        app.include_router(rest.app_router, prefix=prefix, include_in_schema=index == 0)
    app.include_router(rest.api_router, prefix="/api.ring.com")
    app.include_router(control.router, prefix="/_sim/hub")
