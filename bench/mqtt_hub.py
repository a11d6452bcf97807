"""The hub families of the MQTT bridge (issue 17: alarm, lighting, location modes) against the simulator in its own
process and a real Mosquitto broker (127.0.0.1, password file), the bridge in this process with those families:

1. sensor → MQTT: a contact sensor opened / closed through the simulator's control API, from just before the POST
   until its new state (``.../contact/state``) reaches a subscriber;
2. arm → confirmed state: ``ARM_HOME`` / ``DISARM`` on the panel's ``.../alarm/set``, from the publish until
   ``armed_home`` / ``disarmed`` (Ring's answer, not an assumption) reaches the subscriber;
3. light → confirmed state: ``{"state":"ON"}`` / ``{"state":"OFF"}`` on a Beams light, until its JSON state follows;
4. location mode → confirmed state: ``away`` / ``home`` on the camera-only location's mode select.

Default options except the command rate (the bench sends more than the default 10 commands per 10 s per device).
Run: ``.venv/bin/python -m bench.mqtt_hub [--samples 20] [--json out.json]``. No goal of its own in the issue; a
state change should reach Home Assistant well within the 250 ms the issue asks of push events.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.common import spread
from bench.mqtt_common import alarm_world, bench_main, bridged, command, hub_control, until
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.families.hub_unknown import UnknownHubFamily
from ringvault.mqtt.families.lighting import LightingFamily
from ringvault.mqtt.families.modes import ModesFamily
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BridgeOptions


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc, zids, plain = alarm_world(url)
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}

    def families(options: BridgeOptions) -> list[Family]:
        return [AlarmFamily(options), LightingFamily(options), UnknownHubFamily(options), ModesFamily(options)]

    async with bridged(url, home, nodelay, families) as (sub, started):
        panel, front, light = zids["Security Panel"], zids["Front Door Contact"], zids["Path Light 1"]
        await until(sub, f"ringvault/{loc}/{panel}/alarm/state", lambda p: p == b"disarmed", 0.0)
        result["start_to_panel_state_s"] = time.monotonic() - started

        sensor: list[float] = []
        for i in range(samples):
            faulted = i % 2 == 0
            sent = time.monotonic()
            await asyncio.to_thread(hub_control, url, "POST", f"/{loc}/devices/{front}/fault", {"faulted": faulted})
            want = b"ON" if faulted else b"OFF"
            sensor.append(await until(sub, f"ringvault/{loc}/{front}/contact/state", want.__eq__, sent))
        result["sensor_to_mqtt_s"] = spread(sensor)
        if samples % 2:
            await asyncio.to_thread(hub_control, url, "POST", f"/{loc}/devices/{front}/fault", {"faulted": False})

        arms: list[float] = []
        alarm = f"ringvault/{loc}/{panel}/alarm"
        for _ in range(max(2, samples // 2)):
            arms.append(await command(sub, f"{alarm}/set", "ARM_HOME", f"{alarm}/state", b"armed_home".__eq__))
            arms.append(await command(sub, f"{alarm}/set", "DISARM", f"{alarm}/state", b"disarmed".__eq__))
        result["arm_command_to_confirmed_state_s"] = spread(arms)

        lights: list[float] = []
        topic = f"ringvault/{loc}/{light}/light"
        for i in range(samples):
            word = "ON" if i % 2 == 0 else "OFF"
            lights.append(
                await command(
                    sub,
                    f"{topic}/set",
                    json.dumps({"state": word}),
                    f"{topic}/state",
                    lambda p, w=word: json.loads(p).get("state") == w,
                )
            )
        result["light_command_to_confirmed_state_s"] = spread(lights)

        modes: list[float] = []
        mode = f"ringvault/{plain}/location/mode"
        for i in range(max(2, samples // 2)):
            word = "away" if i % 2 == 0 else "home"
            modes.append(await command(sub, f"{mode}/set", word, f"{mode}/state", word.encode().__eq__))
        result["mode_command_to_confirmed_state_s"] = spread(modes)
    return result


if __name__ == "__main__":
    bench_main(__doc__, "rv-bench-mqtt-hub-", run)
