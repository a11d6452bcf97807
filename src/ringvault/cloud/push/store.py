"""Where the push listener keeps what must survive a restart: the FCM credentials and the ids already delivered.

Both files sit beside the token file (``<token stem>.push.json`` and ``<token stem>.push-seen.json``), written like
the token itself: atomically (``write_private_file``: 0600 temporary file, fsync, rename), in a 0700 directory when we
create it. Without the credentials every start is a new registration with Google, and Ring pushes to the old token
until it learns the new one (reference §8.1); without the delivered ids a restart replays what MCS still holds.

One process at a time receives push for a login: Ring keeps one push token per client (the token file's hardware
id), so a second listener on the same files would take the token from the first, and both would write the same
delivered-ids file. ``PushStore.try_lock()`` takes ``<token stem>.push.lock`` (an OS file lock, released when the
process ends, even by SIGKILL); a process that cannot take it polls history instead and writes nothing here.

Reading never raises: a missing file is a first start, a corrupt one is reported in one line and replaced by a new
registration. The credentials are secrets: every one of them is registered with ``register_secret`` when loaded or
saved, so no log line can show them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ringvault.transport.files import ensure_private_dir, write_private_file
from ringvault.transport.redaction import register_secret

__all__ = ["PushStore", "SeenIds", "register_credential_secrets"]

log = logging.getLogger(__name__)

FILE_VERSION = 1
#: Delivered ids kept (in memory and on disk): MCS re-sends only what it holds unacknowledged, a few at a time.
SEEN_PERSISTENT_IDS = 500
SEEN_EVENT_KEYS = 2000


def register_credential_secrets(credentials: Mapping[str, Any]) -> None:
    """Register every secret of a firebase-messaging credentials blob (keys, GCM security token and android id,
    FCM token, installation tokens) so that ``redact`` masks it wherever it might appear."""
    for section, names in (
        ("keys", ("private", "secret", "public")),
        ("gcm", ("token", "security_token", "android_id", "app_id")),
    ):
        values = credentials.get(section)
        if isinstance(values, Mapping):
            for name in names:
                _register(values.get(name))
    fcm = credentials.get("fcm")
    if isinstance(fcm, Mapping):
        registration = fcm.get("registration")
        if isinstance(registration, Mapping):
            _register(registration.get("token"))
            _register(registration.get("name"))
            web = registration.get("web")
            if isinstance(web, Mapping):
                for name in ("endpoint", "p256dh", "auth"):
                    _register(web.get(name))
        installation = fcm.get("installation")
        if isinstance(installation, Mapping):
            for name in ("token", "refresh_token", "fid"):
                _register(installation.get(name))
    gcm = credentials.get("gcm")
    if isinstance(gcm, Mapping):
        android_id = gcm.get("android_id")
        with contextlib.suppress(ValueError):
            _register(f"{int(str(android_id)):x}")  # MCS logs in as "android-<hex android id>"


def _register(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and len(value) >= 8:  # short values (e.g. "1") would mask unrelated text
        register_secret(value)


class SeenIds:
    """A bounded, insertion-ordered set: the oldest ids fall out first."""

    def __init__(self, limit: int, items: Iterable[str] = ()) -> None:
        self.limit = limit
        self._items: OrderedDict[str, None] = OrderedDict()
        for item in items:
            self.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: str) -> bool:
        """Add ``item``; False when it was already there."""
        if item in self._items:
            return False
        self._items[item] = None
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        return True

    def items(self) -> list[str]:
        return list(self._items)


class PushStore:
    """The push listener's two files for one token file (``PushStore.beside(token_path)``), or a directory-less
    in-memory store (``PushStore(None)``) that forgets everything when the process ends."""

    def __init__(self, credentials_path: Path | None, seen_path: Path | None = None) -> None:
        self.credentials_path = credentials_path
        self.seen_path = seen_path
        self._memory: dict[str, Any] | None = None
        self._memory_saved_at: float | None = None
        self._lock: FileLock | None = None

    @classmethod
    def beside(cls, token_path: Path) -> PushStore:
        token_path = Path(token_path)
        stem = token_path.name[: -len(token_path.suffix)] if token_path.suffix else token_path.name
        return cls(token_path.with_name(f"{stem}.push.json"), token_path.with_name(f"{stem}.push-seen.json"))

    @property
    def lock_path(self) -> Path | None:
        """The file whose lock says which process receives push for these credentials (None: in memory)."""
        if self.credentials_path is None:
            return None
        name = self.credentials_path.name
        stem = name[: -len(".json")] if name.endswith(".json") else name
        return self.credentials_path.with_name(f"{stem}.lock")

    def try_lock(self) -> bool:
        """Take the lock of these credentials for this process without waiting; False when another process (or
        another store in this one) holds it. An in-memory store is always free."""
        path = self.lock_path
        if path is None:
            return True
        if self._lock is None:
            ensure_private_dir(path.parent)
            self._lock = FileLock(str(path), mode=0o600, thread_local=False)
        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release_lock(self) -> None:
        if self._lock is not None and self._lock.is_locked:
            self._lock.release(force=True)

    def __repr__(self) -> str:
        return f"PushStore({str(self.credentials_path) if self.credentials_path else 'in memory'!r})"

    # -- credentials -----------------------------------------------------------------------------------------
    def load_credentials(self, cloud_url: str | None) -> dict[str, Any] | None:
        """The stored credentials for this cloud (Ring's, or one simulator), or None: no file, a corrupt file (one
        warning line) or credentials registered with another cloud (an info line); either way the caller registers
        anew."""
        if self.credentials_path is None:
            return self._memory
        doc = self._read(self.credentials_path, "push credentials")
        if doc is None:
            return None
        credentials = doc.get("credentials")
        if not _credentials_complete(credentials):
            log.warning("push credentials file %s is incomplete; registering with FCM anew", self.credentials_path)
            return None
        assert isinstance(credentials, dict)
        register_credential_secrets(credentials)
        if doc.get("cloud_url") != cloud_url:
            log.info("push credentials in %s belong to another cloud URL; registering anew", self.credentials_path)
            return None
        return credentials

    def save_credentials(self, credentials: Mapping[str, Any], cloud_url: str | None) -> None:
        """Store ``credentials`` (what firebase-messaging's ``credentials_updated_callback`` hands over)."""
        register_credential_secrets(credentials)
        if self.credentials_path is None:
            self._memory = dict(credentials)
            self._memory_saved_at = time.time()
            return
        doc = {
            "version": FILE_VERSION,
            "cloud_url": cloud_url,
            "saved_at": time.time(),
            "credentials": dict(credentials),
        }
        self._write(self.credentials_path, doc, "push credentials")

    def registered_at(self) -> float | None:
        """When the stored credentials were saved (epoch seconds): the time of the FCM registration in use, since
        the library hands credentials over only when it registers. None without credentials (or a corrupt file)."""
        if self.credentials_path is None:
            return self._memory_saved_at if self._memory is not None else None
        doc = self._read(self.credentials_path, "push credentials")
        saved_at = doc.get("saved_at") if doc is not None else None
        if isinstance(saved_at, int | float) and not isinstance(saved_at, bool):
            return float(saved_at)
        return None

    # -- delivered ids ---------------------------------------------------------------------------------------
    def load_seen(self) -> tuple[SeenIds, SeenIds]:
        """``(persistent_ids, event_keys)`` already delivered; empty after a missing or corrupt file."""
        persistent = SeenIds(SEEN_PERSISTENT_IDS)
        keys = SeenIds(SEEN_EVENT_KEYS)
        if self.seen_path is None:
            return persistent, keys
        doc = self._read(self.seen_path, "push delivery record") or {}
        for name, target in (("persistent_ids", persistent), ("event_keys", keys)):
            values = doc.get(name)
            if isinstance(values, list):
                for value in values:
                    if isinstance(value, str):
                        target.add(value)
        return persistent, keys

    def save_seen(self, persistent: SeenIds, keys: SeenIds) -> None:
        if self.seen_path is None:
            return
        doc = {"version": FILE_VERSION, "persistent_ids": persistent.items(), "event_keys": keys.items()}
        self._write(self.seen_path, doc, "push delivery record")

    # -- files -----------------------------------------------------------------------------------------------
    @staticmethod
    def _read(path: Path, what: str) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            log.warning("cannot read the %s file %s (%s); starting without it", what, path, _reason(err))
            return None
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            log.warning("%s file %s is corrupt (not JSON); starting without it", what, path)
            return None
        if not isinstance(doc, dict):
            log.warning("%s file %s is corrupt (not a JSON object); starting without it", what, path)
            return None
        return doc

    @staticmethod
    def _write(path: Path, doc: Mapping[str, Any], what: str) -> None:
        try:
            ensure_private_dir(path.parent)
            write_private_file(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        except OSError as err:
            log.warning("cannot write the %s file %s: %s", what, path, _reason(err))


def _reason(err: Exception) -> str:
    return (getattr(err, "strerror", None) or type(err).__name__) if isinstance(err, OSError) else type(err).__name__


def _credentials_complete(credentials: Any) -> bool:
    """The parts firebase-messaging reads: ``gcm.android_id/security_token/app_id``, ``keys.private/secret``,
    ``fcm.registration.token``."""
    if not isinstance(credentials, dict):
        return False
    gcm, keys, fcm = credentials.get("gcm"), credentials.get("keys"), credentials.get("fcm")
    if not (isinstance(gcm, dict) and isinstance(keys, dict) and isinstance(fcm, dict)):
        return False
    registration = fcm.get("registration")
    return (
        all(gcm.get(name) not in (None, "") for name in ("android_id", "security_token", "app_id"))
        and all(isinstance(keys.get(name), str) and keys.get(name) for name in ("private", "secret"))
        and isinstance(registration, dict)
        and isinstance(registration.get("token"), str)
        and bool(registration.get("token"))
    )
