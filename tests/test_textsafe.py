"""``ringvault.textsafe``: every control, bidi and separator character is shown as an escape; other text is kept."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ringvault.textsafe import SanitizingFilter, SanitizingFormatter, printable, printable_json

UNSAFE = [
    *(chr(c) for c in range(0x00, 0x20)),  # C0, tab and newline included
    "\x7f",  # DEL
    *(chr(c) for c in range(0x80, 0xA0)),  # C1 (0x9b is an 8-bit CSI)
    "\u061c",
    "\u200e",
    "\u200f",
    *(chr(c) for c in range(0x202A, 0x202F)),  # embeddings and overrides
    *(chr(c) for c in range(0x2066, 0x206A)),  # isolates
    "\u2028",
    "\u2029",
    "\ud800",  # a lone surrogate: cannot be encoded at all
    "\udfff",
]


@pytest.mark.parametrize("char", UNSAFE, ids=[f"U+{ord(c):04X}" for c in UNSAFE])
def test_each_unsafe_character_becomes_a_visible_escape(char: str) -> None:
    shown = printable(f"a{char}b")
    assert shown.startswith("a\\") and shown.endswith("b")
    assert char not in shown
    assert shown.isascii() and shown.isprintable()
    assert json.loads(printable_json(json.dumps(f"a{char}b", ensure_ascii=False))) == f"a{char}b"


def test_the_escapes_read_like_python() -> None:
    assert printable("x\x1b[2J\ty\r\nz\u202e\x9b") == "x\\x1b[2J\\ty\\r\\nz\\u202e\\x9b"


def test_ordinary_text_is_kept_as_is() -> None:
    for text in (
        "Front Door",
        "Café",
        "日本語のカメラ",
        "👨\u200d👩\u200d👧 family cam",
        "[bold]not markup[/bold]",
        "",
    ):
        assert printable(text) is text or printable(text) == text
    assert printable(1180591620717411303424) == "1180591620717411303424"


def test_json_stays_valid_and_equal() -> None:
    data = {"name": "Front\x7f\u202e\u2028\x9b\ud800 Café", "n": 1}
    text = json.dumps(data, ensure_ascii=False)
    clean = printable_json(text)
    assert json.loads(clean) == data
    assert "Café" in clean and "\\u202e" in clean and "\u202e" not in clean


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\x1b[2J\nvalue")
        except ValueError as err:
            exc_info = (type(err), err, err.__traceback__)
    return logging.LogRecord("ringvault.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_the_formatter_escapes_message_and_traceback_and_leaves_the_record() -> None:
    record = _record("device %s failed", "Front\x1b[2J\nerror: fake", exc=True)
    line = SanitizingFormatter("%(levelname)s %(message)s").format(record)
    assert line.startswith("WARNING device Front\\x1b[2J\\nerror: fake failed\nTraceback")
    assert line.endswith("ValueError: bad\\x1b[2J\\nvalue")  # the message is one line, whatever it quotes
    assert "\x1b" not in line
    assert record.args == ("Front\x1b[2J\nerror: fake",)  # other handlers still see Ring's text


def test_the_filter_on_a_handler_covers_every_child_logger() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SanitizingFilter())
    parent = logging.getLogger("ringvault.textsafe-test")
    parent.addHandler(handler)
    try:
        logging.getLogger("ringvault.textsafe-test.child.grandchild").warning("kind %s", "x\u202e\n\x07")
    finally:
        parent.removeHandler(handler)
    assert stream.getvalue() == "kind x\\u202e\\n\\x07\n"


def test_a_debug_traceback_keeps_its_frames_and_escapes_the_message() -> None:
    record = _record("sync failed", exc=True)
    text = SanitizingFormatter("%(message)s").format(record)
    lines = text.splitlines()
    assert lines[0] == "sync failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert any(line.startswith('  File "') for line in lines)
    assert lines[-1] == "ValueError: bad\\x1b[2J\\nvalue"


def test_exception_logged_outside_an_except_block() -> None:
    record = logging.LogRecord("ringvault.test", logging.ERROR, __file__, 1, "odd", None, (None, None, None))
    assert SanitizingFormatter("%(message)s").format(record) == "odd\nNoneType: None"
