"""Typed models of the 15 Data Portability data sets, the registry by name, and the streaming data-file reader.

from ringvault.portability.scopes import dataset_for_schema, iter_records

model = dataset_for_schema(schema_json)          # e.g. HubData for title "Ring.Alarm.HubData"
for record in iter_records("data.json", model):
    print(record.record_key(), record.device_name, record.raw)
"""

from __future__ import annotations

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
from ringvault.portability.scopes.base import DataSetRecord, TolerantModel, normalize_key
from ringvault.portability.scopes.device_registry import Authorization, Device, Group, Location
from ringvault.portability.scopes.event_manager import (
    Detection,
    DeviceEvent,
    Event,
    EventMetadata,
    SecurityAlert,
)
from ringvault.portability.scopes.reader import DataFileError, iter_json_array, iter_records
from ringvault.portability.scopes.registry import (
    DATASETS,
    dataset,
    dataset_for_fields,
    dataset_for_name,
    dataset_for_schema,
    dataset_for_title,
    schema_fields,
    schema_properties,
)
from ringvault.portability.scopes.rgds import DeviceLocationMapReference

__all__ = [
    "DATASETS",
    "AlarmAuditLog",
    "AlarmDeviceInformation",
    "AlarmDeviceLog",
    "AlarmHistoryLog",
    "Authorization",
    "DataFileError",
    "DataSetRecord",
    "Detection",
    "Device",
    "DeviceEvent",
    "DeviceLocationMapReference",
    "Event",
    "EventMetadata",
    "Group",
    "HubData",
    "Location",
    "ModeSettingPreference",
    "ModeSharingPreference",
    "SecurityAlert",
    "SmartLightingHistoryLog",
    "TolerantModel",
    "dataset",
    "dataset_for_fields",
    "dataset_for_name",
    "dataset_for_schema",
    "dataset_for_title",
    "iter_json_array",
    "iter_records",
    "normalize_key",
    "schema_fields",
    "schema_properties",
]
