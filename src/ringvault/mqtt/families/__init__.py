"""The device families of the bridge, one module each, discovered like the web UI's pages: a module here that defines
``make_family(options) -> Family`` is a family (so adding one touches no shared file). ``ORDER`` in a module (an int,
default 100) orders the families: devices that others name as ``via`` (the bridge, base stations) come first."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringvault.mqtt.model import Family
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["default_families", "family_modules"]


def family_modules() -> list[str]:
    """The names of the family modules, in ``ORDER``."""
    found: list[tuple[int, str]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "make_family", None)):
            found.append((int(getattr(module, "ORDER", 100)), info.name))
    return [name for _, name in sorted(found)]


def default_families(options: BridgeOptions) -> list[Family]:
    """One instance of every family."""
    families: list[Family] = []
    for name in family_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        families.append(module.make_family(options))
    return families
