"""The tolerant base model and the lenient field types every Ring document is parsed with.

Ring changes its API often and its JSON is loose: numbers arrive as strings (``"52"``), booleans as strings
(``"false"``), ids exceed 2^53, ``created_at`` comes in two ISO formats or as epoch milliseconds, sub-objects are
``null`` or have the wrong shape. Nothing here ever fails on such input: a value that cannot be understood
becomes ``None`` and the original JSON is always kept in ``raw``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, PrivateAttr, ValidationError, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from ringvault.cloud.errors import ResponseFormatError
from ringvault.transport.body import json_or_none

__all__ = [
    "LooseBool",
    "LooseDatetime",
    "LooseDict",
    "LooseFloat",
    "LooseId",
    "LooseIdInt",
    "LooseInt",
    "LooseList",
    "LooseStr",
    "RingModel",
    "parse_datetime",
    "to_bool",
    "to_float",
    "to_id_int",
    "to_id_str",
    "to_int",
]

_EPOCH_MS_THRESHOLD = 100_000_000_000  # numbers above this are epoch milliseconds (year 5138 in seconds)
_MAX_ID_DIGITS = 4000  # below Python's int-from-text limit (4300 digits), far above any id


class RingModel(BaseModel):
    """Base of every Ring document: unknown fields allowed, every field optional, the JSON kept in ``raw``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, arbitrary_types_allowed=False)

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _wrapper_key: ClassVar[str | None] = None
    """When set, a document wrapped as ``{key: {...}}`` is unwrapped first (``raw`` is then the inner object)."""

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(data, BaseModel):
            return handler(data)
        if not isinstance(data, dict):
            data = {}
        if cls._wrapper_key is not None and isinstance(data.get(cls._wrapper_key), dict):
            data = data[cls._wrapper_key]
        model = handler(data)
        if isinstance(model, RingModel):
            model._raw = data
        return model

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """pydantic's ``model_validate``; whatever it cannot take (a validator meeting a value nested too deeply for the
        stack, a number beyond what a field holds) is a ``ResponseFormatError`` with one line, not a traceback.

        The field types below turn unreadable values into None, so this is the net for what they miss."""
        try:
            return super().model_validate(obj, **options)
        except (ValidationError, RecursionError, OverflowError, MemoryError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ResponseFormatError(
                f"Ring sent a {cls.__name__} document ringvault cannot read ({type(err).__name__}: {reason[:160]})"
            ) from err

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object this model was parsed from, untouched (unknown keys and original types included)."""
        return self._raw

    def has_key(self, key: str) -> bool:
        """Whether the original JSON carried ``key`` at all (Ring signals capabilities by field presence)."""
        return key in self._raw


def to_int(value: Any) -> int | None:
    """``52``, ``"52"``, ``52.0``, ``"52.0"`` -> 52; anything else -> None. Big integers stay exact."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if math.isfinite(number) else None
    return None


def to_float(value: Any) -> float | None:
    """Numbers and numeric strings -> float; anything else (and anything beyond the float range) -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range (JSON numbers have no size limit)
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f", ""}


def to_bool(value: Any) -> bool | None:
    """``true``, ``"true"``, ``1``, ``"1"``, ``"on"`` -> True; their opposites -> False; ``"unknown"``/other -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def to_id_int(value: Any) -> int | None:
    """A numeric id, exact at any size: integers and integer strings as they are, a float only when it is an exact
    integer within 2^53 (a larger float has already lost digits: no id is invented from it); anything else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) <= 2**53 else None
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or len(text) > _MAX_ID_DIGITS:
            return None
        if text.lstrip("+-").isdigit():
            return int(text)
        return to_id_int(to_float(text)) if text else None
    return None


def to_id_str(value: Any) -> str | None:
    """An id in its exact string form. Integers of any size stay exact; a float is only accepted when it is safe."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) <= 2**53:
            return str(int(value))
        return None  # a float above 2^53 has already lost digits: refuse to invent an id
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None


def parse_datetime(value: Any) -> datetime | None:
    """Ring's timestamps -> aware UTC datetimes.

    Accepts ``2017-03-05T15:03:40.000Z``, ``2023-12-01T18:05:25Z``, any ISO 8601 with an offset, epoch seconds and
    epoch milliseconds (as numbers or numeric strings). Naive values are taken as UTC. Anything else -> None.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        number = to_float(value)
        return _from_epoch(number) if number is not None else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        number = to_float(text)
        if number is not None:
            return _from_epoch(number)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _from_epoch(number: float) -> datetime | None:
    if not math.isfinite(number):
        return None
    seconds = number / 1000.0 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _to_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        decoded = json_or_none(value)  # not JSON, or nested too deeply to read safely: None
        return decoded if isinstance(decoded, dict) else None
    return None


def _to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return []


LooseInt = Annotated[int | None, BeforeValidator(to_int)]
"""An integer that may arrive as a string or float; None when unreadable."""
LooseFloat = Annotated[float | None, BeforeValidator(to_float)]
LooseBool = Annotated[bool | None, BeforeValidator(to_bool)]
"""A boolean that may arrive as ``"true"``/``"false"``/``0``/``1``; None for ``"unknown"``."""
LooseStr = Annotated[str | None, BeforeValidator(_to_str)]
LooseIdInt = Annotated[int | None, BeforeValidator(to_id_int)]
"""A numeric id (device, owner, profile) kept exact at any size; None when it cannot be known exactly."""
LooseId = Annotated[str | None, BeforeValidator(to_id_str)]
"""An id kept as its exact string (ding ids exceed 2^53)."""
LooseDatetime = Annotated[datetime | None, BeforeValidator(parse_datetime)]
"""Both ISO formats and epoch (milli)seconds, as an aware UTC datetime."""
LooseDict = Annotated[dict[str, Any] | None, BeforeValidator(_to_dict)]
"""A JSON object, or JSON encoded inside a string; None otherwise."""
LooseList = Annotated[list[Any], BeforeValidator(_to_list)]


def sub_model(value: Any) -> Any:
    """Before-validator for nested models: a non-object (``null``, ``[]``, ``"x"``) becomes None instead of failing."""
    if isinstance(value, BaseModel):
        return value
    return value if isinstance(value, dict) else None
