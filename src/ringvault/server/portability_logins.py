"""Login with Ring for the customers of ``ringvault serve``, and the operator's invitations (part of the hub).

No pending login is kept: a login's state is sealed into Ring's ``state`` parameter and its PKCE verifier derived from
the server secret (``server/portability_login.py``, which also says who may choose or replace a customer). A completed
login stores the customer's tokens (``{token_dir}/{brand}/{customer}.json``, 0600) and their grant
(``portability_grants``), and queues their first export.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ringvault.archive.store.portability import GrantRow
from ringvault.portability.endpoints import SCOPE_ID, Brand, Region
from ringvault.portability.errors import PortabilityTokenFileError
from ringvault.portability.oauth import AuthorizationRequest
from ringvault.portability.tokens import check_customer
from ringvault.server.portability_core import HubCore, LoginError
from ringvault.server.portability_login import (
    Invite,
    LoginKind,
    SealError,
    invite_url,
    new_customer_key,
)

__all__ = ["LoginsMixin"]

log = logging.getLogger("ringvault.server.portability")

#: longest authorization code accepted on a callback (Ring's are ~40 characters; ours to log-mask, so bounded)
_MAX_CODE_CHARS = 2048


class LoginsMixin(HubCore):
    """Login with Ring and invitations."""

    def start_login(
        self,
        brand: Brand,
        region: Region,
        kind: LoginKind,
        *,
        customer: str | None = None,
        replace: bool = False,
        invite: Invite | None = None,
    ) -> str:
        """The authorize URL of a new login (nothing is stored: see ``portability_login``). ``customer`` may be
        chosen only by the operator and by an invitation; an anonymous login gets a new key. Raises ``LoginError``
        when the login could not end well (the customer is connected and ``replace`` was not asked for, the
        invitation was used) and ``ValueError`` for a bad key."""
        if kind == "anonymous" and (customer is not None or replace):
            raise LoginError(
                "only the operator chooses a customer key or replaces an authorization: send the API key "
                "(Authorization: Bearer ...), or open the invitation link the operator sent you",
                403,
            )
        key = new_customer_key() if customer is None else customer
        state = self.seal.new_state(key, brand, region, kind, replace=replace, invite=invite)
        if kind != "anonymous":  # a new random key has nothing to check (its callback checks again anyway)
            self.check_login(state.customer, brand, kind=kind, replace=replace, used_after=state.invite_issued_at)
        credentials = self.config.credentials
        assert credentials.redirect_uri is not None  # PortabilityServerSettings requires it
        pkce = self.seal.pkce(state)
        # Built here rather than with oauth.authorization_url, which registers the state as a log secret: ours is
        # signed, not secret, and registering one per anonymous connect would rebuild the redaction regex on every
        # log line of a flood. The parameters are seed 003's.
        query = urlencode(
            {
                "client_id": credentials.client_id,
                "redirect_uri": credentials.redirect_uri,
                "response_type": "code",
                "scope": SCOPE_ID,
                "code_challenge": pkce.challenge,
                "code_challenge_method": pkce.method,
                "state": self.seal.seal(state),
            }
        )
        return f"{self.endpoints(brand, region).authorize_url}?{query}"

    def check_login(
        self, customer: str, brand: Brand, *, kind: LoginKind, replace: bool, used_after: float | None
    ) -> None:
        """Refuse (``LoginError`` 409/410) a login that must not store its tokens: one whose state or invitation
        (issued at ``used_after``) was already used by a completed login, an anonymous one whose key exists, and one
        that would replace an active authorization without ``replace``."""
        grant = self.grant_of(customer, brand)
        try:
            token = self.tokens.load(brand, customer)
            has_token = token is not None
            created = token.created_at if token is not None else None
        except PortabilityTokenFileError:
            has_token, created = True, None
        if used_after is not None and created is not None and created >= used_after:
            if kind == "invite":
                raise LoginError("this invitation was already used (each works once); ask for a new one", 410)
            raise LoginError(
                "this Login with Ring was already completed (each works once); start again at /portability/connect",
                409,
            )
        if kind == "anonymous" and (grant is not None or has_token):
            raise LoginError("this Login with Ring was already used; start again at /portability/connect", 409)
        if grant is not None and grant.status == "active" and not replace:
            raise LoginError(
                f"customer {customer!r} is already connected and their authorization works; replacing it needs the "
                "operator's explicit replace=true (or an invitation made with --replace)",
                409,
            )

    def invite(
        self,
        customer: str | None,
        *,
        replace: bool = False,
        ttl_s: float | None = None,
        brand: Brand | None = None,
        region: Region | None = None,
    ) -> dict[str, Any]:
        """A signed, single-use invitation link for ``customer`` (a new key when None); ``LoginError`` 409 when the
        customer is connected and ``replace`` is False, ``ValueError`` for a bad key or validity."""
        key = new_customer_key() if customer is None else check_customer(customer)
        grant = self.grant_of(key, brand or self.config.brand)
        if grant is not None and grant.status == "active" and not replace:
            raise LoginError(
                f"customer {key!r} is already connected and their authorization works; invite them with "
                "replace=true to let a new login replace it",
                409,
            )
        token, invite = self.seal.issue_invite(
            key, replace=replace, ttl_s=ttl_s or self.settings.invite_ttl_s, brand=brand, region=region
        )
        return {
            "customer": key,
            "url": invite_url(self.config, token),
            "expires_at": datetime.fromtimestamp(invite.expires_at, UTC).isoformat(),
            "replace": replace,
        }

    def read_invite(self, text: str) -> Invite:
        """The invitation behind an ``invite=`` link (``InviteError`` with its HTTP status when not valid)."""
        return self.seal.read_invite(text)

    def _login_lock(self, brand: str, customer: str) -> asyncio.Lock:
        """One callback at a time per customer (kept only while someone holds or waits for it)."""
        lock = self._login_locks.get((brand, customer))
        if lock is None:
            lock = asyncio.Lock()
            self._login_locks[(brand, customer)] = lock
        return lock

    async def finish_login(self, params: Mapping[str, str]) -> GrantRow:
        """The redirect back from Login with Ring: check the sealed state, refuse what ``check_login`` refuses,
        exchange the code, store the tokens, record the grant, start the customer's first export. Raises
        ``LoginError`` or the client's ``PortabilityError``."""
        raw_state = params.get("state", "")
        if len(params.get("code", "")) > _MAX_CODE_CHARS:
            raise LoginError("this redirect's code is not one Ring issues; start again at /portability/connect")
        try:
            state = self.seal.open(raw_state)
        except SealError:
            raise LoginError(
                "this Login with Ring is unknown or expired (it is valid for "
                f"{self.settings.login_ttl_s / 60:.0f} minutes, once) or was altered; start again at "
                "/portability/connect"
            ) from None
        credentials = self.config.credentials
        assert credentials.redirect_uri is not None
        lock = self._login_lock(state.brand, state.customer)
        async with lock:
            await asyncio.to_thread(
                self.check_login,
                state.customer,
                state.brand,
                kind=state.kind,
                replace=state.replace,
                used_after=state.used_after,
            )
            request = AuthorizationRequest(
                url="",
                state=raw_state,
                pkce=self.seal.pkce(state),
                client_id=credentials.client_id,
                redirect_uri=credentials.redirect_uri,
                brand=state.brand,
            )
            auth = self.auth(state.brand, state.region, state.customer)
            await auth.complete(request, dict(params))  # the state again (constant time), then error / code
            grant = await asyncio.to_thread(
                self.store.portability.upsert_grant,
                brand=state.brand,
                region=state.region,
                client_id=credentials.client_id,
                customer=state.customer,
            )
        log.info(
            "customer %s connected (%s, %s, %s login%s); queueing an export",
            grant.customer, grant.brand, grant.region, state.kind, ", replacing" if state.replace else "",
        )  # fmt: skip
        await self.request_export(grant, detail="connected; waiting for a createDataQuery slot")
        return grant
