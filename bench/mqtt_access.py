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

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit_json, env, login_ringvault, simulator, spread
from bench.mqtt_hub import _command, _hub, _until, _world
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families.access import AccessFamily
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Subscriber, make_broker


def _add(url: str, loc: str, document: dict[str, Any]) -> str:
    return str(_hub(url, "POST", f"/{loc}/devices", {"document": document})["document"]["general"]["v2"]["zid"])


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc, _, _ = _world(url)
    lock = _add(url, loc, {"name": "Bench Lock", "deviceType": "lock", "locked": "unlocked"})
    valve = _add(url, loc, {"name": "Bench Valve", "deviceType": "valve.water", "valveState": "open"})
    broker = make_broker(log_debug=False, extra_config=["set_tcp_nodelay true"] if nodelay else [])
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}
    try:
        sub = Subscriber(broker, ["ringvault/#"]).connect()
        store = TokenStore(home / "token.json")
        async with RingApi(RefreshTokenAuth(token_store=store), RingApiOptions(cloud_url=url)) as api:
            options = BridgeOptions(command_rate=1000)  # the bench sends faster than the default 10 per 10 s
            bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=[AccessFamily(options)])
            try:
                await bridge.start()
                await bridge.link.wait_connected(60)
                lock_topic, valve_topic = f"ringvault/{loc}/{lock}/lock", f"ringvault/{loc}/{valve}/valve"
                await _until(sub, f"{lock_topic}/state", b"UNLOCKED".__eq__, 0.0)

                locks: list[float] = []
                for i in range(samples):
                    word, state = ("LOCK", b"LOCKED") if i % 2 == 0 else ("UNLOCK", b"UNLOCKED")
                    locks.append(await _command(sub, f"{lock_topic}/set", word, f"{lock_topic}/state", state.__eq__))
                result["lock_command_to_confirmed_state_s"] = spread(locks)

                valves: list[float] = []
                for i in range(samples):
                    word, state = ("CLOSE", b"closed") if i % 2 == 0 else ("OPEN", b"open")
                    valves.append(await _command(sub, f"{valve_topic}/set", word, f"{valve_topic}/state", state.__eq__))
                result["valve_command_to_confirmed_state_s"] = spread(valves)

                reports: list[float] = []
                for i in range(samples):
                    ring, shown = ("jammed", b"JAMMED") if i % 2 == 0 else ("locked", b"LOCKED")
                    sent = time.monotonic()
                    await asyncio.to_thread(_hub, url, "POST", f"/{loc}/devices/{lock}/report",
                                            {"device": {"locked": ring}})  # fmt: skip
                    reports.append(await _until(sub, f"{lock_topic}/state", shown.__eq__, sent))
                result["lock_report_to_mqtt_s"] = spread(reports)
            finally:
                await bridge.aclose()
        sub.close()
    finally:
        broker.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--nodelay", action="store_true", help="set_tcp_nodelay on the broker (Mosquitto's default is off: ~40 ms)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="rv-bench-mqtt-access-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator([], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args.samples, args.nodelay))
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
