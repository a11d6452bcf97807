"""Login with Ring for Data Portability: ``GET /v2/authorize`` and the consent page, on ``oauth.ring.com`` and
``api.oauth.blink.com``, plus the token endpoint on the Blink host (``oauth.ring.com/oauth/token`` is the account
API's endpoint in ``ringvault.sim.auth``, which hands Data Portability grants to the service).

The consent page is a plain HTML form (``POST`` to the same URL) with these fields, so a person or a test with
httpx can answer it: ``request_id`` (hidden), ``email``, ``password``, ``history`` (``5d``, ``30d``, ``60d``,
``1y``, ``since``), ``since`` (``YYYY-MM-DD``, with ``history=since``), ``duration`` (``once``, ``30d``, ``90d``,
``180d``, ``1y``), ``acknowledge`` (the "I authorize the third party to receive my EU data" box, any value) and
``action`` (``authorize`` or ``cancel``).
"""

from __future__ import annotations

import base64
import binascii
import json
from html import escape
from typing import cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ringvault.sim.portability.model import ConsentRequest
from ringvault.sim.portability.notify import ensure_ticker
from ringvault.sim.portability.service import AuthorizeError, ConsentProblem, PortabilityService, TokenError
from ringvault.sim.state import SimState

RING_OAUTH_HOST = "oauth.ring.com"
BLINK_OAUTH_HOST = "api.oauth.blink.com"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

router = APIRouter(tags=["Data Portability: Login with Ring"])


def _service(request: Request) -> PortabilityService:
    return cast(SimState, request.app.state.sim).portability


def _brand(request: Request) -> str:
    return "blink" if request.url.path.startswith(f"/{BLINK_OAUTH_HOST}/") else "ring"


_STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1d2b36;margin:0}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0002}
h1{font-size:1.4rem;margin-top:0} label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=email],input[type=password],input[type=date],select{width:100%;padding:.5rem;box-sizing:border-box}
.check{font-weight:400} .error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:6px}
.buttons{display:flex;gap:1rem;margin-top:1.5rem} button{flex:1;padding:.7rem;font-size:1rem;border-radius:6px}
button[value=authorize]{background:#1998d5;color:#fff;border:0} .note{color:#5b6b77;font-size:.85rem}
"""

HISTORY_OPTIONS = (
    ("5d", "5 days ago"),
    ("30d", "30 days ago"),
    ("60d", "60 days ago"),
    ("1y", "1 year ago"),
    ("since", "Since date…"),
)
DURATION_OPTIONS = (
    ("once", "One time transfer"),
    ("30d", "For the next 30 days"),
    ("90d", "For the next 90 days"),
    ("180d", "For the next 180 days"),
    ("1y", "For the next 1 year"),
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
        f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{_STYLE}</style>'
        f"</head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def error_page(error: str, description: str, status: int = 400) -> HTMLResponse:
    """The page shown instead of a redirect when the client or its redirect URI cannot be trusted."""
    return _page(
        "Sign-in error",
        f"<h1>We can't continue this sign-in</h1><p class=error><b>{escape(error)}</b>: {escape(description)}</p>"
        "<p class=note>The app that sent you here is not set up correctly. Nothing was shared.</p>",
        status,
    )


def _options(options: tuple[tuple[str, str], ...], selected: str) -> str:
    return "".join(
        f'<option value="{v}"{" selected" if v == selected else ""}>{escape(text)}</option>' for v, text in options
    )


def consent_page(
    service: PortabilityService,
    consent: ConsentRequest,
    *,
    message: str | None = None,
    status: int = 200,
    email: str = "",
    history: str = "1y",
    duration: str = "90d",
    since: str = "",
) -> HTMLResponse:
    """Sign-in plus the User Transfer Preferences page of the seed, as one form."""
    app = service.app(consent.client_id)
    app_name = app.name if app else consent.client_id
    brand = "Blink" if consent.brand == "blink" else "Ring"
    error = f"<p class=error>{escape(message)}</p>" if message else ""
    body = f"""
<h1>Sign in with {brand}</h1>
<p><b>{escape(app_name)}</b> wants to import your {brand} data (Data Portability).</p>
{error}
<form method=post>
<input type=hidden name=request_id value="{escape(consent.id)}">
<label for=email>E-mail</label><input type=email id=email name=email value="{escape(email)}" required>
<label for=password>Password</label><input type=password id=password name=password required>
<label for=history>How much data to transfer?</label>
<select id=history name=history>{_options(HISTORY_OPTIONS, history)}</select>
<label for=since>Since date (with “Since date…”)</label><input type=date id=since name=since value="{escape(since)}">
<label for=duration>For how long do you authorize the transfer?</label>
<select id=duration name=duration>{_options(DURATION_OPTIONS, duration)}</select>
<p class=note>Your data will be handled subject to the privacy practices and policies of {escape(app_name)}.</p>
<label class=check><input type=checkbox name=acknowledge value=yes> I authorize the third party to receive my EU
data</label>
<div class=buttons><button name=action value=cancel>Cancel</button>
<button name=action value=authorize>Authorize</button></div>
</form>"""
    return _page(f"Sign in with {brand}", body, status)


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=302, headers=NO_STORE)


@router.get("/v2/authorize")
async def authorize(request: Request) -> Response:
    """``GET /v2/authorize``: validate, then show the consent page (or, with auto-consent, redirect at once)."""
    service = _service(request)
    ensure_ticker(service)
    params = dict(request.query_params)
    try:
        consent = service.start_authorization(params, _brand(request))
        if service.config.auto_consent:
            return _redirect(service.auto_consent(consent))
    except AuthorizeError as exc:
        if exc.redirect is None:
            return error_page(exc.error, exc.description)
        return _redirect(exc.location())
    return consent_page(service, consent)


@router.post("/v2/authorize")
async def answer_consent(request: Request) -> Response:
    """The consent form's answer: Authorize → redirect with ``code`` and ``state``; Cancel → ``access_denied``."""
    service = _service(request)
    ensure_ticker(service)
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
    consent = service.consent_request(form.get("request_id", ""))
    if consent is None:
        return error_page(
            "invalid_request", "This sign-in request is unknown or has expired; start again from the app."
        )
    if form.get("action") == "cancel":
        return _redirect(service.cancel(consent))
    if form.get("action") != "authorize":
        return consent_page(service, consent, message="Choose Authorize or Cancel.", status=400)
    history, duration, since = form.get("history", ""), form.get("duration", ""), form.get("since", "")
    try:
        location = service.confirm(
            consent,
            email=form.get("email", ""),
            password=form.get("password", ""),
            history=history,
            since=since or None,
            duration=duration,
            acknowledged=bool(form.get("acknowledge")),
        )
    except ConsentProblem as exc:
        return consent_page(
            service,
            consent,
            message=exc.message,
            status=exc.status,
            email=form.get("email", ""),
            history=history or "1y",
            duration=duration or "90d",
            since=since,
        )
    return _redirect(location)


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """``Authorization: Basic base64(client_id:client_secret)`` (client_secret_basic), else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def token_response(service: PortabilityService, params: dict[str, str], authorization: str | None) -> Response:
    """Answer a Data Portability token request (shared by both OAuth hosts)."""
    try:
        body = service.token_request(params, parse_basic(authorization))
    except TokenError as exc:
        service.count_token_request(exc.status)
        headers = dict(NO_STORE)
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)
    service.count_token_request(200)
    return JSONResponse(body, headers=NO_STORE)


blink_token_router = APIRouter(tags=["Data Portability: Login with Ring"])


@blink_token_router.post("/oauth/token")
async def blink_token(request: Request) -> Response:
    """``POST https://api.oauth.blink.com/oauth/token``: the Data Portability grants only."""
    service = _service(request)
    ensure_ticker(service)
    raw = (await request.body()).decode("utf-8", errors="replace")
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JSONResponse({"error": "invalid_request", "error_description": "malformed body"}, 400)
        params = {str(k): "" if v is None else str(v) for k, v in data.items()}
    else:
        params = dict(parse_qsl(raw, keep_blank_values=True))
    return token_response(service, params, request.headers.get("authorization"))
