"""The 15 documented data sets by name, and which one a downloaded schema describes."""

from __future__ import annotations

from collections.abc import Mapping
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
#: how much of a schema's property names must match a data set's fields (Jaccard index) to take it by properties
MIN_PROPERTY_MATCH = 0.6


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


def dataset_for_schema(schema: Mapping[str, Any] | str | bytes) -> type[DataSetRecord] | None:
    """The data set a schema file describes: by its ``title`` (the data set name, also when embedded in a longer
    title), else by the best clear match of its property names with a data set's fields. None when neither decides
    (unknown title and no property match, or a tie such as the two alarm history logs, whose fields are the same)."""
    data: Any = json_or_none(schema) if isinstance(schema, str | bytes) else schema
    if not isinstance(data, Mapping):
        return None
    for key in ("title", "$id", "name"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip().lower()
            exact = _BY_LOWER.get(text)
            if exact is not None:
                return exact
            contained = [name for name in _BY_LOWER if name in text]
            if contained:
                return _BY_LOWER[max(contained, key=len)]
    properties = {normalize_key(name) for name in schema_properties(data)}
    if not properties:
        return None
    scores = sorted(
        (
            (len(properties & model.field_keys()) / len(properties | model.field_keys()), model)
            for model in DATASETS.values()
        ),
        key=lambda pair: pair[0],
        reverse=True,
    )
    best_score, best = scores[0]
    if best_score < MIN_PROPERTY_MATCH or (len(scores) > 1 and scores[1][0] == best_score):
        return None
    return best


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
