"""Reading response bodies: JSON that may be hostile, and short descriptions of error bodies for messages."""

from __future__ import annotations

import json
from typing import Any

from ringvault.transport.errors import BodyFormatError
from ringvault.transport.redaction import redact


def media_type(content_type: str | None) -> str:
    """``text/html; charset=utf-8`` → ``text/html``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def type_matches(content_type: str | None, expected: str) -> bool:
    """Whether a served content type is the ``expected`` one (``image/`` or ``image/*`` match any image)."""
    actual = media_type(content_type)
    wanted = expected.strip().lower()
    if wanted.endswith("/*"):
        wanted = wanted[:-1]
    if wanted.endswith("/"):
        return actual.startswith(wanted)
    return actual == wanted


#: The deepest nesting accepted in a JSON body. Ring's documents nest a few levels (about 10); anything near Python's
#: recursion limit would crash whatever reads the document next (validation, copies, ``json.dumps`` of its raw form).
MAX_JSON_DEPTH = 100


def parse_json(content: bytes, *, what: str, content_type: str | None = None) -> Any:
    """The JSON document in ``content``; ``BodyFormatError`` (one line) when it is not one, is nested deeper than
    ``MAX_JSON_DEPTH``, or holds a number too long to convert (Python refuses integers over 4300 digits)."""
    try:
        data = json.loads(content)
    except RecursionError as err:
        raise BodyFormatError(what, f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)") from err
    except ValueError as err:
        if "integer string conversion" in str(err):
            raise BodyFormatError(what, "JSON with a number too large to read (over 4300 digits)") from err
        kind = media_type(content_type) or "no content type"
        raise BodyFormatError(what, f"{kind} that is not JSON") from err
    if _nested_deeper_than(data, MAX_JSON_DEPTH, content):
        raise BodyFormatError(what, f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return data


def json_or_none(content: bytes | str) -> Any:
    """The parsed JSON body, or None when the body is empty, not JSON, or too deep (for reading error answers)."""
    if not content:
        return None
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return None
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
    return None if _nested_deeper_than(data, MAX_JSON_DEPTH, raw) else data


def _nested_deeper_than(data: Any, limit: int, content: bytes) -> bool:
    """Whether ``data`` nests more than ``limit`` arrays/objects deep: level by level over the containers only (no
    recursion to exhaust; about a microsecond per event of a history page)."""
    if content.count(b"[") + content.count(b"{") <= limit:
        return False  # not enough brackets to nest that deep
    level: list[Any] = [data] if type(data) in (dict, list) else []
    depth = 1
    while level:
        deeper: list[Any] = []
        keep = deeper.append
        for item in level:
            for child in item.values() if type(item) is dict else item:
                kind = type(child)
                if kind is dict or kind is list:
                    keep(child)
        if not deeper:
            return False
        depth += 1
        if depth > limit:
            return True
        level = deeper
    return False


def error_detail(content: bytes, content_type: str | None) -> str:
    """A short, redacted description of an error body: its JSON error fields, "HTML page", or its first bytes."""
    data = json_or_none(content)
    if isinstance(data, dict):
        parts = [str(data[key]) for key in ("error", "error_description", "errors", "message") if data.get(key)]
        text = "; ".join(parts)
    else:
        html = "html" in (content_type or "").lower() or content.lstrip()[:1] == b"<"
        text = "HTML page" if html else content[:120].decode("utf-8", "replace").strip()
    return redact(text[:200])
