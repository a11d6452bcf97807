"""Every failure ringvault's Ring client raises. Each error carries a one-line ``hint`` saying what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringvault.cloud.hub.device import HubDevice


class RingError(Exception):
    """Base class. ``str(err)`` says what went wrong; ``err.hint`` what to do about it."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def one_line(self) -> str:
        return f"{self}. {self.hint}".strip() if self.hint else str(self)


class AuthenticationError(RingError):
    """The user has to act: log in again, fix credentials, or wait."""

    hint = "Run `ringvault login` again."


class NotLoggedInError(AuthenticationError):
    hint = "Run `ringvault login` first."


class WrongPasswordError(AuthenticationError):
    hint = "Check the e-mail address and password and try again."


class TwoFactorRequiredError(AuthenticationError):
    """A 2FA code is needed (HTTP 412). Carries where Ring sent the code."""

    hint = "Enter the verification code Ring sent you (--code for scripts)."

    def __init__(
        self,
        message: str,
        *,
        tsv_state: str | None = None,
        phone: str | None = None,
        next_time_in_secs: int | None = None,
    ) -> None:
        super().__init__(message)
        self.tsv_state = tsv_state
        self.phone = phone
        self.next_time_in_secs = next_time_in_secs

    @property
    def prompt(self) -> str:
        if self.tsv_state == "totp":
            return "Enter the code from your authenticator app"
        if self.tsv_state and self.phone:
            return f"Enter the code sent to {self.phone} via {self.tsv_state}"
        return "Enter the verification code Ring sent you"


class WrongTwoFactorCodeError(AuthenticationError):
    hint = "The code is wrong or expired; request a new one with `ringvault login`."


class TwoFactorThrottledError(AuthenticationError):
    hint = "Ring allows 10 codes per 10 minutes; wait 10 minutes before trying again."


class TokenRevokedError(AuthenticationError):
    hint = "The stored login was revoked or expired; run `ringvault login` again."


class RingHttpError(RingError):
    """Ring answered with an unexpected status."""

    #: seconds the answer's ``Retry-After`` asked to wait, when it sent one
    retry_after: float | None = None

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class RateLimitedError(RingHttpError):
    hint = "Ring is rate-limiting this account or IP; wait a while and retry."


class NotFoundError(RingHttpError):
    hint = "Check the id; run `ringvault devices` to list what exists."


class DeviceOfflineError(RingHttpError):
    hint = "The device is offline or updating; try again later."


class RecordingNotReadyError(RingError):
    hint = "Ring has not finished preparing this recording; retry in a few minutes."


class CloudUnreachableError(RingError):
    hint = "Check the network (or RINGVAULT_CLOUD_URL / --cloud-url when using the simulator)."


class ConnectionCutOffError(CloudUnreachableError):
    """The server answered, then kept cutting the body off (the host is reachable; the transfer is not)."""

    hint = "The server answered but kept closing the connection mid-way; try again later."


class ResponseFormatError(RingError):
    """Ring answered something we cannot parse (HTML instead of JSON, truncated body, ...)."""

    hint = "Ring may be changing its API; retry later, and report it if it persists."


class DeviceNotFoundError(RingError):
    hint = "Run `ringvault devices` to list device ids and names."


class CapabilityError(RingError):
    """The device cannot do that (e.g. a light on a camera without one)."""


class HubUnavailableError(RingError):
    """The location's hub socket cannot be had: Ring refused the ticket, or the socket would not open, after bounded
    retries (or the location has no alarm hub or lighting bridge for the socket)."""

    hint = "Check that the alarm base station or lighting bridge is online in the Ring app, then try again."


class HubTimeoutError(RingError):
    """A hub did not answer in time (its device list, or the security panel's confirmation); names the hub."""

    hint = "The hub may be offline or on cellular backup; check it in the Ring app and try again."


class AlarmArmError(RingError):
    """The security panel did not switch to the requested mode. ``str(err)`` is one line naming the faulted sensors
    that were not bypassed, e.g. ``cannot arm home: "Front Door Contact" is open — bypass it or close it``.

    ``mode``: the mode asked for (``none``/``some``/``all``); ``faulted``: the faulted, unbypassed sensors (hub
    devices) known when the refusal came; ``actual``: the mode the panel reported.
    """

    def __init__(
        self, message: str, *, mode: str, faulted: list[HubDevice] | None = None, actual: str | None = None
    ) -> None:
        super().__init__(message)
        self.mode = mode
        self.faulted: list[HubDevice] = list(faulted or [])
        self.actual = actual
