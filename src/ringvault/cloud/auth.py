"""Authentication against Ring's OAuth endpoint: password + 2FA login, refresh with rotation.

- ``RingAuth`` holds the current tokens and the hardware id, hands out access tokens (refreshing 60 s before
  expiry) and refreshes on demand. Refreshes are serialized by an ``asyncio.Lock`` and, with a ``TokenStore``,
  by the store's file lock: under that lock the file is re-read, a rotation done by another process is adopted,
  and a new refresh token is written to the file **before** the new access token is used.
- ``RefreshTokenAuth`` starts from a stored (or given) refresh token.
- ``PasswordAuth`` / ``login()`` perform the password grant with two-factor authentication.

Every token request goes through ``RingHttp`` (the one HTTP layer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import filelock

from ringvault.cloud import endpoints
from ringvault.cloud.errors import (
    AuthenticationError,
    NotLoggedInError,
    RateLimitedError,
    ResponseFormatError,
    TokenRevokedError,
    TwoFactorRequiredError,
    TwoFactorThrottledError,
    WrongPasswordError,
    WrongTwoFactorCodeError,
)
from ringvault.cloud.http import LONG_WAIT_HINT, Event, RingHttp
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import LOCK_TIMEOUT_S, StoredToken, TokenFileError, TokenStore, parse_refresh_token
from ringvault.transport import Response, json_or_none, register_secret

logger = logging.getLogger("ringvault.cloud")

#: Refresh this long before the access token expires (at most half its lifetime).
REFRESH_MARGIN_S = 60.0
DEFAULT_EXPIRES_IN_S = 3600.0
#: Refresh tokens tried from the token file for one refresh (each refused one superseded by a newer stored one).
MAX_STORED_TOKEN_TRIES = 3
#: How long a cancelled caller waits for its refresh to finish and be saved (see ``refresh``).
REFRESH_FINISH_TIMEOUT_S = 30.0

TwoFactorCallback = Callable[[TwoFactorRequiredError], Awaitable[str]]


@dataclass(frozen=True)
class RefreshTokenUpdate:
    """Sent to ``on_refresh_token_updated`` subscribers whenever the refresh token changes."""

    old_refresh_token: str | None
    new_refresh_token: str


@dataclass(frozen=True)
class _Grant:
    access_token: str
    refresh_token: str | None
    expires_in: float


class RingAuth:
    """Current tokens, the hardware id, and the refresh logic shared by all ways of logging in.

    ``on_refresh_token_updated`` fires after every rotation (already persisted when a store is used).
    """

    def __init__(
        self,
        *,
        hardware_id: str | None = None,
        token_store: TokenStore | None = None,
        refresh_token: str | None = None,
        access_token: str | None = None,
        expires_at: float | None = None,
        email: str | None = None,
    ) -> None:
        self.token_store = token_store
        if hardware_id is None:
            hardware_id = token_store.hardware_id() if token_store is not None else str(uuid.uuid4())
        self.hardware_id: str = hardware_id
        self.email = email
        self.on_refresh_token_updated: Event[RefreshTokenUpdate] = Event()
        self._refresh_token = refresh_token
        self._access_token = access_token
        self._expires_at = expires_at
        self._refresh_at = _refresh_at(expires_at, None)
        self._lock = asyncio.Lock()
        self._pending_updates: list[RefreshTokenUpdate] = []
        register_secret(refresh_token)
        register_secret(access_token)

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def refresh_token(self) -> str | None:
        return self._refresh_token

    @property
    def current_access_token(self) -> str | None:
        return self._access_token

    @property
    def expires_at(self) -> float | None:
        return self._expires_at

    def _access_fresh(self) -> bool:
        if not self._access_token:
            return False
        return self._refresh_at is None or time.time() < self._refresh_at

    def stored_token(self) -> StoredToken | None:
        """The current login as the token file would hold it."""
        if self._refresh_token is None:
            return None
        return StoredToken(
            refresh_token=self._refresh_token,
            hardware_id=self.hardware_id,
            access_token=self._access_token,
            expires_at=self._expires_at,
            email=self.email,
        )

    # -- access tokens -------------------------------------------------------------------------------------------
    async def access_token(self, http: RingHttp) -> str:
        """A usable access token, refreshed proactively shortly before it expires."""
        if self._access_fresh():
            assert self._access_token is not None
            return self._access_token
        return await self.refresh(http, failed_token=self._access_token)

    async def _obtain_initial(self, http: RingHttp) -> None:
        """Called when there is no refresh token at all (``PasswordAuth`` logs in here)."""
        raise NotLoggedInError("no Ring login available")

    async def refresh(self, http: RingHttp, *, failed_token: str | None = None, private: bool = False) -> str:
        """Get a new access token (``failed_token``: the one Ring just rejected, if any).

        Concurrent callers share one refresh. With a token store, a rotation another process already did is adopted
        instead of refreshing again, and every new refresh token is saved before its access token is returned.

        ``private``: always ask Ring for a new access token (after adopting the freshest stored refresh token), and
        keep it out of the token file, so no other process uses it up before the caller has sent its request; the
        rotated refresh token is saved as always. For a request whose token was rejected again right after a
        refresh (``RingHttp``); it becomes this object's current token all the same.
        """
        # Ring rotates the refresh token the moment it answers, so a refresh abandoned half-way (the caller cancelled:
        # a hub socket closed while it fetched a ticket, a timeout around the call) would lose the only refresh token
        # that still works, and the user would have to log in again. The grant and the saving of its answer run in a
        # task of their own that a cancelled caller waits for (bounded by the HTTP timeouts) before it gives up.
        work = asyncio.ensure_future(self._refresh_locked(http, failed_token, private))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            if not work.done():
                logger.debug("refresh cancelled by its caller; finishing it so the rotated token is saved")
                await asyncio.wait({work}, timeout=REFRESH_FINISH_TIMEOUT_S)
                if not work.done():
                    work.cancel()
            if work.done() and not work.cancelled():
                work.exception()  # retrieved: a failure of the abandoned refresh is not "never retrieved"
            raise
        finally:
            await self._emit_pending()

    async def _refresh_locked(self, http: RingHttp, failed_token: str | None, private: bool) -> str:
        async with self._lock:
            if not private and self._access_token and self._access_token != failed_token and self._access_fresh():
                return self._access_token  # another task refreshed while we waited
            if self._refresh_token is None:
                await self._obtain_initial(http)
                if self._access_token is None:
                    raise NotLoggedInError("no Ring login available")
                return self._access_token
            if self.token_store is None:
                return await self._refresh_grant(http)
            async with _locked(self.token_store):
                adopted = await self._adopt_from_store(failed_token)
                if adopted is not None and not private:
                    return adopted
                return await self._refresh_grant_from_store(http, failed_token, private)

    async def _emit_pending(self) -> None:
        """Tell subscribers about rotations, outside the locks (a callback may read or lock the token file)."""
        while self._pending_updates:
            await self.on_refresh_token_updated.emit(self._pending_updates.pop(0))

    async def _adopt_from_store(self, failed_token: str | None) -> str | None:
        """Under the file lock: take over a newer login from the file. Returns its access token if usable."""
        assert self.token_store is not None
        stored = self.token_store.load()
        if stored is None:
            return None
        if stored.refresh_token != self._refresh_token:
            old = self._refresh_token
            logger.info("token file %s holds a newer refresh token (rotated elsewhere); adopting it", self.token_store)
            register_secret(stored.refresh_token)
            register_secret(stored.access_token)
            self._refresh_token = stored.refresh_token
            self.hardware_id = stored.hardware_id or self.hardware_id
            self.email = stored.email or self.email
            self._access_token = stored.access_token
            self._expires_at = stored.expires_at
            self._refresh_at = _refresh_at(stored.expires_at, stored.updated_at)
            self._pending_updates.append(RefreshTokenUpdate(old, stored.refresh_token))
        elif stored.access_token and stored.access_token != self._access_token:
            register_secret(stored.access_token)
            self._access_token = stored.access_token
            self._expires_at = stored.expires_at
            self._refresh_at = _refresh_at(stored.expires_at, stored.updated_at)
        if self._access_token and self._access_token != failed_token and self._access_fresh():
            return self._access_token
        return None

    async def _refresh_grant_from_store(self, http: RingHttp, failed_token: str | None, private: bool) -> str:
        """The refresh grant with the file lock held; a refused refresh token is only fatal when it is the freshest.

        Ring rotates the refresh token on every refresh, so a token superseded by another process is refused with
        ``invalid_grant``. Every holder of the file refreshes under its lock, so the token just adopted from the file
        is normally the freshest; should the file hold another one after the refusal (written by something that did
        not take the lock), that one is adopted and tried instead of telling the user to log in again.
        """
        assert self.token_store is not None
        for _ in range(MAX_STORED_TOKEN_TRIES - 1):
            rejected = self._refresh_token
            try:
                return await self._refresh_grant(http, share=not private)
            except TokenRevokedError:
                stored = self.token_store.load()
                if stored is None or stored.refresh_token == rejected:
                    raise
                logger.info("Ring refused a superseded refresh token; the token file holds a newer one, adopting it")
            adopted = await self._adopt_from_store(failed_token)
            if adopted is not None and not private:
                return adopted
        return await self._refresh_grant(http, share=not private)

    async def _refresh_grant(self, http: RingHttp, *, share: bool = True) -> str:
        """The refresh grant (rotation). Called with the locks held. ``share=False``: see ``refresh(private=True)``."""
        if self._refresh_token is None:
            raise NotLoggedInError("no Ring login available")
        body = {
            "client_id": endpoints.CLIENT_ID,
            "scope": "client",
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
        }
        grant = await token_grant(http, body, hardware_id=self.hardware_id)
        http.stats.refreshes += 1
        await self._accept(grant, share=share)
        return grant.access_token

    async def _accept(self, grant: _Grant, *, share: bool = True) -> None:
        """Take a token response: persist first (atomically), then switch to it; subscribers hear of it after the
        locks are released. ``share=False`` saves the rotated refresh token but leaves the file's access token as it
        was (the new one is for this process only, see ``refresh(private=True)``)."""
        old = self._refresh_token
        new_refresh = grant.refresh_token or old
        if new_refresh is None:
            raise ResponseFormatError("Ring's token response has no refresh_token")
        now = time.time()
        expires_at = now + grant.expires_in
        save_error: TokenFileError | None = None
        if self.token_store is not None:
            token = StoredToken(
                refresh_token=new_refresh,
                hardware_id=self.hardware_id,
                access_token=grant.access_token,
                expires_at=expires_at,
                email=self.email,
                updated_at=now,
            )
            try:
                if not share:
                    token = self._keeping_stored_access_token(token)
                self.token_store.save(token)
            except TokenFileError as err:
                save_error = err
        self._refresh_token = new_refresh
        self._access_token = grant.access_token
        self._expires_at = expires_at
        self._refresh_at = now + grant.expires_in - min(REFRESH_MARGIN_S, grant.expires_in / 2)
        if new_refresh != old:
            self._pending_updates.append(RefreshTokenUpdate(old, new_refresh))
        if save_error is not None:
            # The new token is kept in memory (and given to subscribers) so it is not lost, but the user must know.
            raise save_error

    def _keeping_stored_access_token(self, token: StoredToken) -> StoredToken:
        """``token`` with the access token (and its times) the file holds now instead of the new one."""
        assert self.token_store is not None
        stored = self.token_store.load()
        if stored is None:
            return replace(token, access_token=None, expires_at=None)
        return replace(
            token, access_token=stored.access_token, expires_at=stored.expires_at, updated_at=stored.updated_at
        )


class RefreshTokenAuth(RingAuth):
    """Authentication from a refresh token: given explicitly (raw or exported by ring-client-api) or stored.

    With a ``token_store`` and no token, the stored login is used (``NotLoggedInError`` if there is none). With
    both, the given token is imported into the store (so the store and this object agree from the start).
    """

    def __init__(
        self,
        refresh_token: str | None = None,
        *,
        token_store: TokenStore | None = None,
        hardware_id: str | None = None,
    ) -> None:
        if refresh_token is not None and refresh_token.strip():
            ring_token, rca_hardware_id = parse_refresh_token(refresh_token)
            hid = hardware_id or rca_hardware_id
            super().__init__(hardware_id=hid, token_store=token_store, refresh_token=ring_token)
            if token_store is not None:
                with token_store.lock():
                    previous = token_store.load()
                    token_store.save(
                        StoredToken(
                            refresh_token=ring_token,
                            hardware_id=self.hardware_id,
                            email=previous.email if previous and previous.refresh_token == ring_token else None,
                        )
                    )
            return
        if token_store is None:
            raise NotLoggedInError("no refresh token given and no token store to load one from")
        stored = token_store.load()
        if stored is None:
            raise NotLoggedInError(f"no Ring login stored in {token_store.path}")
        super().__init__(
            hardware_id=hardware_id or stored.hardware_id,
            token_store=token_store,
            refresh_token=stored.refresh_token,
            access_token=stored.access_token,
            expires_at=stored.expires_at,
            email=stored.email,
        )
        self._refresh_at = _refresh_at(stored.expires_at, stored.updated_at)


class PasswordAuth(RingAuth):
    """Authentication by e-mail and password (the password grant, §2.2), with two-factor authentication.

    The first access-token request logs in. On HTTP 412 the ``two_factor`` callback is asked once for the code
    and the same grant is repeated with it; code requests are never looped. ``code`` is sent on the first grant
    (for scripts that already have one). The password is forgotten after a successful login.
    """

    def __init__(
        self,
        email: str,
        password: str,
        *,
        two_factor: TwoFactorCallback | None = None,
        code: str | None = None,
        token_store: TokenStore | None = None,
        hardware_id: str | None = None,
    ) -> None:
        super().__init__(hardware_id=hardware_id, token_store=token_store, email=email.strip())
        self._password: str | None = password
        self._two_factor = two_factor
        self._code = code.strip() if code and code.strip() else None
        register_secret(password)
        register_secret(self._code)

    async def _obtain_initial(self, http: RingHttp) -> None:
        # The grant (and the user typing a 2FA code) happens without the file lock; only the save takes it.
        grant = await self._password_grant(http)
        self._refresh_token = None  # a new login replaces any previous one
        if self.token_store is not None:
            async with _locked(self.token_store):
                await self._accept(grant)
        else:
            await self._accept(grant)
        self._password = None
        self._code = None
        logger.info("logged in to Ring (hardware id %s)", self.hardware_id)

    async def login(self, http: RingHttp) -> StoredToken:
        """Run the password grant (with 2FA) now; returns (and stores) the new login."""
        try:
            async with self._lock:
                await self._obtain_initial(http)
        finally:
            await self._emit_pending()
        token = self.stored_token()
        assert token is not None
        return token

    async def _password_grant(self, http: RingHttp) -> _Grant:
        if self._password is None:
            raise NotLoggedInError("the password was already used; log in again")
        body = {
            "client_id": endpoints.CLIENT_ID,
            "scope": "client",
            "grant_type": "password",
            "username": self.email or "",
            "password": self._password,
        }
        try:
            grant = await token_grant(http, body, hardware_id=self.hardware_id, code=self._code)
        except TwoFactorRequiredError as challenge:
            if self._two_factor is None:
                raise
            code = (await self._two_factor(challenge)).strip()
            if not code:
                raise WrongTwoFactorCodeError("no verification code entered") from challenge
            register_secret(code)
            grant = await token_grant(http, body, hardware_id=self.hardware_id, code=code)
        return grant


async def login(
    http_or_options: RingHttp | RingApiOptions,
    email: str,
    password: str,
    *,
    two_factor: TwoFactorCallback | None = None,
    code: str | None = None,
    token_store: TokenStore | None = None,
) -> StoredToken:
    """Log in with e-mail and password (+ 2FA) and return the new login; with a store it is saved (0600) first.

    ``two_factor`` is awaited at most once, with the ``TwoFactorRequiredError`` saying where Ring sent the code.
    Without a callback (and without ``code``) the ``TwoFactorRequiredError`` is raised to the caller.
    """
    hardware_id: str | None = None
    if isinstance(http_or_options, RingHttp) and token_store is None:
        hardware_id = http_or_options.auth.hardware_id
    auth = PasswordAuth(
        email, password, two_factor=two_factor, code=code, token_store=token_store, hardware_id=hardware_id
    )
    if isinstance(http_or_options, RingHttp):
        return await auth.login(http_or_options)
    async with RingHttp(auth, http_or_options) as http:
        return await auth.login(http)


# ---------------------------------------------------------------------------------------------------------------
# The token endpoint


async def token_grant(http: RingHttp, body: Mapping[str, Any], *, hardware_id: str, code: str | None = None) -> _Grant:
    """POST one grant to ``oauth/token`` and map Ring's answers to typed errors."""
    grant_type = str(body.get("grant_type", ""))
    headers = {
        "hardware_id": hardware_id,
        "2fa-support": "true",
        "2fa-code": code or "",
        "Accept": "application/json",
    }
    response = await http.request(
        "POST",
        endpoints.OAUTH_TOKEN_URL,
        json=dict(body),
        headers=headers,
        session=False,
        auth=False,
        raise_for_status=False,
        # A refresh that met a 500 or a broken connection is retried: if Ring did not rotate, the retry succeeds;
        # if it did, the new token is lost either way. Password grants are never repeated (each may send a 2FA code).
        retry_safe=grant_type == "refresh_token",
    )
    data = _json_object(response)
    status = response.status_code
    if 200 <= status < 300:
        if data is None:
            raise ResponseFormatError(f"Ring's token endpoint answered HTTP {status} without a JSON token")
        return _parse_grant(data)
    if status == 406:
        raise RateLimitedError("Ring refused the token request (HTTP 406)", status=406, hint=LONG_WAIT_HINT)
    if data is None:
        if status == 429 or status >= 500:
            http.raise_for_status(response, method="POST", url=endpoints.OAUTH_TOKEN_URL)
        raise ResponseFormatError(f"Ring's token endpoint answered HTTP {status} with a body that is not JSON")
    error = str(data.get("error") or "")
    description = str(data.get("error_description") or "")
    text = f"{error} {description} {data.get('err_msg') or ''}".lower()
    if status == 412:
        raise _two_factor_required(data)
    if status == 400:
        if "too many requests" in text or "error requesting 2fa service" in text:
            raise TwoFactorThrottledError("Ring refused to send another verification code (too many requests)")
        if "verification code" in text:
            raise WrongTwoFactorCodeError("Ring rejected the verification code (wrong or expired)")
        if error == "invalid_grant":
            raise TokenRevokedError("Ring no longer accepts the stored refresh token")
        raise AuthenticationError(f"Ring refused the {grant_type} grant: {error or description or 'HTTP 400'}")
    if status == 401:
        if grant_type == "refresh_token" or error == "invalid_grant":
            raise TokenRevokedError("Ring no longer accepts the stored refresh token (revoked, expired or superseded)")
        if error == "unauthorized_client":
            raise AuthenticationError("Ring rejected this client id (unauthorized_client)")
        raise WrongPasswordError("Ring rejected the e-mail address or password")
    if status == 429 or status >= 500:
        http.raise_for_status(response, method="POST", url=endpoints.OAUTH_TOKEN_URL)
    raise AuthenticationError(f"Ring refused the {grant_type} grant: HTTP {status} {error}".strip())


