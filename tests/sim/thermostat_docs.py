"""Documents of a Z-Wave thermostat and its two child devices, for the tests that add them through the control API
(``POST /_sim/hub/{loc}/devices``): the shape ring-mqtt devices/thermostat.js reads (``modeSetpoints``, ``deadBand``,
``fanMode``, ``supportedFanModes``; the children linked by ``parentZid``)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

THERMOSTAT = "zid-thermostat-1"
SENSOR = "zid-thermostat-1-temp"
STATUS = "zid-thermostat-1-status"


def thermostat_documents(*, mode: str = "heat", celsius: float = 20.0, with_auto: bool = True) -> list[JSON]:
    """The thermostat (heating to 21 °C), its temperature sensor (``celsius``) and its operating status."""
    setpoints: JSON = {
        "off": {},
        "heat": {"setPoint": 21.0, "setPointMin": 10.0, "setPointMax": 32.0},
        "cool": {"setPoint": 25.0, "setPointMin": 10.0, "setPointMax": 32.0},
    }
    if with_auto:
        setpoints["auto"] = {"setPoint": 22.0, "deadBand": 2.0, "deadBandMin": 1.11111}
    set_point = {"heat": 21.0, "cool": 25.0, "auto": 22.0}.get(mode, 21.0)
    thermostat = {
        "general": {"v2": {"zid": THERMOSTAT, "name": "Hall Thermostat", "deviceType": "temperature-control.thermostat",
                           "categoryId": 11, "manufacturerName": "Honeywell", "batteryStatus": "none",
                           "tamperStatus": "ok", "tags": []}},
        "device": {"v1": {"mode": mode, "setPoint": set_point, "setPointMin": 10.0, "setPointMax": 32.0,
                          "deadBand": 2.0, "fanMode": "auto", "supportedFanModes": ["auto", "on", "circulate"],
                          "modeSetpoints": setpoints}},
    }  # fmt: skip
    sensor = {
        "general": {"v2": {"zid": SENSOR, "name": "Hall Thermostat Temperature", "deviceType": "sensor.temperature",
                           "categoryId": 11, "parentZid": THERMOSTAT, "tags": []}},
        "device": {"v1": {"celsius": celsius}},
    }  # fmt: skip
    status = {
        "general": {"v2": {"zid": STATUS, "name": "Hall Thermostat Operating Status",
                           "deviceType": "thermostat-operating-status", "categoryId": 11, "parentZid": THERMOSTAT,
                           "tags": []}},
        "device": {"v1": {"operatingMode": "heat" if mode == "heat" and celsius < 21.0 else "off"}},
    }  # fmt: skip
    return [thermostat, sensor, status]
