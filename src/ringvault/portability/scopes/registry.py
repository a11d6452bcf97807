"""The 15 documented data sets by name, and which one a downloaded schema (or a file's name, or its records)
describes.

Ring does not document the content of its schema files (seed 003 says only that each data file comes with the S3
presigned URL of a schema file) nor the names of the files. So a data set is recognised by, in turn:

- a ``title`` (or ``$id``/``name``) naming a documented data set, when the schema has one;
- a documented data set name in the file's name (``dataset_for_name``: a segment of the object key such as
  ``.../Ring.Alarm.HubData/part-00001.json``, or the last part of the name alone, ``HubData``);
- its fields (``dataset_for_fields``): the property names of a JSON Schema, the rows of a field table (the shape of
  seed 003's "schema properties" tables: field name, description, example) or the keys of sample records (the shape
  of seed 003's "sample schema" arrays), matched against each data set's documented fields. Two data sets whose
  field tables are the same (``Ring.Alarm.HistoryLog`` and ``Ring.Alarm.SmartLightingHistoryLog``) are told apart by
  the words of their descriptions and examples (``SCHEMA_HINTS`` of each model, taken from the seed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ringvault.portability.scopes.alarm import (
    AlarmAuditLog,
    AlarmDeviceInformation,
    AlarmDeviceLog,
    AlarmHistoryLog,
    HubData,
    ModeSettingPreference,
    ModeSharingPreference,
    SmartLightingHistoryLog,
)
from ringvault.portability.scopes.base import DataSetRecord, normalize_key
from ringvault.portability.scopes.device_registry import Authorization, Device, Group, Location
from ringvault.portability.scopes.event_manager import DeviceEvent, Event
from ringvault.portability.scopes.rgds import DeviceLocationMapReference
from ringvault.transport import json_or_none

#: documented data set name -> model, in the order the seed lists them
DATASETS: dict[str, type[DataSetRecord]] = {
    model.NAME: model
    for model in (
        Event,
        DeviceEvent,
        DeviceLocationMapReference,
        Location,
        Authorization,
        Device,
        Group,
        AlarmHistoryLog,
        SmartLightingHistoryLog,
        AlarmDeviceInformation,
        AlarmDeviceLog,
        ModeSettingPreference,
        ModeSharingPreference,
        AlarmAuditLog,
        HubData,
    )
}
_BY_LOWER = {name.lower(): model for name, model in DATASETS.items()}
#: the last part of each name (``HubData``), lower case: each is unique among the 15
_BY_SHORT = {name.rsplit(".", 1)[-1].lower(): model for name, model in DATASETS.items()}
assert len(_BY_SHORT) == len(DATASETS)
#: how much of a schema's property names must match a data set's fields (Jaccard index) to take it by properties
MIN_PROPERTY_MATCH = 0.6
#: keys of a field-table row that hold the field's name (seed 003's tables: "Schema Field Name")
_FIELD_NAME_KEYS = frozenset({"schemafieldname", "fieldname", "name", "field", "property"})
_EXTENSIONS = re.compile(r"(\.(schema|json|jsonl|ndjson|gz|csv|txt))+$", re.IGNORECASE)


def dataset(name: str) -> type[DataSetRecord]:
    """The model of a data set by its documented name (case-insensitive); ``KeyError`` lists the known names."""
    model = _BY_LOWER.get(name.strip().lower())
    if model is None:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return model


def schema_properties(schema: Mapping[str, Any]) -> list[str]:
    """The record property names a JSON Schema describes (``items.properties`` of an array, or ``properties``)."""
    items = schema.get("items")
    source = items if isinstance(items, Mapping) else schema
    properties = source.get("properties")
    return [str(key) for key in properties] if isinstance(properties, Mapping) else []


def dataset_for_schema(schema: Mapping[str, Any] | list[Any] | str | bytes) -> type[DataSetRecord] | None:
    """The data set a schema file describes: by its ``title`` (the data set name, also when embedded in a longer
    title), else by its fields (``schema_fields`` then ``dataset_for_fields``). None when neither decides (unknown
    title and no clear field match, or two data sets that nothing in the schema tells apart)."""
    data: Any = json_or_none(schema) if isinstance(schema, str | bytes) else schema
    titled = dataset_for_title(data)
    if titled is not None:
        return titled
    fields, evidence = schema_fields(data)
    candidates = dataset_for_fields(fields, evidence)
    return candidates[0] if len(candidates) == 1 else None


def dataset_for_title(schema: Any) -> type[DataSetRecord] | None:
    """The documented data set a schema's ``title`` (or ``$id``, ``name``) names, if it names one."""
    if not isinstance(schema, Mapping):
        return None
    for key in ("title", "$id", "name"):
        value = schema.get(key)
        if isinstance(value, str) and value.strip():
            found = _named_in(value)
            if found is not None:
                return found
    return None