@contextlib.asynccontextmanager
async def _locked(store: TokenStore) -> AsyncIterator[None]:
    """Hold the token file's cross-process lock; a lock held elsewhere for too long is a clear error."""
    try:
        async with store.async_lock():
            yield
    except filelock.Timeout as err:
        raise TokenFileError(
            f"token file {store.path} stayed locked by another ringvault process for {LOCK_TIMEOUT_S:.0f} s",
            hint="Another ringvault process may be stuck; stop it, or remove the .lock file if none runs.",
        ) from err


def _json_object(response: Response) -> dict[str, Any] | None:
    data = json_or_none(response.content)
    return data if isinstance(data, dict) else None


def _two_factor_required(data: Mapping[str, Any]) -> TwoFactorRequiredError:
    tsv_state = data.get("tsv_state")
    phone = data.get("phone")
    next_time: int | None = None
    raw_next = data.get("next_time_in_secs")
    try:
        next_time = int(float(raw_next)) if raw_next is not None else None
    except (TypeError, ValueError):
        next_time = None
    err = TwoFactorRequiredError(
        "verification code required",
        tsv_state=str(tsv_state) if tsv_state else None,
        phone=str(phone) if phone else None,
        next_time_in_secs=next_time,
    )
    err.args = (f"Two-factor code required. {err.prompt}",)
    return err


