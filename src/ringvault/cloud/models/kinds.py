"""Ring device kinds: model names, device classes and capabilities, with fallbacks for kinds nobody knows yet.

New kinds keep appearing (``cocoa_doorbell_v5``, ``hexa_camera_6_v1``, ``chime_v4``, ...), so nothing here is a
closed list: an unknown kind is classified by its ``ring_devices`` family (any ``doorbots`` entry is a doorbell
camera, any ``stickup_cams`` entry a camera) and its capabilities come from field presence (``led_status`` ->
light, ``siren_status`` -> siren, non-null ``battery_life`` -> battery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "CAMERA_FAMILIES",
    "FAMILIES",
    "KINDS",
    "Capabilities",
    "DeviceClass",
    "Family",
    "KindInfo",
    "capabilities",
    "device_class",
    "kind_info",
    "model_name",
]


class Family(StrEnum):
    """The seven arrays of ``GET /clients_api/ring_devices``."""

    DOORBOTS = "doorbots"
    AUTHORIZED_DOORBOTS = "authorized_doorbots"
    STICKUP_CAMS = "stickup_cams"
    CHIMES = "chimes"
    BASE_STATIONS = "base_stations"
    BEAMS_BRIDGES = "beams_bridges"
    OTHER = "other"


FAMILIES: tuple[str, ...] = tuple(f.value for f in Family)
CAMERA_FAMILIES: frozenset[str] = frozenset({Family.DOORBOTS, Family.AUTHORIZED_DOORBOTS, Family.STICKUP_CAMS})


class DeviceClass(StrEnum):
    """What ringvault makes of a device (which Python class represents it)."""

    DOORBELL = "doorbell"
    CAMERA = "camera"
    CHIME = "chime"
    INTERCOM = "intercom"
    BASE_STATION = "base_station"
    BEAMS_BRIDGE = "beams_bridge"
    OTHER = "other"


@dataclass(frozen=True)
class KindInfo:
    """What is known about one ``kind``: its marketing name and, for cameras, its hardware."""

    kind: str
    model: str
    device_class: DeviceClass
    battery: bool = False
    light: bool = False
    siren: bool = False


def _table() -> dict[str, KindInfo]:
    d, c = DeviceClass.DOORBELL, DeviceClass.CAMERA
    rows: list[tuple[str, str, DeviceClass, bool, bool, bool]] = [
        # doorbots / authorized_doorbots: kind, model, class, battery, light, siren
        ("doorbot", "Doorbell", d, True, False, False),
        ("doorbell", "Doorbell", d, True, False, False),
        ("doorbell_v3", "Doorbell", d, True, False, False),
        ("doorbell_v4", "Doorbell 2", d, True, False, False),
        ("doorbell_v5", "Doorbell 2", d, True, False, False),
        ("doorbell_scallop_lite", "Doorbell 3", d, True, False, False),
        ("doorbell_scallop", "Doorbell 3 Plus", d, True, False, False),
        ("doorbell_oyster", "Doorbell 4", d, True, False, False),
        ("doorbell_portal", "Door View Cam", d, True, False, False),
        ("doorbell_graham_cracker", "Doorbell Wired", d, False, False, False),
        ("lpd_v1", "Doorbell Pro", d, False, False, False),
        ("lpd_v2", "Doorbell Pro", d, False, False, False),
        ("lpd_v3", "Doorbell Pro", d, False, False, False),
        ("lpd_v4", "Doorbell Pro 2", d, False, False, False),
        ("jbox_v1", "Doorbell Elite", d, False, False, False),
        ("df_doorbell_clownfish", "Battery Doorbell", d, True, False, False),
        ("cocoa_doorbell", "Doorbell Gen 2", d, True, False, False),
        ("cocoa_doorbell_v2", "Battery Doorbell Plus", d, True, False, False),
        ("cocoa_doorbell_v3", "Battery Doorbell Pro", d, True, False, False),
        ("cocoa_doorbell_v5", "Doorbell Pro (3rd Gen)", d, False, False, False),
        # stickup_cams
        ("stickup_cam", "Stick Up Cam", c, True, False, False),
        ("stickup_cam_v3", "Stick Up Cam", c, True, False, False),
        ("stickup_cam_lunar", "Stick Up Cam Battery", c, True, False, True),
        ("stickup_cam_elite", "Stick Up Cam Wired", c, False, False, True),
        ("stickup_cam_wired", "Stick Up Cam Wired", c, False, False, True),
        ("cocoa_camera", "Stick Up Cam (3rd Gen)", c, True, False, True),
        ("stickup_cam_v4", "Spotlight Cam Battery", c, True, True, True),
        ("spotlightw_v2", "Spotlight Cam Wired", c, False, True, True),
        ("hp_cam_v2", "Spotlight Cam Wired", c, False, True, True),
        ("stickup_cam_longfin", "Spotlight Cam Pro", c, False, True, True),
        ("cocoa_spotlight", "Spotlight Cam Plus", c, False, True, True),
        ("hp_cam_v1", "Floodlight Cam", c, False, True, True),
        ("floodlight_v1", "Floodlight Cam", c, False, True, True),
        ("floodlight_v2", "Floodlight Cam", c, False, True, True),
        ("floodlight_pro", "Floodlight Cam Pro", c, False, True, True),
        ("cocoa_floodlight", "Floodlight Cam Plus", c, False, True, True),
        ("stickup_cam_mini", "Indoor Cam", c, False, False, True),
        ("stickup_cam_mini_v2", "Indoor Cam (2nd Gen)", c, False, False, True),
        ("stickup_cam_mini_ptz_v1", "Pan-Tilt Indoor Cam", c, False, False, True),
        # other: cameras that live in `other`
        ("onvif_camera", "ONVIF Camera", c, False, False, False),
    ]
    table = {k: KindInfo(k, m, cls, b, li, si) for k, m, cls, b, li, si in rows}
    for kind, model, cls in [
        ("chime", "Chime", DeviceClass.CHIME),
        ("chime_pro", "Chime Pro", DeviceClass.CHIME),
        ("chime_v2", "Chime v2", DeviceClass.CHIME),
        ("chime_pro_v2", "Chime Pro v2", DeviceClass.CHIME),
        ("intercom_handset_audio", "Intercom", DeviceClass.INTERCOM),
        ("intercom_handset_video", "Intercom Video", DeviceClass.INTERCOM),
        ("base_station_v1", "Alarm Base Station", DeviceClass.BASE_STATION),
        ("base_station_k1", "Alarm Pro Base Station", DeviceClass.BASE_STATION),
        ("beams_bridge_v1", "Smart Lighting Bridge", DeviceClass.BEAMS_BRIDGE),
        ("third_party_gdo", "Key by Amazon Garage Door Opener", DeviceClass.OTHER),
        ("three_p_cam", "Third-party Camera", DeviceClass.OTHER),
    ]:
        table[kind] = KindInfo(kind, model, cls)
    return table


KINDS: Mapping[str, KindInfo] = _table()
"""Every kind ringvault has a name for (ring-account-api §11)."""

_FAMILY_CLASS: dict[str, DeviceClass] = {
    Family.DOORBOTS: DeviceClass.DOORBELL,
    Family.AUTHORIZED_DOORBOTS: DeviceClass.DOORBELL,
    Family.STICKUP_CAMS: DeviceClass.CAMERA,
    Family.CHIMES: DeviceClass.CHIME,
    Family.BASE_STATIONS: DeviceClass.BASE_STATION,
    Family.BEAMS_BRIDGES: DeviceClass.BEAMS_BRIDGE,
}


def kind_info(kind: str | None) -> KindInfo | None:
    """The table row for ``kind``, or None for a kind ringvault does not know."""
    return KINDS.get(kind) if kind else None


def device_class(family: str, kind: str | None) -> DeviceClass:
    """Which class represents a device: by family first (open-ended kinds), then by kind for ``other``."""
    by_family = _FAMILY_CLASS.get(family)
    if by_family is not None:
        return by_family
    info = kind_info(kind)
    if info is not None:
        return info.device_class
    text = (kind or "").lower()
    if text.startswith("intercom"):
        return DeviceClass.INTERCOM
    if text.startswith(("doorbell", "doorbot", "lpd_", "cocoa_doorbell")):
        return DeviceClass.DOORBELL
    if text.startswith("chime"):
        return DeviceClass.CHIME
    if text.startswith("base_station"):
        return DeviceClass.BASE_STATION
    if text.startswith("beams_bridge"):
        return DeviceClass.BEAMS_BRIDGE
    return DeviceClass.OTHER


_FAMILY_FALLBACK_MODEL: dict[DeviceClass, str] = {
    DeviceClass.DOORBELL: "Unknown Doorbell",
    DeviceClass.CAMERA: "Unknown Camera",
    DeviceClass.CHIME: "Unknown Chime",
    DeviceClass.INTERCOM: "Unknown Intercom",
    DeviceClass.BASE_STATION: "Unknown Base Station",
    DeviceClass.BEAMS_BRIDGE: "Unknown Lighting Bridge",
    DeviceClass.OTHER: "Unknown Device",
}


def model_name(kind: str | None, family: str | None = None) -> str:
    """A human model name: from the table, else a family-based fallback (``Unknown Doorbell`` ...)."""
    info = kind_info(kind)
    if info is not None:
        return info.model
    return _FAMILY_FALLBACK_MODEL[device_class(family or Family.OTHER, kind)]


@dataclass(frozen=True)
class Capabilities:
    """What a camera can do, derived from its JSON entry (field presence wins over the kind table)."""

    light: bool
    siren: bool
    battery: bool


def capabilities(kind: str | None, raw: Mapping[str, Any]) -> Capabilities:
    """Light/siren from the presence of ``led_status``/``siren_status``; battery from a non-null ``battery_life``.

    The kind table is only consulted when the entry says nothing at all (no ``battery_life`` key), or to discard a
    level above 100 on a model known to be wired.
    """
    info = kind_info(kind)
    light = "led_status" in raw
    siren = "siren_status" in raw
    if "battery_life" in raw or "battery_life_2" in raw:
        values = [_number(raw.get(key)) for key in ("battery_life", "battery_life_2")]
        present = [v for v in values if v is not None]
        battery = bool(present)
        if battery and info is not None and not info.battery and all(v > 100 for v in present):
            battery = False  # a wired model reporting a nonsense level (``4081`` on an old lpd_v1)
    else:
        battery = info.battery if info is not None else False
    return Capabilities(light=light, siren=siren, battery=battery)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
