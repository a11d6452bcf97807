"""Fake S3: the storage hosts that Ring's pre-signed recording URLs point at.

``/share-service-download-bucket.s3.amazonaws.com/{key}`` and ``/ring-transcoded-videos.s3.amazonaws.com/{key}``.
No Ring auth (clients must not forward their bearer token, and it is ignored if they do). URLs carry
``X-Amz-Algorithm=AWS4-HMAC-SHA256``, ``X-Amz-Date``, ``X-Amz-Expires=3600`` and ``X-Amz-Signature`` (an HMAC of
host, key, date and lifetime with a per-world secret). A bad signature or an expired URL (per the simulator
clock) answers 403 with S3's XML error; a clip that does not exist yet, or at all, answers 404 ``NoSuchKey``.

Keys:
- ``ring-transcoded-videos.s3.amazonaws.com/{recording_id}.mp4``: the transcoded clip (``dings/{id}/recording``);
- ``ring-transcoded-videos.s3.amazonaws.com/thumbnails/{recording_id}.jpg``: the event image (video search);
- ``share-service-download-bucket.s3.amazonaws.com/{owner_id}/{ding_id}.mp4``: the shared/untranscoded clip.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ringvault.sim.deps import StateDep
from ringvault.sim.replies import http_date
from ringvault.sim.state import SimState
from ringvault.sim.world import Event, UnknownEvent

SHARE_HOST = "share-service-download-bucket.s3.amazonaws.com"
TRANSCODED_HOST = "ring-transcoded-videos.s3.amazonaws.com"
URL_LIFETIME_S = 3600
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_TRANSCODED_KEY = re.compile(r"^(\d+)\.mp4$")
_THUMBNAIL_KEY = re.compile(r"^thumbnails/(\d+)\.jpg$")
_SHARE_KEY = re.compile(r"^\d+/(\d+)\.mp4$")

router = APIRouter(tags=["fake S3"])


# ---------------------------------------------------------------------------------------------------------------------
# signing


def _signature(secret: bytes, host: str, key: str, amz_date: str, expires: str) -> str:
    message = f"AWS4-HMAC-SHA256\n{host}\n/{key}\n{amz_date}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_url(request: Request, state: SimState, host: str, key: str, lifetime_s: int = URL_LIFETIME_S) -> str:
    """A pre-signed URL for ``host``/``key`` that points at this simulator (host kept as the first path segment)."""
    return presign(state, media_base(request, host), host, key, lifetime_s)


def presign(state: SimState, base: str, host: str, key: str, lifetime_s: int = URL_LIFETIME_S) -> str:
    """``{base}/{key}?X-Amz-...``, signed now (simulator clock) for ``host``/``key``, valid ``lifetime_s``."""
    now = datetime.fromtimestamp(state.clock.now(), tz=UTC)
    amz_date = now.strftime(_AMZ_DATE)
    expires = str(lifetime_s)
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"ASIASIMULATEDRING000/{now:%Y%m%d}/us-east-1/s3/aws4_request",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": expires,
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": _signature(state.world.s3_secret, host, key, amz_date, expires),
    }
    return f"{base}/{quote(key)}?{urlencode(query)}"


def media_base(request: Request, host: str) -> str:
    """``{simulator}/{host}`` normally; ``{scheme}://{host}`` when the client reached us under a real Ring host name
    (DNS pointed at the simulator), since the host-routing middleware then expects real host names too."""
    own = (request.url.hostname or "").lower()
    if own.endswith(("ring.com", "rings.solutions", "amazonaws.com", "ring.devices.a2z.com")):
        return f"{request.url.scheme}://{host}"
    return f"{request.base_url}{host}"


def recording_url(request: Request, state: SimState, event: Event) -> str:
    return signed_url(request, state, TRANSCODED_HOST, f"{event.recording_id}.mp4")


def share_url(request: Request, state: SimState, event: Event) -> str:
    return signed_url(request, state, SHARE_HOST, f"{state.world.user_id}/{event.id}.mp4")


def thumbnail_url(request: Request, state: SimState, event: Event) -> str:
    return signed_url(request, state, TRANSCODED_HOST, f"thumbnails/{event.recording_id}.jpg")


# ---------------------------------------------------------------------------------------------------------------------
# serving


def _request_id(state: SimState, key: str) -> str:
    return hashlib.sha256(f"{key}{state.clock.now()}".encode()).hexdigest()[:16].upper()


def s3_error(state: SimState, status: int, code: str, message: str, **extra: str) -> Response:
    """An S3-style XML error document."""
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in extra.items())
    request_id = _request_id(state, code)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>sim/{request_id.lower()}</HostId></Error>"
    )
    return Response(
        body.encode(),
        status_code=status,
        media_type="application/xml",
        headers={"x-amz-request-id": request_id, "Server": "AmazonS3"},
    )


def check_signature(request: Request, state: SimState, host: str, key: str) -> Response | None:
    params = request.query_params
    needed = ("X-Amz-Algorithm", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
    if any(not params.get(name) for name in needed):
        return s3_error(
            state,
            403,
            "AccessDenied",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        )
    amz_date, expires = params["X-Amz-Date"], params["X-Amz-Expires"]
    expected = _signature(state.world.s3_secret, host, key, amz_date, expires)
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256" or not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return s3_error(
            state,
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC).timestamp()
        lifetime = int(expires)
    except ValueError:
        return s3_error(state, 403, "AccessDenied", "X-Amz-Date must be in the ISO8601 Long Format")
    now = state.clock.now()
    if now > signed_at + lifetime:
        return s3_error(
            state,
            403,
            "AccessDenied",
            "Request has expired",
            **{
                "X-Amz-Expires": str(lifetime),
                "Expires": datetime.fromtimestamp(signed_at + lifetime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    return None


def no_such_key(state: SimState, key: str) -> Response:
    return s3_error(state, 404, "NoSuchKey", "The specified key does not exist.", Key=key)


def _find(state: SimState, host: str, key: str) -> tuple[Event, str] | None:
    """(event, "mp4" | "jpg") for a key of this bucket, or None."""
    world = state.world
    try:
        if host == TRANSCODED_HOST:
            if match := _TRANSCODED_KEY.match(key):
                return world.event_by_recording(int(match.group(1))), "mp4"
            if match := _THUMBNAIL_KEY.match(key):
                return world.event_by_recording(int(match.group(1))), "jpg"
        elif match := _SHARE_KEY.match(key):
            if not key.startswith(f"{world.user_id}/"):
                return None
            return world.event(int(match.group(1))), "mp4"
    except UnknownEvent:
        return None
    return None


def _serve(request: Request, state: SimState, host: str, key: str) -> Response:
    refused = check_signature(request, state, host, key)
    if refused is not None:
        return refused
    found = _find(state, host, key)
    if found is None:
        return no_such_key(state, key)
    event, kind = found
    device = state.world.device(event.device_id)
    if kind == "jpg":
        data = state.media.jpeg(device.id, event.created_ms, f"{device.name} · {event.kind}")
        content_type = "image/jpeg"
        modified = event.created_at
    else:
        if (page := state.faults.html_error_page(event.id_str)) is not None:  # knob html_media_ids
            return page
        if not state.world.recording_ready(event):  # not ready yet, or no Protect plan: the object does not exist
            return no_such_key(state, key)
        data = state.media.mp4(event.id_str, seconds=state.config.recording_seconds, label=device.name)
        content_type = "video/mp4"
        modified = event.created_at + state.config.faults.recording_delay_s
    headers = {
        "ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
        "Last-Modified": http_date(modified),
        "x-amz-request-id": _request_id(state, key),
        "Server": "AmazonS3",
        "Cache-Control": "private, max-age=3600",
    }
    return state.faults.media_response(
        data, content_type=content_type, headers=headers, request_range=request.headers.get("range")
    )


@router.api_route(f"/{SHARE_HOST}/{{key:path}}", methods=["GET", "HEAD"])
def share_bucket(key: str, request: Request, state: StateDep) -> Response:
    """Untranscoded clips (``share/play``, ``share/download``)."""
    return _serve(request, state, SHARE_HOST, key)


@router.api_route(f"/{TRANSCODED_HOST}/{{key:path}}", methods=["GET", "HEAD"])
def transcoded_bucket(key: str, request: Request, state: StateDep) -> Response:
    """Transcoded clips (``dings/{id}/recording``) and event thumbnails."""
    return _serve(request, state, TRANSCODED_HOST, key)
