"""Browser sessions and CSRF tokens of the web UI (the rules they serve are in ``server/security.py``).

- **Session cookie** (only on a server with an API key): the login form (``ui/pages/login.py``) checks the key and
  sets :data:`SESSION_COOKIE`, an itsdangerous-signed, timestamped record of a random session id: HttpOnly,
  SameSite=Strict, Path=/, ``Secure`` when the request came over https (:func:`came_over_https`), expiring after
  :data:`SESSION_MAX_AGE_S`. The signing key is derived from the API key (HMAC-SHA256), so changing the key ends
  every session; a logout adds the session id to an in-memory list of ended sessions (kept until they would have
  expired anyway; a restart forgets it, so a copied cookie of a logged-out session works again after a restart until
  its 12 h are over).
- **CSRF token**: bound to the browser. With a session it is the signature of the session id; without one (the
  login form, a server without a key) it is the signature of a random nonce kept in :data:`CSRF_COOKIE` (HttpOnly,
  SameSite=Strict), a signed double-submit cookie. The signing key is the API key's derivative, or a random key per
  server process when there is no API key (a restart makes open pages reload before they can change anything).
- **Login throttle** (:class:`LoginThrottle`): after :data:`FREE_ATTEMPTS` wrong keys from one client address, that
  address must wait before it may try again: 30 s, doubling with each further wrong key, at most 15 minutes; the
  right key clears its count. At most :data:`MAX_TRACKED_CLIENTS` addresses are remembered (the oldest forgotten).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, BadTimeSignature, Signer, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSRF_MAX_AGE_S",
    "FREE_ATTEMPTS",
    "MAX_TRACKED_CLIENTS",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE_S",
    "BrowserSessions",
    "LoginThrottle",
    "came_over_https",
    "cookie_header",
    "read_cookie",
]

SESSION_COOKIE = "ringvault_session"
CSRF_COOKIE = "ringvault_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600
#: the CSRF nonce cookie lives as long as a session could (it is renewed by every page that finds it missing)
CSRF_MAX_AGE_S = SESSION_MAX_AGE_S
FREE_ATTEMPTS = 5
FIRST_WAIT_S = 30.0
LONGEST_WAIT_S = 15 * 60.0
MAX_TRACKED_CLIENTS = 10_000
#: where ``ApiKeyMiddleware`` leaves the session id of a request that carried a valid session cookie
SESSION_STATE = "ringvault.session_id"
_NONCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def read_cookie(headers: dict[str, bytes], name: str) -> str | None:
    """The value of cookie ``name`` in a raw ``cookie`` header (``None`` when absent)."""
    raw = headers.get("cookie")
    if not raw:
        return None
    for part in raw.decode("latin-1").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def cookie_header(name: str, value: str, *, max_age: int, secure: bool) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Strict, Path=/, ``Secure`` over https."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def came_over_https(connection: HTTPConnection) -> bool:
    """Whether the browser talks https to us: directly, or to a TLS proxy that says so in ``X-Forwarded-Proto``.
    ``serve`` trusts no proxy header for anything else (``proxy_headers=False``); this one only decides the cookies'
    ``Secure`` attribute, and a client that fakes it only restricts its own cookies to https."""
    if connection.url.scheme == "https":
        return True
    forwarded = connection.headers.get("x-forwarded-proto", "")
    return forwarded.split(",")[0].strip().lower() == "https"


def _valid_nonce(value: str | None) -> bool:
    return value is not None and 20 <= len(value) <= 64 and set(value) <= _NONCE_CHARS


@dataclass
class BrowserSessions:
    """Sessions and CSRF tokens of one server (see the module docstring)."""

    api_key: str | None
    clock: Callable[[], float] = time.time
    _ended: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.api_key:
            secret = hmac.new(self.api_key.encode(), b"ringvault web UI sessions v1", hashlib.sha256).digest()
        else:
            secret = secrets.token_bytes(32)
        self._serializer = URLSafeTimedSerializer(secret, salt="ringvault.session")
        self._csrf = Signer(secret, salt="ringvault.csrf", digest_method=hashlib.sha256)

    @property
    def enabled(self) -> bool:
        """Whether the server has sessions at all (it does when it has an API key)."""
        return bool(self.api_key)

    def check_key(self, candidate: str) -> bool:
        """Whether ``candidate`` is the API key (constant time: both sides hashed, then compared)."""
        if not self.api_key:
            return False
        want = hashlib.sha256(self.api_key.encode()).digest()
        return hmac.compare_digest(hashlib.sha256(candidate.encode()).digest(), want)

    # -- sessions --------------------------------------------------------------------------------------------

    def new_session(self) -> tuple[str, str]:
        """A new session: (its id, the cookie value)."""
        session_id = secrets.token_urlsafe(24)
        return session_id, self._serializer.dumps({"sid": session_id})

    def session_id(self, cookie: str | None) -> str | None:
        """The id of the session ``cookie`` proves, or ``None`` (absent, forged, expired, ended, or no key)."""
        if not cookie or not self.enabled or len(cookie) > 512:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, BadTimeSignature):
            return None
        session_id = data.get("sid") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or session_id in self._ended:
            return None
        return session_id

    def end_session(self, session_id: str) -> None:
        """Log a session out: its cookie is refused from now on (until this process ends)."""
        now = self.clock()
        self._ended = {sid: until for sid, until in self._ended.items() if until > now}
        self._ended[session_id] = now + SESSION_MAX_AGE_S

    # -- CSRF ------------------------------------------------------------------------------------------------

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def csrf_token(self, binding: str) -> str:
        """The CSRF token of a browser: the signature of its session id, or of its CSRF cookie's nonce."""
        return self._csrf.get_signature(binding).decode()

    def csrf_valid(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token or len(token) > 256:
            return False
        return self._csrf.verify_signature(binding.encode(), token.encode())

    def binding(self, connection: HTTPConnection) -> str | None:
        """What the request's CSRF token must be bound to: its session, else its CSRF cookie's nonce."""
        state = connection.scope.get("state")
        session_id = state.get(SESSION_STATE) if isinstance(state, dict) else None
        if isinstance(session_id, str):
            return session_id
        nonce = connection.cookies.get(CSRF_COOKIE)
        return nonce if _valid_nonce(nonce) else None

    def binding_from_headers(self, headers: dict[str, bytes], session_id: str | None) -> str | None:
        """:meth:`binding` for the raw headers a middleware sees."""
        if session_id is not None:
            return session_id
        nonce = read_cookie(headers, CSRF_COOKIE)
        return nonce if _valid_nonce(nonce) else None

    def page_token(self, connection: HTTPConnection) -> tuple[str, str | None]:
        """The CSRF token a page carries, and a new nonce to set in :data:`CSRF_COOKIE` when the browser has none
        (and no session)."""
        binding = self.binding(connection)
        if binding is not None:
            return self.csrf_token(binding), None
        nonce = self.new_nonce()
        return self.csrf_token(nonce), nonce


@dataclass
class LoginThrottle:
    """Wrong keys per client address: after :data:`FREE_ATTEMPTS`, a wait before the next try (see the module)."""

    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict, repr=False)

    def wait_s(self, client: str) -> float:
        """How long ``client`` must still wait before it may try a key (0: it may now)."""
        entry = self._failures.get(client)
        if entry is None or entry[0] < FREE_ATTEMPTS:
            return 0.0
        count, last = entry
        wait = min(FIRST_WAIT_S * 2 ** (count - FREE_ATTEMPTS), LONGEST_WAIT_S)
        return float(max(0.0, last + wait - self.clock()))

    def failed(self, client: str) -> None:
        count = self._failures.pop(client, (0, 0.0))[0]
        self._failures[client] = (count + 1, self.clock())
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
