"""A minimal live view client for the simulator tests: the signalling socket (websockets) and an aiortc peer that
offers what ring-client-api offers (reference §9.6): H.264-only video ``recvonly`` and Opus audio ``sendrecv``
(it sends a quiet tone of its own, so the simulator has two-way audio to receive).

The peer gathers loopback candidates only (``ringvault.transport.ice.host_addresses``), as the simulator does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from PIL import Image, ImageStat
from websockets.asyncio.client import ClientConnection, connect

from ringvault.sim.live import SIGNALLING_HOST
from ringvault.sim.live.media import COLOUR_BOX, ToneTrack, read_marker
from ringvault.sim.server import SimServer
from ringvault.transport import ice
from tests.sim.helpers import APP_API, login

JSON = dict[str, Any]
UA = "android:com.ringapp"


def socket_url(sim: SimServer, ticket: str) -> str:
    query = f"api_version=4.0&auth_type=ring_solutions&client_id=ring_site-{uuid.uuid4()}&token={ticket}"
    return f"ws://127.0.0.1:{sim.port}/{SIGNALLING_HOST}/ws?{query}"


async def ring_client(sim: SimServer) -> httpx.AsyncClient:
    sync_client = login(sim)
    headers = dict(sync_client.headers)
    sync_client.close()
    return httpx.AsyncClient(base_url=sim.url, headers=headers, timeout=30)


async def signal_ticket(ring: httpx.AsyncClient) -> str:
    answer = await ring.post(f"{APP_API}/clap/ticket/request/signalsocket")
    assert answer.status_code == 200, answer.text
    ticket: str = answer.json()["ticket"]
    return ticket


def streamable_cameras(sim: SimServer) -> list[int]:
    world = sim.state.world
    with world.lock:
        cameras = [d for d in world.devices.values() if d.is_camera and not d.offline and not d.live_view_disabled]
        return sorted(d.id for d in cameras)


class Peer:
    """The client's RTCPeerConnection: offer H.264 recvonly + Opus sendrecv; collect what arrives."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.arrived = asyncio.Event()
        self.mic = ToneTrack(1000.0)
        self._changed = asyncio.Event()

        @self.pc.on("connectionstatechange")
        def _changed() -> None:
            self._changed.set()

        @self.pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            self.tracks[track.kind] = track
            if len(self.tracks) == 2:
                self.arrived.set()

    async def offer(self, *, video_codec: str = "video/H264") -> str:
        if self.pc.localDescription is not None:  # the same offer again (a refused request retried)
            return self.pc.localDescription.sdp
        video = self.pc.addTransceiver("video", direction="recvonly")
        codecs = RTCRtpReceiver.getCapabilities("video").codecs
        video.setCodecPreferences([c for c in codecs if c.mimeType in (video_codec, "video/rtx")])
        self.pc.addTransceiver(self.mic, direction="sendrecv")
        with ice.host_addresses(ice.LOOPBACK):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        with ice.host_addresses(ice.LOOPBACK):
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def video_frames(self, count: int, within: float = 60) -> list[av.VideoFrame]:
        await asyncio.wait_for(self.arrived.wait(), within)
        track = self.tracks["video"]
        frames: list[av.VideoFrame] = []
        async with asyncio.timeout(within):
            while len(frames) < count:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                frames.append(frame)
        return frames

    async def audio_frames(self, count: int, within: float = 60) -> list[av.AudioFrame]:
        await asyncio.wait_for(self.arrived.wait(), within)
        track = self.tracks["audio"]
        frames: list[av.AudioFrame] = []
        async with asyncio.timeout(within):
            while len(frames) < count:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                frames.append(frame)
        return frames

    async def until_state(self, *states: str, within: float = 60) -> str:
        """Wait until the peer connection's state is one of ``states``."""
        async with asyncio.timeout(within):
            while self.pc.connectionState not in states:
                self._changed.clear()
                await self._changed.wait()
        return self.pc.connectionState

    async def close(self) -> None:
        self.mic.stop()
        await self.pc.close()


