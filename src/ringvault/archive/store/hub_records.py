"""Records of the hub tables (``hub_devices``, ``hub_history``, ``hub_sync_state``) and how an ``rs/history`` item
becomes one: its key, its time, the device it is about, its impulse types, its raw JSON text.

Ring documents nothing about history items beyond what ring-mqtt reads (``body[].impulse.v1[].impulseType``,
``context.eventOccurredTsMs``, ``context.initiatingEntity*``; see the reference §4.9, §5.6), so every field is read
tolerantly: a field missing or of another type leaves its column NULL (or the time "first seen") and the item is
still stored whole in ``raw``. Text is stored as Ring sent it (control characters included; ``ringvault.textsafe``
escapes it on output), except what no database can hold: lone surrogates become U+FFFD (PostgreSQL's NUL rule is
the engine's, see ``engine.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "KEY_HASH_PREFIX",
    "MAX_EVENT_MS",
    "MAX_KEY_LENGTH",
    "HubDeviceChanges",
    "HubDevicePage",
    "HubDeviceRecord",
    "HubHistoryPage",
    "HubHistoryRecord",
    "HubSyncState",
    "StoredHubDevice",
    "StoredHubHistory",
    "canonical_json",
    "decode_hub_cursor",
    "encode_hub_cursor",
    "history_record",
    "item_key",
    "item_time_ms",
    "ms_to_datetime",
    "storable",
    "storable_json",
]

#: What a hashed item key starts with (a key without it is Ring's ``context.eventId``).
KEY_HASH_PREFIX: Final = "sha256:"
#: Longer event ids are not used as keys (the item's hash is): a key is an index entry, not a document.
MAX_KEY_LENGTH: Final = 256
#: The last millisecond of year 9999: later (or negative) times cannot be shown as dates, so they count as missing.
MAX_EVENT_MS: Final = 253_402_300_799_999

_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with lone surrogates (which no database encoding can hold) replaced by U+FFFD; else unchanged."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def storable_json(value: Any) -> Any:
    """``value`` (parsed JSON) with :func:`storable` applied to every string and key; numbers of any size kept."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def canonical_json(item: Any) -> str:
    """The item's canonical JSON: keys sorted, no spaces, non-ASCII as ``\\uXXXX`` (so any item, lone surrogates
    included, has one), integers of any size written exactly."""
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def _raw_text(item: Any) -> str:
    """The item as compact JSON text in Ring's key order (readable non-ASCII; escaped only where it must be)."""
    text = json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    return text if _SURROGATE.search(text) is None else json.dumps(item, separators=(",", ":"), ensure_ascii=True)


def _text(value: Any) -> str | None:
    """A text field: strings as they are, integers (not booleans) as their digits; anything else None."""
    if isinstance(value, str):
        return storable(value) if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _context(item: dict[str, Any]) -> dict[str, Any]:
    context = item.get("context")
    return context if isinstance(context, dict) else {}


def _body(item: dict[str, Any]) -> list[dict[str, Any]]:
    body = item.get("body")
    return [doc for doc in body if isinstance(doc, dict)] if isinstance(body, list) else []


def item_key(item: dict[str, Any]) -> str:
    """Ring's ``context.eventId`` (text, at most :data:`MAX_KEY_LENGTH` characters), else ``sha256:<hex>`` of the
    item's canonical JSON."""
    event_id = _text(_context(item).get("eventId"))
    if event_id is not None and event_id.strip() and len(event_id) <= MAX_KEY_LENGTH:
        return event_id
    return KEY_HASH_PREFIX + hashlib.sha256(canonical_json(item).encode("ascii")).hexdigest()


def item_time_ms(item: dict[str, Any]) -> int | None:
    """``context.eventOccurredTsMs`` as epoch milliseconds: an integer, a finite float or a string of digits within
    year 0-9999 of the epoch's calendar; None when missing or unusable."""
    value = _context(item).get("eventOccurredTsMs")
    ms: int | None = None
    if isinstance(value, bool):
        ms = None
    elif isinstance(value, int):
        ms = value
    elif isinstance(value, float) and math.isfinite(value):
        ms = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 20:
        ms = int(value.strip())
    return ms if ms is not None and 0 <= ms <= MAX_EVENT_MS else None


