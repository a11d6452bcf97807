"""The tolerant base of the data set models.

Ring's records drift: fields appear and disappear, key casing varies between the documentation and the data
(``ethmac`` / ``ethMac``), numbers arrive as strings, dates with or without fractional seconds. So every model here:

- matches keys case-insensitively and ignoring ``_``/``-`` (``wifimac24``, ``wifiMac24`` and ``wifi_mac_24`` are the
  same field); the documented camelCase spelling wins when two spellings are present;
- makes every field optional, and turns a value it cannot read into None instead of failing (the value is kept in
  ``unparsed`` and in ``raw``);
- keeps unknown fields (``model_extra``) and the whole original record (``raw``);
- reads dates in ISO 8601 (``Z``, ``.00Z``, offsets, no zone = UTC) or epoch seconds/milliseconds, always as aware UTC
  ``datetime`` values; numbers and booleans also from strings (``"30"``, ``"TRUE"``).

Identity (what the importer keys records by, across exports):

- ``record_key()``: which record this is — the data set's natural key (``KEY_FIELDS``, chosen per data set from seed
  003's field tables: a device id, a time with a device and a type, ...) when all of them have a value, otherwise the
  whole normalized record (so ``.00Z`` versus ``Z``, key casing or ``"30"`` versus ``30`` do not make a new key),
  leaving out fields the customer can toggle later (``VOLATILE_FIELDS``). Records sharing a key within one export are
  told apart by the importer with their occurrence number in the export.
- ``fingerprint()``: the record's documented fields in normal form. Two versions of a key with the same fingerprint
  are the same record (a field Ring adds changes nothing); another fingerprint is a new version of it.
- ``content_hash()``: the whole record in normal form, unknown fields included.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ModelWrapValidatorHandler, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel

from ringvault.transport import json_or_none

_NON_ALNUM = re.compile(r"[^a-z0-9]")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
#: epoch values above this are milliseconds (year 5138 in seconds)
_EPOCH_MS_THRESHOLD = 1e11


def normalize_key(key: str) -> str:
    """The form keys are compared in: lower case, letters and digits only (``wifi_Mac-24`` -> ``wifimac24``)."""
    return _NON_ALNUM.sub("", key.lower())


# ---------------------------------------------------------------------------------------------------------------
# Lenient scalar parsers (a value that cannot be read becomes None)


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def to_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    number = to_float(value)
    return int(number) if number is not None and number.is_integer() else None


def to_number(value: Any) -> int | float | None:
    """An int when the value is integral (``"30"``, ``30.0``), else a float."""
    number = to_int(value)
    return number if number is not None else to_float(value)


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def to_datetime(value: Any) -> datetime | None:
    """ISO 8601 (``2021-07-12T01:06:45Z``, ``2018-07-10T01:14:13.00Z``, offsets; no zone = UTC) or epoch
    seconds/milliseconds (number or digits) -> aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value)):
        seconds = float(value)
        if seconds > _EPOCH_MS_THRESHOLD:
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_str_list(value: Any) -> list[str] | None:
    """A list of strings; a single string is split on commas (``"a, b"`` -> ``["a", "b"]``)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            decoded = json_or_none(text)  # not JSON, or nested too deeply to read safely: split it instead
            if isinstance(decoded, list):
                return to_str_list(decoded)
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [text for text in (to_str(item) for item in value) if text is not None]
    return None


def to_object_list(value: Any) -> list[Mapping[str, Any]] | None:
    """A list of JSON objects: a single object becomes a one-item list, a JSON string is decoded, non-objects are
    dropped."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json_or_none(value)  # not JSON, or nested too deeply to read safely: None
        if value is None:
            return None
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, Mapping)]
    return None


Str = Annotated[str | None, BeforeValidator(to_str)]
Int = Annotated[int | None, BeforeValidator(to_int)]
Float = Annotated[float | None, BeforeValidator(to_float)]
Number = Annotated[int | float | None, BeforeValidator(to_number)]
Bool = Annotated[bool | None, BeforeValidator(to_bool)]
DateTime = Annotated[datetime | None, BeforeValidator(to_datetime)]
StrList = Annotated[list[str] | None, BeforeValidator(to_str_list)]
#: use as ``Annotated[list[Model] | None, ObjectList]`` for nested records
ObjectList = BeforeValidator(to_object_list)


# ---------------------------------------------------------------------------------------------------------------
# Models


@cache
def _key_map(cls: type[BaseModel]) -> dict[str, str]:
    """normalized key -> the field's alias (documented spelling), for one model class."""
    mapping: dict[str, str] = {}
    for name, info in cls.model_fields.items():
        alias = info.alias or name
        mapping[normalize_key(alias)] = alias
        mapping.setdefault(normalize_key(name), alias)
    return mapping


