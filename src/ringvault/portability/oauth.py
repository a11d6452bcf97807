"""Login with Ring (OAuth 2.0 authorization code + PKCE) and the refresh-token rotation of one customer.

The flow, as the seed documents it:

1. ``authorization_request()`` makes a fresh PKCE verifier (S256 by default, ``plain`` supported) and a random
   ``state`` and builds ``GET https://oauth.ring.com/v2/authorize?...`` (``api.oauth.blink.com`` for Blink). Keep the
   returned ``AuthorizationRequest`` until the customer comes back: it holds the verifier and the state.
2. Ring redirects to the app's ``redirect_uri`` with ``code`` and ``state`` — or ``error``, ``error_description`` and
   ``state`` when the customer cancelled. ``parse_redirect()`` checks the state first (a mismatch is
   ``StateMismatchError``: the redirect may be forged), then returns the code or raises the error's class.
3. ``PortabilityAuth.exchange_code()`` posts the code with the verifier to the token endpoint and stores the tokens.
4. ``PortabilityAuth.access_token()`` hands out the access token and refreshes it when it is (about to be) expired.
   Ring rotates the refresh token: the new one is written to the customer's token file (atomically, 0600, under the
   file's lock) before the new access token is used, and a rotation done meanwhile by another process sharing the file
   is adopted instead of refreshing with a superseded token.

Codes, verifiers, tokens and the client secret are registered with the log redaction and never appear in logs, reprs
or error messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import secrets
import string
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import filelock

from ringvault.cloud.tokens import LOCK_TIMEOUT_S
from ringvault.portability.config import ClientCredentials, PortabilityConfig, PortabilityConfigError
from ringvault.portability.endpoints import SCOPE_ID, Brand, PortabilityEndpoints, check_brand, endpoints_for
from ringvault.portability.errors import (
    InvalidGrantError,
    MissingAuthorizationCodeError,
    NotAuthorizedError,
    PortabilityError,
    PortabilityResponseError,
    PortabilityTokenFileError,
    StateMismatchError,
    oauth_error,
    oauth_error_from_response,
)
from ringvault.portability.http import PortabilityHttp
from ringvault.portability.tokens import DEFAULT_CUSTOMER, PortabilityToken, PortabilityTokenStore, check_customer
from ringvault.transport import register_secret

logger = logging.getLogger("ringvault.portability")

PkceMethod = Literal["S256", "plain"]
PKCE_METHODS: Final[tuple[PkceMethod, ...]] = ("S256", "plain")
#: RFC 7636 4.1: the verifier uses the unreserved characters [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
UNRESERVED: Final = string.ascii_letters + string.digits + "-._~"
VERIFIER_MIN, VERIFIER_MAX = 43, 128
DEFAULT_VERIFIER_LENGTH = 64
DEFAULT_EXPIRES_IN_S = 3600.0
REFRESH_MARGIN_S = 60.0


# ---------------------------------------------------------------------------------------------------------------
# PKCE and state


def check_verifier(verifier: str) -> str:
    """``verifier`` if it is a valid PKCE code verifier (43-128 unreserved characters), else ``ValueError``."""
    if not VERIFIER_MIN <= len(verifier) <= VERIFIER_MAX:
        raise ValueError(f"a PKCE code verifier has {VERIFIER_MIN}-{VERIFIER_MAX} characters, not {len(verifier)}")
    if any(ch not in UNRESERVED for ch in verifier):
        raise ValueError("a PKCE code verifier may only use letters, digits and - . _ ~")
    return verifier


def code_challenge(verifier: str, method: PkceMethod = "S256") -> str:
    """The code challenge of ``verifier``: BASE64URL(SHA256(verifier)) without padding for S256, itself for plain."""
    check_verifier(verifier)
    if method == "plain":
        return verifier
    if method != "S256":
        raise ValueError(f"unknown PKCE method {method!r}; use S256 or plain")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Pkce:
    """A PKCE verifier and how its challenge is derived. ``repr`` hides the verifier."""

    verifier: str = field(repr=False)
    method: PkceMethod = "S256"

    def __post_init__(self) -> None:
        check_verifier(self.verifier)
        if self.method not in PKCE_METHODS:
            raise ValueError(f"unknown PKCE method {self.method!r}; use S256 or plain")

    @property
    def challenge(self) -> str:
        return code_challenge(self.verifier, self.method)

    @classmethod
    def generate(cls, method: PkceMethod = "S256", length: int = DEFAULT_VERIFIER_LENGTH) -> Pkce:
        """A new random verifier (``secrets``) of ``length`` unreserved characters."""
        if not VERIFIER_MIN <= length <= VERIFIER_MAX:
            raise ValueError(f"a PKCE code verifier has {VERIFIER_MIN}-{VERIFIER_MAX} characters")
        verifier = "".join(secrets.choice(UNRESERVED) for _ in range(length))
        register_secret(verifier)
        return cls(verifier, method)


def new_state() -> str:
    """An unguessable ``state`` value (256 bits from ``secrets``)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One started Login with Ring: the URL to send the customer to, and what checking the redirect needs.

    ``to_dict()``/``from_dict()`` let a server keep pending logins somewhere private between the two requests (the
    verifier is a secret until the code is exchanged).
    """

    url: str = field(repr=False)
    state: str = field(repr=False)
    pkce: Pkce
    client_id: str
    redirect_uri: str
    brand: Brand
    scope: str = SCOPE_ID
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "state": self.state,
            "verifier": self.pkce.verifier,
            "method": self.pkce.method,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "brand": self.brand,
            "scope": self.scope,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        method = data.get("method", "S256")
        if method not in PKCE_METHODS:
            raise ValueError(f"unknown PKCE method {method!r}")
        return cls(
            url=str(data["url"]),
            state=str(data["state"]),
            pkce=Pkce(str(data["verifier"]), method),
            client_id=str(data["client_id"]),
            redirect_uri=str(data["redirect_uri"]),
            brand=check_brand(str(data["brand"])),
            scope=str(data.get("scope", SCOPE_ID)),
            created_at=float(data.get("created_at", time.time())),
        )


def authorization_url(
    client_id: str,
    redirect_uri: str,
    *,
    brand: Brand | str = "ring",
    endpoints: PortabilityEndpoints | None = None,
    cloud_url: str | None = None,
    pkce: Pkce | None = None,
    method: PkceMethod = "S256",
    state: str | None = None,
    scope: str = SCOPE_ID,
) -> AuthorizationRequest:
    """Start Login with Ring: the authorize URL with a fresh PKCE challenge and ``state`` (or the ones given)."""
    if not client_id.strip():
        raise PortabilityConfigError("the client id is empty")
    checked_brand = check_brand(brand)
    ends = endpoints or endpoints_for(checked_brand, cloud_url=cloud_url)
    pkce = pkce or Pkce.generate(method)
    state = state or new_state()
    register_secret(state)
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": scope,
            "code_challenge": pkce.challenge,
            "code_challenge_method": pkce.method,
            "state": state,
        }
    )
    return AuthorizationRequest(
        url=f"{ends.authorize_url}?{query}",
        state=state,
        pkce=pkce,
        client_id=client_id,
        redirect_uri=redirect_uri,
        brand=checked_brand,
        scope=scope,
    )


def redirect_params(redirect: str | Mapping[str, str]) -> dict[str, str]:
    """The query parameters of a redirect given as a full URL, a query string, or a mapping."""
    if isinstance(redirect, Mapping):
        return {str(k): str(v) for k, v in redirect.items()}
    text = redirect.strip()
    query = urlsplit(text).query if "://" in text or text.startswith("/") else text.lstrip("?")
    return dict(parse_qsl(query, keep_blank_values=True))


def parse_redirect(redirect: str | Mapping[str, str], *, expected_state: str) -> str:
    """The authorization code of a redirect back from Login with Ring.

    The ``state`` is compared first, in constant time: a missing or different one raises ``StateMismatchError``
    whatever else the redirect says. Then an ``error`` (``access_denied`` when the customer cancelled) raises its
    ``OAuthError`` class with the ``error_description``; a redirect without a code raises
    ``MissingAuthorizationCodeError``.
    """
    params = redirect_params(redirect)
    state = params.get("state", "")
    if not expected_state or not secrets.compare_digest(state.encode(), expected_state.encode()):
        raise StateMismatchError(
            None,
            "the redirect's state is missing" if not state else "the redirect's state is not the one this app sent",
            context="Login with Ring",
        )
    if params.get("error"):
        raise oauth_error(params["error"], params.get("error_description"), context="Login with Ring")
    code = params.get("code", "")
    if not code:
        raise MissingAuthorizationCodeError(None, "the redirect has no code", context="Login with Ring")
    register_secret(code)
    return code


# ---------------------------------------------------------------------------------------------------------------
# Tokens of one customer


class PortabilityAuth:
    """The authorization of one customer of one app: code exchange, stored tokens, refresh with rotation.

    With a ``store``, tokens are read from and written to ``store`` (one file per brand and customer); without one
    they live in memory only (``token=`` seeds them). ``http`` is shared with a ``PortabilityClient``; when omitted
    one is created on first use and closed by ``aclose()``.
    """

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        brand: Brand | str = "ring",
        customer: str = DEFAULT_CUSTOMER,
        store: PortabilityTokenStore | None = None,
        token: PortabilityToken | None = None,
        endpoints: PortabilityEndpoints | None = None,
        cloud_url: str | None = None,
        http: PortabilityHttp | None = None,
    ) -> None:
        self.credentials = credentials
        self.brand: Brand = check_brand(brand)
        self.customer = check_customer(customer)
        self.store = store
        self.endpoints = endpoints or endpoints_for(self.brand, cloud_url=cloud_url)
        self._http = http
        self._owns_http = http is None
        self._token = token
        self._loaded = token is not None
        self._refresh_at: float | None = None
        self._lock = asyncio.Lock()
        #: number of refresh grants this object performed (tests, stats)
        self.refreshes = 0
        register_secret(credentials.client_secret)
        if token is not None:
            self._remember(token)

    @classmethod
    def from_config(
        cls, config: PortabilityConfig, *, customer: str = DEFAULT_CUSTOMER, http: PortabilityHttp | None = None
    ) -> PortabilityAuth:
        """The auth of ``customer`` with the app's configuration and token directory."""
        return cls(
            config.credentials,
            brand=config.brand,
            customer=customer,
            store=PortabilityTokenStore(config.token_dir),
            endpoints=config.endpoints,
            http=http,
        )

    def __repr__(self) -> str:
        return f"PortabilityAuth(brand={self.brand!r}, customer={self.customer!r}, store={self.store!r})"

    # -- plumbing ------------------------------------------------------------------------------------------------
    @property
    def http(self) -> PortabilityHttp:
        if self._http is None:
            self._http = PortabilityHttp()
            self._owns_http = True
        return self._http

    def use_http(self, http: PortabilityHttp) -> None:
        """Send token requests through ``http`` (the client's transport) from now on."""
        self._http, self._owns_http = http, False

    async def aclose(self) -> None:
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> PortabilityAuth:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def token(self) -> PortabilityToken | None:
        """The current authorization (loaded from the store on first use)."""
        self._load()
        return self._token

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.store is not None:
            stored = self.store.load(self.brand, self.customer)
            if stored is not None:
                self._remember(stored)

    def _remember(self, token: PortabilityToken) -> None:
        register_secret(token.refresh_token)
        register_secret(token.access_token)
        self._token = token
        self._refresh_at = None
        if token.expires_at is not None:
            lifetime = max(0.0, token.expires_at - token.updated_at) if token.updated_at else DEFAULT_EXPIRES_IN_S
            self._refresh_at = token.expires_at - min(REFRESH_MARGIN_S, lifetime / 2)

    def _fresh(self, token: PortabilityToken | None, failed_token: str | None = None) -> bool:
        if token is None or not token.access_token or token.access_token == failed_token:
            return False
        return self._refresh_at is None or time.time() < self._refresh_at

    # -- login ---------------------------------------------------------------------------------------------------
    def authorization_request(
        self, *, method: PkceMethod = "S256", state: str | None = None, redirect_uri: str | None = None
    ) -> AuthorizationRequest:
        """Start Login with Ring for this customer (see ``authorization_url``)."""
        uri = redirect_uri or self.credentials.redirect_uri
        if not uri:
            raise PortabilityConfigError("no redirect URI configured")
        return authorization_url(
            self.credentials.client_id,
            uri,
            brand=self.brand,
            endpoints=self.endpoints,
            method=method,
            state=state,
        )

    async def complete(self, request: AuthorizationRequest, redirect: str | Mapping[str, str]) -> PortabilityToken:
        """Check the redirect against ``request`` (state, error) and exchange its code."""
        code = parse_redirect(redirect, expected_state=request.state)
        return await self.exchange_code(code, request.pkce, redirect_uri=request.redirect_uri)

    async def exchange_code(
        self, code: str, pkce: Pkce | str, *, redirect_uri: str | None = None, scope: str = SCOPE_ID
    ) -> PortabilityToken:
        """Exchange an authorization code (with its PKCE verifier) for tokens, and store them."""
        verifier = pkce.verifier if isinstance(pkce, Pkce) else check_verifier(pkce)
        uri = redirect_uri or self.credentials.redirect_uri
        if not uri:
            raise PortabilityConfigError("no redirect URI configured")
        register_secret(code)
        register_secret(verifier)
        form = {
            "grant_type": "authorization_code",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "code": code,
            "redirect_uri": uri,
            "code_verifier": verifier,
            "scope": scope,
        }
        async with self._lock:
            data = await self._token_request(form, "code exchange")
            if self.store is None:
                return self._accept(data, previous=None)
            async with _locked(self.store, self.brand, self.customer):
                return self._accept(data, previous=None)

    # -- access tokens -------------------------------------------------------------------------------------------
    async def access_token(self) -> str:
        """A usable access token; refreshed first when it is expired or expires within a minute."""
        self._load()
        token = self._token
        if self._fresh(token):
            assert token is not None and token.access_token is not None
            return token.access_token
        return await self.refresh(failed_token=token.access_token if token else None)

    async def refresh(self, *, failed_token: str | None = None) -> str:
        """Get a new access token (``failed_token``: one the service just refused, if any).

        Concurrent callers share one refresh; with a store, a rotation another process already made is adopted, and a
        new refresh token is saved before its access token is returned.
        """
        async with self._lock:
            self._load()
            if self._fresh(self._token, failed_token):
                assert self._token is not None and self._token.access_token is not None
                return self._token.access_token  # another task refreshed while we waited
            if self.store is None:
                return await self._refresh_grant()
            async with _locked(self.store, self.brand, self.customer):
                stored = self.store.load(self.brand, self.customer)
                if stored is not None and (
                    self._token is None
                    or stored.refresh_token != self._token.refresh_token
                    or stored.access_token != self._token.access_token
                ):
                    logger.info("token file of %s/%s holds newer tokens; adopting them", self.brand, self.customer)
                    self._remember(stored)
                    if self._fresh(stored, failed_token):
                        assert stored.access_token is not None
                        return stored.access_token
                return await self._refresh_grant()

    async def _refresh_grant(self) -> str:
        token = self._token
        if token is None:
            raise NotAuthorizedError(f"no stored authorization for {self.brand} customer {self.customer!r}")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token.refresh_token,
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        try:
            data = await self._token_request(form, "refresh")
        except InvalidGrantError as err:
            err.hint = (
                f"Ring no longer accepts the stored authorization of {self.brand} customer {self.customer!r} "
                "(revoked, expired or superseded); the customer must log in with Ring again."
            )
            raise
        self.refreshes += 1
        new = self._accept(data, previous=token)
        assert new.access_token is not None
        return new.access_token

    async def _token_request(self, form: Mapping[str, str], what: str) -> Mapping[str, Any]:
        response = await self.http.request_json(
            "POST",
            self.endpoints.token_url,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            error_mapper=oauth_error_from_response,
        )
        data = response.data
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise PortabilityResponseError(f"the token endpoint's answer to the {what} has no access_token")
        register_secret(data["access_token"])
        if isinstance(data.get("refresh_token"), str):
            register_secret(data["refresh_token"])
        return data

    def _accept(self, data: Mapping[str, Any], *, previous: PortabilityToken | None) -> PortabilityToken:
        """Take a token answer: persist it first (atomically, 0600), then use it."""
        refresh_token = data.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            if previous is None:
                raise PortabilityResponseError("the token endpoint's answer has no refresh_token")
            refresh_token = previous.refresh_token  # "store the new refresh token if one is returned"
        now = time.time()
        expires_in = _expires_in(data.get("expires_in"))
        token = PortabilityToken(
            brand=self.brand,
            customer=self.customer,
            refresh_token=refresh_token,
            access_token=str(data["access_token"]),
            expires_at=now + expires_in,
            scope=_opt_str(data.get("scope")) or (previous.scope if previous else None),
            token_type=_opt_str(data.get("token_type")),
            client_id=self.credentials.client_id,
            created_at=previous.created_at if previous else now,
            updated_at=now,
        )
        save_error: PortabilityTokenFileError | None = None
        if self.store is not None:
            try:
                self.store.save(token)
            except PortabilityTokenFileError as err:
                save_error = err
        self._remember(token)
        self._loaded = True
        if save_error is not None:
            # Keep the rotated token in memory so this process can go on, but the caller must know it is not saved.
            raise save_error
        return token


@contextlib.asynccontextmanager
async def _locked(store: PortabilityTokenStore, brand: Brand, customer: str) -> AsyncIterator[None]:
    try:
        async with store.async_lock(brand, customer):
            yield
    except filelock.Timeout as err:
        raise PortabilityError(
            f"the token file of {brand} customer {customer!r} stayed locked by another process for "
            f"{LOCK_TIMEOUT_S:.0f} s",
            hint="Another ringvault process may be stuck; stop it, or remove the .lock file if none runs.",
        ) from err


def _expires_in(value: Any) -> float:
    if isinstance(value, bool):
        return DEFAULT_EXPIRES_IN_S
    if isinstance(value, int | float) and value > 0:
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            seconds = float(value)
            if seconds > 0:
                return seconds
    return DEFAULT_EXPIRES_IN_S


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
