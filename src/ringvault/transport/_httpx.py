"""httpx, imported without its command-line tool.

httpx's package ``__init__`` imports ``httpx._main`` — its command-line client, built on click, rich and pygments —
whenever those packages are installed, as they are beside typer: about 60 modules and 40 ms added to the start-up
of every ringvault command that talks to Ring, for a tool ringvault never runs. So before httpx is first imported,
a stand-in module takes ``httpx._main``'s place. ``httpx.main()`` keeps working: the stand-in loads the real module
when it is called. Once httpx was imported by anyone else first, nothing is changed.

Every module of this package imports httpx from here (``from ringvault.transport._httpx import httpx``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_CLI = "httpx._main"


def _cli_main(*args: Any, **kwargs: Any) -> Any:
    """``httpx.main``: load httpx's real command-line module (in place of the stand-in) and run it."""
    if getattr(sys.modules.get(_CLI), "__ringvault_stand_in__", False):
        del sys.modules[_CLI]
    return importlib.import_module(_CLI).main(*args, **kwargs)


def _install_cli_stand_in() -> None:
    if "httpx" in sys.modules or _CLI in sys.modules:
        return
    stand_in = types.ModuleType(_CLI, "Stands in for httpx's command-line module until it is used (ringvault).")
    stand_in.main = _cli_main  # type: ignore[attr-defined]
    stand_in.__ringvault_stand_in__ = True  # type: ignore[attr-defined]
    sys.modules[_CLI] = stand_in


_install_cli_stand_in()

import httpx  # noqa: E402  (after the stand-in, on purpose)

__all__ = ["httpx"]