def _named_in(text: str) -> type[DataSetRecord] | None:
    lower = text.strip().lower()
    exact = _BY_LOWER.get(lower)
    if exact is not None:
        return exact
    contained = [name for name in _BY_LOWER if name in lower]
    return _BY_LOWER[max(contained, key=len)] if contained else None


def dataset_for_name(name: str) -> type[DataSetRecord] | None:
    """The documented data set a file's name or object key names: a path segment (extension left out) that is or
    contains a documented name (``Ring.Alarm.HubData``, ``Ring.Alarm.HubData-0001.json``), or that is the last part
    of one alone (``HubData``). The last segment that names one wins (the file's own name before its folders)."""
    for segment in reversed([part for part in re.split(r"[/\\]", name) if part]):
        stem = _EXTENSIONS.sub("", segment)
        found = _named_in(stem)
        if found is None:
            found = _BY_SHORT.get(stem.lower())
        if found is not None:
            return found
    return None


def schema_fields(schema: Any) -> tuple[list[str], str]:
    """The field names a schema file describes, and the text that documents them (descriptions, examples, sample
    values, the schema's own title and description: the evidence that tells apart data sets with the same fields).

    Understood shapes: a JSON Schema (``items.properties`` of an array, or ``properties``); a field table (a list of
    rows, or ``{"fields": [...]}``, whose rows name the field under ``Schema Field Name``/``name``/``field``); sample
    records (a list of objects: the union of their keys)."""
    if isinstance(schema, Mapping):
        names = schema_properties(schema)
        if names:
            return names, _evidence(schema)
        rows = schema.get("fields")
        if isinstance(rows, list):
            return schema_fields(rows)
        return [], _evidence(schema)
    if isinstance(schema, list):
        objects = [item for item in schema if isinstance(item, Mapping)]
        table = [_row_name(row) for row in objects]
        if objects and all(table):
            return [name for name in table if name], _evidence(objects)
        keys: dict[str, None] = {}
        for item in objects:
            keys.update(dict.fromkeys(str(key) for key in item))
        return list(keys), _evidence(objects)
    return [], ""


def _row_name(row: Mapping[str, Any]) -> str | None:
    for key, value in row.items():
        if normalize_key(str(key)) in _FIELD_NAME_KEYS and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _evidence(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str).lower()
    except (TypeError, ValueError, RecursionError):
        return ""


def dataset_for_fields(fields: Iterable[str], evidence: str = "") -> list[type[DataSetRecord]]:
    """The data sets whose documented fields best match ``fields`` (Jaccard index of the normalized names, at least
    ``MIN_PROPERTY_MATCH``): one when the fields decide, several when they tie and ``evidence`` (lower-case text
    documenting the fields or sample values) does not tell them apart by their ``SCHEMA_HINTS``, none when nothing
    matches well enough."""
    names = {normalize_key(name) for name in fields}
    if not names:
        return []
    scored = [(_jaccard(names, model.field_keys()), model) for model in DATASETS.values()]
    best = max(score for score, _ in scored)
    if best < MIN_PROPERTY_MATCH:
        return []
    tied = [model for score, model in scored if score == best]
    if len(tied) == 1 or not evidence:
        return tied
    hints = [(sum(1 for hint in model.SCHEMA_HINTS if hint in evidence), model) for model in tied]
    most = max(count for count, _ in hints)
    if most == 0:
        return tied
    return [model for count, model in hints if count == most]


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
