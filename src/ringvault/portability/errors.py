"""Every failure of the Data Portability client, one class per documented error type.

The service answers errors as JSON ``{"category", "type", "message"}`` with an HTTP status. ``error_from_response``
turns such an answer into the exception class of its ``type`` (``UnknownPortabilityError`` for a type the seed does not
document). Each class carries ``status``, ``category``, ``type`` and ``message`` and a one-line ``hint`` saying what to
do. Classes are grouped under one base per category (``ForbiddenError``, ``RateLimitError``, ...), so callers can catch
a whole family. The OAuth endpoints answer ``{"error", "error_description"}`` instead; those become ``OAuthError``
subclasses (``InvalidGrantError`` ...), mapped by ``oauth_error_from_response``.

All of them are ``ringvault.cloud.RingError`` subclasses, so the CLI prints them as one line the same way.

Retrying follows the seed's advice ("Retrying errors", and the sentence under the table): ``err.retryable`` is True for
429 (except ``QUOTA_EXCEEDED``: seconds of waiting do not bring a daily quota back), every 5xx (500 and 504 are
documented; 502/503 are what a gateway in front of the API answers, and they are not in the table), ``BLOCKED_REQUEST``
("Retry the request") and every error whose type the table does not document ("If you encounter an error not present
in the table, start by retrying the error"). ``PortabilityHttp`` retries exactly what ``retryable`` says.

Errors a customer can be left *waiting* on (an open query in the way, the daily quota, a listing window that ran out,
throttling) carry a ``wait_reason``: a short machine-readable code and a sentence for status pages
(``WAIT_REASONS``). ``is_query_dead(err)`` says whether an error means the query itself can never be listed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ringvault.cloud.errors import RingError
from ringvault.cloud.tokens import TokenFileError
from ringvault.transport import json_or_none, redact

#: The statuses retried whatever the error type: the seed's "429, 500, or 504", and the other 5xx (502, 503 ...),
#: which are not in its table ("If you encounter an error not present in the table, start by retrying the error").
RETRYABLE_STATUSES: frozenset[int] = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class WaitReason:
    """Why a customer's export is waiting: ``code`` for machines (status JSON, the database), ``text`` for people."""

    code: str
    text: str


#: The reasons a customer can be waiting, by code. ``conflict``: createDataQuery answered 409 (a query of this
#: customer is still in progress at Ring); ``daily_quota``: the app's 100,000 list calls of the UTC day are used up;
#: ``listing_window``: a query's hour of listing ran out, it is closed and a new one is needed; ``throttled``: Ring
#: answered 429 for the app's rate limits; ``ring_failing``: Ring kept answering errors it asks to retry.
WAIT_REASONS: Final[dict[str, WaitReason]] = {
    reason.code: reason
    for reason in (
        WaitReason(
            "conflict",
            "Ring is still preparing an earlier export of this customer (409 REQUEST_CONFLICT); a new one is asked "
            "for once it has finished",
        ),
        WaitReason(
            "daily_quota",
            "the app has used its 100,000 list calls of the day (UTC); listing continues after midnight UTC",
        ),
        WaitReason(
            "listing_window",
            "the hour Ring allows for listing an export after it finished has run out; the export is closed as "
            "expired and a new one is asked for",
        ),
        WaitReason("throttled", "Ring is throttling the app's requests (429); they are sent again within its limits"),
        WaitReason("ring_failing", "Ring's service keeps failing (5xx or an unknown error); it is tried again later"),
    )
}

_SUPPORT = "if it persists, contact Ring through the Developer Portal (Amazon Data Portability, Technical Issues)"


