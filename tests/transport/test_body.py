"""Reading bodies that may be hostile: JSON nested too deeply, numbers too long, bodies that are not JSON."""

from __future__ import annotations

import json
import sys

import pytest

from ringvault.transport import BodyFormatError, json_or_none, parse_json
from ringvault.transport.body import MAX_JSON_DEPTH


def nested(depth: int, *, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


@pytest.mark.parametrize("depth", [100_000, sys.getrecursionlimit() + 10, MAX_JSON_DEPTH + 1])
def test_json_nested_too_deeply_is_one_line(depth: int) -> None:
    with pytest.raises(BodyFormatError) as info:
        parse_json(nested(depth), what="GET api.ring.com/clients_api/ring_devices")
    message = str(info.value)
    assert "\n" not in message and "nested too deeply" in message
    assert message.startswith("GET api.ring.com/clients_api/ring_devices answered")
    assert json_or_none(nested(depth)) is None  # error bodies too: read as "not JSON", never a crash


def test_mixed_nesting_is_counted_at_any_position() -> None:
    inner = "".join('{"a": [' for _ in range(MAX_JSON_DEPTH)) + "1" + "]}" * MAX_JSON_DEPTH
    document = '{"ok": [1, 2, {"x": "[[[[[[["}], "deep": ' + inner + "}"  # brackets inside strings do not count
    with pytest.raises(BodyFormatError, match="nested too deeply"):
        parse_json(document.encode(), what="GET x")


def test_documents_up_to_the_limit_are_read() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH), what="GET x") == json.loads(nested(MAX_JSON_DEPTH))
    page = [{"id": 7212345678901234567 + n, "doorbot": {"id": 1}, "cv": {"a": [1, {"b": [2]}]}} for n in range(300)]
    assert parse_json(json.dumps(page).encode(), what="GET x") == page  # many brackets, little depth: kept exactly


def test_a_number_too_long_to_read_is_one_line() -> None:
    with pytest.raises(BodyFormatError) as info:
        parse_json(b'{"id": ' + b"7" * 5000 + b"}", what="GET x")
    assert "number too large" in str(info.value) and "\n" not in str(info.value)


def test_a_body_that_is_not_json_names_its_content_type() -> None:
    with pytest.raises(BodyFormatError, match="text/html that is not JSON"):
        parse_json(b"<html>maintenance</html>", what="GET x", content_type="text/html; charset=utf-8")
