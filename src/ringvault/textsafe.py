"""Text from Ring made safe to print: one sanitizer for every terminal line and every log record.

Ring hands us text that other people choose: device and location names (the owner of a shared doorbell names it for
every user it is shared with), event kinds, e-mail addresses, error messages. Printed raw, such a name can carry
terminal escape sequences (clear the screen, retitle the window, hide text), a newline that starts a fake
``error:`` line, or a bidi override that shows text reversed. ``printable`` replaces every such character with a
visible escape (``\\x1b``, ``\\n``, ``\\u202e``), so the reader sees that something odd is there and nothing acts on
the terminal. It is applied at output only: the archive keeps Ring's text as Ring sent it.

Replaced: C0 controls (U+0000-U+001F, tab and newline included), DEL (U+007F), C1 controls (U+0080-U+009F, which
some terminals treat like ESC), the bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the line
and paragraph separators (U+2028, U+2029), and lone surrogates (U+D800-U+DFFF, which cannot be encoded at all and
would otherwise end the command with a UnicodeEncodeError).

This module imports only the standard library: ``ringvault --help`` and every layer may use it.
"""

from __future__ import annotations

import copy
import logging
import re
import traceback
from types import TracebackType
from typing import Any

__all__ = ["SanitizingFilter", "SanitizingFormatter", "printable", "printable_json", "printable_traceback"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: object) -> str:
    """``text`` (any object, through ``str``) with every control, bidi and separator character shown as an escape.

    Plain text comes back unchanged (and without copying); the result is always one line."""
    value = text if isinstance(text, str) else str(text)
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_escape, value)


def printable_json(text: str) -> str:
    """A JSON document with the same characters escaped as JSON ``\\uXXXX`` escapes: still valid JSON that decodes
    to the same data. ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but leaves DEL, C1 controls, bidi
    overrides, U+2028/U+2029 and lone surrogates raw; those only ever occur inside JSON strings, so replacing them
    by their escapes never touches the document's structure."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_json_escape, text)


def _printable_lines(text: str) -> str:
    """A stack made printable line by line (its own newlines are kept)."""
    return "\n".join(printable(line) for line in text.split("\n"))


_STRUCTURE = ("Traceback", "  ", "\n", "[Previous line", "During handling", "The above exception")


def printable_traceback(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """A traceback whose frames keep their lines while every exception message (which may quote Ring's text) is
    one escaped line: a message cannot add a line of its own to a log."""
    chunks = traceback.TracebackException(*exc_info).format()
    text = "".join(
        _printable_lines(chunk) if chunk.startswith(_STRUCTURE) else printable(chunk.rstrip("\n")) + "\n"
        for chunk in chunks
    )
    return text.rstrip("\n")


def _exception_text(exc_info: Any) -> str:
    """``record.exc_info`` as printable text (``(None, None, None)`` when logged outside an ``except``)."""
    exc_type, exc, tb = exc_info
    if exc_type is None or exc is None:
        return _printable_lines(logging.Formatter().formatException(exc_info))
    return printable_traceback((exc_type, exc, tb))


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a broken format string is still logged, without its arguments
        return f"{record.msg!s} (unformattable arguments)"


class SanitizingFormatter(logging.Formatter):
    """A formatter whose lines carry no control characters: the message through ``printable``, a traceback line by
    line. The record itself is left as it is (other handlers of the same record see the original)."""

    def format(self, record: logging.LogRecord) -> str:
        clean = copy.copy(record)
        clean.msg = printable(_message(record))
        clean.args = None
        if record.exc_info:
            clean.exc_text = _exception_text(record.exc_info)
        elif clean.exc_text:
            clean.exc_text = _printable_lines(clean.exc_text)
        clean.exc_info = None
        if clean.stack_info:
            clean.stack_info = _printable_lines(clean.stack_info)
        return super().format(clean)


class SanitizingFilter(logging.Filter):
    """The same as a handler filter, for handlers whose formatter should stay (uvicorn's, a file handler's): it
    rewrites each record's message (formatted once, ``args`` cleared, as the HTTP layer's redacting filter does) and
    traceback. Attach it to a *handler*: a logger's own filters are not inherited by its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = printable(_message(record))
        record.args = None
        if record.exc_info:
            record.exc_text = _exception_text(record.exc_info)
        elif record.exc_text:
            record.exc_text = _printable_lines(record.exc_text)
        if record.stack_info:
            record.stack_info = _printable_lines(record.stack_info)
        return True
