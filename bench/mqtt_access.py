"""Hub locks and water valves on the MQTT bridge (the ``access`` family) against the simulator in its own process and
a real Mosquitto broker, the bridge in this process with that family alone. A lock and a water valve are added to
the alarm location through the simulator's control API before the bridge starts; then:

1. lock → confirmed state: ``LOCK`` / ``UNLOCK`` on ``.../lock/set``, from the publish until ``LOCKED`` /
   ``UNLOCKED`` (Ring's answer, after the transitional ``LOCKING`` / ``UNLOCKING``) reaches a subscriber;
2. valve → confirmed state: ``CLOSE`` / ``OPEN`` on ``.../valve/set`` until ``closed`` / ``open``;
3. turned at the door → MQTT: the lock's own report (``POST /_sim/hub/{loc}/devices/{zid}/report``) until its state
   topic follows.

Run: ``.venv/bin/python -m bench.mqtt_access [--samples 20] [--nodelay] [--json out.json]``. No goal of its own; the
hub's other commands (``bench/mqtt_hub.py``) are the comparison.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.common import spread
from bench.mqtt_common import alarm_world, bench_main, bridged, command, hub_control, until
from ringvault.mqtt.families.access import AccessFamily
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BridgeOptions


def _add(url: str, loc: str, document: dict[str, Any]) -> str:
    return str(hub_control(url, "POST", f"/{loc}/devices", {"document": document})["document"]["general"]["v2"]["zid"])


def _families(options: BridgeOptions) -> list[Family]:
    return [AccessFamily(options)]


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc, _, _ = alarm_world(url)
    lock = _add(url, loc, {"name": "Bench Lock", "deviceType": "lock", "locked": "unlocked"})
    valve = _add(url, loc, {"name": "Bench Valve", "deviceType": "valve.water", "valveState": "open"})
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}
    async with bridged(url, home, nodelay, _families) as (sub, _):
        lock_topic, valve_topic = f"ringvault/{loc}/{lock}/lock", f"ringvault/{loc}/{valve}/valve"
        await until(sub, f"{lock_topic}/state", b"UNLOCKED".__eq__, 0.0)

        locks: list[float] = []
        for i in range(samples):
            word, state = ("LOCK", b"LOCKED") if i % 2 == 0 else ("UNLOCK", b"UNLOCKED")
            locks.append(await command(sub, f"{lock_topic}/set", word, f"{lock_topic}/state", state.__eq__))
        result["lock_command_to_confirmed_state_s"] = spread(locks)

        valves: list[float] = []
        for i in range(samples):
            word, state = ("CLOSE", b"closed") if i % 2 == 0 else ("OPEN", b"open")
            valves.append(await command(sub, f"{valve_topic}/set", word, f"{valve_topic}/state", state.__eq__))
        result["valve_command_to_confirmed_state_s"] = spread(valves)

        reports: list[float] = []
        for i in range(samples):
            ring, shown = ("jammed", b"JAMMED") if i % 2 == 0 else ("locked", b"LOCKED")
            sent = time.monotonic()
            await asyncio.to_thread(hub_control, url, "POST", f"/{loc}/devices/{lock}/report",
                                    {"device": {"locked": ring}})  # fmt: skip
            reports.append(await until(sub, f"{lock_topic}/state", shown.__eq__, sent))
        result["lock_report_to_mqtt_s"] = spread(reports)
    return result


if __name__ == "__main__":
    bench_main(__doc__, "rv-bench-mqtt-access-", run)
