"""The Data Portability API's error table (seed 003, "Error Responses and Schemas"), verbatim.

Every error answer of the intake hosts is ``{"category", "type", "message"}`` with the table's HTTP status. The
type ``TOO_MANY_REQUESTS`` appears twice (category ``TOO_MANY_REQUESTS`` for the per-customer limits, ``THROTTLED``
for the application's limits), so an error is identified by its type and, where needed, its category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse, Response


@dataclass(frozen=True)
class DPErrorSpec:
    status: int
    category: str
    type: str
    message: str

    def body(self) -> dict[str, str]:
        return {"category": self.category, "type": self.type, "message": self.message}


_TABLE: tuple[DPErrorSpec, ...] = (
    DPErrorSpec(400, "BAD_REQUEST", "INVALID_PARAMETERS", "Parameters provided for this request are invalid"),
    DPErrorSpec(400, "BAD_REQUEST", "INVALID_MAX_RESULTS", "Max results value is outside limits"),
    DPErrorSpec(400, "BAD_REQUEST", "INVALID_NEXT_PAGE", "Invalid next page token"),
    DPErrorSpec(403, "FORBIDDEN", "ACCESS_DENIED", "App is not authorized to do this operation"),
    DPErrorSpec(403, "FORBIDDEN", "MISSING_ACCESS_TOKEN", "Access token not provided in request"),
    DPErrorSpec(403, "FORBIDDEN", "APP_NOT_ALLOWLISTED", "App is not allowlisted"),
    DPErrorSpec(403, "FORBIDDEN", "SCOPE_NOT_ENABLED", "Scope not enabled for app"),
    DPErrorSpec(403, "FORBIDDEN", "QUERY_NOT_COMPLETED", "Query is not completed"),
    DPErrorSpec(403, "FORBIDDEN", "ACCESS_TIME_ELAPSED", "Access time for this query has elapsed"),
    DPErrorSpec(403, "FORBIDDEN", "APP_IDENTIFICATION_FAILURE", "Failed to identify the app"),
    DPErrorSpec(403, "FORBIDDEN", "MISSING_AUTHORIZATION_HEADER", "Authorization header is missing or empty"),
    DPErrorSpec(403, "FORBIDDEN", "BLOCKED_REQUEST", "Request blocked for security reasons"),
    DPErrorSpec(404, "RESOURCE_NOT_FOUND", "SECURITY_PROFILE_NOT_FOUND", "Security profile id does not exist"),
    DPErrorSpec(404, "RESOURCE_NOT_FOUND", "QUERY_ID_NOT_FOUND", "Query id does not exist"),
    DPErrorSpec(404, "RESOURCE_NOT_FOUND", "SCOPE_ID_NOT_FOUND", "Scope id does not exist"),
    DPErrorSpec(404, "RESOURCE_NOT_FOUND", "RESOURCE_NOT_FOUND", "Invalid URI or unsupported method"),
    DPErrorSpec(409, "CONFLICT", "REQUEST_CONFLICT", "There is a conflicting request in progress"),
    DPErrorSpec(413, "CONTENT_TOO_LARGE", "REQUEST_TOO_LARGE", "Payload size limit exceeded"),
    DPErrorSpec(429, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS", "Requests rate limit exceeded"),
    DPErrorSpec(429, "TOO_MANY_REQUESTS", "QUOTA_EXCEEDED", "Daily quota exceeded"),
    DPErrorSpec(429, "THROTTLED", "TOO_MANY_REQUESTS", "Requests rate limit exceeded"),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "MISSING_PARAMETER", "Required parameter not provided in request"),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR", "Unexpected internal server exception"),
    DPErrorSpec(
        500,
        "INTERNAL_SERVER_ERROR",
        "BLANK_SECURITY_PROFILE_ID",
        "Security profile id is missing, empty or contains only whitespaces",
    ),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "INVALID_API_PATH", "Invalid API path"),
    DPErrorSpec(
        500, "INTERNAL_SERVER_ERROR", "BLANK_SCOPE_ID", "Scope id is missing, empty or contains only whitespaces"
    ),
    DPErrorSpec(
        500, "INTERNAL_SERVER_ERROR", "BLANK_CUSTOMER_ID", "Customer id missing, empty or contains only whitespaces"
    ),
    DPErrorSpec(
        500, "INTERNAL_SERVER_ERROR", "BLANK_QUERY_ID", "Query id is missing, empty or contains only whitespaces"
    ),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "API_CONFIGURATION_ERROR", "Failed to connect to server"),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "AUTHORIZATION_CONFIGURATION_ERROR", "Failed to authenticate the app"),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "AUTHORIZATION_FAILURE", "Failed to authenticate the app"),
    DPErrorSpec(500, "INTERNAL_SERVER_ERROR", "INTEGRATION_FAILURE", "Failed to connect to server"),
    DPErrorSpec(504, "GATEWAY_TIMEOUT", "INTEGRATION_TIMEOUT", "Request timed out"),
)

#: Every documented error, in the seed's order.
ERRORS: tuple[DPErrorSpec, ...] = _TABLE
_BY_KEY: dict[tuple[str, str], DPErrorSpec] = {(e.category, e.type): e for e in _TABLE}
_BY_TYPE: dict[str, DPErrorSpec] = {}
for _spec in _TABLE:
    _BY_TYPE.setdefault(_spec.type, _spec)  # TOO_MANY_REQUESTS -> the TOO_MANY_REQUESTS category


class UnknownErrorType(KeyError):
    """No documented error with this type (and category)."""


def spec(error_type: str, category: str | None = None) -> DPErrorSpec:
    """The documented error ``error_type`` (with ``category`` to pick between the two TOO_MANY_REQUESTS rows)."""
    found = _BY_KEY.get((category, error_type)) if category else _BY_TYPE.get(error_type)
    if found is None:
        raise UnknownErrorType(f"{category + '/' if category else ''}{error_type}")
    return found


class DPError(Exception):
    """An error answer of the Data Portability API; the intake routes turn it into its JSON response.

    ``answer`` replaces the table's row (an injected error that is not in the table, or a documented type at another
    status); ``raw`` sends that text instead of the JSON body (what a gateway's HTML error page looks like)."""

    def __init__(
        self,
        error_type: str,
        category: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        answer: DPErrorSpec | None = None,
        raw: str | None = None,
    ) -> None:
        self.spec = answer if answer is not None else spec(error_type, category)
        self.headers = headers or {}
        self.raw = raw
        super().__init__(f"{self.spec.status} {self.spec.type}")

    def response(self) -> Response:
        if self.raw is not None:
            return Response(self.raw, status_code=self.spec.status, headers=self.headers, media_type="text/html")
        return error_response(self.spec, self.headers)


def error_response(error: DPErrorSpec, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def fault_body(status: int) -> dict[str, Any]:
    """The body the generic fault knobs (rate limit, 5xx, 504) send on an intake host, in this API's shape."""
    if status == 429:
        return spec("TOO_MANY_REQUESTS").body()
    if status == 504:
        return spec("INTEGRATION_TIMEOUT").body()
    if status == 503:
        return spec("INTEGRATION_FAILURE").body()
    return spec("INTERNAL_SERVER_ERROR").body()
