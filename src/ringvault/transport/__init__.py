"""What every Ring-facing module shares to talk to Ring: the one place that uses httpx and ``websockets``.

Module map (each concern under its name):

- ``http``       ``HttpClient``: one connection pool with timeouts, counters and redacted request logging; one
                 attempt (``send``, ``stream``), retries (``retry``), downloads (``download``).
- ``retry``      when to try again and how long to wait: ``RetryPolicy``, ``ExponentialBackoff``,
                 ``ScheduledBackoff``, ``Retry-After`` (``parse_retry_after``), the tenacity loop with a budget of
                 failures that moved nothing forward.
- ``download``   streamed download: constant memory, SHA-256, ``Range`` resume, size cap, content-type check.
- ``files``      atomic and private files: ``PartFile`` (temporary file renamed into place), ``write_private_file``,
                 ``ensure_private_dir``, ``fsync_dir``.
- ``body``       reading bodies: JSON that may be hostile (``parse_json``), content types, error-body summaries.
- ``redaction``  secrets masked in every log line and message (``redact``, ``register_secret``).
- ``errors``     the transport's own failures (``UnreachableError``, ``CutOffError``, ``BodyFormatError``,
                 ``TooLargeError``), which ``ringvault.cloud`` and ``ringvault.portability`` map to theirs.
- ``stats``      ``TransportStats``.
- ``websocket``  ``ReconnectingWebSocket``: the one WebSocket client (a fresh URL per attempt, backoff, bounded
                 failures for callers, keepalive, bounded frames, counters in ``WebSocketStats``).

Ring's rules (which hosts get credentials, 401 → refresh, sessions, error types) live with the clients that know
them: ``ringvault.cloud.http.RingHttp`` and ``ringvault.portability.http.PortabilityHttp``; what the hub socket's
frames mean lives in ``ringvault.cloud.hub``. This package imports nothing else of ringvault.

The names below are imported lazily: ``body``, ``files``, ``redaction`` and ``errors`` need neither httpx nor
tenacity, so the models and the token store can use them without paying for the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringvault.transport.body import error_detail, json_or_none, media_type, parse_json, type_matches
    from ringvault.transport.download import DownloadProgress, DownloadResult, StatusMapper
    from ringvault.transport.errors import BodyFormatError, CutOffError, TooLargeError, TransportError, UnreachableError
    from ringvault.transport.files import PartFile, ensure_private_dir, fsync_dir, write_private_file
    from ringvault.transport.http import (
        USE_CLIENT_DEFAULT,
        AsyncBaseTransport,
        HttpClient,
        Request,
        Response,
        Timeout,
        display_url,
        host_of,
    )
    from ringvault.transport.redaction import RedactingFilter, install_log_redaction, redact, register_secret
    from ringvault.transport.retry import (
        Backoff,
        BodyBrokeOff,
        ExponentialBackoff,
        RetryPolicy,
        ScheduledBackoff,
        Sleep,
        Tally,
        describe_failure,
        parse_retry_after,
        retryable_failure,
        spread,
    )
    from ringvault.transport.stats import TransportStats
    from ringvault.transport.websocket import ReconnectingWebSocket, WebSocketStats, WebSocketUnavailableError

#: public name -> the module of this package that defines it
_EXPORTS: dict[str, str] = {
    "AsyncBaseTransport": "http",
    "Backoff": "retry",
    "BodyBrokeOff": "retry",
    "BodyFormatError": "errors",
    "CutOffError": "errors",
    "DownloadProgress": "download",
    "DownloadResult": "download",
    "ExponentialBackoff": "retry",
    "HttpClient": "http",
    "PartFile": "files",
    "ReconnectingWebSocket": "websocket",
    "RedactingFilter": "redaction",
    "Request": "http",
    "Response": "http",
    "RetryPolicy": "retry",
    "ScheduledBackoff": "retry",
    "Sleep": "retry",
    "StatusMapper": "download",
    "Tally": "retry",
    "Timeout": "http",
    "TooLargeError": "errors",
    "TransportError": "errors",
    "TransportStats": "stats",
    "USE_CLIENT_DEFAULT": "http",
    "UnreachableError": "errors",
    "WebSocketStats": "websocket",
    "WebSocketUnavailableError": "websocket",
    "describe_failure": "retry",
    "display_url": "http",
    "ensure_private_dir": "files",
    "error_detail": "body",
    "fsync_dir": "files",
    "host_of": "http",
    "install_log_redaction": "redaction",
    "json_or_none": "body",
    "media_type": "body",
    "parse_json": "body",
    "parse_retry_after": "retry",
    "redact": "redaction",
    "register_secret": "redaction",
    "retryable_failure": "retry",
    "spread": "retry",
    "type_matches": "body",
    "write_private_file": "files",
}

__all__ = [
    "USE_CLIENT_DEFAULT",
    "AsyncBaseTransport",
    "Backoff",
    "BodyBrokeOff",
    "BodyFormatError",
    "CutOffError",
    "DownloadProgress",
    "DownloadResult",
    "ExponentialBackoff",
    "HttpClient",
    "PartFile",
    "ReconnectingWebSocket",
    "RedactingFilter",
    "Request",
    "Response",
    "RetryPolicy",
    "ScheduledBackoff",
    "Sleep",
    "StatusMapper",
    "Tally",
    "Timeout",
    "TooLargeError",
    "TransportError",
    "TransportStats",
    "UnreachableError",
    "WebSocketStats",
    "WebSocketUnavailableError",
    "describe_failure",
    "display_url",
    "ensure_private_dir",
    "error_detail",
    "fsync_dir",
    "host_of",
    "install_log_redaction",
    "json_or_none",
    "media_type",
    "parse_json",
    "parse_retry_after",
    "redact",
    "register_secret",
    "retryable_failure",
    "spread",
    "type_matches",
    "write_private_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
