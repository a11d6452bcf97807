"""How the unmodified firebase-messaging library reaches Google, or the simulator's stand-in when a cloud URL is set.

Nothing of the library is patched; two of its own seams are used:

- **HTTP** (check-in, register3, installations, registrations): ``FcmPushClient`` takes an ``http_client_session``.
  With a cloud URL, ringvault hands it an aiohttp session with a client middleware (aiohttp ≥ 3.12) that sends every
  ``https://HOST/PATH`` request to ``{CLOUD_URL}/HOST/PATH`` instead: the one endpoint rule of ``cloud/endpoints.py``.
  A middleware rather than a ``ClientSession`` subclass, because aiohttp discourages subclassing (a
  ``DeprecationWarning``) and a middleware is its documented hook for this.
- **MCS** (the TLS socket that delivers the messages): ``McsEndpointPushClient`` overrides the library's
  ``_open_connection`` to connect to the simulator's MCS host and port with a TLS context that trusts only the
  simulator's certificate (no system CA, host name checked).

Where that endpoint is, when a cloud URL is set: ``RINGVAULT_PUSH_MCS`` (``host:port``) and ``RINGVAULT_PUSH_CA``
(a PEM file) when both are set, else the simulator's ``GET {CLOUD_URL}/_sim/push`` (see ``mcs_endpoint_from_info``).
Without a cloud URL the library's own ``mtalk.google.com:5228`` and the system's CAs are used, untouched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import ClientRequest, ClientResponse, ClientSession, ClientTimeout
from firebase_messaging import FcmPushClient, FcmPushClientRunState
from firebase_messaging.proto.mcs_pb2 import DataMessageStanza, LoginResponse
from google.protobuf.message import Message

from ringvault.cloud.endpoints import resolve

__all__ = [
    "MCS_CA_ENV",
    "MCS_ENV",
    "CloudUrlRewrite",
    "McsEndpoint",
    "McsEndpointPushClient",
    "McsUnavailableError",
    "cloud_session",
    "discover_mcs_endpoint",
    "mcs_endpoint_from_info",
]

log = logging.getLogger(__name__)

MCS_ENV = "RINGVAULT_PUSH_MCS"
MCS_CA_ENV = "RINGVAULT_PUSH_CA"
SIM_PUSH_INFO_PATH = "/_sim/push"
_INFO_TIMEOUT = ClientTimeout(total=10)
_MAX_INFO_BYTES = 256 * 1024
#: Hop-by-hop and per-request headers that the rewritten request computes again.
_DROP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class McsUnavailableError(Exception):
    """No MCS endpoint can be used (the simulator offers none, its info is malformed, the certificate is bad)."""


@dataclass(frozen=True)
class McsEndpoint:
    """A local MCS endpoint (the simulator's): where to connect, and the only certificate to trust."""

    host: str
    port: int
    ca_pem: str

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts ``ca_pem`` alone (not the system's CAs) and checks the host name."""
        try:
            context = ssl.create_default_context(cadata=self.ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise McsUnavailableError(f"the MCS certificate is not a usable PEM certificate ({exc})") from exc
        return context


class CloudUrlRewrite:
    """An aiohttp client middleware: ``https://HOST/PATH`` -> ``{cloud_url}/HOST/PATH`` (``endpoints.resolve``).

    The rewritten request is sent by the same session with ``middlewares=()`` (so it is not rewritten twice), with the
    original method, headers (less ``Host`` and the length, which aiohttp sets again) and body."""

    def __init__(self, cloud_url: str) -> None:
        self.cloud_url = cloud_url

    async def __call__(self, request: ClientRequest, handler: Any) -> ClientResponse:
        original = str(request.url)
        target = resolve(original, self.cloud_url)
        if target == original or request.session is None:
            response: ClientResponse = await handler(request)
            return response
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}
        return await request.session.request(
            request.method,
            target,
            headers=headers,
            data=request.body,
            allow_redirects=False,
            middlewares=(),
        )


def cloud_session(cloud_url: str | None) -> ClientSession:
    """The aiohttp session firebase-messaging gets: plain for Ring (Google's real hosts), rewriting for a simulator."""
    if cloud_url is None:
        return ClientSession()
    return ClientSession(middlewares=(CloudUrlRewrite(cloud_url),))


def mcs_endpoint_from_info(info: Mapping[str, Any], cloud_url: str) -> McsEndpoint:
    """Read the simulator's ``/_sim/push`` answer: ``{"mcs": {"host", "port", "certificate"}}`` (``mcs`` is null
    while its MCS endpoint is not running).

    ``certificate`` is the PEM text or the path of a PEM file on this machine (the simulator's throwaway certificate;
    it is only ever used as the one CA to trust). Also accepted: ``ca_pem`` / ``cert_pem`` / ``certificate_pem`` for
    the PEM, and the same keys at the top level as ``mcs_host``, ``mcs_port``, ``mcs_certificate``. A missing host
    means the cloud URL's host."""
    mcs = info.get("mcs")
    section: Mapping[str, Any] = mcs if isinstance(mcs, Mapping) else {}

    def pick(*names: str) -> Any:
        for name in names:
            if section.get(name) is not None:
                return section[name]
            if info.get(f"mcs_{name}") is not None:
                return info[f"mcs_{name}"]
        return None

    port = pick("port")
    certificate = pick("certificate", "ca_pem", "cert_pem", "certificate_pem", "cert")
    host = pick("host") or urlsplit(cloud_url).hostname
    if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit():
        raise McsUnavailableError("the simulator's push info names no MCS endpoint (is its MCS server running?)")
    if not isinstance(host, str) or not host:
        raise McsUnavailableError("the simulator's push info names no MCS host")
    if not isinstance(certificate, str) or not certificate.strip():
        raise McsUnavailableError("the simulator's push info names no certificate")
    return McsEndpoint(host=host, port=int(port), ca_pem=_pem(certificate))


def _pem(certificate: str) -> str:
    """The PEM text itself, or the content of the PEM file it names."""
    if "BEGIN CERTIFICATE" in certificate:
        return certificate
    path = Path(certificate)
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_INFO_BYTES + 1)
    except OSError as exc:
        raise McsUnavailableError(f"cannot read the MCS certificate file {path}: {exc.strerror or exc}") from exc
    text = data.decode("utf-8", "replace")
    if len(data) > _MAX_INFO_BYTES or "BEGIN CERTIFICATE" not in text:
        raise McsUnavailableError(f"the MCS certificate file {path} holds no PEM certificate")
    return text


async def discover_mcs_endpoint(session: ClientSession, cloud_url: str) -> McsEndpoint:
    """The MCS endpoint to use with ``cloud_url``: from ``RINGVAULT_PUSH_MCS`` + ``RINGVAULT_PUSH_CA``, else from
    ``GET {cloud_url}/_sim/push``. Raises ``McsUnavailableError`` saying why not."""
    address = os.environ.get(MCS_ENV, "").strip()
    ca_file = os.environ.get(MCS_CA_ENV, "").strip()
    if address and ca_file:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise McsUnavailableError(f"{MCS_ENV} must look like 127.0.0.1:5228, got {address!r}")
        pem = await asyncio.to_thread(_pem, ca_file)
        return McsEndpoint(host=host.strip("[]"), port=int(port), ca_pem=pem)
    url = cloud_url + SIM_PUSH_INFO_PATH
    try:
        async with session.get(url, timeout=_INFO_TIMEOUT, middlewares=()) as response:
            if response.status != 200:
                raise McsUnavailableError(
                    f"{url} answered HTTP {response.status}: the cloud at {cloud_url} offers no push (MCS) endpoint"
                )
            body = await response.content.read(_MAX_INFO_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise McsUnavailableError(f"cannot read {url}: {type(exc).__name__}") from exc
    if len(body) > _MAX_INFO_BYTES:
        raise McsUnavailableError(f"{url} answered more than {_MAX_INFO_BYTES} bytes")
    try:
        info = json.loads(body)
    except ValueError as exc:
        raise McsUnavailableError(f"{url} did not answer JSON") from exc
    if not isinstance(info, dict):
        raise McsUnavailableError(f"{url} did not answer a JSON object")
    return await asyncio.to_thread(mcs_endpoint_from_info, info, cloud_url)


class McsEndpointPushClient(FcmPushClient):
    """firebase-messaging's client with two of its methods overridden in this subclass (its files untouched):

    - ``_open_connection`` connects the MCS socket to ``mcs_endpoint`` (the simulator) when one is set, instead of
      ``mtalk.google.com``;
    - ``_handle_data_message`` skips a message that cannot be decrypted or read: the library would raise out of its
      read loop and stop for good, and since the message was never acknowledged MCS would hand it over again after
      every restart. Skipped, it is acknowledged like any other and logged in one line (its persistent id only).
    - ``_handle_message`` calls ``on_login`` after each login MCS accepted: the first one and every reconnect the
      library makes by itself (which nothing else of it reports), so a caller can catch up on what a gap lost.

    Login, heartbeats, acknowledgements and decryption are the library's own."""

    mcs_endpoint: McsEndpoint | None = None
    undecryptable = 0
    on_login: Callable[[], None] | None = None

    async def _handle_message(self, msg: Message) -> None:
        await super()._handle_message(msg)
        if isinstance(msg, LoginResponse) and self.run_state is FcmPushClientRunState.STARTED and self.on_login:
            try:
                self.on_login()
            except Exception:  # never into the library's read loop
                log.exception("push: a login callback failed")

    def _handle_data_message(self, msg: DataMessageStanza) -> None:
        try:
            super()._handle_data_message(msg)
        except Exception as exc:
            self.undecryptable += 1
            log.warning(
                "push: skipped a message that could not be decrypted (%s); persistent id %s",
                type(exc).__name__,
                msg.persistent_id,
            )

    async def _open_connection(  # type: ignore[override]
        self, host: str, port: int, ssl_context: ssl.SSLContext
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        endpoint = self.mcs_endpoint
        if endpoint is None:
            return await asyncio.open_connection(host=host, port=port, ssl=ssl_context)
        return await asyncio.open_connection(
            host=endpoint.host, port=endpoint.port, ssl=endpoint.ssl_context(), server_hostname=endpoint.host
        )
