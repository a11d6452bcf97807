"""``BridgeSettings``: what a user sets through the bridge that Ring does not keep — a sensor's bypass mode, a
chime's snooze length, a light's on-duration — kept across restarts (ring-mqtt keeps the same in its state file).

One small JSON file beside the token file (``<token stem>.mqtt.json``, 0600, replaced atomically), or memory only
when there is no token file. ``{"version": 1, "values": {"<namespace>": {"<key>": value}}}``; values are short
strings or integers. A file that cannot be read (damaged, someone else's) is reported in one line and the bridge
starts from the defaults — a lost preference must never stop the bridge. Bounded: at most ``MAX_KEYS`` entries
(a hostile stream of new ids cannot grow it without end); the oldest go first. Each write re-reads the file under
``<file>.lock`` when another writer replaced it, so bridges sharing it merge their changes.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import filelock

from ringvault.transport.files import write_private_file

__all__ = ["MAX_KEYS", "BridgeSettings"]

log = logging.getLogger(__name__)

#: Entries kept in all (a home has a few hundred devices at most).
MAX_KEYS = 5000
#: The longest string value kept (a select option, a number written as text).
MAX_VALUE_CHARS = 200
_VERSION = 1
#: How long a write waits for another bridge's write of the same file.
_LOCK_WAIT_S = 10.0


def _storable(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**53
    return isinstance(value, str) and len(value) <= MAX_VALUE_CHARS


class BridgeSettings:
    """``get``/``set`` by namespace and key; ``path`` None keeps them in memory only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._values: dict[str, dict[str, str | int]] = {}
        self._lock = threading.Lock()
        self._written: tuple[int, int, int] | None = None  # the file as this instance last wrote it
        if path is not None:
            self._load(path)

    @classmethod
    def beside(cls, token_path: Path) -> BridgeSettings:
        """The settings kept beside a token file: ``<stem>.mqtt.json``."""
        stem = token_path.name.removesuffix(".json")
        return cls(token_path.with_name(f"{stem}.mqtt.json"))

    def _load(self, path: Path) -> None:
        self._values = _read(path) or {}

    def get(self, namespace: str, key: str) -> str | int | None:
        with self._lock:
            return self._values.get(namespace, {}).get(key)

    def set(self, namespace: str, key: str, value: str | int) -> None:
        """Keep ``value`` (and write the file); an unstorable value raises ``ValueError``. A file that cannot be
        written is one log line: the value is kept in memory for this run.

        The write merges: under a lock file beside it, the file is read again and only this key changes, so two
        bridges on one home (another base topic, another machine sharing the directory) keep each other's changes
        instead of the last writer's copy replacing everything."""
        if not _storable(value):
            raise ValueError(f"a bridge setting is a short string or an integer, not {type(value).__name__}")
        with self._lock:
            if self._values.get(namespace, {}).get(key) == value:
                return
            if self.path is None:
                _put(self._values, namespace, key, value)
                return
            try:
                with filelock.FileLock(f"{self.path}.lock", timeout=_LOCK_WAIT_S, mode=0o600):
                    if _identity(self.path) != self._written:  # another writer since ours (or never written)
                        current = _read(self.path)
                        if current is not None:  # (a damaged file: rewritten from what this bridge holds)
                            self._values = current
                    _put(self._values, namespace, key, value)
                    write_private_file(
                        self.path, json.dumps({"version": _VERSION, "values": self._values}, ensure_ascii=True)
                    )
                    self._written = _identity(self.path)
            except (OSError, filelock.Timeout) as exc:
                _put(self._values, namespace, key, value)
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                log.warning("MQTT settings cannot be saved to %s (%s); kept until the bridge stops", self.path, reason)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {namespace: dict(entries) for namespace, entries in self._values.items()}


Values = dict[str, dict[str, str | int]]


def _read(path: Path) -> Values | None:
    """The file's values (at most ``MAX_KEYS``, storable ones only); ``{}`` when there is no file yet; None (and one
    log line) when it cannot be read or is damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("MQTT settings %s cannot be read (%s); starting from the defaults", path, exc.strerror)
        return None
    try:
        doc = json.loads(text)
        values = doc["values"] if isinstance(doc, dict) else None
        if not isinstance(values, dict):
            raise ValueError("no values")
    except (ValueError, KeyError, TypeError):
        log.warning("MQTT settings %s are damaged; starting from the defaults (it is rewritten on the next change)",
                    path)  # fmt: skip
        return None
    found: Values = {}
    count = 0
    for namespace, entries in values.items():
        if not isinstance(namespace, str) or not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            if isinstance(key, str) and _storable(value) and count < MAX_KEYS:
                found.setdefault(namespace, {})[key] = value
                count += 1
    return found


def _put(values: Values, namespace: str, key: str, value: str | int) -> None:
    """Set one entry as the newest (re-inserted last), then drop the oldest beyond ``MAX_KEYS``."""
    entries = values.setdefault(namespace, {})
    entries.pop(key, None)
    entries[key] = value
    total = sum(len(group) for group in values.values())
    for group in values.values():
        while total > MAX_KEYS and group:
            group.pop(next(iter(group)))
            total -= 1


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Inode, size and modification time: a file replaced by another writer differs (atomic replace: new inode)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns
