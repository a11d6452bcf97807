"""Generation of the ``ring_devices`` entries, one shape per family (cameras and doorbells, chimes, base stations,
Beams bridges, intercoms, third-party garage doors), with the quirks Ring's real entries show (§10)."""

from __future__ import annotations

import json

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.model import DOORBELL_FAMILIES, JSON, DeviceSpec, Location, iso_z, rng_uuid


def intercom_settings() -> JSON:
    """An intercom's ``intercom_settings``: the same in its ring_devices entry and its settings document."""
    return {
        "ring_to_open": False,
        "intercom_type": "DF",
        "unlock_mode": 0,
        "replication": 1,
        "predecessor": json.dumps({"make": "Urmet", "model": "1133/1", "wires": 2}, separators=(",", ":")),
        "config": json.dumps({"analog": {"unlock_duration": 3, "mode": 2}}, separators=(",", ":")),
    }


class DeviceEntries(WorldBase):
    """Builds each device's static ``ring_devices`` entry from its spec and location (drawing from ``self.rng``)."""

    def _hardware_string(self, n: int) -> str:
        rng = self.rng
        style = n % 3
        if style == 0:
            return ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        if style == 1:
            return f"{rng.getrandbits(48):012x}"
        return f"{rng.getrandbits(36):09x}"

    def _camera_entry(self, spec: DeviceSpec, location: Location, base: JSON, created_at: str, n: int) -> JSON:
        rng = self.rng
        is_doorbell = spec.family in DOORBELL_FAMILIES
        owned = spec.family != "authorized_doorbots"
        owner = (
            self.owner()
            if owned
            else {"id": rng.randint(10_000_000, 99_999_999), "email": "pat.neighbor@example.com",
                  "first_name": "Pat", "last_name": "Neighbor"}
        )  # fmt: skip
        firmware = ("Up to Date", "Up To Date", f"cam-1.{rng.randint(8, 24)}.{rng.randint(10000, 29999)}")[n % 3]
        entry: JSON = {
            **base,
            "device_id": self._hardware_string(n),
            "time_zone": location.timezone,
            "address": location.address["address1"],
            "latitude": location.latitude,
            "longitude": location.longitude,
            "created_at": created_at,
            "deactivated_at": None,
            "firmware_version": firmware,
            "owned": owned,
            "owner": owner,
            "ring_id": None,
            "ring_net_id": None,
            "stolen": False,
            "is_sidewalk_gateway": False,
            "battery_life": spec.battery_life if (spec.battery or spec.battery_life is not None) else None,
            "battery_life_2": None,
            "external_connection": not spec.battery,
            "alerts": {"connection": "online"},
            "subscribed": False,
            "subscribed_motions": False,
            "motion_snooze": None,
            "night_mode_status": ("false", "true", "unknown")[n % 3],
            "ring_cam_light_installed": "true" if spec.light else "false",
            "features": {
                "motions_enabled": True,
                "show_recordings": spec.protect,
                "advanced_motion_enabled": spec.protect,
                "people_only_enabled": spec.protect,
                "shadow_correction_enabled": False,
                "motion_message_enabled": False,
                "night_vision_enabled": True,
            },
            "settings": self._camera_settings(spec, is_doorbell, n),
        }
        if spec.light:
            entry["led_status"] = "off"
        if spec.siren:
            entry["siren_status"] = {"seconds_remaining": 0}
        if spec.setup_flow:
            entry["ring_cam_setup_flow"] = spec.setup_flow
        if spec.kind == "onvif_camera":
            entry["owner_id"] = self.user_id
            entry["updated_at"] = created_at
            entry["metadata"] = {
                "legacy_fw_migrated": True,
                "imported_from_amazon": False,
                "is_sidewalk_gateway": False,
                "third_party_manufacturer": "Reolink",
                "third_party_model": "RLC-510A",
                "third_party_dsn": f"G{rng.getrandbits(40):010X}",
                "third_party_properties": {"amzn_dsn": f"{rng.getrandbits(60):015X}", "uuid": rng_uuid(rng)},
            }
        if spec.family != "authorized_doorbots":  # older (shared) entries lack the embedded health
            entry["health"] = self._embedded_health(spec)
        return entry

    def _camera_settings(self, spec: DeviceSpec, is_doorbell: bool, n: int) -> JSON:
        settings: JSON = {
            "enable_vod": True,
            "motion_announcement": False,
            "stream_setting": 0,
            "live_view_preset_profile": "highest",
            "live_view_presets": ["low", "middle", "high", "highest"],
            "motion_snooze_preset_profile": "low",
            "motion_snooze_presets": [("none", "null")[n % 2], "low", "medium", "high"],
            "motion_zones": {
                "enable_audio": False,
                "active_motion_filter": 1,
                "sensitivity": 5,
                "advanced_object_settings": {},
                "zone1": {"name": "Zone 1", "state": 2, "vertex1": {"x": 0.0, "y": 0.0}},
                "zone2": {},
                "zone3": {},
            },
            "light_schedule_settings": {"start_hour": 0, "start_minute": 0, "end_hour": 0, "end_minute": 0},
            "video_settings": {"hevc_enabled": False},
            "motion_detection_enabled": True,
            "live_view_disabled": False,
            "power_mode": "battery" if spec.battery else "wired",
            "enable_audio_recording": True,
            "people_detection_eligible": spec.protect,
            "advanced_motion_detection_enabled": spec.protect,
            "advanced_motion_detection_human_only_mode": False,
            "sheila_settings": {"cv_processing_enabled": False, "local_storage_enabled": False},
            "server_settings": {"ring_media_server_enabled": True},
        }
        if is_doorbell:
            settings["doorbell_volume"] = 5
            settings["chime_settings"] = {
                "type": 0 if spec.kind.startswith("lpd") else 2,
                "enable": True,
                "duration": 3,
            }
        if spec.light:
            settings["floodlight_settings"] = {
                "priority": 0,
                "duration": 30,
                "brightness": 7,
                "always_on": False,
                "always_on_duration": None,
            }
        if spec.battery:
            settings["pir_settings"] = {"sensitivity1": 1, "sensitivity2": 1, "sensitivity3": 1, "zone_mask": 6}
            settings["pir_motion_zones"] = [0, 1, 1]
        return settings

    def _embedded_health(self, spec: DeviceSpec) -> JSON:
        rssi = -40 - self.rng.randint(0, 35)
        health: JSON = {
            "device_type": spec.kind,
            "last_update_time": int(self.start) - self.rng.randint(60, 3600),
            "connected": True,
            "rss_connected": True,
            "vod_enabled": True,
            "sidewalk_connection": False,
            "floodlight_on": False,
            "siren_on": False,
            "white_led_on": False,
            "night_mode_on": False,
            "hatch_open": False,
            "packet_loss": 0,
            "packet_loss_category": "good",
            "rssi": rssi,
            "rssi_category": "good" if rssi > -65 else "poor",
            "wifi_is_ring_network": False,
            "supported_rpc_commands": [],
            "ota_status": "successful",
            "network_connection_value": "wifi",
            "ac_power": 0 if spec.battery else 1,
            "external_connection": not spec.battery,
            "firmware_version": f"cam-1.{self.rng.randint(8, 24)}.{self.rng.randint(10000, 29999)}",
            "firmware_version_status": "Up to Date",
            "tx_rate": self.rng.randint(20, 150),
        }
        if spec.battery:
            percent = int(spec.battery_life) if spec.battery_life is not None else 80
            health.update(
                battery_present=True,
                battery_percentage=min(percent, 100),
                battery_percentage_category="very_good" if percent > 60 else "good",
                battery_voltage=3900 + self.rng.randint(0, 200),
                battery_voltage_category="very_good",
                battery_save=False,
                run_mode="low_power",
                pref_run_mode="low_power",
            )
        else:
            health.update(battery_percentage_category="NA", run_mode="full_power", pref_run_mode="full_power")
        return health

    def _chime_entry(self, spec: DeviceSpec, location: Location, base: JSON, n: int) -> JSON:
        is_pro = "pro" in spec.kind
        settings: JSON = {
            "volume": 6,
            "ding_audio_user_id": None if n % 2 else "0",
            "ding_audio_id": None if n % 2 else "0",
            "motion_audio_user_id": None if n % 2 else "0",
            "motion_audio_id": None if n % 2 else "0",
        }
        entry: JSON = {
            **base,
            "device_id": self._hardware_string(n),
            "time_zone": location.timezone,
            "firmware_version": ("Up To Date", "Up to Date")[n % 2],
            "address": location.address["address1"],
            "latitude": location.latitude,
            "longitude": location.longitude,
            "settings": settings,
            "features": {"ringtones_enabled": True},
            "alerts": {"connection": "online", "rssi": "good"},
            "do_not_disturb": {"seconds_left": 0},
            "owned": True,
            "owner": self.owner(),
            "stolen": False,
            "ring_id": None,
        }
        if is_pro:
            settings["night_light_settings"] = {"light_sensor_enabled": False}
            entry["night_light_state"] = "off"
        return entry

    def _base_station_entry(self, location: Location, base: JSON, n: int) -> JSON:
        return {
            **base,
            "device_id": self._hardware_string(n),
            "address": location.address["address1"],
            "firmware_version": "Up To Date",
            "latitude": location.latitude,
            "longitude": location.longitude,
            "owned": True,
            "stolen": False,
            "time_zone": location.timezone,
            "alerts": [],
            "features": None,
            "settings": None,
            "ring_id": None,
            "owner": self.owner(),
        }

    def _bridge_entry(self, base: JSON, created_at: str) -> JSON:
        return {
            **base,
            "hardware_id": f"{self.rng.getrandbits(64):016x}",
            "created_at": created_at,
            "updated_at": iso_z(self.start - 86400 * self.rng.randint(1, 20), millis=False),
            "owner_id": self.user_id,
            "role": "owner",
            "metadata": {"ethernet": True, "legacy_fw_migrated": True},
        }

    def _gdo_entry(self, base: JSON, created_at: str) -> JSON:
        return {
            **base,
            "owner_id": self.user_id,
            "hardware_id": rng_uuid(self.rng),
            "created_at": created_at,
            "updated_at": created_at,
            "role": "owner",
            "ring_net_id": None,
            "is_sidewalk_gateway": False,
            "metadata": {
                "is_sidewalk_gateway": False,
                "third_party_manufacturer": "Chamberlain",
                "third_party_model": "myQ-G0401",
                "third_party_properties": {"key_access_point_associated": "true"},
                "integration_type": "Key by Amazon",
            },
        }

    def _intercom_entry(self, spec: DeviceSpec, location: Location, base: JSON, created_at: str, n: int) -> JSON:
        return {
            **base,
            "device_id": f"{self.rng.getrandbits(48):012x}",
            "time_zone": location.timezone,
            "firmware_version": "Up to Date",
            "battery_life": spec.battery_life,
            "created_at": created_at,
            "deactivated_at": None,
            "schema_id": None,
            "is_sidewalk_gateway": False,
            "ring_net_id": None,
            "function": {"name": None},
            "subscribed": False,
            "alerts": {"connection": "online", "ota_status": "timeout"},
            "settings": {
                "show_recordings": False,
                "recording_ttl": 0,
                "recording_enabled": False,
                "keep_alive": None,
                "keep_alive_auto": 45.0,
                "doorbell_volume": 8,
                "mic_volume": 11,
                "voice_volume": 11,
                "enable_chime": 0,
                "theft_alarm_enable": 0,
                "use_cached_domain": 0,
                "use_server_ip": 0,
                "server_domain": "fw.ring.com",
                "server_ip": None,
                "enable_log": 0,
                "forced_keep_alive": None,
                "chime_settings": {"type": 0, "enable": False, "duration": 0},
                "intercom_settings": intercom_settings(),
            },
            "features": {
                "motion_zone_recommendation": False,
                "motions_enabled": False,
                "show_recordings": spec.protect,
                "show_vod_settings": False,
                "rich_notifications_eligible": False,
                "show_24x7_lite": False,
                "show_offline_motion_events": False,
                "cfes_eligible": False,
                "sheila_camera_eligible": None,
                "sheila_camera_processing_eligible": None,
                "chime_auto_detect_capable": False,
            },
            "owned": True,
            "owner": self.owner(),
            "metadata": {
                "ethernet": False,
                "legacy_fw_migrated": True,
                "imported_from_amazon": False,
                "is_sidewalk_gateway": False,
                "key_access_point_associated": False,
            },
        }
