"""Ring.Alarm: the alarm system's history, devices, logs, mode preferences, audit trail and hub devices."""

from __future__ import annotations

from typing import ClassVar

from ringvault.portability.scopes.base import Bool, DataSetRecord, DateTime, Str, StrList


class _AlarmHistory(DataSetRecord):
    # An alarm (or lighting) event: when it happened, at which location, on which type of device (seed 003: "The
    # date when the event was generated", "The Ring location ID", "The type of device"); the entity types and
    # impulse types describe it.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "event_date", "device_type")

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
    # Seed 003: impulseTypes are "The types of Ring Alarm events"; examples and samples: sensor.motion, lock,
    # adapter.zwave, adapter.ringnet, network-stats.update-delta.
    SCHEMA_HINTS: ClassVar[tuple[str, ...]] = (
        "ring alarm",
        "sensor.",
        '"lock"',
        "adapter.",
        "network-stats",
        "security-panel",
        "security-keypad",
    )


class SmartLightingHistoryLog(_AlarmHistory):
    """Ring.Alarm.SmartLightingHistoryLog: a smart lighting event (Ring lights, light groups)."""

    NAME: ClassVar[str] = "Ring.Alarm.SmartLightingHistoryLog"
    DESCRIPTION: ClassVar[str] = "Smart lighting history: light events with their impulse types"
    # Seed 003: impulseTypes are "The types of Ring Smart Lighting events"; examples and samples:
    # switch.multilevel.beams, switch.transformer.beams, group.light-group.beams, light-mode.default.
    SCHEMA_HINTS: ClassVar[tuple[str, ...]] = ("smart lighting", ".beams", "light-mode", "light-group")


class AlarmDeviceInformation(DataSetRecord):
    """Ring.Alarm.DeviceInformation: a base station's MAC addresses (documented ``ethmac``, sent as ``ethMac``)."""

    NAME: ClassVar[str] = "Ring.Alarm.DeviceInformation"
    DESCRIPTION: ClassVar[str] = "Alarm devices: type and Ethernet / Wi-Fi MAC addresses"
    # The ethernet MAC address names the hardware; its location (the seed's second sample has an empty one) and
    # the Wi-Fi addresses can change.
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
    # Time, location, what happened and to which type of device (the seed's sample has two entries in the same
    # second that differ by eventType); initiatingEntityType describes it.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "event_date", "event_type", "device_type")

    location_id: Str = None
    event_date: DateTime = None
    event_type: Str = None
    device_type: Str = None
    initiating_entity_type: Str = None


class ModeSettingPreference(DataSetRecord):
    """Ring.Alarm.ModeSettingPreference: what a device does in a mode (home, away, disarmed)."""

    NAME: ClassVar[str] = "Ring.Alarm.ModeSettingPreference"
    DESCRIPTION: ClassVar[str] = "Per-mode device settings (home, away, disarmed)"
    # One preference per location, device and mode ("The Ring Alarm Mode ... for which this setting preference is
    # applied"); eventDate ("when the setting was applied") and the actions change when the customer changes it.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "device_id", "device_id_type", "mode")

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
    # One per location; sharedUsersEnabled and the date it was applied change.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id",)

    location_id: Str = None
    event_date: DateTime = None
    shared_users_enabled: Bool = None


class AlarmAuditLog(DataSetRecord):
    """Ring.Alarm.AuditLog: a monitoring (dispatch) audit event."""

    NAME: ClassVar[str] = "Ring.Alarm.AuditLog"
    DESCRIPTION: ClassVar[str] = "Professional monitoring audit trail: account state, dispatch, actions"
    # Time, location, action and description make the entry; currentAccountState ("The current account state")
    # and eligibleForDispatch can read differently in a later export.
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "event_date", "event_action", "event_description")

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
    # A component of the hub: its location, name and category; status and room change (seed 003's sample has a
    # sensor "waiting-for-join").
    KEY_FIELDS: ClassVar[tuple[str, ...] | None] = ("location_id", "device_name", "category")

    location_id: Str = None
    device_name: Str = None
    status: Str = None
    category: Str = None
    room: Str = None
