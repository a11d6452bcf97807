"""Live view in the browser (issue 14, Deliver 4): ``serve`` relays a camera's live view to a browser over WebRTC.

``POST /api/live/{device_id}`` takes the browser's SDP offer, starts ``camera.start_live_view()`` against Ring (or
the simulator through ``cloud_url``), and answers with the SDP of a second aiortc ``RTCPeerConnection`` that faces
the browser: its tracks are fed from the camera session's decoded frames (``session.video_frames()`` /
``audio_frames()``), which aiortc encodes again for the browser (whatever codec the browser's offer prefers). aiortc
gathers before it answers, so the answer carries the candidates (no trickle). ``DELETE /api/live/sessions/{id}``
ends a relay.

Both sides end together: the camera session ending (Ring's ``close``, the network) closes the browser's peer
connection; the browser going away (its peer connection ``failed`` or ``closed``: a closed tab is seen by ICE consent
checks within about 30 s) closes the camera session; so does a browser that never connects
(:data:`CONNECT_TIMEOUT_S`), the longest relay (:data:`MAX_DURATION_S`, Ring ends views at about 10 minutes), and the
server's shutdown. Bounds: :data:`MAX_RELAYS` relays in all, one per camera per browser (its session, or its CSRF
cookie); more is a 429.

ICE: when the browser reached the server over loopback the browser-facing peer gathers on 127.0.0.1 only (aioice
leaves loopback out otherwise, see ``ringvault.transport.ice``); else on every interface as aioice does. No STUN
server: the browser is on this machine or its LAN.

aiortc and PyAV are imported when a relay starts, never when the server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field

from ringvault.cloud.errors import AuthenticationError, CapabilityError, DeviceNotFoundError, RingError
from ringvault.server.security import auth_kind, is_loopback

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

    from ringvault.cloud.api import RingApi
    from ringvault.cloud.live import LiveViewSession
    from ringvault.server.sessions import BrowserSessions

__all__ = ["CONNECT_TIMEOUT_S", "MAX_DURATION_S", "MAX_RELAYS", "LiveRelays", "router"]

log = logging.getLogger("ringvault.server.live")

router = APIRouter(prefix="/api/live", tags=["live view"])

#: relays open at once in this server (each is two peer connections, a decoder and an encoder per track)
MAX_RELAYS = 4
#: the longest relay; Ring ends a live view after about 10 minutes anyway (reference §9.5)
MAX_DURATION_S = 600.0
#: how long the browser has to connect to the answer before the relay (and the camera's session) ends
CONNECT_TIMEOUT_S = 30.0
#: the largest SDP offer accepted (a browser's offer with its candidates is a few kB)
MAX_SDP_CHARS = 32 * 1024


class LiveRelayError(Exception):
    """A relay could not start or be found; ``status`` is the HTTP status, the message one line."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _RelayTrack:
    """Builds the aiortc track class lazily (aiortc is imported with the first relay only)."""

    @staticmethod
    def make(kind: Literal["video", "audio"], frames: AsyncIterator[Any]) -> Any:
        from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

        class RelayTrack(MediaStreamTrack):
            """Frames of the camera session, with timestamps restarted at 0 (aiortc's encoder maps them to RTP)."""

            def __init__(self) -> None:
                super().__init__()
                self.kind = kind
                self._first_pts: int | None = None

            async def recv(self) -> Any:
                if self.readyState != "live":
                    raise MediaStreamError
                try:
                    frame = await anext(frames)
                except (StopAsyncIteration, RingError):
                    self.stop()
                    raise MediaStreamError from None
                if frame.pts is not None:
                    if self._first_pts is None:
                        self._first_pts = frame.pts
                    frame.pts -= self._first_pts
                return frame

        return RelayTrack()