class Signalling:
    """One signalling socket: send the client's frames, read the server's (every one kept in ``seen``)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.dialog_id = str(uuid.uuid4())
        self.seen: list[JSON] = []
        self.session_id: str | None = None
        self.doorbot_id = 0

    async def send(self, method: str, body: JSON | None = None, *, session: bool = True) -> None:
        full = dict(body or {})
        full["doorbot_id"] = self.doorbot_id
        if session and self.session_id is not None:
            full["session_id"] = self.session_id
        await self.ws.send(json.dumps({"method": method, "dialog_id": self.dialog_id, "body": full}))

    async def next(self, within: float = 30) -> JSON:
        raw = await asyncio.wait_for(self.ws.recv(), within)
        frame: JSON = json.loads(raw)
        self.seen.append(frame)
        if frame["method"] == "session_created" and self.session_id is None:
            self.session_id = frame["body"]["session_id"]
        return frame

    async def expect(self, method: str, within: float = 30) -> JSON:
        """Read until a frame of ``method`` (failing on a ``close`` when something else was expected)."""
        while True:
            frame = await self.next(within)
            if frame["method"] == method:
                return frame
            assert frame["method"] != "close", f"closed while waiting for {method}: {frame}"

    async def live_view(self, camera_id: int, sdp: str) -> None:
        self.doorbot_id = camera_id
        body = {"stream_options": {"audio_enabled": True, "video_enabled": True}, "sdp": sdp}
        await self.send("live_view", body, session=False)

    async def closed_by_server(self, within: float = 30) -> JSON:
        """The server's ``close`` frame; the socket closes after it."""
        frame = await self.expect("close", within)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.wait_closed(), within)
        return frame


@contextlib.asynccontextmanager
async def signalling(sim: SimServer, ticket: str, **kwargs: Any) -> AsyncIterator[Signalling]:
    async with connect(socket_url(sim, ticket), user_agent_header=UA, **kwargs) as ws:
        yield Signalling(ws)


class LiveView:
    """A started live view: the socket after ``sdp`` with the session activated, and the peer."""

    def __init__(self, sig: Signalling, peer: Peer, camera_id: int) -> None:
        self.sig = sig
        self.peer = peer
        self.camera_id = camera_id
        self._pinger: asyncio.Task[None] | None = None

    def start_pinging(self, every: float = 0.5) -> None:
        async def ping() -> None:
            while True:
                await self.sig.send("ping")
                await asyncio.sleep(every)

        self._pinger = asyncio.ensure_future(ping())

    async def stop_pinging(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(BaseException):
                await self._pinger
            self._pinger = None


async def start_live_view(sig: Signalling, camera_id: int, *, activate: bool = True) -> LiveView:
    """The §9.4 sequence up to the answer (and ``activate_session`` + ``stream_options``, as rca sends them)."""
    peer = Peer()
    await sig.live_view(camera_id, await peer.offer())
    created = await sig.expect("session_created")
    assert created["body"]["session_id"]
    answer = await sig.expect("sdp")
    await peer.accept(answer["body"]["sdp"])
    if activate:
        await sig.send("activate_session")
        await sig.send("stream_options", {"audio_enabled": True, "video_enabled": True})
    return LiveView(sig, peer, camera_id)


def decoded(frame: av.VideoFrame) -> tuple[Image.Image, tuple[int, int, int]]:
    image = frame.to_image()
    return image, read_marker(image)


def box_colour(image: Image.Image) -> tuple[float, float, float]:
    """Mean colour inside the camera-colour square (a margin off its edges: H.264 blurs them)."""
    left, top, right, bottom = COLOUR_BOX
    crop = image.convert("RGB").crop((left + 10, top + 10, right - 10, bottom - 10))
    red, green, blue = ImageStat.Stat(crop).mean
    return red, green, blue


async def sim_live(sim: SimServer) -> JSON:
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        answer = await client.get("/_sim/live")
        assert answer.status_code == 200
        data: JSON = answer.json()
        return data


async def assert_all_closed(sim: SimServer, within: float = 20) -> JSON:
    """Every session closed on the simulator's side, no peer connection or session task left; and in this process
    (the test's peers too) no RTCPeerConnection that is not closed."""
    deadline = time.monotonic() + within
    while True:
        listing = await sim_live(sim)
        done = not listing["sessions"] and listing["peer_connections_open"] == 0 and listing["tasks_running"] == 0
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert listing["sessions"] == [], listing["sessions"]
    assert listing["peer_connections_open"] == 0
    assert listing["tasks_running"] == 0
    gc.collect()
    open_pcs = [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"]
    assert open_pcs == []
    return listing


async def set_live(sim: SimServer, **knobs: Any) -> JSON:
    """Change live view knobs through the control API."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        answer = await client.patch("/_sim/live/config", json=knobs)
        assert answer.status_code == 200, answer.text
        data: JSON = answer.json()
        return data


async def patch_device(sim: SimServer, device_id: int, **patch: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as client:
        answer = await client.patch(f"/_sim/devices/{device_id}", json=patch)
        assert answer.status_code == 200, answer.text


async def wait_until_closed(sim: SimServer, camera_id: int, within: float = 30) -> None:
    """Wait until the simulator has no open session of ``camera_id``."""
    for _ in range(int(within / 0.1)):
        if all(row["camera_id"] != camera_id for row in (await sim_live(sim))["sessions"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"a live view of {camera_id} is still open")
