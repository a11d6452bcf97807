"""The live view service (``SimState.live``): guards, sessions, the aiortc answerer of each one, its timers, and
closing every session on both sides.

Everything here runs on the simulator's event loop (the signalling socket, the REST routes and ``/_sim/live`` are
all async routes), so no lock is needed. Every session owns its tasks (timers, the drain of the client's audio);
``close`` cancels them and closes the peer connection, and ``GET /_sim/live`` reports how many peer connections
and tasks are still open, so tests can check that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, Literal

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.live.config import LiveConfig
from ringvault.sim.live.media import PatternTrack, ToneTrack, drain, tone_frequency
from ringvault.sim.live.session import (
    CLOSE_MEDIA_FAILED,
    CLOSE_NORMAL,
    CLOSE_TIMEOUT,
    LiveSession,
    Refused,
    check_offer,
    session_jwt,
)
from ringvault.sim.world import UnknownDevice, World
from ringvault.transport import ice

log = logging.getLogger("ringvault.sim.live")

#: closed sessions kept for ``GET /_sim/live`` [sim]
CLOSED_KEPT = 100
WATCH_INTERVAL_S = 0.2
#: offers larger than this are refused before aiortc parses them (a real offer is 2-6 KiB) [sim]
MAX_OFFER_BYTES = 32 * 1024


class LiveService:
    """Every live view session of one simulated cloud."""

    def __init__(self, config: SimConfig, clock: SimClock, world: World) -> None:
        self.config = config
        self.clock = clock
        self.world = world
        self.sessions: dict[str, LiveSession] = {}
        self.closed: deque[LiveSession] = deque(maxlen=CLOSED_KEPT)
        self._counter = 0
        self._secret = secrets.token_bytes(32)
        self.peer_connections_open = 0
        self._closing = False

    @property
    def knobs(self) -> LiveConfig:
        return self.config.live

    # ------------------------------------------------------------------------------------------------ guards

    def open(
        self, camera_id: Any, offer: Any, via: Literal["socket", "rest"], rest_id: str | None = None
    ) -> LiveSession:
        """Check the guards (reference §9.7 and our bounds) and reserve a session; raises :class:`Refused`."""
        if isinstance(camera_id, bool) or not isinstance(camera_id, int):
            raise Refused("Unknown doorbot: doorbot_id must be a number", status=400)
        try:
            device = self.world.device(camera_id)
        except UnknownDevice:
            raise Refused(f"Unknown doorbot {camera_id}", status=404, body={"error": "device not found"}) from None
        if not device.is_camera:
            raise Refused(f"Device {camera_id} ({device.kind}) has no live view", status=400)
        if device.live_view_disabled:
            raise Refused("Live view is disabled by Modes", status=403)
        if device.offline:
            raise Refused("Camera is offline", status=404, body={"errors": [7019]})
        if not isinstance(offer, str) or len(offer.encode()) > MAX_OFFER_BYTES:
            raise Refused("Bad offer: the sdp must be a string of at most 32 KiB")
        check_offer(offer)
        if self._closing:
            raise Refused("The simulator is shutting down", status=503)
        if len(self.sessions) >= self.knobs.max_sessions:
            raise Refused("Too many live view sessions", status=429)
        if sum(1 for s in self.sessions.values() if s.camera_id == camera_id) >= self.knobs.max_sessions_per_camera:
            raise Refused(f"Too many live view sessions for doorbot {camera_id}", status=429)
        if rest_id is not None and any(s.rest_id == rest_id for s in self.sessions.values()):
            raise Refused("A session with this session_id is already open", status=409)
        self._counter += 1
        now = self.clock.now()
        mono = time.monotonic()
        event = self.world.create_event(camera_id, "on_demand")  # Ring's own live views are on_demand events (§5.2)
        session = LiveSession(
            number=self._counter,
            camera_id=camera_id,
            via=via,
            session_id=session_jwt(self._secret, camera_id, event.id, now),
            started_at=now,
            started_mono=mono,
            rest_id=rest_id,
            last_ping=mono,
            event_id=event.id,
            max_duration_s=self.knobs.max_duration_s,
        )
        if self.knobs.close_after_s is not None:
            session.close_at = mono + self.knobs.close_after_s
        self.sessions[session.id] = session
        self.spawn(session, self._watch(session), "watch")
        log.info("live view %s of camera %s opened (%s)", session.id, camera_id, via)
        return session

    def find_rest(self, rest_id: str) -> LiveSession | None:
        return next((s for s in self.sessions.values() if s.rest_id == rest_id), None)

    # ---------------------------------------------------------------------------------------------- answerer

    async def answer(self, session: LiveSession, offer: str) -> str:
        """Answer the client's offer with a peer that sends the pattern and the tone; the answer's candidates are
        loopback ones (none with the ``ice_failure`` knob). Raises :class:`Refused` if aiortc cannot answer."""
        knobs = self.knobs
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: nothing leaves the machine
        session.pc = pc
        self.peer_connections_open += 1

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if session.closed:
                return
            if pc.connectionState == "connected" and session.state == "answered":
                session.state = "connected"
                if session.on_connected is not None:
                    await session.on_connected()
            elif pc.connectionState == "failed":
                self.spawn(session, self.close(session, CLOSE_MEDIA_FAILED, "Peer connection failed", "server: ice"))

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":  # two-way audio: the client's microphone, received and discarded
                self.spawn(session, drain(track, lambda: _count(session)), "drain")

        addresses = () if knobs.ice_failure else ice.LOOPBACK
        try:
            with ice.host_addresses(addresses):
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                self._add_tracks(session, pc)
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            log.info("live view %s: cannot answer the offer: %s", session.id, exc)
            await self.close(session, CLOSE_MEDIA_FAILED, "negotiate codecs failed", "server: bad offer")
            raise Refused("negotiate codecs failed") from exc
        if session.closed:
            raise Refused(session.close_text or "closed")
        session.state = "answered"
        session.answered_mono = time.monotonic()
        return pc.localDescription.sdp

    def _add_tracks(self, session: LiveSession, pc: RTCPeerConnection) -> None:
        knobs = self.knobs
        kinds = {t.kind for t in pc.getTransceivers()}
        if "video" in kinds:
            h264 = [
                c
                for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.lower() in ("video/h264", "video/rtx")
            ]
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    transceiver.setCodecPreferences(h264)
            session.video = PatternTrack(session.camera_id, self.clock, knobs.width, knobs.height, knobs.fps)
            pc.addTrack(session.video)
        if "audio" in kinds:
            session.audio = ToneTrack(tone_frequency(knobs.tone_hz, session.camera_id))
            pc.addTrack(session.audio)

    # ----------------------------------------------------------------------------------------------- closing

    async def close(self, session: LiveSession, code: int, text: str, by: str, *, notify: bool = True) -> None:
        """End a session on both sides (idempotent): a ``close`` frame to a socket client (unless it hung up
        itself), the peer connection closed, the session's tasks cancelled, the on_demand event's duration set."""
        if session.closed:
            return
        session.state = "closed"
        session.closed_by, session.close_code, session.close_text = by, code, text
        session.ended_at = self.clock.now()
        self.sessions.pop(session.id, None)
        self.closed.append(session)
        log.info("live view %s closed by %s: %s %s", session.id, by, code, text)
        if session.send is not None and notify:
            with contextlib.suppress(Exception):
                await session.send("close", {"reason": {"code": code, "text": text}})
        session.ended.set()
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:
                task.cancel()
        for track in (session.video, session.audio):
            if track is not None:
                track.stop()
        if session.pc is not None:
            with contextlib.suppress(Exception):
                await session.pc.close()
            self.peer_connections_open -= 1
        for task in list(session.tasks):
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._set_event_duration(session)

    def _set_event_duration(self, session: LiveSession) -> None:
        if session.event_id is None or session.ended_at is None:
            return
        with self.world.lock:
            event = self.world.events_by_id.get(session.event_id)
            if event is not None:
                event.duration = float(max(1, round(session.ended_at - session.started_at)))

    async def close_all(self, text: str = "Simulator shutting down", by: str = "server: shutdown") -> None:
        """Close every session (server shutdown, ``/_sim/reset``); new ones are refused from now on."""
        self._closing = True
        for session in list(self.sessions.values()):
            await self.close(session, CLOSE_NORMAL, text, by)

    async def wait_closed(self, session: LiveSession, seconds: float) -> None:
        """Wait ``seconds`` (slow start); raises :class:`Refused` when the session closed meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.ended.wait(), seconds)
        if session.closed:
            raise Refused(session.close_text or "closed")

    def schedule_close(
        self, session: LiveSession, after_s: float, code: int = CLOSE_NORMAL, text: str = "Session closed by the camera"
    ) -> None:
        session.close_at = time.monotonic() + after_s
        session.close_at_reason = (code, text)

    # ------------------------------------------------------------------------------------------------ timers

    async def _watch(self, session: LiveSession) -> None:
        """The session's timers (reference §9.5): ping timeout, activation, max_duration, plus the [sim] connect
        timeout and scheduled closes."""
        while not session.closed:
            await asyncio.sleep(WATCH_INTERVAL_S)
            knobs, now = self.knobs, time.monotonic()
            reason = self._due(session, knobs, now)
            if reason is not None:
                code, text, by = reason
                await self.close(session, code, text, by)
                return

    @staticmethod
    def _due(session: LiveSession, knobs: LiveConfig, now: float) -> tuple[int, str, str] | None:
        elapsed = now - session.started_mono
        if session.close_at is not None and now >= session.close_at:
            code, text = session.close_at_reason
            return code, text, "server: control"
        if elapsed >= session.max_duration_s:
            return CLOSE_NORMAL, "Max duration reached", "server: max_duration"
        if session.via == "socket":
            if now - session.last_ping >= knobs.ping_timeout_s:
                return CLOSE_TIMEOUT, "Timeout waiting for ping", "server: ping timeout"
            if not session.activated and elapsed >= knobs.activate_timeout_s:
                return CLOSE_TIMEOUT, "Session was not activated", "server: not activated"
        waiting = session.answered_mono is not None and session.state == "answered"
        if waiting and now - (session.answered_mono or now) >= knobs.connect_timeout_s:
            return CLOSE_MEDIA_FAILED, "Peer connection failed", "server: connect timeout"
        return None

    # ---------------------------------------------------------------------------------------------- plumbing

    def spawn(self, session: LiveSession, coro: Coroutine[Any, Any, Any], name: str = "close") -> None:
        """A task owned by the session: cancelled when the session closes."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{session.id}-{name}")
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)

    def tasks_running(self) -> int:
        return sum(1 for s in [*self.sessions.values(), *self.closed] for t in s.tasks if not t.done())

    def listing(self) -> dict[str, Any]:
        return {
            "sessions": [s.summary() for s in self.sessions.values()],
            "closed": [s.summary() for s in reversed(self.closed)],
            "peer_connections_open": self.peer_connections_open,
            "tasks_running": self.tasks_running(),
        }


def _count(session: LiveSession) -> None:
    session.audio_frames_received += 1