@dataclass(eq=False)
class Relay:
    """One camera session relayed to one browser peer connection."""

    id: str
    device_id: int
    owner: str
    name: str = ""
    api: RingApi | None = None
    session: LiveViewSession | None = None
    pc: RTCPeerConnection | None = None
    generators: list[AsyncIterator[Any]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    browser_gone: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None
    closed: bool = False
    reason: str = ""


class LiveRelays:
    """The relays of one server (see the module docstring)."""

    def __init__(
        self,
        open_api: Callable[[], RingApi],
        *,
        max_relays: int = MAX_RELAYS,
        max_duration_s: float = MAX_DURATION_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self._open_api = open_api
        self.max_relays = max_relays
        self.max_duration_s = max_duration_s
        self.connect_timeout_s = connect_timeout_s
        self._relays: dict[str, Relay] = {}
        self._closing = False

    # -- state --------------------------------------------------------------------------------------------
    @property
    def open(self) -> int:
        """Relays not closed yet (starting ones included)."""
        return len(self._relays)

    @property
    def peer_connections_open(self) -> int:
        """Browser-facing peer connections not closed yet (0 once every relay ended)."""
        return sum(1 for r in self._relays.values() if r.pc is not None and r.pc.connectionState != "closed")

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"session": r.id, "device_id": r.device_id, "connected": r.connected.is_set()}
            for r in self._relays.values()
        ]

    # -- starting -----------------------------------------------------------------------------------------
    def _admit(self, device_id: int, owner: str) -> Relay:
        if self._closing:
            raise LiveRelayError("the server is shutting down; no live view can start", 503)
        if any(r.device_id == device_id and r.owner == owner for r in self._relays.values()):
            raise LiveRelayError(
                f"this browser already watches device {device_id}; stop that live view first (one per camera)", 429
            )
        if len(self._relays) >= self.max_relays:
            raise LiveRelayError(
                f"{self.max_relays} live views are open on this server, the most it relays; stop one first", 429
            )
        relay = Relay(id=secrets.token_urlsafe(16), device_id=device_id, owner=owner)
        self._relays[relay.id] = relay
        return relay

    async def start(self, device_id: int, offer_sdp: str, *, owner: str, loopback: bool) -> tuple[Relay, str]:
        """Start a relay for the browser's offer; returns it and the SDP answer. Raises ``LiveRelayError`` or the
        client's ``RingError`` (a ``LiveViewError`` for the live view's own failures) after closing all it opened."""
        relay = self._admit(device_id, owner)
        try:
            answer = await self._start(relay, offer_sdp, loopback=loopback)
        except BaseException:
            await asyncio.shield(self._close(relay, "failed to start"))
            raise
        relay.watcher = asyncio.create_task(self._watch(relay), name=f"ringvault-live-relay-{device_id}")
        log.info("live view relay of %s started", relay.name)
        return relay, answer

    async def _start(self, relay: Relay, offer_sdp: str, *, loopback: bool) -> str:
        from ringvault.cloud.live import CameraOfflineError

        check_offer(offer_sdp)  # before anything is asked of Ring
        relay.api = api = self._open_api()
        await api.__aenter__()
        try:
            camera = await api.find_camera(relay.device_id)
        except DeviceNotFoundError as err:
            raise LiveRelayError(f"no device {relay.device_id} at Ring", 404) from err
        except CapabilityError as err:
            raise LiveRelayError(err.one_line, 400) from err
        relay.name = camera.name
        if camera.is_offline:
            raise CameraOfflineError(
                f"{camera.name} is offline (Ring has no connection to it)", hint="Try again when it is back online."
            )
        relay.session = session = await camera.start_live_view()
        return await self._answer(relay, session, offer_sdp, loopback=loopback)

    async def _answer(self, relay: Relay, session: LiveViewSession, offer_sdp: str, *, loopback: bool) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from ringvault.transport import ice

        relay.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            log.debug("live view relay of %s: browser peer connection %s", relay.name, state)
            if state == "connected":
                relay.connected.set()
            elif state in ("failed", "closed"):
                relay.reason = relay.reason or f"the browser's peer connection {state}"
                relay.browser_gone.set()

        if loopback:
            offer_sdp = without_mdns_candidates(offer_sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except (ValueError, AttributeError, IndexError) as err:
            raise LiveRelayError(f"the browser's offer could not be read: {err}", 400) from err
        kinds = {t.kind for t in pc.getTransceivers()}
        if "video" not in kinds:
            raise LiveRelayError("the browser's offer has no video; offer to receive video", 400)
        video = session.video_frames()
        relay.generators.append(video)
        pc.addTrack(_RelayTrack.make("video", video))
        if "audio" in kinds and session.options.audio:
            audio = session.audio_frames()
            relay.generators.append(audio)
            pc.addTrack(_RelayTrack.make("audio", audio))
        addresses = ice.LOOPBACK if loopback else None
        with ice.host_addresses(addresses) if addresses is not None else contextlib.nullcontext():
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)  # gathers the candidates: the answer carries them
        return str(pc.localDescription.sdp)

    # -- running and ending -------------------------------------------------------------------------------
    async def _watch(self, relay: Relay) -> None:
        """End the relay when either side ends, when the browser does not connect in time, or at the longest."""
        assert relay.session is not None
        session = relay.session

        async def never_connected() -> None:
            await asyncio.sleep(self.connect_timeout_s)
            if not relay.connected.is_set():
                relay.reason = relay.reason or f"the browser did not connect within {self.connect_timeout_s:g} s"
                return
            await asyncio.Event().wait()

        waits = [
            asyncio.ensure_future(session.ended.wait()),
            asyncio.ensure_future(relay.browser_gone.wait()),
            asyncio.ensure_future(never_connected()),
        ]
        try:
            await asyncio.wait(waits, timeout=self.max_duration_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if session.ended.is_set():
            relay.reason = relay.reason or (session.error.one_line if session.error else "the camera's session ended")
        relay.reason = relay.reason or f"the longest live view ({self.max_duration_s:g} s) is over"
        await asyncio.shield(self._close(relay, relay.reason))

    async def _close(self, relay: Relay, reason: str) -> None:
        """Close both peer connections, the camera's socket and the Ring client (idempotent)."""
        if relay.closed:
            return
        relay.closed = True
        relay.reason = relay.reason or reason
        if relay.pc is not None:
            with contextlib.suppress(Exception):
                await relay.pc.close()
        if relay.session is not None:
            await relay.session.close()
        for generator in relay.generators:
            with contextlib.suppress(RuntimeError, RingError):  # one a sender is still reading ends with the session
                await generator.aclose()  # type: ignore[attr-defined]
        if relay.api is not None:
            with contextlib.suppress(Exception):
                await relay.api.__aexit__(None, None, None)
        self._relays.pop(relay.id, None)
        watcher = relay.watcher
        if watcher is not None and watcher is not asyncio.current_task() and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        log.info("live view relay of %s ended: %s", relay.name or relay.device_id, relay.reason)

    async def end(self, relay_id: str, owner: str) -> bool:
        """End the relay ``relay_id`` of ``owner`` (False: there is none of this owner)."""
        relay = self._relays.get(relay_id)
        if relay is None or relay.owner != owner:
            return False
        relay.reason = "stopped by the browser"
        await asyncio.shield(self._close(relay, relay.reason))
        return True

    async def aclose(self) -> None:
        """The server stops: every relay ends, both sides."""
        self._closing = True
        relays = list(self._relays.values())
        await asyncio.gather(*(self._close(r, "the server stopped") for r in relays), return_exceptions=True)


def check_offer(sdp: str) -> None:
    """Refuse (400) an offer that cannot be read or asks for no video, before a camera session is started for it."""
    from aiortc.sdp import SessionDescription

    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError) as err:
        raise LiveRelayError(
            f"the offer is not an SDP offer ({err}); send the browser's localDescription", 400
        ) from err
    if "video" not in {media.kind for media in parsed.media}:
        raise LiveRelayError("the offer asks for no video; add a video transceiver (recvonly) and try again", 400)


