"""Ring's OAuth token endpoint, two-factor codes, and client sessions, as the simulator serves them.

Behaviour follows the reference (sections 2 and 3): the password grant in JSON or form encoding, the 412
two-factor challenge, refresh-token rotation with an optional grace period, and per-hardware-id sessions.

``AuthService`` holds every token and session. The uvicorn thread writes it while tests read it, so every
method takes one lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig

if TYPE_CHECKING:
    from ringvault.sim.state import SimState

CLIENT_ID = "ring_official_android"
SCOPE = "client"
TOTP_STEP_S = 30
SESSION_BUDGET_WINDOW_S = 86400.0

INVALID_GRANT = {"error": "invalid_grant", "error_description": "token is invalid or does not exists"}
ACCESS_DENIED = {"error": "access_denied", "error_description": "invalid user credentials"}
BAD_CODE = {
    "err_msg": "bad request response from dependency service",
    "error": "Verification Code is invalid or expired",
}
TOO_MANY_CODES = {"error": "Too many requests", "error_description": "too many requests from dependency service"}


class SimHTTPError(Exception):
    """An error answer with Ring's exact JSON body; the app turns it into a response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class Caller:
    """Who is calling an API endpoint: the bearer token, the hardware id it speaks for, and the account."""

    access_token: str
    hardware_id: str
    email: str


@dataclass
class _AccessToken:
    value: str
    hardware_id: str | None
    issued_at: float
    expires_at: float
    uses: int = 0
    revoked: bool = False


@dataclass
class _RefreshToken:
    value: str
    hardware_id: str | None
    issued_at: float
    expires_at: float
    superseded_at: float | None = None
    revoked: bool = False


