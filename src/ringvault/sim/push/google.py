"""Google's registration hosts under the CLOUD_URL rule (``https://HOST/PATH`` → ``{simulator}/HOST/PATH``):

- ``POST /android.clients.google.com/checkin``: protobuf ``AndroidCheckinRequest`` → ``AndroidCheckinResponse``
  (``android_id``, ``security_token``); a re-check-in with the stored pair answers the same identity;
- ``POST /android.clients.google.com/c2dm/register3``: form, ``Authorization: AidLogin <androidId>:<securityToken>``
  → ``token=<gcm token>`` or ``Error=<reason>`` (text/plain);
- ``POST /firebaseinstallations.googleapis.com/v1/projects/{p}/installations`` (``x-goog-api-key``) →
  ``{name, fid, refreshToken, authToken:{token, expiresIn}}``, and ``.../installations/{fid}/authTokens:generate``;
- ``POST /fcmregistrations.googleapis.com/v1/projects/{p}/registrations``
  (``x-goog-firebase-installations-auth``) → ``{name, token, web:{endpoint, p256dh, auth}}``.

Sources: reference §8.1 (the chain as epr and firebase-messaging run it); the protobuf schemas are the ones
firebase-messaging ships (``firebase_messaging.proto``), the protocol's facts. Error bodies are ``[sim]``: Google's
JSON APIs answer ``{"error": {code, message, status}}``; the exact messages are not known.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from firebase_messaging.proto.checkin_pb2 import AndroidCheckinRequest, AndroidCheckinResponse
from google.protobuf.message import DecodeError

from ringvault.sim.deps import get_state
from ringvault.sim.push.service import FCM_SEND_PREFIX, Exhausted, PushService
from ringvault.sim.push.webpush import valid_keys

CHECKIN_HOST = "android.clients.google.com"
INSTALLATIONS_HOST = "firebaseinstallations.googleapis.com"
REGISTRATIONS_HOST = "fcmregistrations.googleapis.com"
#: [sim] bodies of these calls are small; anything larger is refused before it is parsed.
MAX_BODY = 64 * 1024

checkin_router = APIRouter(tags=["google push"])
installations_router = APIRouter(tags=["google push"])
registrations_router = APIRouter(tags=["google push"])


def _push(request: Request) -> PushService:
    return get_state(request).push


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than ``MAX_BODY`` (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _google_error(status: int, message: str, reason: str) -> JSONResponse:
    """Google's JSON API error shape [sim: the messages are ours]."""
    return JSONResponse({"error": {"code": status, "message": message, "status": reason}}, status_code=status)


def _exhausted() -> JSONResponse:
    return _google_error(429, "Quota exceeded.", "RESOURCE_EXHAUSTED")


def _too_large() -> JSONResponse:
    return _google_error(413, "Request body too large.", "INVALID_ARGUMENT")


# ---------------------------------------------------------------------------------------------------------------------
# android.clients.google.com


@checkin_router.post("/checkin")
async def checkin(request: Request) -> Response:
    """Device check-in (protobuf). A request with a stored ``id``/``security_token`` pair answers that identity."""
    raw = await _body(request)
    if raw is None:
        return PlainTextResponse("request too large", status_code=413)
    message = AndroidCheckinRequest()
    try:
        message.ParseFromString(raw)
    except (DecodeError, ValueError):
        return PlainTextResponse("bad checkin request", status_code=400)  # [sim]
    if not message.HasField("checkin"):
        return PlainTextResponse("bad checkin request", status_code=400)  # [sim] the checkin proto is required
    stored_id = message.id if message.HasField("id") and message.id else None
    stored_token = message.security_token if message.HasField("security_token") and message.security_token else None
    try:
        device = _push(request).checkin(stored_id, stored_token)
    except Exhausted:
        return PlainTextResponse("too many devices", status_code=429)  # [sim]
    answer = AndroidCheckinResponse(
        stats_ok=True,
        time_msec=int(get_state(request).clock.now() * 1000),
        android_id=device.android_id,
        security_token=device.security_token,
        version_info="",  # [sim]
    )
    return Response(answer.SerializeToString(), media_type="application/x-protobuf")


