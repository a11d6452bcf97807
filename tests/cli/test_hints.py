"""Every ``ringvault ...`` command that a hint or message tells the user to run exists (with its options)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

import ringvault
from ringvault.cli import app

SRC = Path(ringvault.__file__).parent
#: `ringvault words...` inside backquotes: the way hints and messages name a command.
MENTION = re.compile(r"`ringvault((?: [^`\s]+)*)")


def _mentions() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for path in sorted(SRC.rglob("*.py")):
        for match in MENTION.finditer(path.read_text(encoding="utf-8")):
            found.append((f"{path.relative_to(SRC)}: {match.group(0)}`", match.group(1).split()))
    return found


def _resolve(words: list[str]) -> None:
    """Walk the words through the command tree; options must exist on the command they follow."""
    command: Any = typer.main.get_command(app)
    for word in words:
        if word.startswith("-"):
            options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
            assert word.split("=")[0] in options | {"--help"}, f"{word} is no option of {command.name}"
        elif re.fullmatch("[a-z][a-z-]*", word) and isinstance(getattr(command, "commands", None), dict):
            assert word in command.commands, f"{word} is no command of {command.name or 'ringvault'}"
            command = command.commands[word]
        else:
            break  # an argument (a device name, a URL, a placeholder such as ...)


def test_every_command_named_in_a_hint_exists() -> None:
    mentions = _mentions()
    assert len(mentions) > 20  # the scan found the hints
    for where, words in mentions:
        try:
            _resolve(words)
        except AssertionError as err:
            raise AssertionError(f"{where}: {err}") from None
