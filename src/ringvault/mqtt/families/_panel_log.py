"""Who last armed, disarmed or cleared the alarm, and when: the security panel's attributes ``last_armed_by`` /
``last_armed_at``, ``last_disarmed_by`` / ``last_disarmed_at``, ``alarm_cleared_by`` / ``alarm_cleared_at``
(ring-mqtt security-panel.js keeps the same as ``lastArmedBy`` ...). Ring says it in the panel's updates: their
impulses (``security-panel.mode-switched.some|all`` or ``security-panel.exit-delay`` = armed,
``security-panel.mode-switched.none`` = disarmed, ``security-panel.alarm-cleared``) and the frame's ``context``
(``initiatingEntityName``, else ``initiatingEntityType``; ``eventOccurredTsMs``). At start the panel's newest
``rs/history`` items fill what no live update has said yet (one request per alarm location, as ring-mqtt reads it
with ``affectedId``)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ringvault.cloud.hub.device import Impulse, context_of, impulses_of
from ringvault.mqtt.families._hub import clean

__all__ = ["PanelLog", "impulse_action"]

_ACTIONS = (
    ("armed", re.compile(r"security-panel\.(?:mode-switched\.(?:some|all)|exit-delay)")),
    ("disarmed", re.compile(r"security-panel\.mode-switched\.none")),
    ("cleared", re.compile(r"security-panel\.alarm-cleared")),
)
_KEYS = {"armed": "last_armed", "disarmed": "last_disarmed", "cleared": "alarm_cleared"}


def impulse_action(kind: str) -> str | None:
    """``armed``, ``disarmed`` or ``cleared`` for a panel impulse type; None for any other."""
    for action, pattern in _ACTIONS:
        if pattern.fullmatch(kind):
            return action
    return None


def _iso(at_ms: int | None) -> str:
    seconds = at_ms / 1000 if at_ms is not None else time.time()
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class PanelLog:
    """The last of each action: ``action -> (by, ISO time)``."""

    last: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def seen(self, impulse: Impulse) -> bool:
        """Record a live impulse of the panel; True when it was one of the three actions."""
        action = impulse_action(impulse.kind)
        if action is None:
            return False
        self.last[action] = (clean(impulse.by, 100) if impulse.by else None, _iso(impulse.at_ms))
        return True

    def seed(self, items: Iterable[Mapping[str, Any]]) -> bool:
        """Fill, from history items (newest first), each action no live impulse has set; True when any was."""
        filled = False
        for item in items:
            if not isinstance(item, Mapping):
                continue
            body = item.get("body")
            docs = body if isinstance(body, list) else []
            by, at_ms = context_of(item.get("context"))
            for doc in docs[:8]:
                if not isinstance(doc, Mapping):
                    continue
                for kind in impulses_of(doc):
                    action = impulse_action(kind)
                    if action is not None and action not in self.last:
                        self.last[action] = (clean(by, 100) if by else None, _iso(at_ms))
                        filled = True
        return filled

    def attributes(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for action, prefix in _KEYS.items():
            by, at = self.last.get(action, (None, None))
            found[f"{prefix}_by"] = by
            found[f"{prefix}_at"] = at
        return found