@dataclass
class Session:
    """One client session ("Authorized Client Device" in the Ring app), keyed by hardware id."""

    hardware_id: str
    device_model: str
    os: str
    api_version: str
    created_at: float
    expires_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "hardware_id": self.hardware_id,
            "device_model": self.device_model,
            "os": self.os,
            "api_version": self.api_version,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _basic_client_id(authorization: str | None) -> str | None:
    """The client id of an HTTP Basic header (``ring_official_android:``), or None without one."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


class AuthService:
    """Tokens, two-factor codes and sessions of the simulated account (thread-safe)."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.RLock()
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._sessions: dict[str, Session] = {}
        self._session_creations: deque[float] = deque()
        self._code: str | None = None
        self._code_sent_at = 0.0
        self._code_counter = 0
        self._codes_sent = 0
        self._send_times: deque[float] = deque()
        self._profile_token = secrets.token_hex(10)

    # -- two-factor codes ------------------------------------------------------------------------------------

    def _derive_code(self, material: str) -> str:
        digest = hashlib.sha256(f"ringvault-sim:{self._config.seed}:{material}".encode()).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"

    def _totp(self, step: int) -> str:
        return self._derive_code(f"totp:{step}")

    def current_2fa_code(self) -> str | None:
        """The code a user would type now: the last code sent (sms/email, while valid) or the TOTP code."""
        with self._lock:
            if not self._config.two_factor:
                return None
            now = self._clock.now()
            if self._config.tsv_state == "totp":
                return self._totp(int(now // TOTP_STEP_S))
            if self._code is None or now - self._code_sent_at > self._config.two_factor_code_ttl_s:
                return None
            return self._code

    def codes_sent(self) -> int:
        """How many sms/email codes have been sent since start-up."""
        with self._lock:
            return self._codes_sent

    def _send_code(self) -> None:
        """Send a new sms/email code, or raise the 400 of the code-request limit."""
        now = self._clock.now()
        window = self._config.two_factor_window_s
        while self._send_times and now - self._send_times[0] >= window:
            self._send_times.popleft()
        if len(self._send_times) >= self._config.two_factor_limit:
            raise SimHTTPError(400, TOO_MANY_CODES)
        self._send_times.append(now)
        self._code_counter += 1
        self._codes_sent += 1
        self._code = self._derive_code(f"code:{self._code_counter}")
        self._code_sent_at = now

    def _check_code(self, code: str) -> bool:
        now = self._clock.now()
        if self._config.tsv_state == "totp":
            step = int(now // TOTP_STEP_S)
            return any(secrets.compare_digest(code, self._totp(s)) for s in (step, step - 1))
        if self._code is None or now - self._code_sent_at > self._config.two_factor_code_ttl_s:
            return False
        if not secrets.compare_digest(code, self._code):
            return False
        self._code = None  # a sent code works once
        return True

    def challenge(self) -> dict[str, Any]:
        return {"next_time_in_secs": 60, "phone": self._config.phone, "tsv_state": self._config.tsv_state}

    # -- tokens ----------------------------------------------------------------------------------------------

    def _issue(self, hardware_id: str | None) -> dict[str, Any]:
        now = self._clock.now()
        access = _AccessToken(
            value=secrets.token_urlsafe(48),
            hardware_id=hardware_id,
            issued_at=now,
            expires_at=now + self._config.access_token_ttl_s,
        )
        refresh = _RefreshToken(
            value=secrets.token_urlsafe(64),
            hardware_id=hardware_id,
            issued_at=now,
            expires_at=now + self._config.refresh_token_ttl_s,
        )
        self._access[access.value] = access
        self._refresh[refresh.value] = refresh
        return {
            "access_token": access.value,
            "token_type": "bearer",
            "expires_in": int(self._config.access_token_ttl_s),
            "refresh_token": refresh.value,
            "scope": SCOPE,
            "created_at": int(now),
        }

    def password_grant(self, username: str, password: str, code: str | None, hardware_id: str | None) -> dict[str, Any]:
        """Check credentials and the second factor; the token response, or raise SimHTTPError."""
        with self._lock:
            email_ok = username.strip().lower() == self._config.email.lower()
            if not (email_ok and secrets.compare_digest(password.encode(), self._config.password.encode())):
                raise SimHTTPError(401, ACCESS_DENIED)
            if self._config.two_factor:
                if code is None or not code.strip():
                    if self._config.tsv_state in ("sms", "email"):
                        self._send_code()
                    raise SimHTTPError(412, self.challenge())
                if not self._check_code(code.strip()):
                    raise SimHTTPError(400, BAD_CODE)
            return self._issue(hardware_id)

    def refresh_grant(self, refresh_token: str, hardware_id: str | None) -> dict[str, Any]:
        """Rotate: a new access token and a new refresh token; the old refresh token dies after the grace."""
        with self._lock:
            now = self._clock.now()
            old = self._refresh.get(refresh_token)
            if old is None or old.revoked or now >= old.expires_at:
                raise SimHTTPError(401, INVALID_GRANT)
            if old.superseded_at is not None and now > old.superseded_at + self._config.refresh_grace_s:
                raise SimHTTPError(401, INVALID_GRANT)
            if old.superseded_at is None:
                old.superseded_at = now
            return self._issue(old.hardware_id or hardware_id)

    def authenticate(self, authorization: str | None, hardware_header: str | None) -> Caller:
        """Validate a bearer token for an API call (counting it for ``expire_access_every``)."""
        token = _bearer(authorization)
        with self._lock:
            if token is None:
                raise SimHTTPError(
                    401,
                    {"error": "invalid_token", "error_description": "bearer access token required"},
                    {"WWW-Authenticate": "Bearer"},
                )
            record = self._access.get(token)
            if record is None or record.revoked:
                raise SimHTTPError(
                    401,
                    {"error": "invalid_token", "error_description": "access token is invalid or revoked"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            every = self._config.faults.expire_access_every
            if every > 0 and record.uses >= every:
                record.expires_at = min(record.expires_at, self._clock.now())
            if self._clock.now() >= record.expires_at:
                raise SimHTTPError(
                    401,
                    {"error": "invalid_token", "error_description": "access token expired"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            record.uses += 1
            hardware_id = (hardware_header or "").strip() or record.hardware_id or token
            return Caller(access_token=token, hardware_id=hardware_id, email=self._config.email)

    def _all_tokens(self) -> list[_AccessToken | _RefreshToken]:
        return [*self._access.values(), *self._refresh.values()]

    def revoke_all(self) -> int:
        """Revoke every access and refresh token (as a password change would); returns how many."""
        with self._lock:
            count = 0
            for item in self._all_tokens():
                if not item.revoked:
                    item.revoked = True
                    count += 1
            return count

    def expire_access_tokens(self) -> int:
        """Expire every live access token now; refresh tokens keep working. Returns how many."""
        with self._lock:
            now = self._clock.now()
            count = 0
            for record in self._access.values():
                if not record.revoked and record.expires_at > now:
                    record.expires_at = now
                    count += 1
            return count

    def token_counts(self) -> dict[str, int]:
        with self._lock:
            now = self._clock.now()
            live_access = sum(1 for t in self._access.values() if not t.revoked and t.expires_at > now)
            live_refresh = sum(
                1
                for t in self._refresh.values()
                if not t.revoked
                and t.expires_at > now
                and (t.superseded_at is None or now <= t.superseded_at + self._config.refresh_grace_s)
            )
            return {"access_tokens": live_access, "refresh_tokens": live_refresh}

    # -- sessions --------------------------------------------------------------------------------------------

    def create_session(self, caller: Caller, device: dict[str, Any]) -> dict[str, Any]:
        """``POST clients_api/session``: record a session for the body's hardware id; the profile."""
        metadata = device.get("metadata")
        meta = cast(dict[str, Any], metadata) if isinstance(metadata, dict) else {}
        hardware_id = str(device.get("hardware_id") or caller.hardware_id)
        with self._lock:
            now = self._clock.now()
            budget = self._config.session_budget_per_day
            while self._session_creations and now - self._session_creations[0] >= SESSION_BUDGET_WINDOW_S:
                self._session_creations.popleft()
            if budget > 0 and len(self._session_creations) >= budget:
                wait = self._session_creations[0] + SESSION_BUDGET_WINDOW_S - now
                raise SimHTTPError(
                    429,
                    {"error": "Too many requests", "error_description": "too many session requests"},
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
            self._session_creations.append(now)
            self._sessions[hardware_id] = Session(
                hardware_id=hardware_id,
                device_model=str(meta.get("device_model") or ""),
                os=str(device.get("os") or ""),
                api_version=str(meta.get("api_version") or ""),
                created_at=now,
                expires_at=now + self._config.session_ttl_s,
            )
            return {"profile": self.profile(hardware_id)}

    def has_session(self, hardware_id: str) -> bool:
        with self._lock:
            session = self._sessions.get(hardware_id)
            return session is not None and session.expires_at > self._clock.now()

    def require_session(self, hardware_id: str) -> None:
        if not self.has_session(hardware_id):
            raise SimHTTPError(404, {"error": f"Session not found for {hardware_id}"})

    def sessions(self) -> list[Session]:
        """Live sessions, oldest first (expired ones are dropped)."""
        with self._lock:
            now = self._clock.now()
            for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
                del self._sessions[key]
            return sorted(self._sessions.values(), key=lambda s: s.created_at)

    def delete_session(self, hardware_id: str, *, revoke: bool = True) -> bool:
        """Remove an authorized client device: drop its session and (unless ``revoke`` is False) revoke its tokens."""
        with self._lock:
            found = self._sessions.pop(hardware_id, None) is not None
            if not revoke:
                return found
            for item in self._all_tokens():
                if item.hardware_id == hardware_id:
                    found = True
                    item.revoked = True
            return found

    def profile(self, hardware_id: str | None = None) -> dict[str, Any]:
        """The account profile (reference section 10.8), built from the config."""
        config = self._config
        features = {
            name: True
            for name in (
                "chime_dnd_enabled",
                "chime_pro_enabled",
                "delete_all_settings_enabled",
                "delete_all_enabled",
                "device_health_alerts_enabled",
                "floodlight_cam_enabled",
                "live_view_settings_enabled",
                "lpd_enabled",
                "lpd_motion_announcement_enabled",
                "multiple_calls_enabled",
                "multiple_delete_enabled",
                "nw_enabled",
                "nw_larger_area_enabled",
                "nw_user_activated",
                "ringplus_enabled",
                "rp_cam_ad_cmds_enabled",
                "show_recordings",
                "show_vod_settings",
                "shared_devices_enabled",
                "snapshots_enabled",
                "spotlight_battery_dashboard_controls_enabled",
                "subscriptions_enabled",
                "video_search_enabled",
                "vod_enabled",
                "ujet_enabled",
                "motion_zone_recommendation",
                "motion_message_enabled",
            )
        }
        created = datetime.fromtimestamp(self._clock.now() - 400 * 86400, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": 10_000_000 + config.seed,
            "email": config.email,
            "first_name": config.first_name,
            "last_name": config.last_name,
            "phone_number": config.phone,
            "authentication_token": self._profile_token,
            "features": features,
            "user_preferences": {"settings": {}, "preferences": {}},
            "hardware_id": hardware_id,
            "explorer_program_terms": None,
            "user_flow": "ring",
            "app_brand": "ring",
            "country": "US",
            "status": "legacy",
            "created_at": created,
            "tfa_enabled": config.two_factor,
            "tfa_phone_number": config.phone if config.two_factor and config.tsv_state == "sms" else None,
            "account_type": "ring",
        }


# -- HTTP ------------------------------------------------------------------------------------------------------

router = APIRouter()


def _auth(request: Request) -> AuthService:
    state = cast("SimState", request.app.state.sim)
    return state.auth


async def _read_params(request: Request) -> dict[str, str]:
    """The grant's parameters from a JSON or form body (whichever the body is)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").lower()
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            data = json.loads(text or "{}")
        except ValueError as exc:
            raise SimHTTPError(400, {"error": "invalid_request", "error_description": "malformed JSON"}) from exc
        if not isinstance(data, dict):
            raise SimHTTPError(400, {"error": "invalid_request", "error_description": "expected an object"})
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return dict(parse_qsl(text, keep_blank_values=True))


@router.post("/oauth/token")
async def oauth_token(request: Request) -> Response:
    """``POST https://oauth.ring.com/oauth/token``: password and refresh-token grants of the account API, and the
    ``authorization_code``/``refresh_token`` grants of Data Portability apps (``ringvault.sim.portability``)."""
    auth = _auth(request)
    try:
        params = await _read_params(request)
        basic_id = _basic_client_id(request.headers.get("authorization"))
        dp = cast("SimState", request.app.state.sim).portability
        if dp.owns_token_request(params, basic_id):  # Data Portability apps (Login with Ring)
            from ringvault.sim.portability.oauth import token_response

            return token_response(dp, params, request.headers.get("authorization"))
        client_id = params.get("client_id") or basic_id
        for given in (params.get("client_id"), basic_id):
            if given is not None and given != "" and given != CLIENT_ID:
                raise SimHTTPError(
                    401, {"error": "unauthorized_client", "error_description": "client is not authorized"}
                )
        grant_type = params.get("grant_type", "")
        hardware_id = (request.headers.get("hardware_id") or "").strip() or None
        if grant_type == "password":
            if not client_id:
                raise SimHTTPError(400, {"error": "invalid_request", "error_description": "client_id is required"})
            scope = params.get("scope")
            if scope is not None and scope not in ("", SCOPE):
                raise SimHTTPError(400, {"error": "invalid_scope", "error_description": "unknown scope"})
            body = auth.password_grant(
                params.get("username", ""),
                params.get("password", ""),
                request.headers.get("2fa-code"),
                hardware_id,
            )
        elif grant_type == "refresh_token":
            body = auth.refresh_grant(params.get("refresh_token", ""), hardware_id)
        else:
            raise SimHTTPError(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
    except SimHTTPError as exc:
        return exc.response()
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


session_router = APIRouter()


@session_router.post("/clients_api/session")
async def create_session(request: Request) -> Response:
    """``POST https://api.ring.com/clients_api/session``: start a session for a hardware id."""
    auth = _auth(request)
    try:
        caller = auth.authenticate(request.headers.get("authorization"), request.headers.get("hardware_id"))
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise SimHTTPError(400, {"error": "malformed JSON body"}) from exc
        device = data.get("device") if isinstance(data, dict) else None
        if not isinstance(device, dict):
            raise SimHTTPError(400, {"error": "device is required"})
        body = auth.create_session(caller, cast(dict[str, Any], device))
    except SimHTTPError as exc:
        return exc.response()
    return JSONResponse(body)
