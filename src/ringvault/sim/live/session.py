"""One live view session as the simulator keeps it, its opaque session id, and the offer checks.

Close codes (reference §9.3): 0 normal, 5 authentication failed, 6 timeout are Ring's. ``REFUSED`` (1) for a
camera that cannot stream (offline, unknown, not a camera, live view disabled, too many sessions, codecs) and
``MEDIA_FAILED`` (2) for a peer that never connects are [sim]: no public source records Ring's codes for them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiortc import RTCPeerConnection

from ringvault.sim.live.media import PatternTrack, ToneTrack

CLOSE_NORMAL = 0
CLOSE_AUTH = 5
CLOSE_TIMEOUT = 6
CLOSE_REFUSED = 1  # [sim]
CLOSE_MEDIA_FAILED = 2  # [sim]

#: ``session_id`` JWT lifetime (reference §9.5: ``exp`` 24 h after ``iat``).
SESSION_JWT_TTL_S = 24 * 3600
#: ``ping_interval`` in the session JWT (reference §9.5).
PING_INTERVAL_S = 10

Sender = Callable[[str, dict[str, Any]], Awaitable[None]]


class Refused(Exception):
    """The camera will not stream: ``text`` is the reason; ``status`` the REST path's HTTP status."""

    def __init__(self, text: str, *, status: int = 400, code: int = CLOSE_REFUSED, body: Any = None) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code
        self.body = body


@dataclass
class LiveSession:
    """A live view of one camera, opened through the signalling socket or the REST path."""

    number: int
    camera_id: int
    via: Literal["socket", "rest"]
    session_id: str
    started_at: float  # simulated epoch seconds
    started_mono: float
    rest_id: str | None = None
    max_duration_s: float = 600.0  # fixed when the session starts, like Ring's max_duration
    state: str = "starting"  # starting -> answered -> connected -> closed
    activated: bool = False
    last_ping: float = 0.0
    answered_mono: float | None = None
    close_at: float | None = None
    #: the close frame's reason when ``close_at`` comes (``POST /_sim/live/sessions/{id}/close`` with ``after_s``)
    close_at_reason: tuple[int, str] = (0, "Session closed by the camera")
    closed_by: str | None = None
    close_code: int | None = None
    close_text: str | None = None
    ended_at: float | None = None
    event_id: int | None = None
    stream_options: dict[str, Any] = field(default_factory=dict)
    stealth_mode: bool | None = None
    audio_frames_received: int = 0
    pc: RTCPeerConnection | None = None
    video: PatternTrack | None = None
    audio: ToneTrack | None = None
    send: Sender | None = None
    on_connected: Callable[[], Awaitable[None]] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def id(self) -> str:
        return f"live-{self.number}"

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def summary(self) -> dict[str, Any]:
        """The ``GET /_sim/live`` record."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "rest_session_id": self.rest_id,
            "camera_id": self.camera_id,
            "via": self.via,
            "state": self.state,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "seconds": round(self.ended_at - self.started_at, 3) if self.ended_at is not None else None,
            "activated": self.activated,
            "frames_sent": self.video.frames_sent if self.video else 0,
            "audio_frames_sent": self.audio.frames_sent if self.audio else 0,
            "audio_frames_received": self.audio_frames_received,
            "stream_options": dict(self.stream_options),
            "stealth_mode": self.stealth_mode,
            "event_id": str(self.event_id) if self.event_id is not None else None,
            "closed_by": self.closed_by,
            "close_code": self.close_code,
            "close_text": self.close_text,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_jwt(secret: bytes, camera_id: int, ding_id: int, now: float) -> str:
    """An HS256 JWT shaped like Ring's session id (reference §9.5); clients treat it as opaque."""
    header = {"kid": "Signalling", "alg": "HS256", "typ": "JWT"}
    payload = {
        "ding_kind": "on_demand",
        "doorbot_id": camera_id,
        "ding_id": str(ding_id),
        "ping_interval": PING_INTERVAL_S,
        "created_at": int(now),
        "iat": int(now),
        "exp": int(now) + SESSION_JWT_TTL_S,
        "session_id": str(uuid.uuid4()),
        "rms_fqdn": "api.prod.signalling.ring.devices.a2z.com",
        "rms_version": "ringvault-sim",
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(signature)}"


_RTPMAP = re.compile(r"^a=rtpmap:\d+\s+([A-Za-z0-9_.-]+)/", re.MULTILINE)


def check_offer(sdp: str) -> None:
    """Refuse an offer Ring's cameras cannot answer: no media at all, or a video m-line without H.264 (Ring's
    cameras stream H.264 only; an offer they cannot match fails with "negotiate codecs failed", reference §9.6)."""
    if not sdp.startswith("v=0"):
        raise Refused("Bad offer: not an SDP offer")
    sections = re.split(r"\r?\n(?=m=)", sdp)[1:]
    if not sections:
        raise Refused("Bad offer: no media")
    for section in sections:
        if section.startswith("m=video"):
            codecs = {name.upper() for name in _RTPMAP.findall(section.replace("\r\n", "\n"))}
            if "H264" not in codecs:
                raise Refused("negotiate codecs failed")
