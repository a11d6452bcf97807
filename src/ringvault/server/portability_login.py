"""Who may connect which Data Portability customer, without keeping anything per login in memory.

Three ways start Login with Ring (``GET /portability/connect``); each is written into the ``state`` parameter:

- **anonymous** (no API key, no invitation): the server picks a new customer key (``customer-<16 hex>``). Such a
  login never replaces anything: its callback is refused when that key already has a grant or a token.
- **operator** (the request carries the API key; on a server without a key every client is the operator, as for
  the rest of the server, since it only answers loopback clients): the caller may choose the key (``customer=``),
  and may replace a customer's active authorization only by saying so (``replace=true``).
- **invite** (``invite=``, a link the operator made with ``POST /portability/invites`` or ``ringvault portability
  invite``): the key, and whether an active authorization may be replaced, are the ones the operator signed.

**Sealed state, nothing pending.** The ``state`` sent to Ring is a signed (HMAC-SHA256, ``itsdangerous``) record of
the customer key, brand, region, how the login started, a random nonce and the time it was issued. It is valid for
``login_ttl_s``. The PKCE verifier is never sent anywhere: it is derived from the nonce with the server secret
(HMAC), so the callback recomputes it. A flood of anonymous connects therefore costs the server nothing but the
signatures: no table fills up, and a real customer always gets through.

**Single use, without a table.** Ring's token endpoint takes each code once. On our side a state (and an
invitation) counts as used once a login it started has stored the customer's tokens: the token file records when
the authorization was created (``created_at``), so a state or an invitation issued before that moment is refused,
even after a restart. Callbacks of one customer run one at a time.

**Ring accounts.** Ring's token answer, the access token (opaque) and the consent redirect say nothing about which
Ring account consented (seed 003 documents no user-info call; the simulator mirrors that), so the server cannot
tell whether a new login is the same person. Hence the rules above: an anonymous login only ever creates a new
customer, and an active authorization is replaced only when the operator asked for it (``replace``).

The server secret is 32 random bytes in ``{token_dir}/server-secret`` (hex, mode 0600, made on first use); the
server and ``ringvault portability invite`` share it. Deleting it invalidates every invitation and every login in
progress.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from itsdangerous import BadData, URLSafeSerializer

from ringvault.portability.config import PortabilityConfig, PortabilityConfigError
from ringvault.portability.endpoints import Brand, Region, check_brand, check_region
from ringvault.portability.oauth import Pkce
from ringvault.portability.tokens import check_customer

__all__ = [
    "DEFAULT_INVITE_TTL_S",
    "MAX_INVITE_TTL_S",
    "SECRET_FILE",
    "Invite",
    "InviteError",
    "LoginKind",
    "LoginSeal",
    "LoginState",
    "SealError",
    "ServerSecretError",
    "invite_url",
    "load_server_secret",
    "new_customer_key",
]

SECRET_FILE = "server-secret"
DEFAULT_INVITE_TTL_S = 72 * 3600.0
MAX_INVITE_TTL_S = 30 * 86400.0
#: longest state or invitation accepted (ours are ~250 characters): nothing bigger is even decoded
MAX_TOKEN_CHARS = 2048
_STATE_SALT = "ringvault.portability.login-state.v1"
_INVITE_SALT = "ringvault.portability.invite.v1"
_PKCE_INFO = b"ringvault.portability.pkce.v1"

LoginKind = Literal["anonymous", "operator", "invite"]
_KINDS: tuple[LoginKind, ...] = ("anonymous", "operator", "invite")


class ServerSecretError(PortabilityConfigError):
    """The server secret cannot be read, made, or is readable by others."""


class SealError(ValueError):
    """A state that this server did not sign, that was altered, or that has expired."""


class InviteError(ValueError):
    """An invitation that is not valid; ``status`` is the HTTP status to answer (400 forged, 410 expired/used)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def new_customer_key() -> str:
    """A customer key nobody chose: 64 random bits."""
    return f"customer-{secrets.token_hex(8)}"


# ---------------------------------------------------------------------------------------------------------------
# The server secret


def load_server_secret(directory: Path) -> bytes:
    """The secret in ``{directory}/server-secret``, made (atomically, 0600) when there is none yet.

    Refuses a file that others may read (a leaked secret lets anyone forge invitations)."""
    from ringvault.transport.files import ensure_private_dir

    path = Path(directory).expanduser() / SECRET_FILE
    try:
        ensure_private_dir(path.parent)
        if not path.exists():
            _create_secret(path)
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ServerSecretError(f"cannot read or create the server secret {path}: {reason}") from err
    if mode & 0o077:
        raise ServerSecretError(
            f"the server secret {path} may be read by other users (mode {mode & 0o777:o}); run `chmod 600 {path}`, "
            "or delete it to make a new one (invitations and logins in progress then stop working)"
        )
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 32:
        raise ServerSecretError(f"the server secret {path} is corrupt; delete it to make a new one")
    return secret