class PortabilityError(RingError):
    """Base class. ``str(err)`` says what went wrong; ``err.hint`` what to do.

    ``status`` is the HTTP status (None for failures that never got one), ``category``, ``type`` and ``message`` the
    fields of the service's error body. Subclasses set the documented values as class defaults.
    """

    STATUS: ClassVar[int | None] = None
    CATEGORY: ClassVar[str | None] = None
    TYPE: ClassVar[str | None] = None
    MESSAGE: ClassVar[str] = ""
    #: True/False: always/never retried whatever the status; None: retried when the status is in RETRYABLE_STATUSES
    RETRY: ClassVar[bool | None] = None
    #: the code of the ``WAIT_REASONS`` entry a customer waiting on this error is shown (None: not a waiting reason)
    WAIT_REASON: ClassVar[str | None] = None
    hint = "Retry later; " + _SUPPORT + "."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        category: str | None = None,
        type: str | None = None,
        context: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status: int | None = status if status is not None else self.STATUS
        self.category: str | None = category if category is not None else self.CATEGORY
        self.type: str | None = type if type is not None else self.TYPE
        self.message: str = message if message is not None else self.MESSAGE
        self.context = context
        #: how many requests were sent before giving up (set when retries were exhausted)
        self.attempts: int = 1
        #: seconds the answer's ``Retry-After`` header asked to wait, if any
        self.retry_after: float | None = None
        super().__init__(self._describe(), hint=hint)

    def _describe(self) -> str:
        parts: list[str] = []
        if self.context:
            parts.append(f"{self.context}:")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.category or self.type:
            parts.append(f"{self.category or '?'}/{self.type or '?'}")
        text = " ".join(parts)
        if self.message:
            text = f"{text} ({self.message})" if text else self.message
        return text or type(self).__name__

    def gave_up_after(self, attempts: int) -> None:
        """Note that this error is the answer to the last of ``attempts`` requests."""
        self.attempts = attempts
        if attempts > 1:
            self.args = (f"{self._describe()}, still failing after {attempts} attempts",)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed, as the seed advises (see the module docstring):
        ``PortabilityHttp`` retries exactly these, with its backoff."""
        if self.RETRY is not None:
            return self.RETRY
        return self.status is not None and self.status in RETRYABLE_STATUSES

    @property
    def wait_reason(self) -> WaitReason | None:
        """Why a customer waits because of this error (``WAIT_REASONS``), when it is a reason to wait at all; a
        retryable answer that exhausted its retries is ``ring_failing``."""
        if self.WAIT_REASON is not None:
            return WAIT_REASONS[self.WAIT_REASON]
        if self.retryable and self.status is not None:
            return WAIT_REASONS["ring_failing"]
        return None


# ---------------------------------------------------------------------------------------------------------------
# Category bases


class BadRequestError(PortabilityError):
    STATUS = 400
    CATEGORY = "BAD_REQUEST"


class ForbiddenError(PortabilityError):
    STATUS = 403
    CATEGORY = "FORBIDDEN"


class NotFoundError(PortabilityError):
    STATUS = 404
    CATEGORY = "RESOURCE_NOT_FOUND"


class ConflictError(PortabilityError):
    STATUS = 409
    CATEGORY = "CONFLICT"


class ContentTooLargeError(PortabilityError):
    STATUS = 413
    CATEGORY = "CONTENT_TOO_LARGE"


class RateLimitError(PortabilityError):
    """429: throttled (category TOO_MANY_REQUESTS or THROTTLED) or over the daily quota."""

    STATUS = 429
    CATEGORY = "TOO_MANY_REQUESTS"
    WAIT_REASON = "throttled"


class ServerError(PortabilityError):
    STATUS = 500
    CATEGORY = "INTERNAL_SERVER_ERROR"


class GatewayTimeoutError(PortabilityError):
    STATUS = 504
    CATEGORY = "GATEWAY_TIMEOUT"


# ---------------------------------------------------------------------------------------------------------------
# One class per documented type


class InvalidParametersError(BadRequestError):
    TYPE = "INVALID_PARAMETERS"
    MESSAGE = "Parameters provided for this request are invalid"
    hint = "Check that the query was created for this scope id and that the token belongs to this customer and app."


class InvalidMaxResultsError(BadRequestError):
    TYPE = "INVALID_MAX_RESULTS"
    MESSAGE = "Max results value is outside limits"
    hint = "Use a maxResults value between 1 and 250."


class InvalidNextPageError(BadRequestError):
    TYPE = "INVALID_NEXT_PAGE"
    MESSAGE = "Invalid next page token"
    hint = "Pass the nextPageToken exactly as received, or list again from the first page without one."


class AccessDeniedError(ForbiddenError):
    TYPE = "ACCESS_DENIED"
    MESSAGE = "App is not authorized to do this operation"
    hint = (
        "The access token has expired, lacks this scope, or the customer withdrew consent; refresh it, or have the "
        "customer log in with Ring again."
    )


class MissingAccessTokenError(ForbiddenError):
    TYPE = "MISSING_ACCESS_TOKEN"
    MESSAGE = "Access token not provided in request"
    hint = "Send a valid access token in the authorization header (log the customer in first)."


class AppNotAllowlistedError(ForbiddenError):
    TYPE = "APP_NOT_ALLOWLISTED"
    MESSAGE = "App is not allowlisted"
    hint = "Finish Ring's Data Portability allowlisting for this app before calling the API."


class ScopeNotEnabledError(ForbiddenError):
    TYPE = "SCOPE_NOT_ENABLED"
    MESSAGE = "Scope not enabled for app"
    hint = "This scope is not enabled for the app; finish allowlisting, then " + _SUPPORT + "."


class QueryNotCompletedError(ForbiddenError):
    TYPE = "QUERY_NOT_COMPLETED"
    MESSAGE = "Query is not completed"
    hint = "Wait for the COMPLETED notification before listing records; a CANCELED query has no data."


class AccessTimeElapsedError(ForbiddenError):
    """The query's hour of listing is over: it can never be listed again (``is_query_dead``)."""

    TYPE = "ACCESS_TIME_ELAPSED"
    MESSAGE = "Access time for this query has elapsed"
    WAIT_REASON = "listing_window"
    hint = "Records can be listed for one hour after the notification; create a new query."


