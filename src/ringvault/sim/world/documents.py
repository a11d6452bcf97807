"""Generation of the per-device documents beside the entry: ``devices/v1/devices/{id}/settings`` (§10.10) and
``clients_api/doorbots/{id}/health`` (§10.9)."""

from __future__ import annotations

from ringvault.sim.world.base import WorldBase
from ringvault.sim.world.entries import intercom_settings
from ringvault.sim.world.model import (
    CAMERA_FAMILIES,
    DOORBELL_FAMILIES,
    INTERCOM_KINDS,
    JSON,
    DeviceSpec,
    Location,
    iso_z,
)


class DeviceDocuments(WorldBase):
    """Builds the settings and health documents of the devices that have them."""

    def _settings_doc(self, spec: DeviceSpec, location: Location) -> JSON | None:
        if spec.family in CAMERA_FAMILIES:
            detection = {
                name: {"enabled": spec.protect, "mode": "edge", "notification": spec.protect}
                for name in (
                    "human",
                    "loitering",
                    "motion",
                    "moving_vehicle",
                    "nearby_pom",
                    "other_motion",
                    "package_delivery",
                    "package_pickup",
                )
            }
            doc: JSON = {
                "motion_settings": {
                    "motion_detection_enabled": True,
                    "enable_audio": False,
                    "enable_ir_led": True,
                    "advanced_motion_detection_enabled": spec.protect,
                    "advanced_motion_detection_mode": "human_only" if spec.protect else "all",
                    "advanced_motion_detection_human_only_mode": False,
                    "advanced_motion_detection_loitering_mode": False,
                    "loitering_threshold": 10,
                    "enable_indoor_mode": spec.kind.startswith("stickup_cam_mini"),
                    "enable_pir_validation": spec.battery,
                    "enable_recording": True,
                    "end_detection": 15,
                },
                "video_settings": {
                    "clip_length_max": 60,
                    "clip_length_min": 10,
                    "exposure_control": 2,
                    "night_color_enable": False,
                    "hdr_enable": False,
                    "ae_mode": 0,
                    "ae_mask": "",
                    "encryption_enabled": False,
                    "hevc_enabled": False,
                },
                "vod_settings": {"enable": True, "toggled_at": location.created_at},
                "volume_settings": {"doorbell_volume": 5, "mic_volume": 8, "voice_volume": 8},
                "general_settings": {
                    "enable_audio_recording": True,
                    "lite_24x7_enabled": False,
                    "lite_24x7_subscribed": spec.protect,
                    "offline_motion_event_enabled": False,
                    "offline_motion_event_subscribed": spec.protect,
                    "firmwares_locked": False,
                    "utc_offset": location.utc_offset,
                    "theft_alarm_enable": False,
                    "power_mode": "battery" if spec.battery else "wired",
                    "country_code": location.address["country"],
                },
                "snapshot_settings": {
                    "frequency_secs": 600 if spec.battery else 30,
                    "lite_24x7_resolution_p": 360,
                    "ome_resolution_p": 360,
                    "max_upload_kb": 150,
                    "frequency_after_secs": 15,
                    "period_after_secs": 60,
                    "close_container": 1,
                },
                "cv_settings": {"detection_types": detection},
                "stream_settings": {
                    "profile": 2,
                    "active_streaming_profile": "rms",
                    "streaming_profiles": {
                        "freeswitch": {},
                        "rms": {"host": "rms-us-east-1.sim.ringvault.test", "port": 443},
                    },
                },
                "sheila_settings": {"cv_processing_enabled": False, "local_storage_enabled": False},
                "lite_24x7": {
                    "subscribed": spec.protect,
                    "enabled": False,
                    "frequency_secs": 600 if spec.battery else 60,
                },
            }
            if spec.family in DOORBELL_FAMILIES:
                doc["chime_settings"] = {"type": 0 if spec.kind.startswith("lpd") else 2, "enable": True,
                                         "enable_ext": False, "duration": 3}  # fmt: skip
            return doc
        if spec.family == "chimes":
            doc = {"volume_settings": {"volume": 6}, "general_settings": {"utc_offset": location.utc_offset}}
            if "pro" in spec.kind:
                doc["night_light_settings"] = {"light_sensor_enabled": False}
            return doc
        if spec.kind in INTERCOM_KINDS:
            return {
                "volume_settings": {"doorbell_volume": 8, "mic_volume": 11, "voice_volume": 11},
                "keep_alive_settings": {"keep_alive_auto": 45.0},
                "intercom_settings": intercom_settings(),
                "general_settings": {"utc_offset": location.utc_offset, "theft_alarm_enable": False},
            }
        return None

    def _health_doc(self, spec: DeviceSpec, device_id: int, created: float) -> JSON | None:
        if spec.family not in CAMERA_FAMILIES and spec.family != "chimes" and spec.kind not in INTERCOM_KINDS:
            return None
        rng = self.rng
        average = -40 - rng.randint(0, 30)
        latest = average - rng.randint(0, 10)
        battery: int | None = None
        if spec.battery and spec.battery_life is not None:
            battery = min(int(spec.battery_life), 100)
        doc: JSON = {
            "id": device_id,
            "average_signal_category": "good" if average > -65 else "poor",
            "average_signal_strength": average,
            "latest_signal_category": "good" if latest > -65 else "poor",
            "latest_signal_strength": latest,
            "wifi_name": "home_wifi",
            "wifi_is_ring_network": False,
            "battery_percentage": battery,
            "battery_percentage_category": None if battery is None else ("very_good" if battery > 60 else "good"),
            "battery_voltage": None,
            "battery_voltage_category": None,
            "firmware": f"1.{rng.randint(1, 12)}.{rng.randint(1, 40)}",
            "firmware_out_of_date": False,
            "updated_at": iso_z(self.start - rng.randint(60, 7200), millis=False),
            "packet_loss_category": "good",
            "packet_loss_strength": 0,
        }
        if spec.family in CAMERA_FAMILIES and not spec.battery:
            doc["transformer_voltage"] = rng.randint(16, 24)
            doc["transformer_voltage_category"] = "good"
            doc["ext_power_state"] = 0
        return doc