def _create_secret(path: Path) -> None:
    """Write a new secret unless another process made one meanwhile (``os.link`` never replaces a file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------------------------
# States and invitations


@dataclass(frozen=True)
class LoginState:
    """What the ``state`` of one Login with Ring carries (signed, not secret: it holds no credential)."""

    customer: str
    brand: Brand
    region: Region
    kind: LoginKind
    replace: bool
    nonce: str
    issued_at: float
    #: when the invitation this login came from was issued (its single use is checked against it)
    invite_issued_at: float | None = None

    @property
    def used_after(self) -> float:
        """A customer authorization created at or after this instant means this login (or its invitation) was
        already used."""
        return min(self.issued_at, self.invite_issued_at or self.issued_at)


@dataclass(frozen=True)
class Invite:
    """An invitation: the customer key, optional brand/region, whether it may replace an active authorization."""

    customer: str
    replace: bool
    issued_at: float
    expires_at: float
    brand: Brand | None = None
    region: Region | None = None


class LoginSeal:
    """Signs and checks states and invitations with the server secret; derives each login's PKCE verifier.

    ``clock`` is the wall clock (seconds since the epoch) deciding expiry; tests may pass their own."""

    def __init__(self, secret: bytes, *, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._states = URLSafeSerializer(secret, salt=_STATE_SALT)
        self._invites = URLSafeSerializer(secret, salt=_INVITE_SALT)
        self._pkce_key = hmac.new(secret, _PKCE_INFO, hashlib.sha256).digest()

    # -- login states --------------------------------------------------------------------------------------------

    def new_state(
        self,
        customer: str,
        brand: Brand,
        region: Region,
        kind: LoginKind,
        *,
        replace: bool = False,
        invite: Invite | None = None,
    ) -> LoginState:
        return LoginState(
            customer=check_customer(customer),
            brand=brand,
            region=region,
            kind=kind,
            replace=replace,
            nonce=secrets.token_urlsafe(16),
            issued_at=self.clock(),
            invite_issued_at=invite.issued_at if invite is not None else None,
        )

    def seal(self, state: LoginState) -> str:
        payload = {
            "c": state.customer, "b": state.brand, "r": state.region, "k": state.kind, "x": state.replace,
            "n": state.nonce, "t": state.issued_at, "i": state.invite_issued_at,
        }  # fmt: skip
        return str(self._states.dumps(payload))

    def open(self, text: str) -> LoginState:
        """The state this server sealed (``SealError`` when forged, altered, malformed or older than ``ttl_s``)."""
        data = _loads(self._states, text)
        try:
            state = LoginState(
                customer=check_customer(_str(data, "c")),
                brand=check_brand(_str(data, "b")),
                region=check_region(_str(data, "r")),
                kind=_kind(data.get("k")),
                replace=data.get("x") is True,
                nonce=_str(data, "n"),
                issued_at=_num(data, "t"),
                invite_issued_at=None if data.get("i") is None else _num(data, "i"),
            )
        except (ValueError, TypeError) as err:
            raise SealError("malformed state") from err
        age = self.clock() - state.issued_at
        if not -60.0 <= age <= self.ttl_s:  # a minute of slack for a clock stepped backwards
            raise SealError("expired state")
        return state

    def pkce(self, state: LoginState) -> Pkce:
        """The PKCE verifier of a login: HMAC of its nonce, 43 unreserved characters (RFC 7636's minimum)."""
        digest = hmac.new(self._pkce_key, state.nonce.encode(), hashlib.sha256).digest()
        return Pkce(base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"), "S256")

    # -- invitations ---------------------------------------------------------------------------------------------

    def issue_invite(
        self,
        customer: str,
        *,
        replace: bool = False,
        ttl_s: float = DEFAULT_INVITE_TTL_S,
        brand: Brand | None = None,
        region: Region | None = None,
    ) -> tuple[str, Invite]:
        """A signed invitation for ``customer`` (``ValueError`` for a bad key or validity)."""
        if not 0 < ttl_s <= MAX_INVITE_TTL_S:
            raise ValueError(f"an invitation is valid for more than 0 and at most {MAX_INVITE_TTL_S / 86400:.0f} days")
        now = self.clock()
        invite = Invite(check_customer(customer), replace, now, now + ttl_s, brand, region)
        payload = {
            "c": invite.customer, "x": invite.replace, "t": invite.issued_at, "e": invite.expires_at,
            "b": invite.brand, "r": invite.region, "n": secrets.token_urlsafe(8),
        }  # fmt: skip
        return str(self._invites.dumps(payload)), invite

    def read_invite(self, text: str) -> Invite:
        """The invitation (``InviteError``: 400 when forged, altered or malformed, 410 when expired)."""
        try:
            data = _loads(self._invites, text)
            invite = Invite(
                customer=check_customer(_str(data, "c")),
                replace=data.get("x") is True,
                issued_at=_num(data, "t"),
                expires_at=_num(data, "e"),
                brand=None if data.get("b") is None else check_brand(_str(data, "b")),
                region=None if data.get("r") is None else check_region(_str(data, "r")),
            )
        except (SealError, ValueError, TypeError):
            raise InviteError(
                "this invitation link is not valid: it was altered or cut short; ask for a new one"
            ) from None
        if self.clock() >= invite.expires_at:
            raise InviteError("this invitation has expired; ask for a new one", 410)
        return invite


def _loads(serializer: URLSafeSerializer, text: str) -> dict[str, Any]:
    if not text or len(text) > MAX_TOKEN_CHARS:
        raise SealError("missing or oversized")
    try:
        data = serializer.loads(text)
    except (BadData, ValueError, RecursionError) as err:  # BadData: signature; the others: a payload we never made
        raise SealError("bad signature") from err
    if not isinstance(data, dict):
        raise SealError("not a state")
    return data


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise TypeError(name)
    return value


def _num(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(name)
    return float(value)


def _kind(value: Any) -> LoginKind:
    for kind in _KINDS:
        if value == kind:
            return kind
    raise ValueError("unknown login kind")


def invite_url(config: PortabilityConfig, token: str) -> str:
    """The link a customer opens: ``/portability/connect?invite=...`` on the public origin of the redirect URI."""
    redirect = config.credentials.redirect_uri
    if not redirect:
        raise PortabilityConfigError("no redirect URI configured: the invitation's address is taken from it")
    parts = urlsplit(redirect)
    path = parts.path
    base = path[: -len("/callback")] if path.endswith("/callback") else path.rsplit("/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/connect", urlencode({"invite": token}), ""))
