"""ringvault's async client for Ring's account API.

    from ringvault.cloud import RingApi, RefreshTokenAuth, TokenStore

    async with RingApi(RefreshTokenAuth(token_store=TokenStore(path))) as api:
        for camera in await api.get_cameras():
            print(camera.name, camera.battery_level)

The public names below are imported lazily, so ``import ringvault.cloud.endpoints`` (or the CLI's ``--help``)
does not pay for httpx and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringvault.cloud.api import AmbiguousDeviceError, RingApi, RingDevicesSnapshot
    from ringvault.cloud.auth import PasswordAuth, RefreshTokenAuth, RefreshTokenUpdate, RingAuth, login
    from ringvault.cloud.camera import RingCamera, Snapshot
    from ringvault.cloud.chime import RingChime
    from ringvault.cloud.device import RingDevice
    from ringvault.cloud.errors import (
        AlarmArmError,
        AuthenticationError,
        CapabilityError,
        CloudUnreachableError,
        ConnectionCutOffError,
        DeviceNotFoundError,
        DeviceOfflineError,
        HubTimeoutError,
        HubUnavailableError,
        NotFoundError,
        NotLoggedInError,
        RateLimitedError,
        RecordingNotReadyError,
        ResponseFormatError,
        RingError,
        RingHttpError,
        TokenRevokedError,
        TwoFactorRequiredError,
        TwoFactorThrottledError,
        WrongPasswordError,
        WrongTwoFactorCodeError,
    )
    from ringvault.cloud.http import HttpStats, RingHttp
    from ringvault.cloud.hub import AlarmMode, HubDevice, HubDeviceKind, HubOptions, LightGroup
    from ringvault.cloud.intercom import IntercomUnlockError, RingIntercom
    from ringvault.cloud.location import Location
    from ringvault.cloud.options import RingApiOptions
    from ringvault.cloud.push import PushStore, RingEvent
    from ringvault.cloud.push.hub import NotificationStatus
    from ringvault.cloud.tokens import StoredToken, TokenFileError, TokenStore, parse_refresh_token
    from ringvault.transport import DownloadResult, redact

#: public name -> its module in this package (or the full name of a module outside it)
_EXPORTS: dict[str, str] = {
    "RingApi": "api",
    "RingDevicesSnapshot": "api",
    "AmbiguousDeviceError": "api",
    "RingApiOptions": "options",
    "Location": "location",
    "RingCamera": "camera",
    "Snapshot": "camera",
    "RingChime": "chime",
    "RingIntercom": "intercom",
    "IntercomUnlockError": "intercom",
    "RingDevice": "device",
    "RingHttp": "http",
    "RingAuth": "auth",
    "RefreshTokenAuth": "auth",
    "PasswordAuth": "auth",
    "login": "auth",
    "TokenStore": "tokens",
    "StoredToken": "tokens",
    "RingError": "errors",
    "AuthenticationError": "errors",
    "NotLoggedInError": "errors",
    "WrongPasswordError": "errors",
    "TwoFactorRequiredError": "errors",
    "WrongTwoFactorCodeError": "errors",
    "TwoFactorThrottledError": "errors",
    "TokenRevokedError": "errors",
    "RingHttpError": "errors",
    "RateLimitedError": "errors",
    "NotFoundError": "errors",
    "DeviceOfflineError": "errors",
    "RecordingNotReadyError": "errors",
    "CloudUnreachableError": "errors",
    "ConnectionCutOffError": "errors",
    "ResponseFormatError": "errors",
    "DeviceNotFoundError": "errors",
    "CapabilityError": "errors",
    "AlarmArmError": "errors",
    "HubUnavailableError": "errors",
    "HubTimeoutError": "errors",
    "HubDevice": "ringvault.cloud.hub",
    "HubDeviceKind": "ringvault.cloud.hub",
    "HubOptions": "ringvault.cloud.hub",
    "AlarmMode": "ringvault.cloud.hub",
    "LightGroup": "ringvault.cloud.hub",
    "RefreshTokenUpdate": "auth",
    "DownloadResult": "ringvault.transport",
    "HttpStats": "http",
    "redact": "ringvault.transport",
    "TokenFileError": "tokens",
    "parse_refresh_token": "tokens",
    "RingEvent": "ringvault.cloud.push",
    "PushStore": "ringvault.cloud.push",
    "NotificationStatus": "ringvault.cloud.push.hub",
}

__all__ = [
    "AlarmArmError",
    "AlarmMode",
    "AmbiguousDeviceError",
    "AuthenticationError",
    "CapabilityError",
    "CloudUnreachableError",
    "ConnectionCutOffError",
    "DeviceNotFoundError",
    "DeviceOfflineError",
    "DownloadResult",
    "HttpStats",
    "HubDevice",
    "HubDeviceKind",
    "HubOptions",
    "HubTimeoutError",
    "HubUnavailableError",
    "IntercomUnlockError",
    "LightGroup",
    "Location",
    "NotFoundError",
    "NotLoggedInError",
    "NotificationStatus",
    "PasswordAuth",
    "PushStore",
    "RateLimitedError",
    "RecordingNotReadyError",
    "RefreshTokenAuth",
    "RefreshTokenUpdate",
    "ResponseFormatError",
    "RingApi",
    "RingApiOptions",
    "RingAuth",
    "RingCamera",
    "RingChime",
    "RingDevice",
    "RingDevicesSnapshot",
    "RingError",
    "RingEvent",
    "RingHttp",
    "RingHttpError",
    "RingIntercom",
    "Snapshot",
    "StoredToken",
    "TokenFileError",
    "TokenRevokedError",
    "TokenStore",
    "TwoFactorRequiredError",
    "TwoFactorThrottledError",
    "WrongPasswordError",
    "WrongTwoFactorCodeError",
    "login",
    "parse_refresh_token",
    "redact",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # names of the shared transport that are part of this API (``DownloadResult``, ``redact``) name its package
    value = getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
