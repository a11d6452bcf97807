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

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit_json, env, login_ringvault, simulator, spread
from bench.mqtt_hub import _command, _hub, _until
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families.climate import ClimateFamily
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Subscriber, make_broker
from tests.sim.thermostat_docs import SENSOR, THERMOSTAT, thermostat_documents


def _state_key(key: str, value: Any) -> Any:
    return lambda payload: json.loads(payload).get(key) == value


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc = next(h["location_id"] for h in _hub(url, "GET", "")["locations"])
    for document in thermostat_documents(mode="heat", celsius=20.0):
        _hub(url, "POST", f"/{loc}/devices", {"document": document})
    broker = make_broker(log_debug=False, extra_config=["set_tcp_nodelay true"] if nodelay else [])
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}
    try:
        sub = Subscriber(broker, ["ringvault/#"]).connect()
        store = TokenStore(home / "token.json")
        async with RingApi(RefreshTokenAuth(token_store=store), RingApiOptions(cloud_url=url)) as api:
            options = BridgeOptions(command_rate=1000)
            bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=[ClimateFamily(options)])
            try:
                await bridge.start()
                await bridge.link.wait_connected(60)
                topic = f"ringvault/{loc}/{THERMOSTAT}/thermostat"
                await _until(sub, f"{topic}/state", _state_key("mode", "heat"), 0.0)

                temperatures: list[float] = []
                for i in range(samples):
                    celsius = 18.0 + (i % 5)
                    sent = time.monotonic()
                    await asyncio.to_thread(_hub, url, "POST", f"/{loc}/devices/{SENSOR}/temperature",
                                            {"celsius": celsius})  # fmt: skip
                    temperatures.append(
                        await _until(sub, f"{topic}/state", _state_key("current_temperature", celsius), sent)
                    )
                result["room_temperature_to_mqtt_s"] = spread(temperatures)

                modes: list[float] = []
                for i in range(samples):
                    mode = "cool" if i % 2 == 0 else "heat"
                    modes.append(await _command(sub, f"{topic}/set", json.dumps({"mode": mode}), f"{topic}/state",
                                                _state_key("mode", mode)))  # fmt: skip
                result["mode_command_to_confirmed_state_s"] = spread(modes)

                set_points: list[float] = []
                for i in range(samples):
                    target = 19.5 if i % 2 == 0 else 22.0
                    set_points.append(await _command(sub, f"{topic}/set", json.dumps({"temperature": target}),
                                                     f"{topic}/state", _state_key("temperature", target)))  # fmt: skip
                result["set_point_command_to_confirmed_state_s"] = spread(set_points)
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
    parser.add_argument("--nodelay", action="store_true", help="set_tcp_nodelay on the broker")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="rv-bench-mqtt-climate-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator([], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args.samples, args.nodelay))
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
