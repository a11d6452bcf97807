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


def parse_json(content: bytes, *, what: str, content_type: str | None = None) -> Any:
    """The JSON document in ``content``; ``BodyFormatError`` (one line) when it is not one."""
    try:
        return json.loads(content)
    except ValueError as err:
        kind = media_type(content_type) or "no content type"
        raise BodyFormatError(what, f"{kind} that is not JSON") from err


def json_or_none(content: bytes) -> Any:
    """The parsed JSON body, or None when the body is empty or not JSON (for reading error answers)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


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
