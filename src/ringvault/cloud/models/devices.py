"""``GET /clients_api/ring_devices``: one model per family entry, and ``RingDevices`` for the whole document.

Every entry keeps its JSON in ``raw``. The ``other`` family is heterogeneous (intercoms, ONVIF cameras, garage
openers, kinds nobody knows): intercoms and ONVIF cameras get their own models, everything else an
``OtherDeviceEntry``. Unknown family keys (``beams`` in old accounts, anything new) are kept in
``RingDevices.extra_families``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from ringvault.cloud.models.base import (
    LooseBool,
    LooseDatetime,
    LooseDict,
    LooseFloat,
    LooseIdInt,
    LooseInt,
    LooseList,
    LooseStr,
    RingModel,
    sub_model,
    to_int,
)
from ringvault.cloud.models.kinds import FAMILIES, DeviceClass, Family, device_class
from ringvault.transport.body import json_or_none

__all__ = [
    "Alerts",
    "BaseStationEntry",
    "BeamsBridgeEntry",
    "CameraEntry",
    "CameraFeatures",
    "CameraHealthSummary",
    "CameraSettings",
    "ChimeEntry",
    "ChimeSettings",
    "DeviceEntry",
    "DoNotDisturb",
    "IntercomEntry",
    "IntercomSettings",
    "OtherDeviceEntry",
    "Owner",
    "RingDevices",
    "SirenStatus",
    "parse_entry",
]


class Owner(RingModel):
    """The account that owns a device."""

    id: LooseIdInt = None
    email: LooseStr = None
    first_name: LooseStr = None
    last_name: LooseStr = None


class Alerts(RingModel):
    """A device's ``alerts``: an object on cameras (``{"connection":"online"}``), an array on base stations.

    An array is kept in ``items``; the object form's keys are fields.
    """

    connection: LooseStr = None
    battery: LooseStr = None
    ota_status: LooseStr = None
    rssi: LooseStr = None
    items: LooseList = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _array_form(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"items": data}
        return data


def _alerts(value: Any) -> Any:
    if isinstance(value, list):
        return {"items": value}
    return sub_model(value)


AlertsField = Annotated[Alerts | None, BeforeValidator(_alerts)]


class DeviceEntry(RingModel):
    """Fields common to every ``ring_devices`` entry (all optional). ``id`` is exact at any size (ids beyond 64 bits
    are listed; the archive skips them with a note, see ``ringvault.archive.ids``)."""

    id: LooseIdInt = None
    description: LooseStr = None
    kind: LooseStr = None
    device_id: LooseStr = None
    hardware_id: LooseStr = None
    location_id: LooseStr = None
    time_zone: LooseStr = None
    address: LooseStr = None
    latitude: LooseFloat = None
    longitude: LooseFloat = None
    owned: LooseBool = None
    owner: Annotated[Owner | None, BeforeValidator(sub_model)] = None
    owner_id: LooseStr = None
    role: LooseStr = None
    created_at: LooseDatetime = None
    updated_at: LooseDatetime = None
    deactivated_at: LooseDatetime = None
    firmware_version: LooseStr = None
    ring_id: LooseStr = None
    ring_net_id: LooseStr = None
    stolen: LooseBool = None
    is_sidewalk_gateway: LooseBool = None
    alerts: AlertsField = None
    features: LooseDict = None
    metadata: LooseDict = None
    settings: LooseDict = None

    @property
    def connection(self) -> str | None:
        """``alerts.connection`` (``online``/``offline``) when the entry has one."""
        return self.alerts.connection if self.alerts is not None else None

    @property
    def is_offline(self) -> bool:
        return (self.connection or "").lower() == "offline"

    @property
    def settings_dict(self) -> dict[str, Any]:
        """``settings`` as a plain dict ({} when Ring sent ``null``)."""
        value = self.raw.get("settings")
        return value if isinstance(value, dict) else {}


class SirenStatus(RingModel):
    """``siren_status``: present only on cameras with a siren."""

    seconds_remaining: LooseInt = None
    started_at: LooseDatetime = None
    ends_at: LooseDatetime = None
    duration: LooseInt = None

    @property
    def is_on(self) -> bool:
        return (self.seconds_remaining or 0) > 0


class CameraFeatures(RingModel):
    """``features`` of a camera entry; ``show_recordings`` means a Ring Protect plan covers it."""

    motions_enabled: LooseBool = None
    show_recordings: LooseBool = None
    advanced_motion_enabled: LooseBool = None
    people_only_enabled: LooseBool = None
    night_vision_enabled: LooseBool = None


class CameraSettings(RingModel):
    """The ``settings`` object embedded in a camera entry (a subset; the rest stays in ``raw``/extra)."""

    enable_vod: LooseBool = None
    doorbell_volume: LooseInt = None
    motion_detection_enabled: LooseBool = None
    live_view_disabled: LooseBool = None
    power_mode: LooseStr = None
    chime_settings: LooseDict = None
    motion_zones: LooseDict = None
    floodlight_settings: LooseDict = None
    video_settings: LooseDict = None
    sheila_settings: LooseDict = None


class CameraHealthSummary(RingModel):
    """The ``health`` object embedded in a camera entry."""

    device_type: LooseStr = None
    connected: LooseBool = None
    rssi: LooseInt = None
    rssi_category: LooseStr = None
    battery_present: LooseBool = None
    battery_percentage: LooseInt = None
    battery_percentage_category: LooseStr = None
    second_battery_percentage: LooseInt = None
    firmware_version: LooseStr = None
    firmware_version_status: LooseStr = None
    ac_power: LooseInt = None
    external_connection: LooseBool = None
    floodlight_on: LooseBool = None
    siren_on: LooseBool = None
    white_led_on: LooseBool = None
    night_mode_on: LooseBool = None


class CameraEntry(DeviceEntry):
    """A ``doorbots`` / ``authorized_doorbots`` / ``stickup_cams`` entry (and ONVIF cameras in ``other``)."""

    battery_life: LooseInt = None
    battery_life_2: LooseInt = None
    battery_voltage: LooseFloat = None
    battery_voltage_2: LooseFloat = None
    external_connection: LooseBool = None
    subscribed: LooseBool = None
    subscribed_motions: LooseBool = None
    motion_snooze: LooseDict = None
    night_mode_status: LooseBool = None
    led_status: LooseStr = None
    siren_status: Annotated[SirenStatus | None, BeforeValidator(sub_model)] = None
    ring_cam_light_installed: LooseBool = None
    ring_cam_setup_flow: LooseStr = None
    features: Annotated[CameraFeatures | None, BeforeValidator(sub_model)] = None  # type: ignore[assignment]
    settings: Annotated[CameraSettings | None, BeforeValidator(sub_model)] = None  # type: ignore[assignment]
    health: Annotated[CameraHealthSummary | None, BeforeValidator(sub_model)] = None

    @property
    def motion_detection_enabled(self) -> bool | None:
        return self.settings.motion_detection_enabled if self.settings is not None else None

    @property
    def light_on(self) -> bool:
        return (self.led_status or "").lower() == "on"

    @property
    def siren_on(self) -> bool:
        return self.siren_status is not None and self.siren_status.is_on


class ChimeSettings(RingModel):
    """A chime's ``settings``: volume 0-11 and the ringtone ids (strings or null)."""

    volume: LooseInt = None
    ding_audio_user_id: LooseStr = None
    ding_audio_id: LooseStr = None
    motion_audio_user_id: LooseStr = None
    motion_audio_id: LooseStr = None
    night_light_settings: LooseDict = None


