"""Point the third-party ``ring-doorbell`` client at the simulator without touching its source.

``ring_doorbell.Auth`` accepts a caller-made aiohttp session. This session rewrites every ``https://HOST/PATH``
request to ``{sim_url}/HOST/PATH``, the same endpoint rule as ``ringvault.cloud.endpoints.resolve``.
"""

from __future__ import annotations

import warnings
from typing import Any

from aiohttp import ClientResponse, ClientSession
from yarl import URL


def rewrite(url: str | URL, sim_url: str) -> URL:
    """``https://HOST/PATH?Q`` -> ``{sim_url}/HOST/PATH?Q``; other URLs (already the simulator's) stay."""
    parsed = URL(url) if isinstance(url, str) else url
    if parsed.scheme != "https":
        return parsed
    return URL(f"{sim_url}/{parsed.raw_host}{parsed.raw_path_qs}", encoded=True)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp discourages subclassing; this is a test shim

    class SimulatorSession(ClientSession):
        """An aiohttp session whose requests to Ring's hosts go to the simulator."""

        def __init__(self, sim_url: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._sim_url = sim_url.rstrip("/")
            self.seen: list[str] = []

        async def _request(self, method: str, str_or_url: Any, **kwargs: Any) -> ClientResponse:
            target = rewrite(str_or_url, self._sim_url)
            self.seen.append(f"{method} {str_or_url}")
            return await super()._request(method, target, **kwargs)
