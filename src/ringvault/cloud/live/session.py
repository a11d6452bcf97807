"""``LiveViewSession``: one WebRTC live view of one camera (reference §9), in pure Python (aiortc + PyAV).

How a session runs (``start``):

1. an aiortc ``RTCPeerConnection`` with rca's offer (§9.6): audio ``sendrecv`` (Opus 48 kHz stereo, PCMU), video
   ``recvonly`` offering H.264 only (plus ``rtx``), one transport per m-line (rca's ``bundlePolicy: disable``;
   aiortc's ``max-compat``). aiortc gathers its candidates before the offer exists, so the offer carries them; they
   are also trickled as ``ice`` frames after the offer, as rca sends them.
2. the signalling socket (``signalling.Signalling``): ``live_view`` → ``session_created`` → ``sdp`` (the answer) →
   ``activate_session`` + ``stream_options``; remote ``ice`` frames are added to the peer connection; ``ping``
   every 5 s once the session id is known; ``camera_options {stealth_mode: false}`` when the camera joins and
   two-way audio was asked.
3. ``start`` returns once the peer connection is ``connected``; frames then flow (``video_frames``,
   ``audio_frames``, ``frame``, ``record``).

Every end — ``close()``, the server's ``close``, the socket dropping, the peer connection ``failed`` or ``closed``,
a failed start, a cancelled task — runs the same clean-up once: the hang-up (``close {code 0}``) while the socket is
open, the peer connection closed, the socket closed, every task of the session stopped. ``error`` then says why a
session ended that was not ended by its owner, and frame consumers get that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ringvault.cloud.live.errors import (
    CameraAsleepError,
    CameraOfflineError,
    LiveViewBlockedError,
    LiveViewEndedError,
    LiveViewError,
    LiveViewIceError,
    LiveViewRefusedError,
    LiveViewTimeoutError,
    LiveViewUnavailableError,
)
from ringvault.cloud.live.media import Fanout, StreamEnded, jpeg_of
from ringvault.cloud.live.options import LiveViewOptions
from ringvault.cloud.live.record import RecordingResult, record_mp4
from ringvault.cloud.live.signalling import Signalling, SocketEnded
from ringvault.transport import WebSocketUnavailableError

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

__all__ = ["LiveViewSession", "close_error"]

log = logging.getLogger("ringvault.cloud.live")

_CANDIDATE_LINE = re.compile(r"^a=(candidate:.+)$")
#: At most this many remote candidates are added (a hostile server cannot make ICE check thousands of pairs).
MAX_REMOTE_CANDIDATES = 64


def close_error(name: str, body: dict[str, Any], *, started: bool) -> LiveViewError:
    """The typed error for a server ``close`` frame (§9.3): an offline or sleeping camera by its reason text, else a
    refusal (before the stream ran) or an end (after), with Ring's code and text."""
    reason = body.get("reason")
    code: int | None = None
    text = ""
    if isinstance(reason, dict):
        raw_code = reason.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        raw_text = reason.get("text")
        text = " ".join(str(raw_text).split())[:200] if raw_text is not None else ""
    lowered = text.lower()
    said = f" ({text})" if text else ""
    if "offline" in lowered:
        return CameraOfflineError(f"{name} is offline; Ring ended the live view{said}")
    if "asleep" in lowered or "sleep" in lowered or "wake" in lowered:
        return CameraAsleepError(f"{name} is asleep and did not wake for the live view{said}")
    if "modes" in lowered:  # refused at the socket although the ticket came (the setting changed in between)
        return LiveViewBlockedError(f"live view of {name} is blocked by Modes{said}")
    if "peer connection" in lowered or "ice" in lowered.split():
        return LiveViewIceError(f"the media connection to {name} failed{said}")
    detail = f"code {code}" if code is not None else "no code"
    if started:
        return LiveViewEndedError(
            f"Ring ended the live view of {name} ({detail}{': ' + text if text else ''})", code=code, reason=text
        )
    return LiveViewRefusedError(
        f"Ring refused the live view of {name} ({detail}{': ' + text if text else ''})", code=code, reason=text
    )


