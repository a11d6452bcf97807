"""API keys in query strings and headers are masked like every other secret (``ringvault serve``'s access log runs
each request line through ``redact``)."""

from __future__ import annotations

import logging

import pytest

from ringvault.transport import RedactingFilter, redact

KEY = "s3cr3t-Key_0123"


@pytest.mark.parametrize(
    "line",
    [
        f"GET /api/events?api_key={KEY}&limit=5 HTTP/1.1",
        f"GET /api/events?limit=5&key={KEY}",
        f"/api/media/7?apikey={KEY}",
        f"/api/sync?API-KEY={KEY}&kind=ding",
        f'{{"api_key": "{KEY}"}}',
        f"{{'x-api-key': '{KEY}'}}",
        f"X-API-Key: {KEY}",
    ],
)
def test_api_keys_are_masked(line: str) -> None:
    masked = redact(line)
    assert KEY not in masked and "***" in masked


def test_parameters_that_only_look_like_keys_are_kept() -> None:
    line = "/api/events?keyword=door&monkey=banana&X-Amz-Expires=3600&key_frame=1"
    assert redact(line) == line


def test_a_log_record_with_the_key_in_its_arguments_is_masked() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s %s", ("GET", f"/?key={KEY}"), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "GET /?key=***"