class TolerantModel(BaseModel):
    """A record (or a nested part of one) read tolerantly; see the module docstring."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _unparsed: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _tolerant(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise ValueError(f"a {cls.__name__} record must be a JSON object, not {type(data).__name__}")
        aliases = _key_map(cls)
        normalized: dict[str, Any] = {}
        for key, value in data.items():
            key_text = str(key)
            alias = aliases.get(normalize_key(key_text))
            if alias is None:
                normalized[key_text] = value  # unknown: kept as an extra
            elif alias not in normalized or key_text == alias:
                normalized[alias] = value
        instance = handler(normalized)
        instance._raw = dict(data)
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            if getattr(instance, name) is None and normalized.get(alias) is not None:
                instance._unparsed[alias] = normalized[alias]
        return instance

    @property
    def raw(self) -> dict[str, Any]:
        """The record exactly as it was read."""
        return self._raw

    @property
    def unparsed(self) -> dict[str, Any]:
        """Fields present in the record whose value could not be read (they are None on the model)."""
        return self._unparsed

    @property
    def extra(self) -> dict[str, Any]:
        """Fields this model does not know."""
        return dict(self.model_extra or {})


class DataSetRecord(TolerantModel):
    """One record of a Data Portability data set. Subclasses set ``NAME`` (the documented data set name)."""

    NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: fields that identify a record when all are present (its natural key); else the whole record identifies it
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = None
    #: fields a customer can change later without making it another record; left out of the fingerprint
    VOLATILE_FIELDS: ClassVar[frozenset[str]] = frozenset()
    #: lower-case words of the seed's descriptions and examples that only this data set's schema or records carry,
    #: for data sets whose field tables are identical (``registry.dataset_for_fields``)
    SCHEMA_HINTS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def field_keys(cls) -> frozenset[str]:
        """The normalized names of the documented fields (for matching a schema's properties)."""
        return frozenset(normalize_key(info.alias or name) for name, info in cls.model_fields.items())

    def canonical(self) -> dict[str, Any]:
        """The record in a normal form: documented spellings, parsed values in JSON form, unreadable values raw,
        unknown fields under normalized keys, absent and null fields left out."""
        out = self.known_fields()
        for key, value in self.extra_fields().items():
            out.setdefault(key, value)
        return out

    def known_fields(self) -> dict[str, Any]:
        """The documented fields of the record in normal form (see ``canonical``)."""
        out: dict[str, Any] = {}
        dumped = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for name, info in type(self).model_fields.items():
            alias = info.alias or name
            if alias in dumped:
                out[alias] = dumped[alias]
            elif alias in self._unparsed:
                out[alias] = self._unparsed[alias]
        return out

    def extra_fields(self) -> dict[str, Any]:
        """The fields this data set's documentation does not list, under normalized keys, nulls left out."""
        out: dict[str, Any] = {}
        for key, value in (self.model_extra or {}).items():
            if value is not None:
                out.setdefault(normalize_key(key), value)
        return out

    def record_key(self) -> str:
        """A stable SHA-256 identifying this record within its data set (see the module docstring)."""
        return self.identity()[0]

    def fingerprint(self) -> str:
        """SHA-256 of the documented fields in normal form: equal for two versions that differ only in fields Ring
        added (or in spelling: key casing, ``.00Z``, ``"30"``)."""
        return self.identity()[1]

    def content_hash(self) -> str:
        """SHA-256 of the whole record in normal form, unknown fields included."""
        return self.identity()[2]

    def identity(self) -> tuple[str, str, str]:
        """``(record_key(), fingerprint(), content_hash())``, the record put in normal form once for the three."""
        name = type(self).NAME
        known = self.known_fields()
        extras = self.extra_fields()
        canonical = {**extras, **known}
        key_fields = type(self).KEY_FIELDS
        values = [getattr(self, field) for field in key_fields] if key_fields else []
        if key_fields and all(value is not None and value != "" for value in values):
            key = _digest({"dataset": name, "scheme": 2, "key": [_jsonable(value) for value in values]})
        else:
            volatile = {info.alias or field for field, info in type(self).model_fields.items()} & {
                to_camel(field) for field in type(self).VOLATILE_FIELDS
            }
            record = {k: v for k, v in canonical.items() if k not in volatile}
            key = _digest({"dataset": name, "scheme": 2, "record": record})
        return key, _digest({"dataset": name, "fields": known}), _digest({"dataset": name, "record": canonical})


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value
