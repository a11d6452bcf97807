"""Ring.Alarm: the alarm system's history, devices, logs, mode preferences, audit trail and hub devices."""

from __future__ import annotations

from typing import ClassVar

from ringvault.portability.scopes.base import Bool, DataSetRecord, DateTime, Str, StrList


class _AlarmHistory(DataSetRecord):
    location_id: Str = None
    event_date: DateTime = None
    device_type: Str = None
    initiating_entity_type: Str = None
    affected_entity_type: Str = None
    impulse_types: StrList = None


class AlarmHistoryLog(_AlarmHistory):
    """Ring.Alarm.HistoryLog: an alarm event (a sensor, a lock, a Z-Wave adapter ...)."""

    NAME: ClassVar[str] = "Ring.Alarm.HistoryLog"
    DESCRIPTION: ClassVar[str] = "Alarm history: device events with their impulse types"


class SmartLightingHistoryLog(_AlarmHistory):
    """Ring.Alarm.SmartLightingHistoryLog: a smart lighting event (Ring lights, light groups)."""

    NAME: ClassVar[str] = "Ring.Alarm.SmartLightingHistoryLog"
    DESCRIPTION: ClassVar[str] = "Smart lighting history: light events with their impulse types"


class AlarmDeviceInformation(DataSetRecord):
    """Ring.Alarm.DeviceInformation: a base station's MAC addresses (documented ``ethmac``, sent as ``ethMac``)."""

    NAME: ClassVar[str] = "Ring.Alarm.DeviceInformation"
    DESCRIPTION: ClassVar[str] = "Alarm devices: type and Ethernet / Wi-Fi MAC addresses"
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("eth_mac",)

    location_id: Str = None
    device_type: Str = None
    eth_mac: Str = None
    wifi_mac24: Str = None
    wifi_mac5: Str = None


class AlarmDeviceLog(DataSetRecord):
    """Ring.Alarm.DeviceLog: a device log entry (connected, registered, cell backup ...)."""

    NAME: ClassVar[str] = "Ring.Alarm.DeviceLog"
    DESCRIPTION: ClassVar[str] = "Alarm device log: connections, registrations, backups"

    location_id: Str = None
    event_date: DateTime = None
    event_type: Str = None
    device_type: Str = None
    initiating_entity_type: Str = None


class ModeSettingPreference(DataSetRecord):
    """Ring.Alarm.ModeSettingPreference: what a device does in a mode (home, away, disarmed)."""

    NAME: ClassVar[str] = "Ring.Alarm.ModeSettingPreference"
    DESCRIPTION: ClassVar[str] = "Per-mode device settings (home, away, disarmed)"

    location_id: Str = None
    event_date: DateTime = None
    mode: Str = None
    device_id: Str = None
    device_id_type: Str = None
    actions: Str = None

    @property
    def action_list(self) -> list[str]:
        """``actions`` split into its items (the service sends one comma-separated string)."""
        return [part.strip() for part in (self.actions or "").split(",") if part.strip()]


class ModeSharingPreference(DataSetRecord):
    """Ring.Alarm.ModeSharingPreference: whether shared users may change the mode."""

    NAME: ClassVar[str] = "Ring.Alarm.ModeSharingPreference"
    DESCRIPTION: ClassVar[str] = "Whether shared users are enabled for modes"

    location_id: Str = None
    event_date: DateTime = None
    shared_users_enabled: Bool = None


class AlarmAuditLog(DataSetRecord):
    """Ring.Alarm.AuditLog: a monitoring (dispatch) audit event."""

    NAME: ClassVar[str] = "Ring.Alarm.AuditLog"
    DESCRIPTION: ClassVar[str] = "Professional monitoring audit trail: account state, dispatch, actions"

    location_id: Str = None
    event_date: DateTime = None
    current_account_state: Str = None
    eligible_for_dispatch: Bool = None
    event_description: Str = None
    event_action: Str = None


class HubData(DataSetRecord):
    """Ring.Alarm.HubData: a device connected to the alarm hub, its status and room."""

    NAME: ClassVar[str] = "Ring.Alarm.HubData"
    DESCRIPTION: ClassVar[str] = "Alarm hub devices: name, status, category, room"
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "device_name", "category")

    location_id: Str = None
    device_name: Str = None
    status: Str = None
    category: Str = None
    room: Str = None
