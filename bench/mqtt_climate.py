"""The climate family of the MQTT bridge (thermostats) against the simulator in its own process and a real Mosquitto
broker, the bridge in this process:

1. room temperature → MQTT: the thermostat's temperature sensor reports a new ``celsius`` through the simulator's
   control API; from just before the POST until ``current_temperature`` in ``.../thermostat/state`` follows;
2. mode → confirmed state: ``{"mode":"cool"}`` / ``{"mode":"heat"}`` on ``.../thermostat/set``, from the publish
   until Ring's new mode is in the state;
3. set point → confirmed state: ``{"temperature": t}`` alternating two values, likewise.

The thermostat is added through ``POST /_sim/hub/{loc}/devices`` (the seeded world has none). Run:
``.venv/bin/python -m bench.mqtt_climate [--samples 20] [--nodelay] [--json out.json]``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import spread
from bench.mqtt_common import bench_main, bridged, command, hub_control, until
from ringvault.mqtt.families.climate import ClimateFamily
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BridgeOptions
from tests.sim.thermostat_docs import SENSOR, THERMOSTAT, thermostat_documents


def _state_key(key: str, value: Any) -> Any:
    return lambda payload: json.loads(payload).get(key) == value


def _families(options: BridgeOptions) -> list[Family]:
    return [ClimateFamily(options)]


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc = next(h["location_id"] for h in hub_control(url, "GET", "")["locations"])
    for document in thermostat_documents(mode="heat", celsius=20.0):
        hub_control(url, "POST", f"/{loc}/devices", {"document": document})
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}
    async with bridged(url, home, nodelay, _families) as (sub, _):
        topic = f"ringvault/{loc}/{THERMOSTAT}/thermostat"
        await until(sub, f"{topic}/state", _state_key("mode", "heat"), 0.0)

        temperatures: list[float] = []
        for i in range(samples):
            celsius = 18.0 + (i % 5)
            sent = time.monotonic()
            await asyncio.to_thread(hub_control, url, "POST", f"/{loc}/devices/{SENSOR}/temperature",
                                    {"celsius": celsius})  # fmt: skip
            temperatures.append(await until(sub, f"{topic}/state", _state_key("current_temperature", celsius), sent))
        result["room_temperature_to_mqtt_s"] = spread(temperatures)

        modes: list[float] = []
        for i in range(samples):
            mode = "cool" if i % 2 == 0 else "heat"
            modes.append(await command(sub, f"{topic}/set", json.dumps({"mode": mode}), f"{topic}/state",
                                       _state_key("mode", mode)))  # fmt: skip
        result["mode_command_to_confirmed_state_s"] = spread(modes)

        set_points: list[float] = []
        for i in range(samples):
            target = 19.5 if i % 2 == 0 else 22.0
            set_points.append(await command(sub, f"{topic}/set", json.dumps({"temperature": target}),
                                            f"{topic}/state", _state_key("temperature", target)))  # fmt: skip
        result["set_point_command_to_confirmed_state_s"] = spread(set_points)
    return result


if __name__ == "__main__":
    bench_main(__doc__, "rv-bench-mqtt-climate-", run)