def _zid(item: dict[str, Any]) -> str | None:
    """The device the item is about: the first body document's ``general.v2.zid``, else ``context.affectedEntityId``."""
    for doc in _body(item):
        general = doc.get("general")
        v2 = general.get("v2") if isinstance(general, dict) else None
        zid = _text(v2.get("zid")) if isinstance(v2, dict) else None
        if zid is not None:
            return zid
    return _text(_context(item).get("affectedEntityId"))


def _impulse_types(item: dict[str, Any]) -> list[str] | None:
    """Every ``body[].impulse.v1[].impulseType``, in order, once each (None when there is none)."""
    found: list[str] = []
    for doc in _body(item):
        impulse = doc.get("impulse")
        entries = impulse.get("v1") if isinstance(impulse, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            kind = entry.get("impulseType") if isinstance(entry, dict) else None
            if isinstance(kind, str) and kind and storable(kind) not in found:
                found.append(storable(kind))
    return found or None


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class HubHistoryRecord:
    """One ``rs/history`` item as ``hub_history`` stores it (see the model)."""

    category: str
    item_key: str
    event_ms: int
    time_source: str
    datatype: str | None
    zid: str | None
    impulse_types: list[str] | None
    raw: str


def history_record(item: dict[str, Any], category: str, seen_ms: int) -> HubHistoryRecord:
    """The record of one history item of ``category`` read at ``seen_ms`` (its time when it carries none)."""
    at = item_time_ms(item)
    return HubHistoryRecord(
        category=category,
        item_key=item_key(item),
        event_ms=at if at is not None else seen_ms,
        time_source="event" if at is not None else "first_seen",
        datatype=_text(item.get("datatype")),
        zid=_zid(item),
        impulse_types=_impulse_types(item),
        raw=_raw_text(item),
    )


@dataclass(frozen=True)
class HubDeviceRecord:
    """One device of a hub's device list (``Location.get_devices()``), as ``hub_devices`` stores it."""

    zid: str
    name: str | None = None
    device_type: str | None = None
    asset_uuid: str | None = None
    kind: str | None = None
    type_label: str | None = None
    category_id: int | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredHubDevice:
    id: int
    location_id: str
    zid: str
    asset_uuid: str | None
    name: str | None
    device_type: str | None
    kind: str | None
    type_label: str | None
    category_id: int | None
    data: dict[str, Any] | None
    first_seen_at: datetime
    last_seen_at: datetime
    removed_at: datetime | None


@dataclass(frozen=True)
class StoredHubHistory:
    id: int
    location_id: str
    category: str
    item_key: str
    event_ms: int
    time_source: str
    datatype: str | None
    zid: str | None
    impulse_types: list[str] | None
    raw: str
    first_seen_at: datetime

    @property
    def event_at(self) -> datetime:
        return ms_to_datetime(self.event_ms)

    def item(self) -> Any:
        """The item as Ring sent it (parsed from ``raw``)."""
        return json.loads(self.raw)


@dataclass(frozen=True)
class HubDeviceChanges:
    """What one device list changed: devices ``new`` to the archive, ``seen`` again, ``removed`` (no longer listed),
    ``returned`` (listed again after being marked removed)."""

    new: int = 0
    seen: int = 0
    removed: int = 0
    returned: int = 0


@dataclass(frozen=True)
class HubSyncState:
    location_id: str
    category: str
    complete_at: datetime | None
    through_ms: int | None
    last_sync_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class HubHistoryPage:
    items: list[StoredHubHistory]
    next_cursor: str | None


@dataclass(frozen=True)
class HubDevicePage:
    devices: list[StoredHubDevice]
    next_cursor: str | None


def encode_hub_cursor(*values: int | str) -> str:
    payload = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_hub_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The values of a cursor made by :func:`encode_hub_cursor` with these types; ``InvalidCursorError`` else."""
    from ringvault.archive.store.rows import InvalidCursorError

    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursorError(f"invalid cursor {cursor!r}") from exc
    if (
        not isinstance(values, list)
        or len(values) != len(shape)
        or not all(type(value) is kind for value, kind in zip(values, shape, strict=True))
        or any(isinstance(value, int) and not -(2**63) <= value < 2**63 for value in values)
    ):
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return values