def without_mdns_candidates(sdp: str) -> str:
    """The offer without its ``.local`` (mDNS) candidates. Chromium hides its addresses behind mDNS names; aioice
    would send a multicast query to resolve them. A browser on this machine reaches the loopback answer anyway, and
    ICE learns its address from its first check (a peer-reflexive candidate), so a loopback server sends nothing
    to the network."""
    lines = sdp.splitlines()
    kept = [line for line in lines if not (line.startswith("a=candidate:") and ".local " in line)]
    return "\r\n".join(kept) + "\r\n"


# -- routes -------------------------------------------------------------------------------------------------


class LiveOffer(BaseModel):
    """The browser's offer (``RTCPeerConnection.localDescription`` after ICE gathering)."""

    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)
    type: Literal["offer"]


class LiveAnswer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    session: str


def _owner(request: Request) -> str:
    """Who started a relay: the browser (its session, else its CSRF cookie), else how the client authenticated.
    Stored as a hash: the session id stays a secret."""
    sessions: BrowserSessions = request.app.state.sessions
    binding = sessions.binding(request)
    if binding is None:
        return f"client:{auth_kind(request)}"
    return "browser:" + hashlib.sha256(binding.encode()).hexdigest()[:32]


def _status(err: RingError) -> int:
    from ringvault.cloud.live import (
        CameraAsleepError,
        CameraOfflineError,
        LiveViewBlockedError,
        LiveViewLimitError,
        LiveViewTimeoutError,
    )

    if isinstance(err, CameraOfflineError | CameraAsleepError | LiveViewBlockedError):
        return 409
    if isinstance(err, LiveViewLimitError):
        return 429
    if isinstance(err, LiveViewTimeoutError):
        return 504
    if isinstance(err, AuthenticationError):
        return 503
    return 502


def _relays(request: Request) -> LiveRelays:
    relays: LiveRelays = request.app.state.ctx.live
    return relays


@router.post(
    "/{device_id}",
    response_model=LiveAnswer,
    summary="Start a live view of a camera, relayed to this browser over WebRTC (SDP offer in, answer out)",
)
async def start_live(request: Request, offer: LiveOffer, device_id: int = Path(ge=1, le=2**63 - 1)) -> LiveAnswer:
    server = request.scope.get("server")  # the address the browser reached: (host, port)
    loopback = isinstance(server, tuple | list) and bool(server) and is_loopback(str(server[0]))
    try:
        relay, answer = await _relays(request).start(device_id, offer.sdp, owner=_owner(request), loopback=loopback)
    except LiveRelayError as err:
        raise HTTPException(err.status, str(err)) from None
    except RingError as err:
        log.warning("live view of device %s failed: %s", device_id, err.one_line)
        raise HTTPException(_status(err), err.one_line) from None
    return LiveAnswer(sdp=answer, session=relay.id)


@router.delete("/sessions/{session_id}", summary="End a live view this browser started")
async def end_live(request: Request, session_id: str = Path(min_length=1, max_length=64)) -> dict[str, bool]:
    if not await _relays(request).end(session_id, _owner(request)):
        raise HTTPException(404, "no live view with this id was started by this browser (it may have ended)")
    return {"ended": True}
