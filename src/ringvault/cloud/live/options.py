"""``LiveViewOptions``: the bounds and knobs of one live-view session (every wait and every queue is bounded)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RING_ICE_SERVERS", "LiveViewOptions"]

#: The STUN servers ring-client-api gives its peer connection (reference §9.6).
RING_ICE_SERVERS: tuple[str, ...] = (
    "stun:stun.kinesisvideo.us-east-1.amazonaws.com:443",
    "stun:stun.kinesisvideo.us-east-2.amazonaws.com:443",
    "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443",
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
)


@dataclass
class LiveViewOptions:
    """How a session connects and how long it waits. The defaults suit Ring; tests shorten the waits."""

    audio: bool = True
    """receive the camera's audio (``stream_options.audio_enabled``)"""
    two_way_audio: bool = False
    """turn the camera's speaker on once it joins (``camera_options {stealth_mode: false}``, §9.3)"""
    answer_timeout_s: float = 20.0
    """from opening the socket to the SDP answer; a camera that wakes slowly takes seconds"""
    connect_timeout_s: float = 20.0
    """from the answer to the peer connection's ``connected``"""
    first_frame_timeout_s: float = 20.0
    """``frame()`` and ``record()``: how long to wait for the first decoded video frame"""
    ping_interval_s: float = 5.0
    """the signalling ``ping`` (§9.3: every 5 s; Ring closes with code 6 after about 10-15 s without one)"""
    max_duration_s: float = 600.0
    """the longest recording ``record()`` accepts (Ring ends sessions after about 10 minutes, §9.5)"""
    queue_frames: int = 30
    """decoded frames kept per consumer (``video_frames()``/``audio_frames()``); older ones are dropped"""
    max_message_bytes: int = 256 * 1024
    """the largest signalling frame accepted (an SDP answer is a few kB)"""
    ice_servers: tuple[str, ...] | None = None
    """STUN/TURN URLs; None: Ring's (§9.6), or none at all with a cloud URL (the simulator is on this machine and
    nothing may reach the internet)"""
    host_addresses: tuple[str, ...] | None = None
    """the local addresses to gather ICE host candidates on; None: every interface but loopback (aioice's
    default), or 127.0.0.1 only with a cloud URL on this machine (the simulator: no UDP socket on a network
    interface)"""
    signalling_url: str | None = None
    """the signalling socket without its query (default Ring's, under the CLOUD_URL rule); for tests"""

    def __post_init__(self) -> None:
        for name in ("answer_timeout_s", "connect_timeout_s", "first_frame_timeout_s", "ping_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 1 <= self.queue_frames <= 1000:
            raise ValueError("queue_frames must be 1..1000")
