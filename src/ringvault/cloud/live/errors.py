"""The ways a live view ends badly. Each is a ``RingError`` whose ``one_line`` says what happened and what to do."""

from __future__ import annotations

from ringvault.cloud.errors import RingError

__all__ = [
    "CameraAsleepError",
    "CameraOfflineError",
    "LiveViewBlockedError",
    "LiveViewEndedError",
    "LiveViewError",
    "LiveViewIceError",
    "LiveViewLimitError",
    "LiveViewRefusedError",
    "LiveViewTimeoutError",
    "LiveViewUnavailableError",
]


class LiveViewError(RingError):
    """Base class of every live-view failure."""

    hint = "Try again in a minute; the Ring app shows whether the camera streams."


class LiveViewBlockedError(LiveViewError):
    """Live view is switched off for the camera (``settings.live_view_disabled``, set by Modes) or Ring refused the
    signalling ticket (HTTP 403: "live view is blocked by Modes", reference §4.10, §9.7)."""

    hint = "Change the location's Mode (or the camera's Modes settings) in the Ring app to allow live view."


class LiveViewUnavailableError(LiveViewError):
    """The signalling socket could not be opened or broke before the session was set up."""

    hint = "Check the network (or RINGVAULT_CLOUD_URL / --cloud-url when using the simulator) and try again."


class CameraOfflineError(LiveViewError):
    """The signalling server ended the session because the camera is offline."""

    hint = "Bring the camera back online (power, Wi-Fi), then try again."


class CameraAsleepError(LiveViewError):
    """The signalling server ended the session because the (battery) camera is asleep or could not be woken."""

    hint = "Battery cameras can take a while to wake; try again in a minute."


class LiveViewRefusedError(LiveViewError):
    """The signalling server refused or ended the session before it was set up; ``code`` and ``reason`` are its
    ``close`` frame's (§9.3: 5 authentication failed, 6 timeout)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.reason = reason


class LiveViewEndedError(LiveViewRefusedError):
    """The server ended a running session (its ``close`` frame mid-stream, or the socket dropped)."""

    hint = "Start the live view again."


class LiveViewLimitError(LiveViewError):
    """Too many live views are open in this process (per camera, or in all)."""


class LiveViewTimeoutError(LiveViewError):
    """No answer (or no picture) within the bound."""


class LiveViewIceError(LiveViewError):
    """The peer connection failed (ICE found no working path to the camera's media server)."""

    hint = "A firewall may block UDP; check the network and try again."
