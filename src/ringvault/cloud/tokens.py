"""The token file: Ring's refresh token, our hardware id, and the current access token.

Ring rotates the refresh token on every refresh, so a lost rotation means a new 2FA login. The store therefore
writes atomically (temp file in the same directory, fsync, ``os.replace``), keeps the file private (0600 from
creation, directory 0700 when we create it) and offers a cross-process lock so several ringvault processes can
share one file without losing a rotation.

File format (JSON, ``version`` 1)::

    {"version": 1, "hardware_id": "...", "refresh_token": "...", "access_token": "...", "expires_at": 1700000000.0,
     "email": "user@example.com", "updated_at": 1700000000.0}

The hardware id is stored even before the first login (``refresh_token`` is then null), so repeated logins reuse it
and do not add entries to Ring's Control Center.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import AsyncFileLock, FileLock

from ringvault.cloud.errors import RingError
from ringvault.transport.files import ensure_private_dir, write_private_file

FILE_VERSION = 1
LOCK_TIMEOUT_S = 60.0


SESSION_KEY = "session_created_at"


class TokenFileError(RingError):
    """The token file exists but cannot be read or written."""

    hint = "Delete the token file and run `ringvault login` again."


@dataclass
class StoredToken:
    """What the token file holds for one login."""

    refresh_token: str
    hardware_id: str
    access_token: str | None = None
    expires_at: float | None = None
    email: str | None = None
    updated_at: float = field(default_factory=time.time)

    def access_token_valid(self, *, margin_s: float = 60.0, now: float | None = None) -> bool:
        """True when the stored access token exists and expires more than ``margin_s`` from now."""
        if not self.access_token or self.expires_at is None:
            return False
        return self.expires_at - margin_s > (time.time() if now is None else now)


def parse_refresh_token(value: str) -> tuple[str, str | None]:
    """Split a refresh token into ``(ring_refresh_token, hardware_id | None)``.

    Accepts the form ring-client-api exports (``base64(JSON {"rt": ..., "hid": ...})``) and falls back to the raw
    string, as ring-client-api itself does.
    """
    raw = value.strip()
    try:
        padded = raw + "=" * (-len(raw) % 4)
        decoded = base64.b64decode(padded, validate=True).decode("utf-8")
        data = json.loads(decoded)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return raw, None
    if isinstance(data, dict) and isinstance(data.get("rt"), str) and data["rt"]:
        hid = data.get("hid")
        return data["rt"], hid if isinstance(hid, str) and hid else None
    return raw, None


class TokenStore:
    """A private JSON token file with atomic writes and a cross-process lock.

    ``save`` does not take the lock itself; callers that read, decide and write (a refresh) hold ``lock()`` or
    ``async_lock()`` around the whole sequence.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(self.lock_path, timeout=LOCK_TIMEOUT_S)

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    # -- locking -------------------------------------------------------------------------------------------------
    def lock(self) -> FileLock:
        """The cross-process lock (``with store.lock(): ...``). Reentrant within this store and thread."""
        self._ensure_dir()
        return self._lock

    def async_lock(self) -> AsyncFileLock:
        """A new asyncio-friendly lock on the same lock file (acquired off the event loop).

        Do not nest it with ``lock()`` in one process: the two are different lock holders.
        """
        self._ensure_dir()
        return AsyncFileLock(self.lock_path, timeout=LOCK_TIMEOUT_S)

    # -- reading -------------------------------------------------------------------------------------------------
    def _read_raw(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise TokenFileError(f"cannot read token file {self.path}: {err.strerror or err}") from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise TokenFileError(f"token file {self.path} is corrupt (not JSON: {err.msg})") from err
        except RecursionError as err:
            raise TokenFileError(f"token file {self.path} is corrupt (JSON nested too deeply)") from err
        if not isinstance(data, dict):
            raise TokenFileError(f"token file {self.path} is corrupt (expected a JSON object)")
        return data

    def load(self) -> StoredToken | None:
        """The stored login, or None when there is no file or no refresh token in it."""
        data = self._read_raw()
        if data is None:
            return None
        refresh_token = data.get("refresh_token")
        if refresh_token is None:
            return None
        hardware_id = data.get("hardware_id")
        if not isinstance(refresh_token, str) or not refresh_token or not isinstance(hardware_id, str):
            raise TokenFileError(f"token file {self.path} is corrupt (missing refresh_token or hardware_id)")
        access_token = data.get("access_token")
        email = data.get("email")
        return StoredToken(
            refresh_token=refresh_token,
            hardware_id=hardware_id,
            access_token=access_token if isinstance(access_token, str) and access_token else None,
            expires_at=_as_float(data.get("expires_at")),
            email=email if isinstance(email, str) else None,
            updated_at=_as_float(data.get("updated_at")) or 0.0,
        )

    def hardware_id(self) -> str:
        """This installation's hardware id: read from the file, or generated once (uuid4) and persisted."""
        data = self._read_raw()
        if data is not None and isinstance(data.get("hardware_id"), str) and data["hardware_id"]:
            return str(data["hardware_id"])
        with self.lock():
            data = self._read_raw() or {}
            hid = data.get("hardware_id")
            if isinstance(hid, str) and hid:
                return hid
            hid = str(uuid.uuid4())
            data["hardware_id"] = hid
            data.setdefault("refresh_token", None)
            self._write_raw(data)
            return hid

    # -- writing -------------------------------------------------------------------------------------------------
    def save(self, token: StoredToken) -> None:
        """Write ``token`` atomically (temp file + fsync + ``os.replace``), mode 0600.

        The time of the last session created for this hardware id is carried over (see ``session_created_at``).
        """
        data: dict[str, Any] = {
            "refresh_token": token.refresh_token,
            "hardware_id": token.hardware_id,
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            "email": token.email,
            "updated_at": token.updated_at,
        }
        session = self.session_created_at(token.hardware_id)
        if session is not None:
            data[SESSION_KEY] = session
        self._write_raw(data)

    # -- the Ring session of this hardware id ----------------------------------------------------------------------
    def session_created_at(self, hardware_id: str) -> float | None:
        """When a Ring session was last created for ``hardware_id`` (epoch seconds), by any process sharing this
        file; None when unknown. Lets short-lived processes (one CLI command each) reuse the session instead of
        creating one per run: Ring is suspected to block an IP after ~50 session creations a day."""
        try:
            data = self._read_raw()
        except TokenFileError:
            return None
        if data is None or data.get("hardware_id") != hardware_id:
            return None
        return _as_float(data.get(SESSION_KEY))

    def note_session(self, hardware_id: str, created_at: float) -> None:
        """Record that a session was created for ``hardware_id`` (kept across token rotations)."""
        with self.lock():
            data = self._read_raw() or {}
            if data.get("hardware_id") not in (None, hardware_id):
                return
            data["hardware_id"] = hardware_id
            data.setdefault("refresh_token", None)
            data[SESSION_KEY] = created_at
            self._write_raw(data)

    def delete(self, *, forget_hardware_id: bool = False) -> bool:
        """Log out: remove the login. The hardware id is kept (so a later login reuses it and Ring's Control
        Center keeps showing one device) unless ``forget_hardware_id`` is set, which removes the file entirely.

        Returns True when a login was removed. A corrupt file is removed.
        """
        with self.lock():
            try:
                data = self._read_raw()
            except TokenFileError:
                self.path.unlink(missing_ok=True)
                return True
            if data is None:
                return False
            had_login = bool(data.get("refresh_token"))
            hid = data.get("hardware_id")
            if forget_hardware_id or not (isinstance(hid, str) and hid):
                self.path.unlink(missing_ok=True)
            else:
                self._write_raw({"hardware_id": hid, "refresh_token": None})
            return had_login

    def forget_login(self) -> bool:
        """Same as ``delete()``: remove the login, keep the hardware id."""
        return self.delete()

    def _ensure_dir(self) -> None:
        ensure_private_dir(self.path.parent)

    def _write_raw(self, data: dict[str, Any]) -> None:
        self._ensure_dir()
        payload = {"version": FILE_VERSION, **{k: v for k, v in data.items() if k != "version"}}
        text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
        try:
            write_private_file(self.path, text)
        except OSError as err:
            raise TokenFileError(f"cannot write token file {self.path}: {err.strerror or err}") from err


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
