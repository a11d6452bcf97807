"""Every documented error type maps to its own class, keeping status, category, type and message."""

from __future__ import annotations

import json

import pytest

from ringvault.cloud.errors import RingError
from ringvault.portability import errors as e

ISE = "INTERNAL_SERVER_ERROR"

# (HTTP status, category, type, expected class, expected category base) — our own table of the seed's error list.
DOCUMENTED: list[tuple[int, str, str, type[e.PortabilityError], type[e.PortabilityError]]] = [
    (400, "BAD_REQUEST", "INVALID_PARAMETERS", e.InvalidParametersError, e.BadRequestError),
    (400, "BAD_REQUEST", "INVALID_MAX_RESULTS", e.InvalidMaxResultsError, e.BadRequestError),
    (400, "BAD_REQUEST", "INVALID_NEXT_PAGE", e.InvalidNextPageError, e.BadRequestError),
    (403, "FORBIDDEN", "ACCESS_DENIED", e.AccessDeniedError, e.ForbiddenError),
    (403, "FORBIDDEN", "MISSING_ACCESS_TOKEN", e.MissingAccessTokenError, e.ForbiddenError),
    (403, "FORBIDDEN", "APP_NOT_ALLOWLISTED", e.AppNotAllowlistedError, e.ForbiddenError),
    (403, "FORBIDDEN", "SCOPE_NOT_ENABLED", e.ScopeNotEnabledError, e.ForbiddenError),
    (403, "FORBIDDEN", "QUERY_NOT_COMPLETED", e.QueryNotCompletedError, e.ForbiddenError),
    (403, "FORBIDDEN", "ACCESS_TIME_ELAPSED", e.AccessTimeElapsedError, e.ForbiddenError),
    (403, "FORBIDDEN", "APP_IDENTIFICATION_FAILURE", e.AppIdentificationFailureError, e.ForbiddenError),
    (403, "FORBIDDEN", "MISSING_AUTHORIZATION_HEADER", e.MissingAuthorizationHeaderError, e.ForbiddenError),
    (403, "FORBIDDEN", "BLOCKED_REQUEST", e.BlockedRequestError, e.ForbiddenError),
    (404, "RESOURCE_NOT_FOUND", "SECURITY_PROFILE_NOT_FOUND", e.SecurityProfileNotFoundError, e.NotFoundError),
    (404, "RESOURCE_NOT_FOUND", "QUERY_ID_NOT_FOUND", e.QueryIdNotFoundError, e.NotFoundError),
    (404, "RESOURCE_NOT_FOUND", "SCOPE_ID_NOT_FOUND", e.ScopeIdNotFoundError, e.NotFoundError),
    (404, "RESOURCE_NOT_FOUND", "RESOURCE_NOT_FOUND", e.ResourceNotFoundError, e.NotFoundError),
    (409, "CONFLICT", "REQUEST_CONFLICT", e.RequestConflictError, e.ConflictError),
    (413, "CONTENT_TOO_LARGE", "REQUEST_TOO_LARGE", e.RequestTooLargeError, e.ContentTooLargeError),
    (429, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS", e.TooManyRequestsError, e.RateLimitError),
    (429, "THROTTLED", "TOO_MANY_REQUESTS", e.TooManyRequestsError, e.RateLimitError),
    (429, "TOO_MANY_REQUESTS", "QUOTA_EXCEEDED", e.QuotaExceededError, e.RateLimitError),
    (500, ISE, "MISSING_PARAMETER", e.MissingParameterError, e.ServerError),
    (500, ISE, "INTERNAL_SERVER_ERROR", e.InternalServerError, e.ServerError),
    (500, ISE, "BLANK_SECURITY_PROFILE_ID", e.BlankSecurityProfileIdError, e.ServerError),
    (500, ISE, "INVALID_API_PATH", e.InvalidApiPathError, e.ServerError),
    (500, ISE, "BLANK_SCOPE_ID", e.BlankScopeIdError, e.ServerError),
    (500, ISE, "BLANK_CUSTOMER_ID", e.BlankCustomerIdError, e.ServerError),
    (500, ISE, "BLANK_QUERY_ID", e.BlankQueryIdError, e.ServerError),
    (500, ISE, "API_CONFIGURATION_ERROR", e.ApiConfigurationError, e.ServerError),
    (500, ISE, "AUTHORIZATION_CONFIGURATION_ERROR", e.AuthorizationConfigurationError, e.ServerError),
    (500, ISE, "AUTHORIZATION_FAILURE", e.AuthorizationFailureError, e.ServerError),
    (500, ISE, "INTEGRATION_FAILURE", e.IntegrationFailureError, e.ServerError),
    (504, "GATEWAY_TIMEOUT", "INTEGRATION_TIMEOUT", e.IntegrationTimeoutError, e.GatewayTimeoutError),
]


@pytest.mark.parametrize(("status", "category", "type_", "cls", "base"), DOCUMENTED, ids=lambda v: str(v))
def test_each_documented_error_maps_to_its_class(
    status: int, category: str, type_: str, cls: type[e.PortabilityError], base: type[e.PortabilityError]
) -> None:
    body = json.dumps({"category": category, "type": type_, "message": f"message for {type_}"}).encode()
    err = e.error_from_response(status, body, context="GET intake/records")
    assert type(err) is cls
    assert isinstance(err, base) and isinstance(err, RingError)
    assert (err.status, err.category, err.type, err.message) == (status, category, type_, f"message for {type_}")
    assert err.hint and "\n" not in err.hint
    assert err.hint in err.one_line
    assert str(err).startswith("GET intake/records: HTTP ")
    # the seed: "429, 500, or 504" (a daily quota is not worth seconds of waiting), and BLOCKED_REQUEST "Retry the
    # request"
    assert err.retryable is ((status in (429, 500, 504) and type_ != "QUOTA_EXCEEDED") or type_ == "BLOCKED_REQUEST")


def test_the_table_covers_every_class_and_nothing_else() -> None:
    assert {row[2] for row in DOCUMENTED} == set(e.ERROR_TYPES)
    assert len({row[3] for row in DOCUMENTED}) == len(e.ERROR_TYPES) == 32


def test_throttled_category_is_told_apart() -> None:
    throttled = e.error_from_response(429, {"category": "THROTTLED", "type": "TOO_MANY_REQUESTS", "message": "m"})
    rate = e.error_from_response(429, {"category": "TOO_MANY_REQUESTS", "type": "TOO_MANY_REQUESTS", "message": "m"})
    assert isinstance(throttled, e.TooManyRequestsError) and throttled.throttled
    assert isinstance(rate, e.TooManyRequestsError) and not rate.throttled


def test_class_defaults_are_the_documented_values() -> None:
    err = e.QueryNotCompletedError()
    assert (err.status, err.category, err.type) == (403, "FORBIDDEN", "QUERY_NOT_COMPLETED")
    assert err.message == "Query is not completed"


def test_unknown_type_keeps_what_the_service_said() -> None:
    err = e.error_from_response(418, b'{"category": "TEAPOT", "type": "BREWING", "message": "short and stout"}')
    assert type(err) is e.UnknownPortabilityError
    assert (err.status, err.category, err.type, err.message) == (418, "TEAPOT", "BREWING", "short and stout")
    assert "Technical Issues" in err.hint


def test_lower_case_type_still_maps() -> None:
    assert isinstance(e.error_from_response(409, {"type": "request_conflict"}), e.RequestConflictError)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b"upstream connect error", "upstream connect error"),
        (b"", ""),
        (b"[1, 2]", ""),
    ],
)
def test_bodies_that_are_not_the_documented_json(body: bytes, fragment: str) -> None:
    err = e.error_from_response(502, body)
    assert type(err) is e.UnknownPortabilityError
    assert err.status == 502 and err.type is None
    assert fragment in str(err)


