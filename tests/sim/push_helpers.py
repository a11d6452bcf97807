"""firebase-messaging, unmodified, pointed at the simulator: the way any client can be configured.

- HTTP: firebase-messaging makes every registration call on the ``http_client_session`` it is given.
  ``SimSession`` is a small ``aiohttp.ClientSession`` subclass whose ``_request`` sends ``https://HOST/PATH`` to
  ``{simulator}/HOST/PATH`` (the CLOUD_URL rule). aiohttp offers no hook that may change a request's URL (client
  middlewares see a request already bound to its host, trace configs only observe), hence the subclass.
- MCS: ``FcmPushClient._open_connection(host, port, ssl_context)`` is the library's one connection point; the
  subclass dials the simulator's MCS port with a context that trusts only the simulator's throwaway certificate
  (SNI and the host name check stay ``mtalk.google.com``, which the certificate names).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
from firebase_messaging import FcmPushClient, FcmPushClientConfig, FcmRegisterConfig
from yarl import URL

from ringvault.sim.server import SimServer
from tests.sim.helpers import CLIENTS

#: The Ring Android app's Firebase project (reference §8.1).
RING_FCM = FcmRegisterConfig(
    project_id="ring-17770",
    app_id="1:876313859327:android:e10ec6ddb3c81f39",
    api_key="AIzaSyCv-hdFBmmdBBJadNy-TFwB-xN_H5m3Bk8",
    messaging_sender_id="876313859327",
)
WAIT_S = 60.0  # generous: a busy 2-core machine

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp discourages subclassing; see the module doc

    class SimSession(aiohttp.ClientSession):
        """Sends ``https://HOST/PATH`` to ``{base}/HOST/PATH``; other URLs go out unchanged."""

        def __init__(self, base: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._base = base.rstrip("/")

        async def _request(self, method: str, str_or_url: Any, **kwargs: Any) -> aiohttp.ClientResponse:
            url = URL(str(str_or_url))
            if url.scheme == "https" and url.host:
                url = URL(f"{self._base}/{url.host}{url.raw_path_qs}", encoded=True)
            return await super()._request(method, url, **kwargs)


class SimFcmClient(FcmPushClient):
    """``FcmPushClient`` whose MCS connection goes to the simulator's TLS port, trusting its certificate only."""

    mcs_port: int = 0
    mcs_certificate: str = ""

    async def _open_connection(  # type: ignore[override]
        self, host: str, port: int, ssl_context: ssl.SSLContext
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context(cafile=self.mcs_certificate)
        return await asyncio.open_connection("127.0.0.1", self.mcs_port, ssl=context, server_hostname=host)


def fast_config() -> FcmPushClientConfig:
    """The library's own knobs, shortened so that resets after a drop take well under a second."""
    return FcmPushClientConfig(reset_interval=0.2, start_seconds_before_retry_connect=0.2, monitor_interval=0.5)


class Received:
    """The notification callback: every (message, persistent_id), and a way to wait for the n-th."""

    def __init__(self) -> None:
        self.items: list[tuple[dict[str, Any], str]] = []
        self._changed = asyncio.Event()

    def __call__(self, message: dict[str, Any], persistent_id: str, context: Any = None) -> None:
        self.items.append((message, persistent_id))
        self._changed.set()

    async def wait_for(self, count: int) -> list[tuple[dict[str, Any], str]]:
        deadline = time.monotonic() + WAIT_S
        while len(self.items) < count:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {len(self.items)} of {count} notifications arrived"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return list(self.items)


async def make_client(
    sim: SimServer,
    session: aiohttp.ClientSession,
    received: Received,
    credentials: dict[str, Any] | None = None,
    on_credentials: Callable[[dict[str, Any]], None] | None = None,
    persistent_ids: list[str] | None = None,
) -> SimFcmClient:
    info = (await push_info(sim))["mcs"]
    client = SimFcmClient(
        received,
        RING_FCM,
        credentials,
        on_credentials,
        received_persistent_ids=persistent_ids,
        config=fast_config(),
        http_client_session=session,
    )
    client.mcs_port = int(info["port"])
    client.mcs_certificate = str(info["certificate"])
    return client


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def register_with_ring(
    ring: httpx.AsyncClient, token: str, *, pn_dict_version: str | None = "2.0.0"
) -> httpx.Response:
    """``PATCH clients_api/device`` with the body ring-client-api sends (§8.2)."""
    metadata: dict[str, Any] = {"api_version": 11, "device_model": "ring-client-api", "pn_service": "fcm"}
    if pn_dict_version is not None:
        metadata["pn_dict_version"] = pn_dict_version
    body = {"device": {"metadata": metadata, "os": "android", "push_notification_token": token}}
    return await ring.patch(f"{CLIENTS}/device", json=body)


async def control(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    """Call the control API (``/_sim/...``); answers the JSON body; raises on an error status."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:
        answer = await http.request(method, path, json=body)
    answer.raise_for_status()
    return answer.json()


async def device_id(sim: SimServer, kind: str) -> int:
    devices = (await control(sim, "GET", "/_sim/world"))["devices"]
    return int(next(d["id"] for d in devices if d["kind"] == kind))


async def push_info(sim: SimServer) -> dict[str, Any]:
    data: dict[str, Any] = await control(sim, "GET", "/_sim/push")
    return data


async def wait_for_info(sim: SimServer, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll ``GET /_sim/push`` until ``predicate`` holds (generous deadline)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        info = await push_info(sim)
        if predicate(info):
            return info
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def ding(sim: SimServer, device: int, path: str = "ding", body: Any = None) -> dict[str, Any]:
    """``POST /_sim/devices/{id}/{path}``: the event and its pushes."""
    data: dict[str, Any] = await control(sim, "POST", f"/_sim/devices/{device}/{path}", body)
    return data


def ring_client(sync: httpx.Client) -> httpx.AsyncClient:
    """An async client with the bearer token and hardware id of a logged-in sync client."""
    return httpx.AsyncClient(base_url=str(sync.base_url), headers=dict(sync.headers), timeout=30)
