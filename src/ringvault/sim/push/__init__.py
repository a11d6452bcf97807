"""The simulator's stand-in for Firebase Cloud Messaging (reference §8; docs/simulator.md "Push notifications"):
Google's registration hosts under the CLOUD_URL rule, a TLS MCS endpoint on its own loopback port, web-push
(``aesgcm``) encryption with the keys each client registered, and Ring's notifications for dings, motions,
intercoms and alarm notices.

Nothing is imported here eagerly: ``ringvault.sim.config`` imports ``push.config`` and the service imports the
config back. The package never imports ``ringvault.cloud``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["register"]


def register(app: FastAPI) -> None:
    """Mount Google's hosts at their CLOUD_URL prefixes and the control routes under ``/_sim``."""
    from ringvault.sim.push import control, google

    app.include_router(google.checkin_router, prefix=f"/{google.CHECKIN_HOST}")
    app.include_router(google.installations_router, prefix=f"/{google.INSTALLATIONS_HOST}")
    app.include_router(google.registrations_router, prefix=f"/{google.REGISTRATIONS_HOST}")
    app.include_router(control.router, prefix="/_sim")