class AppIdentificationFailureError(ForbiddenError):
    TYPE = "APP_IDENTIFICATION_FAILURE"
    MESSAGE = "Failed to identify the app"
    hint = "Check that allowlisting is complete and retry; " + _SUPPORT + "."


class MissingAuthorizationHeaderError(ForbiddenError):
    TYPE = "MISSING_AUTHORIZATION_HEADER"
    MESSAGE = "Authorization header is missing or empty"
    hint = "Send the access token in the authorization header."


class BlockedRequestError(ForbiddenError):
    """Retried (seed: "Retry the request") although it is a 403."""

    TYPE = "BLOCKED_REQUEST"
    MESSAGE = "Request blocked for security reasons"
    RETRY = True
    WAIT_REASON = "ring_failing"
    hint = "Ring's security scanners blocked the request; retry it later, and " + _SUPPORT + "."


class SecurityProfileNotFoundError(NotFoundError):
    TYPE = "SECURITY_PROFILE_NOT_FOUND"
    MESSAGE = "Security profile id does not exist"
    hint = "The token was not issued for the app's security profile; check the client id and secret."


class QueryIdNotFoundError(NotFoundError):
    TYPE = "QUERY_ID_NOT_FOUND"
    MESSAGE = "Query id does not exist"
    hint = "Use the query id that createDataQuery returned for this customer and scope."


class ScopeIdNotFoundError(NotFoundError):
    TYPE = "SCOPE_ID_NOT_FOUND"
    MESSAGE = "Scope id does not exist"
    hint = "Use a documented scope id (data-portability)."


class ResourceNotFoundError(NotFoundError):
    TYPE = "RESOURCE_NOT_FOUND"
    MESSAGE = "Invalid URI or unsupported method"
    hint = "The URL or HTTP method is wrong; check the intake host, scope id and path."


class RequestConflictError(ConflictError):
    TYPE = "REQUEST_CONFLICT"
    MESSAGE = "There is a conflicting request in progress"
    WAIT_REASON = "conflict"
    hint = "A query for this customer and scope is still running; wait for its notification before creating another."


class RequestTooLargeError(ContentTooLargeError):
    TYPE = "REQUEST_TOO_LARGE"
    MESSAGE = "Payload size limit exceeded"
    hint = "Send only the documented parameters."


class TooManyRequestsError(RateLimitError):
    """Throttled; ``category`` says by what: ``TOO_MANY_REQUESTS`` (request rate) or ``THROTTLED`` (the app's
    rate limit for this scope)."""

    TYPE = "TOO_MANY_REQUESTS"
    MESSAGE = "Requests rate limit exceeded"
    hint = "Ring is throttling this app; slow down (5 creates/s and 20 per 20 minutes, 10 lists/s) and retry later."

    @property
    def throttled(self) -> bool:
        """True for the THROTTLED category (the app's per-scope limit rather than the request rate)."""
        return self.category == "THROTTLED"


class QuotaExceededError(RateLimitError):
    """Never retried: seconds of backoff do not bring a daily quota back."""

    TYPE = "QUOTA_EXCEEDED"
    MESSAGE = "Daily quota exceeded"
    RETRY = False
    WAIT_REASON = "daily_quota"
    hint = "The app's daily quota (100,000 list calls) is used up; continue tomorrow."


