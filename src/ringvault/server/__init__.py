"""The HTTP server behind ``ringvault serve``: the seed-001 REST connector and a JSON API over the archive.

- ``app.py``: ``create_app(settings)`` (FastAPI), routers, JSON errors;
- ``connector.py``: ``/connector/download/today`` and ``/connector/download/{YYYYMMDD}`` (seed 001);
- ``api.py``: ``/api/sync``, ``/api/jobs``, ``/api/devices``, ``/api/events``, ``/api/media``, ``/healthz``;
- ``jobs.py``: background sync jobs, one at a time per archive; ``security.py``: API key, loopback rules.
"""

from ringvault.server.app import ROUTERS, create_app
from ringvault.server.context import ServerContext, ServerSettings

__all__ = ["ROUTERS", "ServerContext", "ServerSettings", "create_app"]