def test_secrets_in_error_bodies_are_redacted() -> None:
    err = e.error_from_response(400, b'{"type": "NOPE", "message": "bad token access_token=abcdefgh123"}')
    assert "abcdefgh123" not in str(err)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("invalid_request", e.InvalidRequestError),
        ("invalid_client", e.InvalidClientError),
        ("invalid_grant", e.InvalidGrantError),
        ("unauthorized_client", e.UnauthorizedClientError),
        ("unsupported_grant_type", e.UnsupportedGrantTypeError),
        ("invalid_scope", e.InvalidScopeError),
        ("unsupported_response_type", e.UnsupportedResponseTypeError),
        ("server_error", e.OAuthServerError),
        ("temporarily_unavailable", e.TemporarilyUnavailableError),
        ("access_denied", e.AuthorizationDeniedError),
        ("something_new", e.UnknownOAuthError),
    ],
)
def test_oauth_errors_map_to_their_classes(code: str, cls: type[e.OAuthError]) -> None:
    err = e.oauth_error_from_response(400, {"error": code, "error_description": "why it failed"})
    assert type(err) is cls
    assert isinstance(err, e.OAuthError)
    assert err.error == code and err.error_description == "why it failed"
    assert err.status == 400 and err.hint


def test_token_endpoint_answering_in_the_api_format_maps_to_the_api_class() -> None:
    err = e.oauth_error_from_response(429, {"category": "THROTTLED", "type": "TOO_MANY_REQUESTS", "message": "m"})
    assert isinstance(err, e.TooManyRequestsError)