class MissingParameterError(ServerError):
    TYPE = "MISSING_PARAMETER"
    MESSAGE = "Required parameter not provided in request"
    hint = "A mandatory parameter is missing; this is a client bug: " + _SUPPORT + "."


class InternalServerError(ServerError):
    TYPE = "INTERNAL_SERVER_ERROR"
    MESSAGE = "Unexpected internal server exception"
    hint = "Ring's service failed; retry later, and " + _SUPPORT + "."


class BlankSecurityProfileIdError(ServerError):
    TYPE = "BLANK_SECURITY_PROFILE_ID"
    MESSAGE = "Security profile id is missing, empty or contains only whitespaces"
    hint = "The token carries no security profile; get it with the app's own client id and secret."


class InvalidApiPathError(ServerError):
    TYPE = "INVALID_API_PATH"
    MESSAGE = "Invalid API path"
    hint = "The API path is wrong; check the intake URL, scope id and query id."


class BlankScopeIdError(ServerError):
    TYPE = "BLANK_SCOPE_ID"
    MESSAGE = "Scope id is missing, empty or contains only whitespaces"
    hint = "Put a scope id (data-portability) in the path."


class BlankCustomerIdError(ServerError):
    TYPE = "BLANK_CUSTOMER_ID"
    MESSAGE = "Customer id missing, empty or contains only whitespaces"
    hint = "The token carries no customer; get it from the code of this customer's own authorization."


class BlankQueryIdError(ServerError):
    TYPE = "BLANK_QUERY_ID"
    MESSAGE = "Query id is missing, empty or contains only whitespaces"
    hint = "Put the query id createDataQuery returned in the path."


class ApiConfigurationError(ServerError):
    TYPE = "API_CONFIGURATION_ERROR"
    MESSAGE = "Failed to connect to server"
    hint = "Ring's API is misconfigured right now; retry later, and " + _SUPPORT + "."


class AuthorizationConfigurationError(ServerError):
    TYPE = "AUTHORIZATION_CONFIGURATION_ERROR"
    MESSAGE = "Failed to authenticate the app"
    hint = "Ring's authorizer could not be reached; retry later, and " + _SUPPORT + "."


class AuthorizationFailureError(ServerError):
    TYPE = "AUTHORIZATION_FAILURE"
    MESSAGE = "Failed to authenticate the app"
    hint = "Check that the access token is valid and retry; " + _SUPPORT + "."


class IntegrationFailureError(ServerError):
    TYPE = "INTEGRATION_FAILURE"
    MESSAGE = "Failed to connect to server"
    hint = "Ring's service failed internally; retry later, and " + _SUPPORT + "."


class IntegrationTimeoutError(GatewayTimeoutError):
    TYPE = "INTEGRATION_TIMEOUT"
    MESSAGE = "Request timed out"
    hint = "Ring's service timed out; retry later, and " + _SUPPORT + "."


class UnknownPortabilityError(PortabilityError):
    """An error answer whose ``type`` the seed does not document (or a body that is not the documented JSON).

    Retried whatever its status: "If you encounter an error not present in the table, start by retrying the error.
    If the error persists, [...] Contact Us"."""

    RETRY = True
    hint = "Ring answered an error it does not document; run the command again later, and " + _SUPPORT + "."


#: documented ``type`` -> class (TOO_MANY_REQUESTS covers both of its categories).
ERROR_TYPES: dict[str, type[PortabilityError]] = {
    cls.TYPE: cls
    for cls in (
        InvalidParametersError,
        InvalidMaxResultsError,
        InvalidNextPageError,
        AccessDeniedError,
        MissingAccessTokenError,
        AppNotAllowlistedError,
        ScopeNotEnabledError,
        QueryNotCompletedError,
        AccessTimeElapsedError,
        AppIdentificationFailureError,
        MissingAuthorizationHeaderError,
        BlockedRequestError,
        SecurityProfileNotFoundError,
        QueryIdNotFoundError,
        ScopeIdNotFoundError,
        ResourceNotFoundError,
        RequestConflictError,
        RequestTooLargeError,
        TooManyRequestsError,
        QuotaExceededError,
        MissingParameterError,
        InternalServerError,
        BlankSecurityProfileIdError,
        InvalidApiPathError,
        BlankScopeIdError,
        BlankCustomerIdError,
        BlankQueryIdError,
        ApiConfigurationError,
        AuthorizationConfigurationError,
        AuthorizationFailureError,
        IntegrationFailureError,
        IntegrationTimeoutError,
    )
    if cls.TYPE is not None
}


