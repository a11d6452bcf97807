"""Live view (reference §9): WebRTC from a Ring camera in pure Python — aiortc for the peer connection, PyAV for
frames and MP4 — over the signalling socket of the one transport.

``await camera.start_live_view()`` returns a started :class:`LiveViewSession`; see ``session`` for the flow,
``media`` for the bounded frame queues, ``record`` for the MP4 writer, ``errors`` for the typed failures. Importing
this package imports aiortc and PyAV: the CLI imports it inside its command only.
"""

from ringvault.cloud.live.errors import (
    CameraAsleepError,
    CameraOfflineError,
    LiveViewBlockedError,
    LiveViewEndedError,
    LiveViewError,
    LiveViewIceError,
    LiveViewLimitError,
    LiveViewRefusedError,
    LiveViewTimeoutError,
    LiveViewUnavailableError,
)
from ringvault.cloud.live.options import RING_ICE_SERVERS, LiveViewOptions
from ringvault.cloud.live.record import RecordingResult
from ringvault.cloud.live.session import LiveViewSession
from ringvault.cloud.live.start import start_live_view

__all__ = [
    "RING_ICE_SERVERS",
    "CameraAsleepError",
    "CameraOfflineError",
    "LiveViewBlockedError",
    "LiveViewEndedError",
    "LiveViewError",
    "LiveViewIceError",
    "LiveViewLimitError",
    "LiveViewOptions",
    "LiveViewRefusedError",
    "LiveViewSession",
    "LiveViewTimeoutError",
    "LiveViewUnavailableError",
    "RecordingResult",
    "start_live_view",
]