def test_token_endpoint_answering_garbage_is_an_unknown_oauth_error() -> None:
    err = e.oauth_error_from_response(500, b"<html>oops</html>")
    assert type(err) is e.UnknownOAuthError and err.status == 500


def _all_error_classes() -> list[type[e.PortabilityError]]:
    found: list[type[e.PortabilityError]] = []
    pending: list[type[e.PortabilityError]] = [e.PortabilityError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == e.__name__]


def test_retryable_is_truthful_on_every_error_class() -> None:
    """What ``retryable`` says is what the client does (``RetryPolicy.should_retry``), and it follows the seed: 429
    but not a daily quota, every 5xx, BLOCKED_REQUEST, any undocumented type; nothing without a status (those are
    our own failures, already retried where that made sense)."""
    from ringvault.portability.http import RetryPolicy

    policy = RetryPolicy()
    classes = _all_error_classes()
    assert len(classes) > 50
    for cls in classes:
        err = cls() if not issubclass(cls, e.OAuthError) else cls("x", "y")
        expected = (
            cls is e.UnknownPortabilityError
            or cls is e.BlockedRequestError
            or (
                err.status is not None
                and (err.status == 429 or 500 <= err.status <= 599)
                and cls is not e.QuotaExceededError
            )
        )
        assert err.retryable is expected, cls.__name__
        assert policy.should_retry(err, idempotent=False) is expected, cls.__name__
    assert e.UnknownPortabilityError(status=400).retryable and e.UnknownPortabilityError(status=503).retryable
    assert e.IntegrationFailureError(status=503).retryable and e.DownloadError("x", status=503).retryable
    assert not e.PresignedUrlExpiredError("x", status=403).retryable


def test_the_reasons_a_customer_waits_on() -> None:
    codes = {
        e.RequestConflictError: "conflict",
        e.QuotaExceededError: "daily_quota",
        e.DailyQuotaReachedError: "daily_quota",
        e.AccessTimeElapsedError: "listing_window",
        e.TooManyRequestsError: "throttled",
        e.InternalServerError: "ring_failing",
        e.BlockedRequestError: "ring_failing",
    }
    for cls, code in codes.items():
        reason = cls().wait_reason
        assert reason is not None and reason.code == code and reason is e.WAIT_REASONS[code], cls.__name__
        assert reason.text and "\n" not in reason.text
    assert e.ScopeNotEnabledError().wait_reason is None and e.PortabilityUnreachableError("x").wait_reason is None


def test_only_an_elapsed_listing_window_makes_a_query_dead() -> None:
    assert e.is_query_dead(e.AccessTimeElapsedError())
    try:
        try:
            raise e.AccessTimeElapsedError()
        except e.AccessTimeElapsedError as inner:
            raise e.PortabilityError("export x failed") from inner
    except e.PortabilityError as outer:
        assert e.is_query_dead(outer)
    for alive in (e.QueryNotCompletedError(), e.RequestConflictError(), e.QueryIdNotFoundError(), ValueError("x")):
        assert not e.is_query_dead(alive)