def _parse_body(body: bytes | str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if body is None:
        return None
    if isinstance(body, Mapping):
        return body
    data = json_or_none(body)  # not JSON, or nested too deeply to read safely: not the documented error
    return data if isinstance(data, dict) else None


def _snippet(body: bytes | str | Mapping[str, Any] | None) -> str:
    """A short, redacted description of a body that is not the documented error JSON."""
    if body is None or isinstance(body, Mapping):
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if text[:1] == "<":
        return "an HTML/XML page instead of the documented JSON error"
    return redact(" ".join(text.split())[:160])


def error_from_response(
    status: int, body: bytes | str | Mapping[str, Any] | None, *, context: str | None = None
) -> PortabilityError:
    """The exception for an error answer: the class of its documented ``type``, else ``UnknownPortabilityError``.

    The actual status, category and message are kept even when they differ from the documented ones (a THROTTLED
    429 is a ``TooManyRequestsError`` whose ``category`` is ``THROTTLED``).
    """
    data = _parse_body(body)
    if data is None:
        snippet = _snippet(body)
        return UnknownPortabilityError(snippet or None, status=status, context=context)
    error_type = data.get("type")
    category = data.get("category")
    message = data.get("message")
    type_name = error_type.strip() if isinstance(error_type, str) else None
    cls = ERROR_TYPES.get(type_name.upper()) if type_name else None
    return (cls or UnknownPortabilityError)(
        redact(message) if isinstance(message, str) else None,
        status=status,
        category=category if isinstance(category, str) else None,
        type=type_name,
        context=context,
    )


def is_query_dead(exc: BaseException) -> bool:
    """Whether ``exc`` means the query it was about can never be listed again, so nothing may resume it: close it as
    expired (``renewal.expire_query``) and create a new one. Today that is ``ACCESS_TIME_ELAPSED`` (the hour after
    Ring's notification is over; seed: "Create a new query"), also when another error was raised ``from`` it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, AccessTimeElapsedError):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


# ---------------------------------------------------------------------------------------------------------------
# Failures that are not an error answer of the API


class PortabilityUnreachableError(PortabilityError):
    hint = "Check the network (or RINGVAULT_CLOUD_URL when using the simulator) and retry."


class PortabilityResponseError(PortabilityError):
    """A success answer we cannot use (not JSON, fields missing)."""

    hint = "Ring may have changed the API; retry later, and report it if it persists."


class DailyQuotaReachedError(PortabilityError):
    """The client's own counter says the app's daily list quota is used up; no request was sent."""

    WAIT_REASON = "daily_quota"

    hint = "The app has used its 100,000 list calls of today (UTC); continue tomorrow."


class DownloadError(PortabilityError):
    """A schema or data file could not be downloaded completely."""

    hint = "List the query's records again for fresh URLs and retry the download."


class DownloadWriteError(DownloadError):
    """The downloaded bytes could not be written to disk (full disk, quota, permissions, read-only file system)."""

    hint = "Free space on that disk (or fix its permissions) and run the command again; finished files are kept."


class DownloadTooLargeError(DownloadError):
    hint = "The service promises files of at most 2 GB; the download was stopped and nothing was kept."


class PresignedUrlExpiredError(DownloadError):
    hint = "Download URLs are valid for 5 minutes; list the query's records again for fresh ones."


class NotAuthorizedError(PortabilityError):
    """No stored authorization for this customer."""

    hint = "Have the customer log in with Ring first (`ringvault portability login`)."


class PortabilityTokenFileError(TokenFileError):
    hint = "Delete the customer's token file and have them log in with Ring again."


class NotificationError(PortabilityError):
    """A notification POST that is not the documented envelope."""

    hint = "Only Ring's Data Portability notifications (Subject 'Data Portability Notification 1.0') are accepted."


# ---------------------------------------------------------------------------------------------------------------
# OAuth (Login with Ring)


class OAuthError(PortabilityError):
    """An OAuth answer ``{"error", "error_description"}`` from the token endpoint, or an error redirect."""

    ERROR: ClassVar[str] = ""
    hint = "Start Login with Ring again; check the client id, secret and redirect URI if it keeps failing."

    def __init__(
        self,
        error: str | None = None,
        description: str | None = None,
        *,
        status: int | None = None,
        context: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.error = error or self.ERROR
        self.error_description = description
        message = self.error + (f": {description}" if description else "")
        super().__init__(message, status=status, category="OAUTH", type=self.error, context=context, hint=hint)


class InvalidRequestError(OAuthError):
    ERROR = "invalid_request"
    hint = "The login request is malformed or incomplete; start Login with Ring again."


class InvalidClientError(OAuthError):
    ERROR = "invalid_client"
    hint = "Ring does not accept the client id or secret; check RINGVAULT_PORTABILITY_CLIENT_ID and _CLIENT_SECRET."


class InvalidGrantError(OAuthError):
    ERROR = "invalid_grant"
    hint = (
        "The code or refresh token is no longer valid (used, expired, revoked, or the verifier/redirect URI do not "
        "match); the customer must log in with Ring again."
    )


class UnauthorizedClientError(OAuthError):
    ERROR = "unauthorized_client"
    hint = "This app may not use this grant; check its onboarding with Ring."


class UnsupportedGrantTypeError(OAuthError):
    ERROR = "unsupported_grant_type"
    hint = "Ring does not support this grant type here; this is a client bug."


class InvalidScopeError(OAuthError):
    ERROR = "invalid_scope"
    hint = "Request the scope data-portability."


class UnsupportedResponseTypeError(OAuthError):
    ERROR = "unsupported_response_type"
    hint = "The authorize URL must use response_type=code."


class OAuthServerError(OAuthError):
    ERROR = "server_error"
    hint = "Ring's login service failed; try again in a few minutes."


class TemporarilyUnavailableError(OAuthError):
    ERROR = "temporarily_unavailable"
    hint = "Ring's login service is busy; try again in a few minutes."


class AuthorizationDeniedError(OAuthError):
    """The customer cancelled, or Ring refused the authorization (redirect with ``error=access_denied``)."""

    ERROR = "access_denied"
    hint = "The customer did not authorize the app; they can start Login with Ring again to grant access."


class UnknownOAuthError(OAuthError):
    hint = "Start Login with Ring again; " + _SUPPORT + "."


class StateMismatchError(OAuthError):
    """The redirect's ``state`` is not the one we sent: possibly a forged (CSRF) or stale redirect."""

    ERROR = "state_mismatch"
    hint = "Ignore this redirect and start Login with Ring again from this app."


class MissingAuthorizationCodeError(OAuthError):
    ERROR = "missing_code"
    hint = "The redirect carried neither a code nor an error; start Login with Ring again."


OAUTH_ERRORS: dict[str, type[OAuthError]] = {
    cls.ERROR: cls
    for cls in (
        InvalidRequestError,
        InvalidClientError,
        InvalidGrantError,
        UnauthorizedClientError,
        UnsupportedGrantTypeError,
        InvalidScopeError,
        UnsupportedResponseTypeError,
        OAuthServerError,
        TemporarilyUnavailableError,
        AuthorizationDeniedError,
    )
}


def oauth_error(
    error: str | None, description: str | None, *, status: int | None = None, context: str | None = None
) -> OAuthError:
    """The ``OAuthError`` subclass for an OAuth ``error`` code (``UnknownOAuthError`` for others)."""
    code = (error or "").strip()
    cls = OAUTH_ERRORS.get(code.lower(), UnknownOAuthError)
    return cls(code or None, redact(description) if description else None, status=status, context=context)


def oauth_error_from_response(
    status: int, body: bytes | str | Mapping[str, Any] | None, *, context: str | None = None
) -> PortabilityError:
    """An error answer of the token endpoint: an ``OAuthError`` for ``{"error": ...}`` bodies, else the API mapping
    (a gateway in front of it may answer in the API's format), else ``UnknownOAuthError``."""
    data = _parse_body(body)
    if data is not None and isinstance(data.get("error"), str):
        description = data.get("error_description")
        return oauth_error(
            data["error"], description if isinstance(description, str) else None, status=status, context=context
        )
    if data is not None and isinstance(data.get("type"), str):
        return error_from_response(status, data, context=context)
    return UnknownOAuthError(None, _snippet(body) or None, status=status, context=context)