class DoNotDisturb(RingModel):
    """A chime's ``do_not_disturb`` (snooze)."""

    seconds_left: LooseInt = None


class ChimeEntry(DeviceEntry):
    """A ``chimes`` entry."""

    settings: Annotated[ChimeSettings | None, BeforeValidator(sub_model)] = None  # type: ignore[assignment]
    do_not_disturb: Annotated[DoNotDisturb | None, BeforeValidator(sub_model)] = None
    night_light_state: LooseStr = None


class IntercomSettings(RingModel):
    """An intercom's ``settings``; ``intercom_settings.config``/``predecessor`` are JSON inside strings."""

    doorbell_volume: LooseInt = None
    mic_volume: LooseInt = None
    voice_volume: LooseInt = None
    show_recordings: LooseBool = None
    keep_alive_auto: LooseFloat = None
    intercom_settings: LooseDict = None

    @property
    def config(self) -> dict[str, Any]:
        """``intercom_settings.config`` decoded from its JSON string ({} when absent or unreadable)."""
        return _decode_json_object((self.intercom_settings or {}).get("config"))

    @property
    def predecessor(self) -> dict[str, Any]:
        return _decode_json_object((self.intercom_settings or {}).get("predecessor"))

    @property
    def unlock_duration_s(self) -> int | None:
        analog = self.config.get("analog")
        return to_int(analog.get("unlock_duration")) if isinstance(analog, dict) else None


def _decode_json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        decoded = json_or_none(value)  # not JSON, or nested too deeply to read safely: nothing
        return decoded if isinstance(decoded, dict) else {}
    return {}


class IntercomEntry(DeviceEntry):
    """An intercom (``intercom_handset_audio``/``intercom_handset_video``) from the ``other`` family."""

    battery_life: LooseInt = None
    subscribed: LooseBool = None
    subscribed_motions: LooseBool = None
    schema_id: LooseStr = None
    function: LooseDict = None
    settings: Annotated[IntercomSettings | None, BeforeValidator(sub_model)] = None  # type: ignore[assignment]


class BaseStationEntry(DeviceEntry):
    """A Ring Alarm base station (``alerts`` is an array here; ``features``/``settings`` are often null)."""


