"""Records in the documented shapes of the 15 data sets (our own values, not the seed's samples)."""

from __future__ import annotations

from typing import Any

LOC = "7c0b2f8e-41a6-4c55-9d1e-3a2b4c5d6e7f"

SAMPLES: dict[str, list[dict[str, Any]]] = {
    "Ring.EventManager.Events": [
        {
            "duration": 14,
            "eventType": "motion",
            "eventDate": "2024-03-02T07:15:09Z",
            "expiresAt": "2024-05-01T07:15:09Z",
            "status": "finished",
            "endToEndEncryption": False,
            "detections": [
                {"detectionType": "motion", "eventDate": "2024-03-02T07:15:09Z"},
                {"detectionType": "human", "eventDate": "2024-03-02T07:15:11Z"},
            ],
            "humanDetected": True,
            "detectionType": "human",
            "isFavorited": False,
            "eventCreatedWithAlexa": False,
            "eventFromSidewalk": False,
            "eventRespondedByAlexa": False,
            "securityAlerts": [
                {
                    "alertId": "9001",
                    "alertName": "human",
                    "alertStateType": "human_state",
                    "eventDate": "2024-03-02T07:15:11Z",
                }
            ],
            "streamingMode": "non-24-7",
            "reviewedByVirtualSecurityGuard": False,
            "virtualSecurityGuard": "virtual_security_guard",
            "latitude": 52.3702,
            "longitude": 4.8952,
            "isInitiatedByEventOwner": False,
        },
        {"duration": 0, "eventType": "on_demand", "eventDate": "2024-03-03T19:00:00Z", "expiresAt": 1714762800},
    ],
    "Ring.EventManager.DeviceEvents": [
        {
            "eventDate": "2024-03-04T10:00:00Z",
            "messageType": "device_state_changed",
            "category": "device_offline",
            "eventMetadata": [{"deviceState": "offline"}],
        },
        {
            "eventDate": "2024-03-05T10:00:00Z",
            "messageType": "device_state_changed",
            "category": "recording_mode",
            "eventMetadata": {"deviceState": "enabled", "deviceStateChangeReason": "24x7"},
        },
    ],
    "Ring.RGDS.DeviceLocationMapReference": [
        {
            "eventDate": "2023-11-20T08:30:00Z",
            "deviceLatitude": 48.8566,
            "deviceLongitude": 2.3522,
            "mapRotation": 180,
            "zoom": 18.5,
            "mapStyle": "vector",
            "expiresAt": "2043-11-20T00:00:00Z",
            "horizontalAccuracy": 5,
        }
    ],
    "Ring.RingDeviceRegistry.Location": [
        {
            "locationName": "Canal House",
            "address": "12 Keizersgracht",
            "city": "Amsterdam",
            "state": "NH",
            "zipCode": "1015",
            "country": "NL",
            "timezone": "Europe/Amsterdam",
            "latitude": 52.3731,
            "longitude": 4.8883,
            "locationType": "Residential",
            "locationSubtype": "Apartment",
        }
    ],
    "Ring.RingDeviceRegistry.Authorization": [
        {"hasSharedUser": True, "deviceGroup": "Hallway"},
        {"hasSharedUser": False, "deviceGroup": "Garden Lights"},
    ],
    "Ring.RingDeviceRegistry.Device": [
        {
            "deviceName": "Hallway Cam",
            "deviceId": "778899",
            "eventDate": "2022-09-01T09:00:00Z",
            "timezone": "Europe/Amsterdam",
            "latitude": 52.3731,
            "longitude": 4.8883,
            "videoStorageEnabled": True,
            "showVideoEnabled": True,
            "maxDaysVideoIsStored": 60,
            "richNotificationsEligible": False,
            "peopleDetectionEligible": True,
            "continuousVideoRecordingSubscribed": False,
            "offlineMotionRecordingSubscribed": False,
        }
    ],
    "Ring.RingDeviceRegistry.Group": [{"groupName": "Garden", "devices": ["Shed Cam", "Gate Light"]}],
    "Ring.Alarm.HistoryLog": [
        {
            "locationId": LOC,
            "eventDate": "2024-01-10T22:01:05.00Z",
            "deviceType": "sensor.contact",
            "affectedEntityType": "device",
        },
        {
            "locationId": LOC,
            "eventDate": "2024-01-10T22:01:06.00Z",
            "deviceType": "security-panel",
            "initiatingEntityType": "user",
            "affectedEntityType": "device",
            "impulseTypes": ["security-panel.mode-switched", "command.complete"],
        },
    ],
    "Ring.Alarm.SmartLightingHistoryLog": [
        {
            "locationId": LOC,
            "eventDate": "2024-02-14T18:30:00.00Z",
            "deviceType": "switch.multilevel.beams",
            "affectedEntityType": "device",
            "impulseTypes": ["light-mode.motion"],
        }
    ],
    "Ring.Alarm.DeviceInformation": [
        {
            "locationId": LOC,
            "deviceType": "Base Station",
            "ethMac": "AA:BB:CC:00:11:22",
            "wifiMac24": "AA:BB:CC:00:11:23",
            "wifiMac5": "AA:BB:CC:00:11:24",
        }
    ],
    "Ring.Alarm.DeviceLog": [
        {
            "locationId": LOC,
            "eventDate": "2024-04-01T03:00:00.00Z",
            "eventType": "AssetDisconnected",
            "deviceType": "base_station_v1",
        },
        {
            "locationId": LOC,
            "eventDate": "2024-04-01T03:02:00.00Z",
            "eventType": "asset-registered",
            "deviceType": "base_station_v1",
            "initiatingEntityType": "user",
        },
    ],
    "Ring.Alarm.ModeSettingPreference": [
        {
            "locationId": LOC,
            "eventDate": "2024-05-05T12:00:00.00Z",
            "mode": "away",
            "deviceId": "778899",
            "deviceIdType": "doorbot",
            "actions": "enableMotionDetection, disableLiveView",
        }
    ],
    "Ring.Alarm.ModeSharingPreference": [
        {"locationId": LOC, "eventDate": "2024-05-05T12:00:00.00Z", "sharedUsersEnabled": True}
    ],
    "Ring.Alarm.AuditLog": [
        {
            "locationId": LOC,
            "eventDate": "2024-06-01T01:02:03.00Z",
            "currentAccountState": "PROFESSIONAL",
            "eligibleForDispatch": False,
            "eventDescription": "Alarm cancelled by user",
            "eventAction": "processed",
        }
    ],
    "Ring.Alarm.HubData": [
        {
            "locationId": LOC,
            "deviceName": "Keypad 1234",
            "status": "ok",
            "category": "security-keypad",
            "room": "Hallway",
        },
        {
            "locationId": LOC,
            "deviceName": "Flood Sensor 77",
            "status": "tamper",
            "category": "sensor.flood-freeze",
            "room": "Basement",
        },
    ],
}


def schema_for(name: str, *, title: bool = True) -> dict[str, Any]:
    """A JSON Schema document as the contract describes it (array of objects with the data set's properties)."""
    keys: dict[str, dict[str, str]] = {}
    for record in SAMPLES[name]:
        for key in record:
            keys.setdefault(key, {"type": "string"})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "items": {"type": "object", "properties": keys},
    }
    if title:
        schema["title"] = name
    return schema
