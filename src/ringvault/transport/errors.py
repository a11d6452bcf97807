"""The transport's own failures. They name what happened on the wire; the Ring client (``ringvault.cloud``) and the
Data Portability client map them to their typed errors with a hint (``CloudUnreachableError``,
``PortabilityUnreachableError``, ``ResponseFormatError`` ...)."""

from __future__ import annotations

from ringvault.transport.redaction import redact


class TransportError(Exception):
    """Base class of the transport's failures (``str(err)`` is one line, secrets redacted)."""


class UnreachableError(TransportError):
    """No answer: the connection failed or timed out before a response arrived, ``attempts`` times.

    ``__cause__`` is httpx's exception; ``reason`` its type and message (redacted).
    """

    def __init__(self, what: str, cause: BaseException, *, attempts: int) -> None:
        self.what = what
        self.attempts = attempts
        self.kind = type(cause).__name__
        self.detail = redact(str(cause)) if str(cause) else ""
        self.reason = self.kind + (f": {self.detail}" if self.detail else "")
        super().__init__(f"{what}: {self.reason}")


class CutOffError(TransportError):
    """The server answered, then the body broke off (connection closed or stalled, or fewer bytes than announced),
    ``times`` times before the retries ran out. Not a network that cannot be reached: the host is there.

    ``received`` / ``total``: bytes of the body kept / announced (None when unknown); ``reason`` the last break.
    """

    def __init__(
        self, what: str, host: str, *, times: int, received: int | None, total: int | None, reason: str
    ) -> None:
        self.what = what
        self.host = host
        self.times = times
        self.received = received
        self.total = total
        self.reason = redact(reason)
        if received is not None:
            got = f"{received} of {total} bytes" if total is not None else f"{received} bytes"
            detail = f"{got}; {self.reason}"
        else:
            detail = self.reason
        times_text = "once" if times == 1 else f"{times} times"
        super().__init__(f"{what}: {host or 'the server'} cut the body off {times_text} ({detail})")


class BodyFormatError(TransportError, ValueError):
    """A body that cannot be read as what was expected: not JSON, nested too deeply, numbers too large, or a
    content type other than the one asked for. ``reason`` is one line."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = redact(reason)
        super().__init__(f"{what} answered {self.reason}")


class TooLargeError(TransportError):
    """A download over its size cap (announced, or counted while streaming); nothing of it is kept."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