class BeamsBridgeEntry(DeviceEntry):
    """A Smart Lighting bridge: ``owner_id``/``role``/``hardware_id`` instead of ``owner``/``owned``/``device_id``."""


class OtherDeviceEntry(DeviceEntry):
    """Any other device (garage openers, third-party cameras, kinds nobody knows yet): all data kept in ``raw``."""


def _other_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    cls = device_class(Family.OTHER, kind if isinstance(kind, str) else None)
    if cls is DeviceClass.INTERCOM:
        return "intercom"
    if cls in (DeviceClass.CAMERA, DeviceClass.DOORBELL):
        return "camera"
    return "other"


OtherFamilyEntry = Annotated[
    Annotated[IntercomEntry, Tag("intercom")]
    | Annotated[CameraEntry, Tag("camera")]
    | Annotated[OtherDeviceEntry, Tag("other")],
    Discriminator(_other_tag),
]


def parse_entry(family: str, data: Any) -> DeviceEntry:
    """Parse one ``ring_devices`` entry of ``family`` into the most specific model (never fails)."""
    payload = data if isinstance(data, dict) else {}
    kind = payload.get("kind")
    cls = device_class(family, kind if isinstance(kind, str) else None)
    if cls in (DeviceClass.CAMERA, DeviceClass.DOORBELL):
        return CameraEntry.model_validate(payload)
    if cls is DeviceClass.CHIME:
        return ChimeEntry.model_validate(payload)
    if cls is DeviceClass.INTERCOM:
        return IntercomEntry.model_validate(payload)
    if cls is DeviceClass.BASE_STATION:
        return BaseStationEntry.model_validate(payload)
    if cls is DeviceClass.BEAMS_BRIDGE:
        return BeamsBridgeEntry.model_validate(payload)
    return OtherDeviceEntry.model_validate(payload)


def _entries(value: Any) -> list[Any]:
    """A family array: ``null`` or a non-array becomes [], non-object items are dropped."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict | RingModel)]


Entries = BeforeValidator(_entries)


class RingDevices(RingModel):
    """The whole ``ring_devices`` document: the seven families plus any unknown family key.

    ``extra_families`` maps an unknown key (e.g. ``beams``) to its entries, parsed as ``OtherDeviceEntry`` (or a
    more specific model when the kind is recognisable). ``raw`` is the document as received.
    """

    doorbots: Annotated[list[CameraEntry], Entries] = Field(default_factory=list)
    authorized_doorbots: Annotated[list[CameraEntry], Entries] = Field(default_factory=list)
    stickup_cams: Annotated[list[CameraEntry], Entries] = Field(default_factory=list)
    chimes: Annotated[list[ChimeEntry], Entries] = Field(default_factory=list)
    base_stations: Annotated[list[BaseStationEntry], Entries] = Field(default_factory=list)
    beams_bridges: Annotated[list[BeamsBridgeEntry], Entries] = Field(default_factory=list)
    other: Annotated[list[OtherFamilyEntry], Entries] = Field(default_factory=list)
    extra_families: dict[str, list[DeviceEntry]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_unknown_families(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        extra: dict[str, list[DeviceEntry]] = {}
        known = set(FAMILIES) | {"extra_families"}
        for key, value in data.items():
            if key in known or not isinstance(value, list):
                continue
            if not any(isinstance(item, dict) for item in value):
                continue
            extra[key] = [parse_entry(key, item) for item in value if isinstance(item, dict)]
        if not extra:
            return data
        return {k: v for k, v in data.items() if k not in extra} | {"extra_families": extra}

    @field_validator("extra_families", mode="before")
    @classmethod
    def _extra_dict(cls, value: Any) -> Any:
        return {k: v for k, v in value.items() if isinstance(v, list)} if isinstance(value, dict) else {}

    def families(self) -> Iterator[tuple[str, list[DeviceEntry]]]:
        """Every family with its entries: the seven known ones first, then unknown keys."""
        for family in FAMILIES:
            yield family, list(getattr(self, family))
        yield from ((k, list(v)) for k, v in self.extra_families.items())

    def all_entries(self) -> Iterator[tuple[str, DeviceEntry]]:
        """``(family, entry)`` for every device in the document."""
        for family, entries in self.families():
            for entry in entries:
                yield family, entry

    @property
    def cameras(self) -> list[CameraEntry]:
        """Every camera entry: the three camera families plus cameras found in ``other``."""
        found = [*self.doorbots, *self.authorized_doorbots, *self.stickup_cams]
        found.extend(e for e in self.other if isinstance(e, CameraEntry))
        return found

    @property
    def intercoms(self) -> list[IntercomEntry]:
        return [e for e in self.other if isinstance(e, IntercomEntry)]

    def find(self, device_id: int) -> tuple[str, DeviceEntry] | None:
        """The family and entry of ``device_id``, or None."""
        for family, entry in self.all_entries():
            if entry.id == device_id:
                return family, entry
        return None
