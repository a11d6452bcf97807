"""Stored Data Portability authorizations: one private JSON file per brand and customer.

An app can hold the authorizations of many customers, so the store is a directory::

    {directory}/{brand}/{customer}.json      mode 0600, directories 0700

``customer`` is the app's own key for the customer (the service's tokens do not name the customer); the CLI uses
``default``. Each file holds the refresh token, the current access token and its expiry. The service rotates the refresh
token on refresh, so every new one is written atomically (``ringvault.transport.files.write_private_file``) before the
new access token is used, under a per-file cross-process lock (``{customer}.json.lock``) — the same rules as the account
token file.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import AsyncFileLock, FileLock

from ringvault.cloud.tokens import LOCK_TIMEOUT_S
from ringvault.portability.endpoints import Brand, check_brand
from ringvault.portability.errors import PortabilityTokenFileError
from ringvault.transport.files import ensure_private_dir, write_private_file

FILE_VERSION = 1
DEFAULT_CUSTOMER = "default"
_CUSTOMER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


def check_customer(value: str) -> str:
    """A customer key that is safe as a file name: letters, digits and ``._@+-``, at most 128 characters."""
    key = value.strip()
    if not _CUSTOMER_RE.fullmatch(key) or key.endswith(".lock"):
        raise ValueError(
            f"customer key {value!r} is not usable: use 1-128 letters, digits or . _ @ + - (starting with a letter "
            "or digit)"
        )
    return key


@dataclass
class PortabilityToken:
    """One customer's authorization of this app."""

    brand: Brand
    customer: str
    refresh_token: str
    access_token: str | None = None
    expires_at: float | None = None
    scope: str | None = None
    token_type: str | None = None
    client_id: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def access_token_valid(self, *, margin_s: float = 60.0, now: float | None = None) -> bool:
        """True when the access token exists and expires more than ``margin_s`` from now."""
        if not self.access_token or self.expires_at is None:
            return False
        return self.expires_at - margin_s > (time.time() if now is None else now)

    def __repr__(self) -> str:  # never show the tokens
        return (
            f"PortabilityToken(brand={self.brand!r}, customer={self.customer!r}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r})"
        )


class PortabilityTokenStore:
    """The directory of stored authorizations (see the module docstring).

    ``save`` does not lock; a caller that reads, decides and writes (a refresh) holds ``async_lock()`` or ``lock()``
    of that customer around the whole sequence.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"PortabilityTokenStore({str(self.directory)!r})"

    def path_for(self, brand: Brand | str, customer: str) -> Path:
        return self.directory / check_brand(brand) / f"{check_customer(customer)}.json"

    def lock_path(self, brand: Brand | str, customer: str) -> Path:
        path = self.path_for(brand, customer)
        return path.with_name(path.name + ".lock")

    # -- locking -------------------------------------------------------------------------------------------------
    def lock(self, brand: Brand | str, customer: str) -> FileLock:
        """The cross-process lock of one customer's file (``with store.lock(brand, customer): ...``)."""
        ensure_private_dir(self.path_for(brand, customer).parent)
        return FileLock(self.lock_path(brand, customer), timeout=LOCK_TIMEOUT_S)

    def async_lock(self, brand: Brand | str, customer: str) -> AsyncFileLock:
        """The same lock for asyncio code (acquired off the event loop)."""
        ensure_private_dir(self.path_for(brand, customer).parent)
        return AsyncFileLock(self.lock_path(brand, customer), timeout=LOCK_TIMEOUT_S)

    # -- reading -------------------------------------------------------------------------------------------------
    def load(self, brand: Brand | str, customer: str) -> PortabilityToken | None:
        """The stored authorization, or None when there is none."""
        path = self.path_for(brand, customer)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise PortabilityTokenFileError(f"cannot read token file {path}: {err.strerror or err}") from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PortabilityTokenFileError(f"token file {path} is corrupt (not JSON: {err.msg})") from err
        except RecursionError as err:
            raise PortabilityTokenFileError(f"token file {path} is corrupt (JSON nested too deeply)") from err
        if not isinstance(data, dict):
            raise PortabilityTokenFileError(f"token file {path} is corrupt (expected a JSON object)")
        return _token_from(data, check_brand(brand), check_customer(customer), path)

    def customers(self, brand: Brand | str) -> list[str]:
        """The customers with a stored authorization for ``brand`` (sorted)."""
        folder = self.directory / check_brand(brand)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))

    # -- writing -------------------------------------------------------------------------------------------------
    def save(self, token: PortabilityToken) -> Path:
        """Write ``token`` atomically with mode 0600 (directories 0700). Returns the file's path."""
        path = self.path_for(token.brand, token.customer)
        payload: dict[str, Any] = {"version": FILE_VERSION, **asdict(token)}
        text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
        try:
            ensure_private_dir(path.parent)
            write_private_file(path, text)
        except OSError as err:
            raise PortabilityTokenFileError(f"cannot write token file {path}: {err.strerror or err}") from err
        return path

    def delete(self, brand: Brand | str, customer: str) -> bool:
        """Forget a customer's authorization. True when there was one."""
        path = self.path_for(brand, customer)
        with self.lock(brand, customer):
            existed = path.exists()
            path.unlink(missing_ok=True)
        return existed


def _token_from(data: dict[str, Any], brand: Brand, customer: str, path: Path) -> PortabilityToken:
    refresh_token = data.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise PortabilityTokenFileError(f"token file {path} is corrupt (no refresh_token)")
    return PortabilityToken(
        brand=brand,
        customer=customer,
        refresh_token=refresh_token,
        access_token=_str(data.get("access_token")),
        expires_at=_float(data.get("expires_at")),
        scope=_str(data.get("scope")),
        token_type=_str(data.get("token_type")),
        client_id=_str(data.get("client_id")),
        created_at=_float(data.get("created_at")) or 0.0,
        updated_at=_float(data.get("updated_at")) or 0.0,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
