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
- **Operator.** A request that carries the key (or any request to a server without one) is the operator's; the
  middleware records that in the request's scope (:func:`is_operator`) so that public paths can offer the operator
  more (choosing a Data Portability customer key) than an anonymous visitor.
- **Bounded bodies.** Every request body is at most :data:`MAX_BODY_BYTES`: a larger ``Content-Length`` is refused
  with a JSON 413 before a byte of the body is read, and a streamed (chunked) body is counted as it arrives
  (Starlette's ``RequestBodyLimitMiddleware``).
- **Logs.** The key, and ``api_key``/``key``/``invite``/``state``/``token`` query parameters, are masked in every
  line the server's loggers and uvicorn's write (:func:`install_log_redaction`); the rest goes through
  ``ringvault.transport.redact`` (codes, tokens, Authorization headers, registered secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "MAX_BODY_BYTES",
    "MIN_KEY_LENGTH",
    "OPEN_PATHS",
    "PUBLIC_PREFIXES",
    "ApiKeyMiddleware",
    "BodyLimitMiddleware",
    "check_bind",
    "check_key",
    "install_log_redaction",
    "is_loopback",
    "is_open_path",
    "is_operator",
    "mask_secrets",
]

#: Paths answered without the key: liveness probes, and the Data Portability pages Ring and customers' browsers call.
OPEN_PATHS = frozenset({"/healthz", "/portability/connect", "/portability/callback"})
#: Path prefixes answered without the key (the notification endpoint, optionally under a path secret).
PUBLIC_PREFIXES = ("/portability/notifications/",)
MIN_KEY_LENGTH = 16
#: the largest request body the server reads (the biggest real one, a connector call's held ids, is a few KB)
MAX_BODY_BYTES = 1024 * 1024
_OPERATOR = "ringvault.operator"
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


def is_operator(connection: HTTPConnection) -> bool:
    """Whether the request carried the API key (always true on a server without a key: it answers loopback
    clients only, and trusts them all)."""
    state = connection.scope.get("state")
    return isinstance(state, dict) and state.get(_OPERATOR) is True


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
            operator = True
        else:
            operator = self._authorized(headers.get("authorization"))
            if not operator and not is_open_path(str(scope.get("path", ""))):
                await _reply(
                    send,
                    401,
                    "missing or wrong API key: send the header `Authorization: Bearer <key>`",
                    extra=[(b"www-authenticate", b'Bearer realm="ringvault"')],
                )
                return
        scope.setdefault("state", {})[_OPERATOR] = operator
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


class BodyLimitMiddleware:
    """At most ``max_bytes`` of request body: a larger ``Content-Length`` is a JSON 413 at once (nothing of the body
    is read); a streamed body is counted by Starlette's ``RequestBodyLimitMiddleware`` as it arrives (its 413 is an
    ``HTTPException``, which the app's handler turns into the same JSON line)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_bytes)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name.lower() == b"content-length":  # uvicorn already refused one that is not a number
                    declared = value.decode("latin-1").strip()
                    if declared.isdigit() and int(declared) > self.max_bytes:
                        await _reply(send, 413, body_too_large(self.max_bytes), extra=[(b"connection", b"close")])
                        return
        await self.app(scope, receive, send)


def body_too_large(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes, the most this server reads; send less"


#: query parameters whose value is a credential, whatever ``redact`` knows: the API key as a client may (wrongly)
#: send it, invitation links, sealed login states, tokens
_PARAM_RE = re.compile(
    r"((?:^|(?<=[?&;\s]))(?:api[_-]?key|apikey|key|invite|state|access[_-]?token|token)=)[^&\s\"'<>]*",
    re.IGNORECASE,
)
_MASK = "***"


def mask_secrets(text: str, literals: frozenset[str] = frozenset()) -> str:
    """``text`` with credential query parameters, the given literal secrets and whatever ``redact`` knows masked."""
    from ringvault.transport import redact

    for secret in literals:
        if secret in text:
            text = text.replace(secret, _MASK)
    return redact(_PARAM_RE.sub(lambda m: f"{m.group(1)}{_MASK}", text))


class _LogRedaction(logging.Filter):
    """Masks secrets in log records before any handler formats them. uvicorn's access lines are formatted from
    ``record.args`` (client, method, path, version, status): the path argument is rewritten in place; any other
    record whose text contains a secret is replaced by its masked text."""

    def __init__(self) -> None:
        super().__init__()
        self.literals: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], mask_secrets(args[2], self.literals), args[3], args[4])
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record is the logging module's to report, not ours
            return True
        masked = mask_secrets(message, self.literals)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_LOG_FILTER = _LogRedaction()
#: the loggers of everything the server writes: uvicorn's (access, errors) and the server's own
REDACTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "ringvault.server", "ringvault.server.portability")


def install_log_redaction(api_key: str | None = None) -> None:
    """Attach the masking filter to :data:`REDACTED_LOGGERS` (idempotent; called when the server starts, after
    uvicorn configured its logging). ``api_key`` is masked wherever it appears."""
    if api_key:
        _LOG_FILTER.literals = _LOG_FILTER.literals | {api_key}
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)
