"""The simulated Data Portability service: apps, customers, consent, codes and tokens, grants, data queries,
records listings, rate limits, injected errors and the notification queue.

One object per running simulator (``SimState.portability``), guarded by one lock: the uvicorn thread, its worker
threads and tests all use it. Time is the simulator clock. Queries complete ``completion_delay_s`` after creation;
``advance()`` applies every time-based transition (completion, authorization expiry, account holds) and is called
by the routes before they answer and by the background ticker (``notify.Ticker``), so a test that moves the clock
sees the consequences on its next request, and the notification goes out on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.portability import datasets
from ringvault.sim.portability.config import (
    DATASETS,
    DURATION_DAYS,
    HISTORY_DAYS,
    SCOPE_ID,
    DPApp,
    PortabilityConfig,
)
from ringvault.sim.portability.datasets import Source, Window
from ringvault.sim.portability.errors import DPError, DPErrorSpec, UnknownErrorType, spec
from ringvault.sim.portability.model import (
    CANCELED,
    COMPLETED,
    IN_PROGRESS,
    TERMINAL,
    AuthCode,
    ConsentRequest,
    Customer,
    Delivery,
    FileRef,
    Grant,
    Injection,
    Query,
    Token,
)
from ringvault.sim.portability.ratelimit import DailyQuota, SlidingWindow, TokenBucket, retry_after
from ringvault.sim.world import World

if TYPE_CHECKING:
    from ringvault.sim.portability.notify import Ticker

DAY_S = 86400.0
SUBJECT = "Data Portability Notification 1.0"
NOTIFICATION_VERSION = "1.0"
_PKCE_CHARS = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_RECORDS_CACHE = 64
_FILE_CACHE_BYTES = 64 * 1024 * 1024


class AuthorizeError(Exception):
    """An authorize request that cannot proceed: shown as an error page (``redirect`` False: unknown client or
    redirect URI) or sent back to the redirect URI as ``error``/``error_description``/``state``."""

    def __init__(self, error: str, description: str, *, redirect: str | None = None, state: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect = redirect
        self.state = state

    def location(self) -> str:
        assert self.redirect is not None
        params = {"error": self.error, "error_description": self.description}
        if self.state is not None:
            params["state"] = self.state
        return append_query(self.redirect, params)


class TokenError(Exception):
    """An OAuth 2.0 token endpoint error (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


class ConsentProblem(Exception):
    """The consent form cannot be accepted as sent: the page is shown again with this message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def append_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def is_loopback_url(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def redirect_matches(registered: str, given: str) -> bool:
    """Exact match, or RFC 8252 §7.3: a registered loopback URI without a port matches the same URI on any port."""
    if given == registered:
        return True
    try:
        reg, got = urlsplit(registered), urlsplit(given)
        reg_port, got_port = reg.port, got.port
    except ValueError:
        return False
    if reg_port is not None or got_port is None or not is_loopback_url(registered):
        return False
    return (reg.scheme, reg.hostname, reg.path or "/", reg.query) == (
        got.scheme,
        got.hostname,
        got.path or "/",
        got.query,
    )


def pkce_matches(method: str, challenge: str, verifier: str) -> bool:
    if not _PKCE_CHARS.match(verifier):
        return False
    if method == "plain":
        return hmac.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def _iso_ms(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _injected_error(injection: Injection) -> DPError:
    headers = {} if injection.retry_after_s is None else {"Retry-After": f"{injection.retry_after_s:g}"}
    if injection.status is None:
        return DPError(injection.error_type, injection.category, headers)
    try:
        documented = spec(injection.error_type, injection.category)
        message = injection.message or documented.message
    except UnknownErrorType:
        message = injection.message or "Unexpected error"
    answer = DPErrorSpec(injection.status, injection.category, injection.error_type, message)
    return DPError(injection.error_type, headers=headers, answer=answer, raw=injection.raw)


def _ended(grant: Grant) -> str:
    """The ``error_description`` for a grant that no longer works: revoked by the customer, or past its duration."""
    if grant.revoked_at is not None or grant.ended == "revoked":
        return "The authorization was revoked by the customer"
    return "The authorization has expired"


class PortabilityService:
    """All state of the simulated Data Portability service (thread-safe)."""

    def __init__(self, config: SimConfig, clock: SimClock, world: World) -> None:
        self._config = config
        self._clock = clock
        self._account_world = world
        self.lock = threading.RLock()
        self.secret = hashlib.sha256(b"ringvault-sim-dp:" + world.s3_secret).digest()
        self.customers: list[Customer] = []
        self.consents: dict[str, ConsentRequest] = {}
        self.grants: dict[str, Grant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, Token] = {}
        self.queries: dict[str, Query] = {}
        self.deliveries: list[Delivery] = []
        self.attempts: list[dict[str, Any]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.injections: list[Injection] = []
        self._injection_ids = 0
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._windows: dict[tuple[str, ...], SlidingWindow] = {}
        self._quotas: dict[tuple[str, ...], DailyQuota] = {}
        self._page_cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._records: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
        self._files: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._file_bytes = 0
        self.throttled: dict[str, int] = {}
        #: 429s per (customer, operation) not followed yet by a call of the same customer and operation that passed
        #: the limits: what a client left unretried
        self.unretried: dict[tuple[str, str], int] = {}
        self.token_statuses: dict[int, int] = {}
        self.closed = False
        self.ticker: Ticker | None = None
        self._ensure_customers(self.config.customers)

    # ----------------------------------------------------------------------------------------------- basics

    @property
    def config(self) -> PortabilityConfig:
        return self._config.portability

    def now(self) -> float:
        return self._clock.now()

    def count_token_request(self, status: int) -> None:
        with self.lock:
            self.token_statuses[status] = self.token_statuses.get(status, 0) + 1

    def reset_counters(self) -> None:
        with self.lock:
            self.throttled.clear()
            self.unretried.clear()
            self.token_statuses.clear()

    def close(self) -> None:
        """Stop the background ticker (``/_sim/reset`` replaces the service)."""
        self.closed = True

    # ----------------------------------------------------------------------------------------------- apps

    def app(self, client_id: str) -> DPApp | None:
        with self.lock:
            return next((a for a in self.config.apps if a.client_id == client_id), None)

    def put_app(self, app: DPApp) -> DPApp:
        """Register or replace an app (kept in the config, so ``/_sim/reset`` keeps it)."""
        with self.lock:
            apps = [a for a in self.config.apps if a.client_id != app.client_id]
            apps.append(app)
            self.config.apps = apps
            return app

    def delete_app(self, client_id: str) -> bool:
        with self.lock:
            before = len(self.config.apps)
            self.config.apps = [a for a in self.config.apps if a.client_id != client_id]
            return len(self.config.apps) != before

    # ----------------------------------------------------------------------------------------------- customers

    def _customer_id(self, index: int) -> str:
        digest = hashlib.sha256(f"ringvault-sim-customer:{self._config.seed}:{index}".encode()).digest()
        return "amzn1.account." + base64.b32encode(digest).decode("ascii")[:28]

    def _ensure_customers(self, extra: int) -> None:
        if not self.customers:
            self.customers.append(
                Customer(
                    id=self._customer_id(0),
                    index=0,
                    email=self._config.email,
                    password=self._config.password,
                    seed=self._config.seed,
                    world=self._account_world,
                )
            )
        while len(self.customers) < extra + 1:
            index = len(self.customers)
            digest = hashlib.sha256(f"ringvault-sim-customer-seed:{self._config.seed}:{index}".encode()).digest()
            self.customers.append(
                Customer(
                    id=self._customer_id(index),
                    index=index,
                    email=f"customer{index:04d}@ringvault.test",
                    password=self.config.customer_password,
                    seed=int.from_bytes(digest[:4], "big") % 2_000_000_000 + 1000,
                )
            )

    def add_customers(self, count: int) -> list[Customer]:
        with self.lock:
            first = len(self.customers)
            self.config.customers = len(self.customers) - 1 + count
            self._ensure_customers(self.config.customers)
            return self.customers[first:]

    def _sync_account(self) -> None:
        account = self.customers[0]
        account.email, account.password = self._config.email, self._config.password

    def customer(self, customer_id: str) -> Customer | None:
        with self.lock:
            self._sync_account()
            return next((c for c in self.customers if c.id == customer_id), None)

    def customer_by_email(self, email: str) -> Customer | None:
        wanted = email.strip().lower()
        with self.lock:
            self._sync_account()
            return next((c for c in self.customers if c.email.lower() == wanted), None)

    def world_of(self, customer: Customer) -> World:
        with self.lock:
            if customer.world is None:
                config = self._config.model_copy(
                    update={
                        "seed": customer.seed,
                        "email": customer.email,
                        "first_name": f"Customer {customer.index}",
                        "locations": 1 + customer.index % 3,
                    }
                )
                customer.world = World.generate(config, self._clock)
            return customer.world

    def set_on_hold(self, customer: Customer, on_hold: bool) -> None:
        with self.lock:
            customer.on_hold = on_hold
            self.advance()

    # ----------------------------------------------------------------------------------------------- authorize

    def start_authorization(self, params: dict[str, str], brand: str) -> ConsentRequest:
        """Validate ``GET /v2/authorize``; the pending consent request, or AuthorizeError."""
        client_id = params.get("client_id", "").strip()
        app = self.app(client_id) if client_id else None
        if app is None:
            raise AuthorizeError("invalid_client", "Unknown or missing client_id.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or not any(redirect_matches(r, redirect_uri) for r in app.redirect_uris):
            raise AuthorizeError("invalid_request", "The redirect_uri is missing or is not registered for this client.")
        state = params.get("state")

        def fail(error: str, description: str) -> AuthorizeError:
            return AuthorizeError(error, description, redirect=redirect_uri, state=state)

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "response_type must be code")
        scopes = params.get("scope", "").split()
        if scopes != [SCOPE_ID]:
            raise fail("invalid_scope", f"scope must be {SCOPE_ID}")
        if not app.allowlisted:
            raise fail("unauthorized_client", "The client is not allowlisted for Data Portability")
        if SCOPE_ID not in app.scopes:
            raise fail("invalid_scope", f"The scope {SCOPE_ID} is not enabled for this client")
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method") or "plain"
        if not challenge:
            raise fail("invalid_request", "code_challenge is required")
        if method not in ("S256", "plain"):
            raise fail("invalid_request", "code_challenge_method must be S256 or plain")
        if method == "S256" and not re.fullmatch(r"[A-Za-z0-9\-_]{43}", challenge):
            raise fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier")
        if method == "plain" and not _PKCE_CHARS.match(challenge):
            raise fail("invalid_request", "code_challenge must be 43 to 128 unreserved characters")
        if not state:
            raise fail("invalid_request", "state is required")
        request = ConsentRequest(
            id=secrets.token_urlsafe(24),
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            challenge=challenge,
            method="S256" if method == "S256" else "plain",
            brand=brand,
            created_at=self.now(),
        )
        with self.lock:
            now = self.now()
            ttl = self.config.consent_request_ttl_s
            for key in [k for k, r in self.consents.items() if now - r.created_at > ttl]:
                del self.consents[key]
            self.consents[request.id] = request
        return request

    def consent_request(self, request_id: str) -> ConsentRequest | None:
        with self.lock:
            request = self.consents.get(request_id)
            if request is None or self.now() - request.created_at > self.config.consent_request_ttl_s:
                return None
            return request

    def cancel(self, request: ConsentRequest) -> str:
        """The customer pressed Cancel: the redirect with ``access_denied``."""
        with self.lock:
            self.consents.pop(request.id, None)
        return AuthorizeError(
            "access_denied",
            "The resource owner or authorization server denied the request",
            redirect=request.redirect_uri,
            state=request.state,
        ).location()

    def confirm(
        self,
        request: ConsentRequest,
        *,
        email: str,
        password: str,
        history: str,
        since: str | None,
        duration: str,
        acknowledged: bool,
    ) -> str:
        """The customer signed in and pressed Authorize: a grant, a code, and the redirect carrying it."""
        customer = self.customer_by_email(email)
        if customer is None or not secrets.compare_digest(password.encode(), customer.password.encode()):
            raise ConsentProblem(401, "The e-mail address or password is not correct.")
        if customer.on_hold:
            raise ConsentProblem(403, "This account is on hold; it cannot authorize data transfers now.")
        if not acknowledged:
            raise ConsentProblem(400, "Tick “I authorize the third party to receive my EU data” to continue.")
        with self.lock:
            if self.consents.pop(request.id, None) is None:
                raise ConsentProblem(400, "This sign-in request was already answered; start again from the app.")
            grant = self._new_grant(request.client_id, customer, request.brand, history, since, duration)
            return self._code_redirect(request, grant)

    def auto_consent(self, request: ConsentRequest) -> str:
        """The auto-consent knob: the configured customer consents with the configured defaults."""
        config = self.config
        email = config.auto_consent_customer or self._config.email
        customer = self.customer_by_email(email)
        if customer is None:
            raise AuthorizeError(
                "server_error",
                f"auto_consent_customer {email!r} is not a simulated customer",
                redirect=request.redirect_uri,
                state=request.state,
            )
        since = config.auto_consent_since.isoformat() if config.auto_consent_since else None
        with self.lock:
            self.consents.pop(request.id, None)
            grant = self._new_grant(
                request.client_id,
                customer,
                request.brand,
                config.auto_consent_history,
                since,
                config.auto_consent_duration,
            )
            return self._code_redirect(request, grant)

    def _new_grant(
        self, client_id: str, customer: Customer, brand: str, history: str, since: str | None, duration: str
    ) -> Grant:
        now = self.now()
        if history == "since":
            try:
                since_day = date.fromisoformat(since or "")
            except ValueError:
                raise ConsentProblem(400, "Pick the date to transfer data from (YYYY-MM-DD).") from None
            start = datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC).timestamp()
            if start > now:
                raise ConsentProblem(400, "The date to transfer data from must be in the past.")
        elif history in HISTORY_DAYS:
            start = now - HISTORY_DAYS[history] * DAY_S
            since = None
        else:
            raise ConsentProblem(400, "Choose how much data to transfer.")
        if duration == "once":
            expires = now + self.config.one_time_ttl_s
        elif duration in DURATION_DAYS:
            expires = now + DURATION_DAYS[duration] * DAY_S
        else:
            raise ConsentProblem(400, "Choose for how long you authorize the transfer.")
        grant = Grant(
            id=str(uuid.uuid4()),
            client_id=client_id,
            customer_id=customer.id,
            brand=brand,
            history=history,
            since=since,
            duration=duration,
            consented_at=now,
            window_start=start,
            expires_at=expires,
            once=duration == "once",
        )
        self.grants[grant.id] = grant
        return grant

    def _code_redirect(self, request: ConsentRequest, grant: Grant) -> str:
        code = AuthCode(
            value=secrets.token_urlsafe(32),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            challenge=request.challenge,
            method=request.method,
            grant_id=grant.id,
            expires_at=self.now() + self.config.code_ttl_s,
        )
        self.codes[code.value] = code
        return append_query(request.redirect_uri, {"code": code.value, "state": request.state})

    # ----------------------------------------------------------------------------------------------- tokens

    def owns_token_request(self, params: dict[str, str], basic_client_id: str | None) -> bool:
        """Is this token request for a Data Portability app (and not the account API's client)?"""
        if params.get("grant_type") == "authorization_code":
            return True
        client_id = params.get("client_id") or basic_client_id or ""
        if client_id and self.app(client_id) is not None:
            return True
        with self.lock:
            return params.get("grant_type") == "refresh_token" and params.get("refresh_token", "") in self.tokens

    def token_request(self, params: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """``POST /oauth/token`` for Data Portability: ``authorization_code`` and ``refresh_token`` grants."""
        client_id = params.get("client_id") or (basic[0] if basic else "")
        client_secret = params.get("client_secret") or (basic[1] if basic else "")
        grant_type = params.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise TokenError(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        if not client_id:
            raise TokenError(400, "invalid_request", "client_id is required")
        app = self.app(client_id)
        if app is None or not secrets.compare_digest(client_secret.encode(), app.client_secret.encode()):
            raise TokenError(401, "invalid_client", "Client authentication failed (unknown client or wrong secret)")
        scope = params.get("scope")
        if scope is not None and scope.split() not in ([], [SCOPE_ID]):
            raise TokenError(400, "invalid_scope", f"scope must be {SCOPE_ID}")
        if grant_type == "authorization_code":
            return self._code_grant(app, params)
        return self._refresh_grant(app, params)

    def _code_grant(self, app: DPApp, params: dict[str, str]) -> dict[str, Any]:
        for name in ("code", "redirect_uri", "code_verifier"):
            if not params.get(name):
                raise TokenError(400, "invalid_request", f"{name} is required")
        with self.lock:
            now = self.now()
            code = self.codes.get(params["code"])
            if code is None or code.client_id != app.client_id:
                raise TokenError(400, "invalid_grant", "The authorization code is invalid")
            if code.used_at is not None:
                for value in code.tokens:  # RFC 6749 §4.1.2: a replayed code revokes what it issued
                    if value in self.tokens:
                        self.tokens[value].revoked = True
                raise TokenError(400, "invalid_grant", "The authorization code was already used")
            if now >= code.expires_at:
                raise TokenError(400, "invalid_grant", "The authorization code has expired")
            if params["redirect_uri"] != code.redirect_uri:
                raise TokenError(400, "invalid_grant", "redirect_uri does not match the authorization request")
            if not pkce_matches(code.method, code.challenge, params["code_verifier"]):
                raise TokenError(400, "invalid_grant", "code_verifier does not match the code_challenge")
            grant = self.grants[code.grant_id]
            if not grant.active(now):
                raise TokenError(400, "invalid_grant", _ended(grant))
            code.used_at = now
            body = self._issue(grant)
            code.tokens.extend([body["access_token"], body["refresh_token"]])
            return body

    def _refresh_grant(self, app: DPApp, params: dict[str, str]) -> dict[str, Any]:
        value = params.get("refresh_token", "")
        if not value:
            raise TokenError(400, "invalid_request", "refresh_token is required")
        with self.lock:
            now = self.now()
            token = self.tokens.get(value)
            if token is None or token.kind != "refresh" or token.client_id != app.client_id:
                raise TokenError(400, "invalid_grant", "The refresh token is invalid")
            if token.revoked:
                raise TokenError(400, "invalid_grant", "The refresh token was revoked or already used")
            grant = self.grants[token.grant_id]
            if not grant.active(now) or now >= token.expires_at:
                raise TokenError(400, "invalid_grant", _ended(grant))
            token.revoked = True  # rotation: the old refresh token stops working at once
            return self._issue(grant)

    def _issue(self, grant: Grant) -> dict[str, Any]:
        now = self.now()
        ttl = self.config.access_token_ttl_s
        access = Token("Atza|" + secrets.token_urlsafe(48), "access", grant.client_id, grant.id, now, now + ttl)
        refresh = Token(
            "Atzr|" + secrets.token_urlsafe(48), "refresh", grant.client_id, grant.id, now, grant.expires_at
        )
        self.tokens[access.value] = access
        self.tokens[refresh.value] = refresh
        return {
            "access_token": access.value,
            "expires_in": ttl,
            "refresh_token": refresh.value,
            "scope": SCOPE_ID,
            "token_type": "Bearer",
        }

    def expire_access_tokens(self) -> int:
        with self.lock:
            now = self.now()
            count = 0
            for token in self.tokens.values():
                if token.kind == "access" and not token.revoked and token.expires_at > now:
                    token.expires_at = now
                    count += 1
            return count

    # ----------------------------------------------------------------------------------------------- grants

    def revoke(self, grant: Grant, reason: str = "revoked by the customer") -> None:
        """The customer revokes the app's access: tokens die, open queries are CANCELED (and notified)."""
        with self.lock:
            if grant.revoked_at is None:
                grant.revoked_at = self.now()
                grant.ended = "revoked"
            for token in self.tokens.values():
                if token.grant_id == grant.id:
                    token.revoked = True
            self._cancel_open(lambda q: q.grant_id == grant.id, reason)

    def grants_of(self, customer_id: str | None = None, client_id: str | None = None) -> list[Grant]:
        with self.lock:
            return [
                g
                for g in self.grants.values()
                if (customer_id is None or g.customer_id == customer_id)
                and (client_id is None or g.client_id == client_id)
            ]

    # ----------------------------------------------------------------------------------------------- time

    def advance(self) -> None:
        """Apply every transition due at the current simulated time."""
        with self.lock:
            now = self.now()
            expired: set[str] = set()
            for grant in self.grants.values():
                if grant.ended is None and grant.revoked_at is None and now >= grant.expires_at:
                    grant.ended = "expired"
                    expired.add(grant.id)
            if expired:
                self._cancel_open(lambda q: q.grant_id in expired, "the authorization expired")
            held = {c.id for c in self.customers if c.on_hold}
            if held:
                self._cancel_open(lambda q: q.customer_id in held, "the account is on hold")
            for query in self.queries.values():
                if query.status == IN_PROGRESS and now >= query.due_at:
                    self._finish(query, COMPLETED, None)

    def _cancel_open(self, which: Callable[[Query], bool], reason: str) -> None:
        for query in self.queries.values():
            if query.status == IN_PROGRESS and which(query):
                self._finish(query, CANCELED, reason)

    def _finish(self, query: Query, status: str, reason: str | None) -> None:
        now = self.now()
        query.status = status
        query.reason = reason
        query.completed_at = now
        query.notified_at = now
        self._enqueue_notification(query)

    def complete_now(self, query: Query) -> None:
        with self.lock:
            if query.status == IN_PROGRESS:
                self._finish(query, COMPLETED, None)

    def cancel_now(self, query: Query, reason: str = "canceled through the control API") -> None:
        with self.lock:
            if query.status == IN_PROGRESS:
                self._finish(query, CANCELED, reason)

    # ----------------------------------------------------------------------------------------------- notifications

    def _enqueue_notification(self, query: Query) -> None:
        app = self.app(query.client_id)
        message = json.dumps(
            {"id": query.id, "version": NOTIFICATION_VERSION, "status": query.status}, separators=(",", ":")
        )
        self.deliveries.append(
            self._sns_delivery(
                "Notification",
                query.client_id,
                app.notification_url if app else None,
                query.region,
                {"Subject": SUBJECT, "Message": message},
                query.id,
            )
        )

    def _topic_arn(self, region: str) -> str:
        return f"arn:aws:sns:{region}:000000000000:ring-data-portability-notifications"

    def _sns_delivery(
        self,
        message_type: Literal["Notification", "SubscriptionConfirmation"],
        client_id: str,
        url: str | None,
        region: str,
        fields: dict[str, str],
        query_id: str | None,
    ) -> Delivery:
        """An Amazon SNS HTTP(S) message: the JSON envelope, its headers, a (simulated) signature."""
        message_id = str(uuid.uuid4())
        topic = self._topic_arn(region)
        envelope: dict[str, str] = {"Type": message_type, "MessageId": message_id, "TopicArn": topic}
        envelope.update(fields)
        envelope["Timestamp"] = _iso_ms(self.now())
        canonical = "\n".join(f"{k}\n{v}" for k, v in sorted(envelope.items()))
        signature = hmac.new(self.secret, canonical.encode(), hashlib.sha256).digest()
        envelope["SignatureVersion"] = "1"
        envelope["Signature"] = base64.b64encode(signature).decode("ascii")
        envelope["SigningCertURL"] = f"https://sns.{region}.amazonaws.com/SimpleNotificationService-ringvault-sim.pem"
        subscription = f"{topic}:{hashlib.sha256((client_id + topic).encode()).hexdigest()[:36]}"
        if message_type == "Notification":
            envelope["UnsubscribeURL"] = (
                f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}"
            )
        headers = {
            "Content-Type": self.config.notification_content_type,
            "x-amz-sns-message-type": message_type,
            "x-amz-sns-message-id": message_id,
            "x-amz-sns-topic-arn": topic,
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if message_type == "Notification":
            headers["x-amz-sns-subscription-arn"] = subscription
        return Delivery(
            message_id=message_id,
            message_type=message_type,
            query_id=query_id,
            client_id=client_id,
            url=url,
            region=region,
            body=json.dumps(envelope).encode(),
            headers=headers,
            next_at=self.now(),
        )

    def subscription_confirmation(self, app: DPApp, region: str, subscribe_base: str) -> Delivery:
        """Queue an SNS ``SubscriptionConfirmation`` to the app's endpoint; its SubscribeURL points at this
        simulator (``GET /sns.{region}.amazonaws.com/?Action=ConfirmSubscription&Token=...``)."""
        token = secrets.token_hex(32)
        topic = self._topic_arn(region)
        subscribe = f"{subscribe_base}/sns.{region}.amazonaws.com/?" + urlencode(
            {"Action": "ConfirmSubscription", "TopicArn": topic, "Token": token}
        )
        fields = {
            "Token": token,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the "
            "SubscribeURL included in this message.",
            "SubscribeURL": subscribe,
        }
        with self.lock:
            delivery = self._sns_delivery(
                "SubscriptionConfirmation", app.client_id, app.notification_url, region, fields, None
            )
            self.subscriptions[token] = {"client_id": app.client_id, "topic": topic, "confirmed_at": None}
            self.deliveries.append(delivery)
            return delivery

    def confirm_subscription(self, token: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.subscriptions.get(token)
            if found is not None and found["confirmed_at"] is None:
                found["confirmed_at"] = self.now()
            return found

    def due_deliveries(self) -> list[Delivery]:
        """Deliveries whose next attempt is due; each is marked in flight by bumping ``attempts``."""
        with self.lock:
            now = self.now()
            due = [d for d in self.deliveries if not d.done and d.next_at <= now]
            for delivery in due:
                delivery.attempts += 1
                delivery.next_at = float("inf")  # until the attempt's outcome is recorded
            return due

    def record_attempt(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        with self.lock:
            ok = status is not None and 200 <= status < 300
            self.attempts.append(
                {
                    "message_id": delivery.message_id,
                    "type": delivery.message_type,
                    "query_id": delivery.query_id,
                    "client_id": delivery.client_id,
                    "url": delivery.url,
                    "region": delivery.region,
                    "attempt": delivery.attempts,
                    "at": self.now(),
                    "status": status,
                    "error": error,
                    "delivered": ok,
                }
            )
            retryable = delivery.url is not None and is_loopback_url(delivery.url)
            if ok or not retryable or delivery.attempts >= self.config.notification_attempts:
                delivery.done = True
                return
            backoff = self.config.notification_backoff_s or [1.0]
            delivery.next_at = self.now() + backoff[min(delivery.attempts - 1, len(backoff) - 1)]

    # ----------------------------------------------------------------------------------------------- intake

    def take_injection(self, method: str, path: str) -> DPError | None:
        with self.lock:
            for injection in self.injections:
                if injection.remaining > 0 and injection.matches(method, path):
                    injection.remaining -= 1
                    self.injections = [i for i in self.injections if i.remaining > 0]
                    return _injected_error(injection)
            return None

    def inject(
        self,
        error_type: str,
        category: str | None,
        count: int,
        path: str | None,
        method: str | None,
        *,
        status: int | None = None,
        message: str | None = None,
        raw: str | None = None,
        retry_after_s: float | None = None,
    ) -> Injection:
        """Arm ``count`` answers of an error. Without ``status`` it must be a documented type (``UnknownErrorType``
        otherwise); with it, any type at that status: an error that is not in the seed's table (the seed: "If you
        encounter an error not present in the table, start by retrying the error"), or a documented one at another
        status (a 503 from the gateway)."""
        if status is None:
            error = spec(error_type, category)
            error_type, category = error.type, error.category
        with self.lock:
            self._injection_ids += 1
            injection = Injection(
                id=self._injection_ids,
                error_type=error_type,
                category=category or "UNKNOWN",
                remaining=count,
                path=re.compile(path) if path else None,
                method=method,
                status=status,
                message=message,
                raw=raw,
                retry_after_s=retry_after_s,
            )
            self.injections.append(injection)
            return injection

    def authenticate(self, authorization: str | None) -> tuple[Token, Grant, DPApp, Customer]:
        """The intake hosts' authorization check, in the documented error vocabulary."""
        header = (authorization or "").strip()
        if not header:
            raise DPError("MISSING_AUTHORIZATION_HEADER")
        scheme, _, rest = header.partition(" ")
        value = rest.strip() if scheme.lower() == "bearer" else header
        if scheme.lower() == "bearer" and not rest.strip():
            value = ""
        if not value or value.lower() in ("null", "undefined", "none"):
            raise DPError("MISSING_ACCESS_TOKEN")
        with self.lock:
            now = self.now()
            token = self.tokens.get(value)
            if token is None or token.kind != "access" or token.revoked or now >= token.expires_at:
                raise DPError("ACCESS_DENIED")
            app = self.app(token.client_id)
            if app is None:
                raise DPError("SECURITY_PROFILE_NOT_FOUND")
            if not app.allowlisted:
                raise DPError("APP_NOT_ALLOWLISTED")
            grant = self.grants[token.grant_id]
            customer = self.customer(grant.customer_id)
            if customer is None:
                raise DPError("BLANK_CUSTOMER_ID")
            if not grant.active(now) or customer.on_hold:
                raise DPError("ACCESS_DENIED")
            return token, grant, app, customer

    @staticmethod
    def check_scope(scope_id: str, app: DPApp) -> None:
        if not scope_id.strip():
            raise DPError("BLANK_SCOPE_ID")
        if scope_id != SCOPE_ID:
            raise DPError("SCOPE_ID_NOT_FOUND")
        if scope_id not in app.scopes:
            raise DPError("SCOPE_NOT_ENABLED")

    def _throttle(self, customer: Customer, operation: str, error: DPError, wait_s: float) -> DPError:
        self.throttled[customer.id] = self.throttled.get(customer.id, 0) + 1
        key = (customer.id, operation)
        self.unretried[key] = self.unretried.get(key, 0) + 1
        if self.config.retry_after:
            error.headers["Retry-After"] = retry_after(wait_s)
        return error

    def _passed(self, customer: Customer, operation: str) -> None:
        """A call within the limits: the customer's earlier 429s of this operation were retried."""
        self.unretried.pop((customer.id, operation), None)

    def _limit_key(self, app: DPApp, customer: Customer, operation: str) -> tuple[tuple[str, ...], str]:
        # Seed 003: THROTTLED "Your Application's rate limits for this scope was exceeded"; the per-customer budget
        # (TOO_MANY_REQUESTS, "multiple requests in a given amount of time") is a knob for a service that counts so.
        if app.rate_limit_per == "app":
            return (operation, app.client_id), "THROTTLED"
        return (operation, app.client_id, customer.id), "TOO_MANY_REQUESTS"

    def _rate_limit_create(self, app: DPApp, customer: Customer) -> None:
        config = self.config
        if not config.rate_limits:
            return
        now = self.now()
        key, category = self._limit_key(app, customer, "create")
        window = self._windows.setdefault(key, SlidingWindow(config.create_window_max, config.create_window_s))
        window.limit, window.window_s = config.create_window_max, config.create_window_s
        if (wait := window.wait(now)) > 0:
            raise self._throttle(customer, "create", DPError("TOO_MANY_REQUESTS", category), wait)
        bucket = self._buckets.setdefault(key, TokenBucket(config.create_rps, config.create_burst))
        bucket.rate, bucket.burst = config.create_rps, config.create_burst
        if (wait := bucket.take(now)) > 0:
            raise self._throttle(customer, "create", DPError("TOO_MANY_REQUESTS", category), wait)
        window.add(now)
        self._passed(customer, "create")

    def _rate_limit_list(self, app: DPApp, customer: Customer, scope_id: str) -> None:
        config = self.config
        if not config.rate_limits:
            return
        now = self.now()
        quota = self._quotas.setdefault(("list", app.client_id, scope_id), DailyQuota(config.list_daily_quota))
        quota.limit = config.list_daily_quota
        if (wait := quota.wait(now)) > 0:
            raise self._throttle(customer, "list", DPError("QUOTA_EXCEEDED"), wait)
        key, category = self._limit_key(app, customer, "list")
        bucket = self._buckets.setdefault(key, TokenBucket(config.list_rps, config.list_burst))
        bucket.rate, bucket.burst = config.list_rps, config.list_burst
        if (wait := bucket.take(now)) > 0:
            raise self._throttle(customer, "list", DPError("TOO_MANY_REQUESTS", category), wait)
        quota.add()
        self._passed(customer, "list")

    def create_query(self, authorization: str | None, scope_id: str, region: str, brand: str) -> Query:
        """``createDataQuery``: checks in the order the API applies them, then a new IN_PROGRESS query."""
        self.advance()
        _token, grant, app, customer = self.authenticate(authorization)
        self.check_scope(scope_id, app)
        with self.lock:
            if grant.once and grant.used:
                raise DPError("ACCESS_DENIED")
            self._rate_limit_create(app, customer)
            if any(
                q.customer_id == customer.id and q.scope == scope_id and q.status not in TERMINAL
                for q in self.queries.values()
            ):
                raise DPError("REQUEST_CONFLICT")
            now = self.now()
            grant.used = True
            config = self.config
            query = Query(
                id=str(uuid.uuid4()),
                scope=scope_id,
                client_id=app.client_id,
                customer_id=customer.id,
                grant_id=grant.id,
                region=region,
                brand=brand,
                created_at=now,
                due_at=now + config.completion_delay_s,
                window=Window(grant.window_start, now),
                records_per_file=config.records_per_file,
                big_file_bytes=config.big_file_bytes,
                big_dataset=config.big_file_dataset,
            )
            self.queries[query.id] = query
            if config.completion_delay_s <= 0:
                self._finish(query, COMPLETED, None)
            return query

    def check_query(self, authorization: str | None, scope_id: str, query_id: str) -> tuple[Token, Query]:
        """The checks of ``listDataQueryRecords`` before paging: auth, scope, query, limits, status, window."""
        self.advance()
        token, _grant, app, customer = self.authenticate(authorization)
        self.check_scope(scope_id, app)
        if not query_id.strip():
            raise DPError("BLANK_QUERY_ID")
        with self.lock:
            query = self.queries.get(query_id.lower()) if _UUID.match(query_id) else None
            if query is None:
                raise DPError("QUERY_ID_NOT_FOUND")
            if query.customer_id != customer.id or query.client_id != app.client_id or query.scope != scope_id:
                raise DPError("INVALID_PARAMETERS")
            self._rate_limit_list(app, customer, scope_id)
            return token, query

    def check_listable(self, query: Query) -> None:
        with self.lock:
            if query.status != COMPLETED:
                raise DPError("QUERY_NOT_COMPLETED")
            assert query.notified_at is not None
            if self.now() > query.notified_at + self.config.access_window_s:
                raise DPError("ACCESS_TIME_ELAPSED")

    # ----------------------------------------------------------------------------------------------- records

    def source(self, customer: Customer) -> Source:
        return Source(
            world=self.world_of(customer),
            seed=customer.seed,
            retention_days=self._config.retention_days,
            log_rate=self.config.log_records_per_day,
        )

    def records(self, query: Query, dataset: str) -> list[dict[str, Any]]:
        """A data set's records for a query (generated, then kept in a small cache)."""
        customer = self.customer(query.customer_id)
        assert customer is not None
        window = query.window if datasets.CATALOGUE[dataset].windowed else Window(-math.inf, math.inf)
        changes = [
            c
            for c in self.config.record_changes
            if c.dataset == dataset and c.customer in (None, customer.id, customer.email)
        ]
        revision = json.dumps([c.model_dump(mode="json") for c in changes], sort_keys=True) if changes else ""
        key = (customer.id, dataset, window.start, window.end, self.config.log_records_per_day, revision)
        with self.lock:
            cached = self._records.get(key)
            if cached is not None:
                self._records.move_to_end(key)
                return cached
        records = datasets.apply_changes(dataset, datasets.generate(dataset, self.source(customer), window), changes)
        with self.lock:
            self._records[key] = records
            while len(self._records) > _RECORDS_CACHE:
                self._records.popitem(last=False)
        return records

    def files(self, query: Query) -> list[FileRef]:
        """The files of a completed query: every data set split by ``records_per_file`` (an empty data set still
        has one file, ``[]``), plus the big file when configured. Computed once, on first listing."""
        with self.lock:
            if query.files is not None:
                return query.files
        out: list[FileRef] = []
        for name in DATASETS:
            count = len(self.records(query, name))
            size = query.records_per_file
            parts = max(1, math.ceil(count / size))
            for part in range(parts):
                out.append(FileRef(name, part + 1, part * size, min(count, (part + 1) * size)))
            if query.big_file_bytes > 0 and name == query.big_dataset:
                out.append(FileRef(name, parts + 1, big=True))
        with self.lock:
            if query.files is None:
                query.files = out
            return query.files

    def record_counts(self, query: Query) -> dict[str, int]:
        """How many records each data set of ``query`` has (the big file's included): what an import must end with."""
        counts = {name: len(self.records(query, name)) for name in DATASETS}
        if query.big_file_bytes > 0:
            from ringvault.sim.portability.files import BigFile

            big = BigFile(query.big_file_bytes, query.window.start, query.window.end, 0.0, 0.0)
            counts[query.big_dataset] = counts.get(query.big_dataset, 0) + big.count
        return counts

    def file_bytes(self, query: Query, ref: FileRef) -> bytes:
        from ringvault.sim.portability.files import render_records

        key = (query.id, ref.dataset, ref.part)
        with self.lock:
            cached = self._files.get(key)
            if cached is not None:
                self._files.move_to_end(key)
                return cached
        data = render_records(self.records(query, ref.dataset)[ref.first : ref.last])
        with self.lock:
            if key not in self._files:
                self._files[key] = data
                self._file_bytes += len(data)
            while self._file_bytes > _FILE_CACHE_BYTES and self._files:
                _, dropped = self._files.popitem(last=False)
                self._file_bytes -= len(dropped)
        return data

    def page_token(self, query_id: str, offset: int) -> str:
        mac = hmac.new(self.secret, f"{query_id}:{offset}".encode(), hashlib.sha256).hexdigest()[:20]
        raw = json.dumps({"q": query_id, "o": offset, "m": mac}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii")

    def page_offset(self, query: Query, token: str | None) -> int:
        if token is None or token == "":
            return 0
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
            query_id, offset, mac = str(data["q"]), int(data["o"]), str(data["m"])
        except (ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
            raise DPError("INVALID_NEXT_PAGE") from None
        if query_id != query.id or not hmac.compare_digest(self.page_token(query_id, offset), token) or offset < 0:
            raise DPError("INVALID_NEXT_PAGE")
        _ = mac
        return offset

    def cached_page(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        with self.lock:
            now = self.now()
            for stale in [k for k, (at, _) in self._page_cache.items() if now - at >= self.config.response_cache_s]:
                del self._page_cache[stale]
            found = self._page_cache.get(key)
            return None if found is None else found[1]

    def store_page(self, key: tuple[str, ...], body: dict[str, Any]) -> None:
        if self.config.response_cache_s <= 0:
            return
        with self.lock:
            self._page_cache[key] = (self.now(), body)

    def query_by_id(self, query_id: str) -> Query | None:
        with self.lock:
            return self.queries.get(query_id)

    # ----------------------------------------------------------------------------------------------- summaries

    def summary(self) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            return {
                "customers": len(self.customers),
                "apps": [a.client_id for a in self.config.apps],
                "grants": [g.as_json(now) for g in self.grants.values()],
                "queries": [q.as_json() for q in self.queries.values()],
                "pending_notifications": sum(1 for d in self.deliveries if not d.done),
                "injections": [i.as_json() for i in self.injections],
            }
