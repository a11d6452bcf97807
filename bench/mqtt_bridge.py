"""The MQTT bridge (issue 17) against the simulator in its own process and a real Mosquitto broker (127.0.0.1,
password file, no persistence), the bridge in this process with every family of the checkout and its default
options (reconnect backoff from 0.5 s):

1. push → MQTT publish: N dings (``POST /_sim/devices/{id}/ding``, pushed through the simulator's FCM stand-in), each
   timed from just before the POST until its ``new`` message on an ``.../events`` topic reaches a subscriber;
2. command → Ring call: ``ON``/``OFF`` on a light switch's ``.../set`` topic (a bench family's switch on the
   floodlight camera, which calls Ring and re-reads the devices, as a family's command does) until the simulator has
   handled the ``floodlight_light_on/off`` request (its ``/_sim/stats``, polled every 5 ms);
3. broker restart → every retained state correct: the broker is restarted (it keeps no retained messages), and the
   time runs from the moment it accepts connections again until a fresh subscription gets every retained topic the
   bridge had published, with the same payload.

Run: ``.venv/bin/python -m bench.mqtt_bridge [--dings 50] [--commands 20] [--restarts 3] [--json out.json]``.
Goals (issue 17): push → MQTT p95 ≤ 250 ms; broker restart → every entity correct ≤ 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, emit_json, env, login_ringvault, markdown_table, simulator, spread
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families import default_families
from ringvault.mqtt.model import BridgeContext, CommandRejected, Entity, Family, MqttDevice
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Broker, Received, Subscriber, make_broker

GAP_S = 0.2
COMMAND_GAP_S = 1.1


@dataclass
class BenchLight:
    """A switch per camera with a light (own topic ``<loc>/<id>-bench``, beside whatever the real families make)."""

    name: str = "bench-light"
    topics: dict[int, str] = field(default_factory=dict)

    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        devices = []
        for camera in await ctx.api.get_cameras():
            if not camera.has_light:
                continue
            device = MqttDevice(location=camera.location_id or "none", ident=f"{camera.id}-bench",
                                name=f"{camera.name} (bench)", via=ctx.bridge)  # fmt: skip

            async def set_light(payload: str, camera: Any = camera) -> None:
                if payload not in ("ON", "OFF"):
                    raise CommandRejected("ON or OFF")
                await camera.set_light(payload == "ON")
                await ctx.api.refresh_devices()

            device.add(Entity("switch", "light", "Light", read=lambda c=camera: "ON" if c.light_on else "OFF",
                              command=set_light))  # fmt: skip
            self.topics[camera.id] = f"{ctx.options.base_topic}/{device.location}/{device.ident}/light"
            devices.append(device)
        return devices

    def on_event(self, event: Any) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _doorbells(url: str) -> list[int]:
    world = httpx.get(f"{url}/_sim/world", params={"events": "count"}, timeout=20).json()
    ids = [d["id"] for d in world["devices"] if d["family"] == "doorbots" and d["show_recordings"] and not d["offline"]]
    return [int(i) for i in ids[:4]]


def _light_calls(url: str) -> int:
    doc = httpx.get(f"{url}/_sim/stats", timeout=10).json()
    return sum(int(v["count"]) for k, v in doc["endpoints"].items() if "floodlight_light_o" in k)


def _event_of(ding_id: str) -> Any:
    def find(messages: list[Received]) -> Received | None:
        return next((m for m in messages if m.topic.endswith("/events") and ding_id.encode() in m.payload), None)

    return find


async def push_to_mqtt(url: str, sub: Subscriber, dings: int) -> dict[str, Any]:
    doors = _doorbells(url)
    delays: list[float] = []
    async with httpx.AsyncClient(timeout=20) as http:
        for i in range(dings):
            sent = time.perf_counter()
            answer = await http.post(f"{url}/_sim/devices/{doors[i % len(doors)]}/ding")
            ding_id = answer.json()["event"]["id_str"]
            await sub.wait_for_async(_event_of(ding_id), 30, f"ding {ding_id} on an event topic")
            delays.append(time.perf_counter() - sent)
            await asyncio.sleep(GAP_S)
    return {"dings": dings, **{k: round(v * 1000, 1) for k, v in spread(delays).items()}}


async def command_to_ring(url: str, sub: Subscriber, light: BenchLight, commands: int) -> dict[str, Any]:
    topic = next(iter(light.topics.values()))
    delays: list[float] = []
    for i in range(commands):
        before = await asyncio.to_thread(_light_calls, url)
        payload = "ON" if i % 2 == 0 else "OFF"
        sent = time.perf_counter()
        await asyncio.to_thread(sub.publish, f"{topic}/set", payload)
        while await asyncio.to_thread(_light_calls, url) == before:
            if time.perf_counter() - sent > 30:
                sys.exit(f"command {i} never reached the simulator")
            await asyncio.sleep(0.005)
        delays.append(time.perf_counter() - sent)
        await sub.wait_for_async(lambda ms, p=payload: any(m.topic == f"{topic}/state" and m.text == p for m in ms), 30)
        sub.clear()
        await asyncio.sleep(COMMAND_GAP_S)  # within the bridge's default rate limit (10 per 10 s per device)
    return {"commands": commands, **{k: round(v * 1000, 1) for k, v in spread(delays).items()}}


async def restart_to_correct(broker: Broker, bridge: Bridge, restarts: int) -> dict[str, Any]:
    times: list[float] = []
    for _ in range(restarts):
        await asyncio.to_thread(broker.restart)
        started = time.perf_counter()
        checker = Subscriber(broker, ["#"])
        await asyncio.to_thread(checker.connect)
        try:
            while True:
                held = await checker.retained_async()
                # what the bridge holds true now (its own diagnostic changed with the reconnect)
                expected = {**bridge.link.retained_now(), bridge.topics.status: b"online"}
                if all(held.get(t) == p for t, p in expected.items()):
                    break
                if time.perf_counter() - started > 60:
                    sys.exit("the retained states were not all back within 60 s")
                await asyncio.sleep(0.02)
        finally:
            checker.close()
        times.append(time.perf_counter() - started)
        await asyncio.sleep(1.0)
    return {
        "restarts": restarts,
        "topics": len(bridge.link.retained_now()) + 1,
        **{k: round(v, 2) for k, v in spread(times).items()},
    }


async def run(url: str, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    broker = make_broker(log_debug=False)
    try:
        sub = Subscriber(broker, ["ringvault/#"]).connect()
        options = BridgeOptions()
        light = BenchLight()
        families: list[Family] = [*default_families(options), light]
        api_options = RingApiOptions(cloud_url=url)
        async with RingApi(RefreshTokenAuth(token_store=TokenStore(home / "token.json")), api_options) as api:
            bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=families)
            await bridge.start()
            try:
                await bridge.link.wait_connected(60)
                await asyncio.sleep(2.0)  # the watch's first catch-up
                result = {
                    "families": [f.name for f in bridge.families],
                    "devices": len(bridge.devices),
                    "push_to_mqtt_ms": await push_to_mqtt(url, sub, args.dings),
                    "command_to_ring_ms": await command_to_ring(url, sub, light, args.commands),
                    "restart_to_correct_s": await restart_to_correct(broker, bridge, args.restarts),
                }
            finally:
                await bridge.aclose()
        sub.close()
        return result
    finally:
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dings", type=int, default=50)
    parser.add_argument("--commands", type=int, default=20)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="rv-bench-mqtt-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator(["--locations", "2"], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args))
    p, c, r = result["push_to_mqtt_ms"], result["command_to_ring_ms"], result["restart_to_correct_s"]
    rows = [
        Row(f"ding → event topic ({p['dings']} dings)", {"median": f"{p['median']} ms", "p95": f"{p['p95']} ms",
                                                        "max": f"{p['max']} ms", "goal": "p95 ≤ 250 ms"}),
        Row(f"MQTT set → Ring call ({c['commands']} commands)", {"median": f"{c['median']} ms",
                                                                 "p95": f"{c['p95']} ms", "max": f"{c['max']} ms"}),
        Row(f"broker restart → {r['topics']} retained topics right ({r['restarts']} restarts)",
            {"median": f"{r['median']} s", "p95": f"{r['p95']} s", "max": f"{r['max']} s", "goal": "≤ 5 s"}),
    ]  # fmt: skip
    print(markdown_table(rows))
    print(f"families: {', '.join(result['families']) or '(none)'}; devices: {result['devices']}")
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