def _parse_grant(data: Mapping[str, Any]) -> _Grant:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise ResponseFormatError("Ring's token response has no access_token")
    token_type = data.get("token_type")
    if token_type is not None and str(token_type).strip().lower() != "bearer":
        raise ResponseFormatError(f"Ring's token response has token_type {token_type!r}, expected bearer")
    refresh = data.get("refresh_token")
    register_secret(access)
    if isinstance(refresh, str) and refresh:
        register_secret(refresh)
    else:
        refresh = None
    return _Grant(access_token=access, refresh_token=refresh, expires_in=_expires_in(data.get("expires_in")))


def _expires_in(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return DEFAULT_EXPIRES_IN_S
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        logger.warning("token response has an unreadable expires_in; assuming %d s", DEFAULT_EXPIRES_IN_S)
        return DEFAULT_EXPIRES_IN_S
    return seconds if seconds > 0 else DEFAULT_EXPIRES_IN_S


def _refresh_at(expires_at: float | None, issued_at: float | None) -> float | None:
    """When to refresh an access token that expires at ``expires_at`` (issued around ``issued_at``)."""
    if expires_at is None:
        return None
    lifetime = expires_at - issued_at if issued_at else 2 * REFRESH_MARGIN_S
    return expires_at - min(REFRESH_MARGIN_S, max(0.0, lifetime) / 2)


__all__ = [
    "PasswordAuth",
    "RefreshTokenAuth",
    "RefreshTokenUpdate",
    "RingAuth",
    "TwoFactorCallback",
    "login",
    "token_grant",
]