class LiveViewSession:
    """One live view (see the module docstring). Use ``async with await camera.start_live_view() as session`` or
    call ``close()``; both are safe to repeat and safe after any failure."""

    def __init__(
        self,
        *,
        doorbot_id: int,
        name: str,
        socket_url: Callable[[], Awaitable[str]],
        options: LiveViewOptions | None = None,
    ) -> None:
        self.doorbot_id = doorbot_id
        self.name = name
        self.options = options or LiveViewOptions()
        self.error: LiveViewError | None = None
        """why the session ended, when its owner did not end it"""
        self.ended = asyncio.Event()
        self.started_at: float | None = None
        self.connected_at: float | None = None
        self._signalling = Signalling(
            socket_url,
            doorbot_id,
            name=f"live view {name}",
            max_message_bytes=self.options.max_message_bytes,
            open_timeout_s=self.options.answer_timeout_s,
        )
        self._pc: RTCPeerConnection | None = None
        self._video: Fanout[Any] = Fanout("video", self.options.queue_frames)
        self._audio: Fanout[Any] = Fanout("audio", self.options.queue_frames)
        self._answered = asyncio.Event()
        self._connected = asyncio.Event()
        self._streaming = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._cleanup_lock = asyncio.Lock()
        self._cleaned = False
        self._remote_candidates = 0
        self._closer: asyncio.Future[None] | None = None
        self._cleanup_hooks: list[Callable[[], None]] = []

    # -- state -------------------------------------------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        return self._signalling.session_id

    @property
    def signalling(self) -> Signalling:
        return self._signalling

    @property
    def peer_connection(self) -> RTCPeerConnection | None:
        return self._pc

    @property
    def is_open(self) -> bool:
        return self._streaming and not self.ended.is_set()

    @property
    def frames_received(self) -> dict[str, int]:
        return {"video": self._video.frames, "audio": self._audio.frames}

    # -- starting ----------------------------------------------------------------------------------------------
    async def start(self) -> LiveViewSession:
        """Connect; returns once media flows. On any failure (or cancellation) everything is cleaned up and the
        typed error raised."""
        self.started_at = time.monotonic()
        try:
            await self._start()
        except BaseException as exc:
            reason = self.error
            await asyncio.shield(self._cleanup())  # a second cancellation must not leave half of it
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) or reason is None:
                raise
            raise reason from None
        return self

    async def _start(self) -> None:
        opts = self.options
        from ringvault.transport import ice  # aioice: imported with the live view only

        self._pc = pc = self._make_peer_connection()
        addresses = opts.host_addresses
        with ice.host_addresses(addresses) if addresses is not None else contextlib.nullcontext():
            offer = await pc.createOffer()
            await pc.setLocalDescription(offer)  # gathers the candidates (aiortc does not trickle)
        sdp = pc.localDescription.sdp
        try:
            await self._signalling.open(timeout=opts.answer_timeout_s)
        except WebSocketUnavailableError as err:
            self._fail(LiveViewUnavailableError(f"cannot open the live-view socket for {self.name}: {err}"))
            raise self.error from None  # type: ignore[misc]
        self._spawn(self._read_signalling(), "signalling")
        self._spawn(self._ping(), "ping")
        await self._signalling.send_live_view(sdp, audio=opts.audio)
        for index, candidate in _local_candidates(sdp):
            await self._signalling.send_ice(candidate, index)
        await self._wait(self._answered, opts.answer_timeout_s, "no answer from Ring")
        await self._wait(self._connected, opts.connect_timeout_s, "no media connection", ice=True)
        self._streaming = True
        self.connected_at = time.monotonic()
        log.info("live view of %s: connected", self.name)

    async def _wait(self, event: asyncio.Event, timeout: float, what: str, *, ice: bool = False) -> None:  # noqa: ASYNC109
        ended = asyncio.ensure_future(self.ended.wait())
        waiting = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({ended, waiting}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            waiting.cancel()
        if self.ended.is_set():
            raise self.error or LiveViewEndedError(f"the live view of {self.name} ended while starting")
        if not event.is_set():
            if ice:
                self._fail(LiveViewIceError(f"{what} to {self.name} within {timeout:g} s (ICE found no path)"))
            else:
                self._fail(LiveViewTimeoutError(f"{what} for {self.name} within {timeout:g} s"))
            raise self.error  # type: ignore[misc]

    def _make_peer_connection(self) -> RTCPeerConnection:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver
        from aiortc.rtcconfiguration import RTCBundlePolicy

        servers = self.options.ice_servers or ()
        pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[RTCIceServer(urls=url) for url in servers], bundlePolicy=RTCBundlePolicy.MAX_COMPAT
            )
        )

        def codecs(kind: str, wanted: tuple[str, ...]) -> list[Any]:
            capabilities = RTCRtpReceiver.getCapabilities(kind)
            return [c for c in (capabilities.codecs if capabilities else []) if c.mimeType in wanted]

        audio = pc.addTransceiver("audio", direction="sendrecv")
        audio.setCodecPreferences(codecs("audio", ("audio/opus", "audio/PCMU")))
        video = pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(codecs("video", ("video/H264", "video/rtx")))

        @pc.on("track")
        def on_track(track: Any) -> None:
            (self._video if track.kind == "video" else self._audio).attach(track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            log.debug("live view of %s: peer connection %s", self.name, state)
            if state == "connected":
                self._connected.set()
            elif state == "failed":
                self._fail(LiveViewIceError(f"the media connection to {self.name} failed (ICE)"))
            elif state == "closed" and not self._cleaned:
                self._fail(LiveViewEndedError(f"the media connection to {self.name} closed"))

        return pc

    # -- signalling --------------------------------------------------------------------------------------------
    async def _read_signalling(self) -> None:
        while True:
            item = await self._signalling.frames.get()
            if isinstance(item, SocketEnded):
                started = self._streaming
                what = "ended" if started else "closed before the session was set up"
                self._fail(
                    (LiveViewEndedError if started else LiveViewUnavailableError)(
                        f"the live-view socket of {self.name} {what} ({item.reason})"
                    )
                )
                return
            try:
                await self._handle(item["method"], item["body"])
            except LiveViewError as err:
                self._fail(err)
                return
            except Exception as exc:  # a malformed answer or candidate: the session cannot go on
                log.debug("live view of %s: frame %s failed", self.name, item["method"], exc_info=True)
                self._fail(LiveViewRefusedError(f"Ring sent a {item['method']} for {self.name} that failed: {exc}"))
                return

    async def _handle(self, method: str, body: dict[str, Any]) -> None:
        from aiortc import RTCSessionDescription
        from aiortc.sdp import candidate_from_sdp

        assert self._pc is not None
        if method == "sdp" and not self._answered.is_set():
            sdp = body.get("sdp")
            if not isinstance(sdp, str) or not sdp.strip():
                raise LiveViewRefusedError(f"Ring's answer for {self.name} has no SDP")
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            self._answered.set()
            await self._signalling.send_session("activate_session")
            await self._signalling.send_session("stream_options", audio_enabled=self.options.audio, video_enabled=True)
        elif method == "ice":
            text, index = body.get("ice"), body.get("mlineindex")
            if not isinstance(text, str) or not text.strip() or self._remote_candidates >= MAX_REMOTE_CANDIDATES:
                return
            self._remote_candidates += 1
            candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            candidate.sdpMLineIndex = index if isinstance(index, int) and not isinstance(index, bool) else 0
            await self._pc.addIceCandidate(candidate)
        elif method == "notification":
            if body.get("text") == "camera_connected" and self.options.two_way_audio:
                await self._signalling.send_session("camera_options", stealth_mode=False)
        elif method == "close":
            raise close_error(self.name, body, started=self._streaming)
        # session_created/session_started (the id is kept by Signalling), pong, camera_started, stream_info: nothing

    async def _ping(self) -> None:
        """``ping`` every ``ping_interval_s`` once the session id is known (§9.3)."""
        while True:
            await asyncio.sleep(self.options.ping_interval_s)
            if self._signalling.session_id is not None:
                with contextlib.suppress(WebSocketUnavailableError):
                    await self._signalling.send_session("ping")

    # -- ending ------------------------------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None], what: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"ringvault-live-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail(self, error: LiveViewError) -> None:
        """The session ends for ``error`` (the first reason wins); the clean-up runs in its own task."""
        if self.ended.is_set():
            return
        self.error = error
        log.info("live view of %s ended: %s", self.name, error)
        self._mark_ended()
        closer = asyncio.ensure_future(self._cleanup())
        self._closer = closer

    def _mark_ended(self) -> None:
        self.ended.set()
        self._video.end()
        self._audio.end()

    async def close(self) -> None:
        """End the session (idempotent): hang up, close the peer connection and the socket, stop every task. The
        clean-up is shielded: cancelling the caller does not leave it half done."""
        if not self.ended.is_set():
            self._mark_ended()
        await asyncio.shield(self._cleanup())

    def on_cleanup(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` once the session has released everything (whatever ended it)."""
        self._cleanup_hooks.append(hook)

    async def _cleanup(self) -> None:
        async with self._cleanup_lock:
            if self._cleaned:
                return
            self._cleaned = True
            try:
                await self._release()
            finally:
                for hook in self._cleanup_hooks:
                    try:
                        hook()
                    except Exception:
                        log.exception("a live-view clean-up hook failed")

    async def _release(self) -> None:
        """Hang up, close the peer connection and the socket, stop every task of the session."""
        if not self.ended.is_set():
            self._mark_ended()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        await self._signalling.hang_up()
        if self._pc is not None:
            with contextlib.suppress(Exception):
                await self._pc.close()
        await self._video.stop()
        await self._audio.stop()
        await self._signalling.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> LiveViewSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()  # shielded: a cancelled owner (Ctrl-C, a timeout) still gets every resource released

    # -- media -------------------------------------------------------------------------------------------------
    def _raise_if_ended(self) -> None:
        if self.ended.is_set():
            raise self.error or LiveViewEndedError(f"the live view of {self.name} was closed")

    async def video_frames(self, limit: int | None = None) -> AsyncIterator[Any]:
        """Decoded ``av.VideoFrame``s as they come (at most ``limit`` kept for a slow consumer; older dropped). Ends
        when the session is closed; raises the session's error when the server or the network ended it."""
        async with contextlib.aclosing(self._frames(self._video, limit)) as frames:
            async for frame in frames:
                yield frame

    async def audio_frames(self, limit: int | None = None) -> AsyncIterator[Any]:
        """Decoded ``av.AudioFrame``s (see ``video_frames``)."""
        async with contextlib.aclosing(self._frames(self._audio, limit)) as frames:
            async for frame in frames:
                yield frame

    async def _frames(self, fanout: Fanout[Any], limit: int | None) -> AsyncGenerator[Any, None]:
        self._raise_if_ended()
        async with fanout.subscription(limit) as queue:
            while True:
                try:
                    frame = await queue.get()
                except StreamEnded:
                    if self.error is not None:
                        raise self.error from None
                    return
                yield frame

    async def frame(self, *, quality: int = 90) -> bytes:
        """A JPEG of the next decoded video frame (``LiveViewTimeoutError`` after ``first_frame_timeout_s``)."""
        self._raise_if_ended()
        timeout = self.options.first_frame_timeout_s
        async with self._video.subscription(1) as queue:
            try:
                frame = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                raise LiveViewTimeoutError(f"no picture from {self.name} within {timeout:g} s") from None
            except StreamEnded:
                self._raise_if_ended()
                raise
        return await asyncio.to_thread(jpeg_of, frame, quality=quality)

    async def record(self, path: str | Path, duration: float) -> RecordingResult:
        """Record ``duration`` seconds to an MP4 at ``path`` (H.264 + AAC; see ``ringvault.cloud.live.record``).
        The file appears only complete; an error or a cancellation leaves no file (and ``path`` as it was)."""
        if not 0 < duration <= self.options.max_duration_s:
            raise ValueError(f"duration must be more than 0 and at most {self.options.max_duration_s:g} s")
        self._raise_if_ended()
        frames = max(self.options.queue_frames, 60)
        async with contextlib.AsyncExitStack() as stack:
            video = await stack.enter_async_context(self._video.subscription(frames))
            audio = None
            if self.options.audio:
                audio = await stack.enter_async_context(self._audio.subscription(frames * 2))
            try:
                return await record_mp4(
                    Path(path),
                    video,
                    audio,
                    duration_s=duration,
                    first_frame_timeout_s=self.options.first_frame_timeout_s,
                )
            except StreamEnded:
                raise self.error or LiveViewEndedError(
                    f"the live view of {self.name} ended before {duration:g} s were recorded"
                ) from None
            except TimeoutError as err:
                raise LiveViewTimeoutError(f"{self.name}: {err}") from None


def _local_candidates(sdp: str) -> list[tuple[int, str]]:
    """``(m-line index, "candidate:…")`` for every candidate in our SDP, to trickle them as rca does."""
    found: list[tuple[int, str]] = []
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        match = _CANDIDATE_LINE.match(line.strip())
        if match and index >= 0:
            found.append((index, match.group(1)))
    return found
