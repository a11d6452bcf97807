"""Who may talk to the server.

- **Loopback by default.** ``ringvault serve`` binds 127.0.0.1 and refuses any other address unless an API key is
  configured (:func:`check_bind`).
- **API key.** With a key, every request but ``GET /healthz`` must carry ``Authorization: Bearer <key>``; the
  comparison is constant-time (both sides hashed, then ``hmac.compare_digest``), and a refusal is a JSON 401 that
  never echoes what was sent. The key is never logged: it is not a setting's ``repr`` and it is never accepted in a
  URL (URLs end up in access logs).
- **Public Data Portability paths.** Ring POSTs query notifications, and customers' browsers open the Login with Ring
  start and redirect pages; none of them can carry the key, so ``/portability/notifications/...``,
  ``/portability/connect`` and ``/portability/callback`` are answered without it (:data:`PUBLIC_PREFIXES`; what
  protects each of them is described in ``server/portability.py``).
- **Host check without a key.** A loopback server without a key trusts every local client. To keep web pages from
  reaching it through DNS rebinding (a hostile name that resolves to 127.0.0.1), such a server only answers requests
  whose ``Host`` is a loopback name or address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "MIN_KEY_LENGTH",
    "OPEN_PATHS",
    "PUBLIC_PREFIXES",
    "ApiKeyMiddleware",
    "check_bind",
    "check_key",
    "install_access_log_redaction",
    "is_loopback",
    "is_open_path",
]

#: Paths answered without the key: liveness probes, and the Data Portability pages Ring and customers' browsers call.
OPEN_PATHS = frozenset({"/healthz", "/portability/connect", "/portability/callback"})
#: Path prefixes answered without the key (the notification endpoint, optionally under a path secret).
PUBLIC_PREFIXES = ("/portability/notifications/",)
MIN_KEY_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is the local machine only."""
    text = host.strip().lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def check_key(key: str) -> None:
    """Refuse keys that are too easy to guess (``ValueError`` with what to do)."""
    if len(key) < MIN_KEY_LENGTH or not key.strip():
        raise ValueError(
            f"the API key must be at least {MIN_KEY_LENGTH} characters; generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond loopback without an API key (``ValueError`` with what to do)."""
    if not is_loopback(host) and not api_key:
        raise ValueError(
            f"refusing to listen on {host}: anyone who can reach it could read the archive; set an API key "
            "(RINGVAULT_API_KEY, or --api-key-env NAME) or bind 127.0.0.1"
        )


def is_open_path(path: str) -> bool:
    """Whether ``path`` is answered without the API key."""
    return path in OPEN_PATHS or path.startswith(PUBLIC_PREFIXES)


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` → ``::1``, ``127.0.0.1:8080`` → ``127.0.0.1``)."""
    text = host_header.strip()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


class ApiKeyMiddleware:
    """Pure ASGI middleware (streaming responses pass through untouched) applying the rules of this module."""

    def __init__(self, app: ASGIApp, *, api_key: str | None) -> None:
        self.app = app
        self._key_digest = _digest(api_key.encode()) if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value for name, value in scope.get("headers", [])}
        if self._key_digest is None:
            host = headers.get("host", b"").decode("latin-1")
            if host and not is_loopback(_host_name(host)):
                await _reply(send, 400, "this server only answers requests addressed to 127.0.0.1 or localhost")
                return
        elif not is_open_path(str(scope.get("path", ""))) and not self._authorized(headers.get("authorization")):
            await _reply(
                send,
                401,
                "missing or wrong API key: send the header `Authorization: Bearer <key>`",
                extra=[(b"www-authenticate", b'Bearer realm="ringvault"')],
            )
            return
        await self.app(scope, receive, send)

    def _authorized(self, header: bytes | None) -> bool:
        assert self._key_digest is not None
        if header is None:
            return False
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(_digest(token.strip()), self._key_digest)


async def _reply(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class _AccessLogRedaction(logging.Filter):
    """Masks secrets in the request target of uvicorn's access log lines (``/portability/callback?code=...``, a
    notification path secret). uvicorn formats those lines from ``record.args`` (client, method, path, version,
    status), so the path argument is rewritten in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ringvault.transport import redact

        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact(args[2]), args[3], args[4])
        return True


_ACCESS_FILTER = _AccessLogRedaction()


def install_access_log_redaction() -> None:
    """Attach the filter to ``uvicorn.access`` (idempotent; called when the server starts, after uvicorn configured
    its logging)."""
    access = logging.getLogger("uvicorn.access")
    if _ACCESS_FILTER not in access.filters:
        access.addFilter(_ACCESS_FILTER)
