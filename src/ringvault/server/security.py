"""Who may talk to the server.

- **Loopback by default.** ``ringvault serve`` binds 127.0.0.1 and refuses any other address unless an API key is
  configured (:func:`check_bind`).
- **API key.** With a key, every request but ``GET /healthz`` must carry ``Authorization: Bearer <key>`` (or a
  browser session, below); the
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
- **Browser sessions.** With a key, the web UI's login form (``/login``) sets a signed session cookie
  (``server/sessions.py``); the middleware accepts that cookie like the key, on every path (the UI's ``fetch`` calls,
  ``<video src=/api/media/...>``, ``EventSource``). A request with neither is a JSON 401, except a browser asking for a
  page (``GET``/``HEAD`` with ``Accept: text/html``), which is redirected (303) to ``/login?next=<path>``. ``/login``,
  ``/logout`` and ``/assets/...`` are open.
- **CSRF.** Every request that changes something (``POST``, ``PUT``, ``PATCH``, ``DELETE``) is checked, with or
  without a key, except those carrying the key in ``Authorization: Bearer`` (a browser cannot send that header to
  another site without CORS, which this server never allows) and the Data Portability public paths (Ring's
  notifications are server-to-server; their own protections are in ``server/portability.py``):

  1. a request that presents a token (header ``X-CSRF-Token``, or the form field ``csrf_token`` of an
     ``application/x-www-form-urlencoded`` body) must present a valid one — the signature of its session id, or of
     its CSRF cookie's nonce — else 403;
  2. a request authorized by the session cookie, and any unauthenticated request to a server with a key (the login
     form), must present one, else 403;
  3. on a server without a key, a request without a token is refused (403) when it shows that a browser sends it
     from another site: ``Sec-Fetch-Site`` other than ``same-origin``/``none``; an ``Origin`` other than the
     server's own (``scheme://Host``); or a body type an HTML form can send cross-site without a preflight
     (``application/x-www-form-urlencoded``, ``multipart/form-data``, ``text/plain``) when neither
     ``Sec-Fetch-Site: same-origin`` nor a same ``Origin`` proves it comes from this server's own pages (old
     browsers send neither header). Programs (curl, httpx, scripts) send none of these and need no token; the UI's
     pages send the token anyway.

  The one exception: ``POST /logout`` without a valid session only clears cookies, so it needs no token.
- **Logs.** The key, and ``api_key``/``key``/``invite``/``state``/``token``/``csrf_token`` query parameters and the
  session and CSRF cookies, are masked in every line the server's loggers and uvicorn's write
  (:func:`install_log_redaction`); the rest goes through ``ringvault.transport.redact`` (codes, tokens,
  Authorization headers, registered secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
from urllib.parse import parse_qsl, urlencode

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ringvault.server.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_STATE,
    BrowserSessions,
    read_cookie,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MIN_KEY_LENGTH",
    "OPEN_PATHS",
    "PUBLIC_PREFIXES",
    "ApiKeyMiddleware",
    "BodyLimitMiddleware",
    "auth_kind",
    "check_bind",
    "check_key",
    "install_log_redaction",
    "is_loopback",
    "is_open_path",
    "is_operator",
    "mask_secrets",
    "safe_next",
]

#: Paths answered without the key: liveness probes, and the Data Portability pages Ring and customers' browsers call.
OPEN_PATHS = frozenset({"/healthz", "/portability/connect", "/portability/callback", "/login", "/logout"})
#: Path prefixes answered without the key (the notification endpoint, optionally under a path secret).
PUBLIC_PREFIXES = ("/portability/notifications/",)
#: Further open prefixes: the web UI's scripts, styles and icons (the login page needs them; nothing secret there).
ASSET_PREFIX = "/assets/"
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
    return path in OPEN_PATHS or path.startswith(PUBLIC_PREFIXES) or path.startswith(ASSET_PREFIX)


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


#: methods that change something: a CSRF check applies to them (see the module docstring)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: body types an HTML form (or a "simple" cross-site fetch) can send without a CORS preflight
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
#: the largest form body read to find its ``csrf_token`` field (the UI's forms are a few hundred bytes)
MAX_FORM_BYTES = 64 * 1024
CSRF_REFUSED = "refused: this request changes something and has no valid CSRF token; reload the page and try again"
CROSS_SITE_REFUSED = (
    "refused: a browser sent this request from another site (cross-site request forgery); programs should not send "
    "Origin/Sec-Fetch-Site headers or form bodies, or should send the API key"
)
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
_AUTH = "ringvault.auth"


def is_csrf_exempt(path: str) -> bool:
    """The Data Portability public paths: Ring's server-to-server notifications and the customers' GET pages."""
    return path.startswith(PUBLIC_PREFIXES) or path in ("/portability/connect", "/portability/callback")


def wants_page(method: str, headers: dict[str, bytes]) -> bool:
    """Whether a browser is asking for a page (``GET``/``HEAD`` with ``Accept: text/html``)."""
    return method in ("GET", "HEAD") and b"text/html" in headers.get("accept", b"").lower()


def safe_next(target: str | None) -> str:
    """A local path to go back to after the login (anything else, e.g. ``//evil.example``, is ``/``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 2048:
        return "/"
    if any(ord(char) < 0x20 or char == "\\" for char in target):
        return "/"
    return target


def auth_kind(connection: HTTPConnection) -> str | None:
    """How the request was authorized: ``bearer`` (the key), ``session`` (the cookie), ``local`` (a server without
    a key), or ``None`` (an open path without either)."""
    state = connection.scope.get("state")
    value = state.get(_AUTH) if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


class ApiKeyMiddleware:
    """Pure ASGI middleware (streaming responses pass through untouched) applying the rules of this module."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, sessions: BrowserSessions | None = None) -> None:
        self.app = app
        self._key_digest = _digest(api_key.encode()) if api_key else None
        self.sessions = sessions if sessions is not None else BrowserSessions(api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value for name, value in scope.get("headers", [])}
        path = str(scope.get("path", ""))
        method = str(scope.get("method", "GET")).upper()
        session_id: str | None = None
        if self._key_digest is None:
            host = headers.get("host", b"").decode("latin-1")
            if host and not is_loopback(_host_name(host)):
                await _reply(send, 400, "this server only answers requests addressed to 127.0.0.1 or localhost")
                return
            auth: str | None = "local"
        else:
            auth = "bearer" if self._authorized(headers.get("authorization")) else None
            if auth is None:
                session_id = self.sessions.session_id(read_cookie(headers, SESSION_COOKIE))
                auth = "session" if session_id is not None else None
            if auth is None and not is_open_path(path):
                if wants_page(method, headers):
                    await _redirect_to_login(send, scope)
                    return
                await _reply(
                    send,
                    401,
                    "missing or wrong API key: send the header `Authorization: Bearer <key>`",
                    extra=[(b"www-authenticate", b'Bearer realm="ringvault"')],
                )
                return
        state = scope.setdefault("state", {})
        state[_OPERATOR] = auth is not None
        state[_AUTH] = auth
        if session_id is not None:
            state[SESSION_STATE] = session_id
        if method in UNSAFE_METHODS and auth != "bearer" and not is_csrf_exempt(path):
            refusal, receive = await self._csrf_refusal(scope, receive, headers, auth, session_id, path)
            if refusal is not None:
                await _reply(send, 403, refusal)
                return
        await self.app(scope, receive, send)

    async def _csrf_refusal(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[str, bytes],
        auth: str | None,
        session_id: str | None,
        path: str,
    ) -> tuple[str | None, Receive]:
        """Why this unsafe request is refused (``None``: it may go on), and the ``receive`` to hand on (a form body
        read here to find its token is replayed)."""
        content_type = headers.get("content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        token_header = headers.get(CSRF_HEADER)
        token = token_header.decode("latin-1").strip() if token_header is not None else None
        if token is None and content_type == "application/x-www-form-urlencoded":
            body, receive, too_large = await _read_small_body(receive, headers)
            if too_large:
                return f"a form body is at most {MAX_FORM_BYTES} bytes; send less", receive
            token = _form_field(body, CSRF_FIELD)
        if token is not None:
            binding = self.sessions.binding_from_headers(headers, session_id)
            return (None if self.sessions.csrf_valid(binding, token) else CSRF_REFUSED), receive
        if path == LOGOUT_PATH and session_id is None:
            return None, receive  # nothing to end: the handler only clears cookies
        if auth in ("session", None):
            return CSRF_REFUSED, receive
        return _cross_site_signal(scope, headers, content_type), receive

    def _authorized(self, header: bytes | None) -> bool:
        assert self._key_digest is not None
        if header is None:
            return False
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(_digest(token.strip()), self._key_digest)


def _own_origin(scope: Scope, headers: dict[str, bytes]) -> str:
    host = headers.get("host", b"").decode("latin-1").strip().lower()
    return f"{scope.get('scheme', 'http')}://{host}"


def _cross_site_signal(scope: Scope, headers: dict[str, bytes], content_type: str) -> str | None:
    """Rule 3 of the module docstring: why a tokenless request to a server without a key looks cross-site."""
    fetch_site = headers.get("sec-fetch-site", b"").decode("latin-1").strip().lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return CROSS_SITE_REFUSED
    origin = headers.get("origin", b"").decode("latin-1").strip().lower()
    own = _own_origin(scope, headers)
    if origin and origin != own:
        return CROSS_SITE_REFUSED
    if content_type in FORM_TYPES and fetch_site != "same-origin" and origin != own:
        return (
            f"refused: a {content_type} body without a CSRF token could come from another site's form; "
            "send JSON (Content-Type: application/json)"
        )
    return None


async def _read_small_body(receive: Receive, headers: dict[str, bytes]) -> tuple[bytes, Receive, bool]:
    """The whole body if it is at most :data:`MAX_FORM_BYTES` (else ``too_large``), and a ``receive`` replaying it."""
    declared = headers.get("content-length", b"").decode("latin-1").strip()
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return b"", receive, True
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive, True  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", receive, True
        chunks.append(chunk)
        more = bool(message.get("more_body", False))
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay, False


def _form_field(body: bytes, name: str) -> str | None:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return None
    return next((value for key, value in pairs if key == name), None)


async def _redirect_to_login(send: Send, scope: Scope) -> None:
    target = str(scope.get("path", "/"))
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    location = f"{LOGIN_PATH}?{urlencode({'next': safe_next(target)})}"
    headers = [
        (b"location", location.encode("latin-1")),
        (b"content-length", b"0"),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


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
#: send it, invitation links, sealed login states, tokens, CSRF tokens; and the web UI's cookies (``name=value``
#: in a ``Cookie`` or ``Set-Cookie`` header a debug line might quote)
_PARAM_RE = re.compile(
    r"((?:^|(?<=[?&;\s]))(?:api[_-]?key|apikey|key|invite|state|access[_-]?token|token|csrf[_-]?token"
    r"|ringvault_session|ringvault_csrf)=)[^&\s\"'<>]*",
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
REDACTED_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access", "ringvault.server", "ringvault.server.portability",
    "ringvault.server.events", "ringvault.server.watcher",
)  # fmt: skip


def install_log_redaction(api_key: str | None = None) -> None:
    """Attach the masking filter to :data:`REDACTED_LOGGERS` (idempotent; called when the server starts, after
    uvicorn configured its logging). ``api_key`` is masked wherever it appears."""
    if api_key:
        _LOG_FILTER.literals = _LOG_FILTER.literals | {api_key}
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)
