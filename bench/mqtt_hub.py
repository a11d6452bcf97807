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

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import emit_json, env, login_ringvault, simulator, spread
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.hub.device import flatten
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.families.hub_unknown import UnknownHubFamily
from ringvault.mqtt.families.lighting import LightingFamily
from ringvault.mqtt.families.modes import ModesFamily
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Received, Subscriber, make_broker

WAIT_S = 60.0


def _hub(url: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{url}/_sim/hub{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.json() if response.content else None


def _world(url: str) -> tuple[str, dict[str, str], str]:
    """The alarm location, its hub devices' zids by name, and the camera-only location."""
    locations = _hub(url, "GET", "")["locations"]
    alarm = next(h for h in locations if any(a["kind"].startswith("base_station") for a in h["assets"]))
    zids = {flatten(device)["name"]: flatten(device)["zid"] for asset in alarm["assets"] for device in asset["devices"]}
    world = httpx.get(f"{url}/_sim/world", params={"events": "count"}, timeout=20).json()
    hubbed = {h["location_id"] for h in locations}
    plain = next(loc["location_id"] for loc in world["locations"] if loc["location_id"] not in hubbed)
    return alarm["location_id"], zids, plain


async def _until(sub: Subscriber, topic: str, matches: Callable[[bytes], bool], after: float) -> float:
    """Seconds from ``after`` until a message on ``topic`` arriving after it matches."""

    def found(messages: list[Received]) -> Received | None:
        return next((m for m in messages if m.topic == topic and m.at >= after and matches(m.payload)), None)

    message = await sub.wait_for_async(found, WAIT_S, f"a message on {topic}")
    return message.at - after


async def _command(
    sub: Subscriber, set_topic: str, payload: str, state: str, matches: Callable[[bytes], bool]
) -> float:
    started = time.monotonic()
    await asyncio.to_thread(sub.publish, set_topic, payload)
    return await _until(sub, state, matches, started)


async def run(url: str, home: Path, samples: int, nodelay: bool) -> dict[str, Any]:
    loc, zids, plain = _world(url)
    broker = make_broker(log_debug=False, extra_config=["set_tcp_nodelay true"] if nodelay else [])
    result: dict[str, Any] = {"samples": samples, "broker_tcp_nodelay": nodelay}
    try:
        sub = Subscriber(broker, ["ringvault/#"]).connect()
        store = TokenStore(home / "token.json")
        async with RingApi(RefreshTokenAuth(token_store=store), RingApiOptions(cloud_url=url)) as api:
            options = BridgeOptions(command_rate=1000)  # the bench sends faster than the default 10 per 10 s
            families: list[Family] = [
                AlarmFamily(options),
                LightingFamily(options),
                UnknownHubFamily(options),
                ModesFamily(options),
            ]
            bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=families)
            try:
                started = time.monotonic()
                await bridge.start()
                await bridge.link.wait_connected(60)
                panel, front, light = zids["Security Panel"], zids["Front Door Contact"], zids["Path Light 1"]
                await _until(sub, f"ringvault/{loc}/{panel}/alarm/state", lambda p: p == b"disarmed", 0.0)
                result["start_to_panel_state_s"] = time.monotonic() - started

                sensor: list[float] = []
                for i in range(samples):
                    faulted = i % 2 == 0
                    sent = time.monotonic()
                    await asyncio.to_thread(_hub, url, "POST", f"/{loc}/devices/{front}/fault", {"faulted": faulted})
                    want = b"ON" if faulted else b"OFF"
                    sensor.append(await _until(sub, f"ringvault/{loc}/{front}/contact/state", want.__eq__, sent))
                result["sensor_to_mqtt_s"] = spread(sensor)
                if samples % 2:
                    await asyncio.to_thread(_hub, url, "POST", f"/{loc}/devices/{front}/fault", {"faulted": False})

                arms: list[float] = []
                alarm = f"ringvault/{loc}/{panel}/alarm"
                for _ in range(max(2, samples // 2)):
                    arms.append(await _command(sub, f"{alarm}/set", "ARM_HOME", f"{alarm}/state", b"armed_home".__eq__))
                    arms.append(await _command(sub, f"{alarm}/set", "DISARM", f"{alarm}/state", b"disarmed".__eq__))
                result["arm_command_to_confirmed_state_s"] = spread(arms)

                lights: list[float] = []
                topic = f"ringvault/{loc}/{light}/light"
                for i in range(samples):
                    word = "ON" if i % 2 == 0 else "OFF"
                    lights.append(
                        await _command(
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
                    modes.append(await _command(sub, f"{mode}/set", word, f"{mode}/state", word.encode().__eq__))
                result["mode_command_to_confirmed_state_s"] = spread(modes)
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
    with tempfile.TemporaryDirectory(prefix="rv-bench-mqtt-hub-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator([], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args.samples, args.nodelay))
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