def _aid_login(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("AidLogin "):
        return None
    android_id, sep, token = header[len("AidLogin ") :].strip().partition(":")
    return (android_id, token) if sep else None


@checkin_router.post("/c2dm/register3")
async def register3(request: Request) -> Response:
    """GCM registration (form). Errors come back as ``Error=<reason>`` bodies, as clients expect (§8.1)."""
    service = _push(request)
    raw = await _body(request)
    if raw is None:
        return PlainTextResponse("Error=MESSAGE_TOO_BIG", status_code=413)  # [sim]
    credentials = _aid_login(request.headers.get("authorization"))
    device = service.authenticate_device(*credentials) if credentials else None
    if device is None:
        return PlainTextResponse("Error=AUTHENTICATION_FAILED", status_code=401)  # [sim]
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
    app_id, sender = form.get("X-subtype", ""), form.get("sender", "")
    if not app_id or not sender or not form.get("app") or form.get("device") != str(device.android_id):
        return PlainTextResponse("Error=INVALID_PARAMETERS")  # [sim] Google answers 200 with Error= bodies
    if service.config.register_error:
        return PlainTextResponse(f"Error={service.config.register_error}")
    try:
        registration = service.register_gcm(device, app_id, sender)
    except Exhausted:
        return PlainTextResponse("Error=QUOTA_EXCEEDED", status_code=429)  # [sim]
    return PlainTextResponse(f"token={registration.token}")


# ---------------------------------------------------------------------------------------------------------------------
# firebaseinstallations.googleapis.com


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


@installations_router.post("/v1/projects/{project}/installations")
async def create_installation(project: str, request: Request) -> Response:
    """A Firebase installation: ``{appId, authVersion, fid, sdkVersion}`` → auth token (a week) and refresh token."""
    raw = await _body(request)
    if raw is None:
        return _too_large()
    if not request.headers.get("x-goog-api-key"):
        return _google_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
    body = _json_object(raw)
    if body is None or not isinstance(body.get("appId"), str) or not body["appId"]:
        return _google_error(400, "Invalid request: appId is required.", "INVALID_ARGUMENT")
    fid = body.get("fid") if isinstance(body.get("fid"), str) else None
    try:
        record = _push(request).install(project, body["appId"], fid)
    except Exhausted:
        return _exhausted()
    return JSONResponse(
        {
            "name": f"projects/{project}/installations/{record.fid}",
            "fid": record.fid,
            "refreshToken": record.refresh_token,
            "authToken": {"token": record.auth_token, "expiresIn": "604800s"},
        }
    )


@installations_router.post("/v1/projects/{project}/installations/{fid}/authTokens:generate")
async def refresh_installation(project: str, fid: str, request: Request) -> Response:
    """A new installation auth token for ``Authorization: FIS_v2 <refresh token>``."""
    raw = await _body(request)
    if raw is None:
        return _too_large()
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    record = _push(request).refresh_installation(fid, token.strip()) if scheme == "FIS_v2" else None
    if record is None:
        return _google_error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
    return JSONResponse({"token": record.auth_token, "expiresIn": "604800s"})


# ---------------------------------------------------------------------------------------------------------------------
# fcmregistrations.googleapis.com


@registrations_router.post("/v1/projects/{project}/registrations")
async def create_registration(project: str, request: Request) -> Response:
    """An FCM registration: binds the web-push endpoint (``.../fcm/send/<gcm token>``) and keys to a new FCM token."""
    service = _push(request)
    raw = await _body(request)
    if raw is None:
        return _too_large()
    installation = service.installation_by_token(request.headers.get("x-goog-firebase-installations-auth") or "")
    if installation is None:
        return _google_error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
    body = _json_object(raw)
    web = body.get("web") if body is not None else None
    if not isinstance(web, dict):
        return _google_error(400, "Invalid request: web is required.", "INVALID_ARGUMENT")
    endpoint, p256dh, auth = web.get("endpoint"), web.get("p256dh"), web.get("auth")
    if not all(isinstance(value, str) for value in (endpoint, p256dh, auth)):
        return _google_error(400, "Invalid request: endpoint, p256dh and auth are required.", "INVALID_ARGUMENT")
    assert isinstance(endpoint, str) and isinstance(p256dh, str) and isinstance(auth, str)
    gcm_token = endpoint.removeprefix(FCM_SEND_PREFIX)
    if not endpoint.startswith(FCM_SEND_PREFIX) or gcm_token not in service.gcm:
        return _google_error(400, "Invalid request: unknown push endpoint.", "INVALID_ARGUMENT")
    if not valid_keys(p256dh, auth):
        return _google_error(400, "Invalid request: p256dh or auth is not a valid key.", "INVALID_ARGUMENT")
    try:
        record = service.register_fcm(installation, project, gcm_token, p256dh, auth)
    except Exhausted:
        return _exhausted()
    answer_web: dict[str, Any] = {"endpoint": record.endpoint, "p256dh": record.p256dh, "auth": record.auth}
    if isinstance(web.get("applicationPubKey"), str):
        answer_web["applicationPubKey"] = web["applicationPubKey"]
    return JSONResponse(
        {"name": f"projects/{project}/registrations/{record.token}", "token": record.token, "web": answer_web}
    )
