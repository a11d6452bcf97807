"""What the hub benches of the MQTT bridge share (``mqtt_hub``, ``mqtt_access``, ``mqtt_climate``): the simulator's
hub control API, the latency probes (``until``, ``command``), one bridge over a real Mosquitto broker with the
families a bench measures (``bridged``), and the command line every one of them takes (``bench_main``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import emit_json, env, login_ringvault, simulator
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.hub.device import flatten
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.model import Family
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Received, Subscriber, make_broker

__all__ = ["WAIT_S", "alarm_world", "bench_main", "bridged", "command", "hub_control", "until"]

WAIT_S = 60.0


def hub_control(url: str, method: str, path: str, body: Any = None) -> Any:
    """One call of the simulator's hub control API (``/_sim/hub``)."""
    response = httpx.request(method, f"{url}/_sim/hub{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.json() if response.content else None


def alarm_world(url: str) -> tuple[str, dict[str, str], str]:
    """The alarm location, its hub devices' zids by name, and the camera-only location."""
    locations = hub_control(url, "GET", "")["locations"]
    alarm = next(h for h in locations if any(a["kind"].startswith("base_station") for a in h["assets"]))
    zids = {flatten(device)["name"]: flatten(device)["zid"] for asset in alarm["assets"] for device in asset["devices"]}
    world = httpx.get(f"{url}/_sim/world", params={"events": "count"}, timeout=20).json()
    hubbed = {h["location_id"] for h in locations}
    plain = next(loc["location_id"] for loc in world["locations"] if loc["location_id"] not in hubbed)
    return alarm["location_id"], zids, plain


async def until(sub: Subscriber, topic: str, matches: Callable[[bytes], bool], after: float) -> float:
    """Seconds from ``after`` until a message on ``topic`` arriving after it matches."""

    def found(messages: list[Received]) -> Received | None:
        return next((m for m in messages if m.topic == topic and m.at >= after and matches(m.payload)), None)

    message = await sub.wait_for_async(found, WAIT_S, f"a message on {topic}")
    assert message is not None  # (wait_for_async raises rather than return nothing)
    return message.at - after


async def command(sub: Subscriber, set_topic: str, payload: str, state: str, matches: Callable[[bytes], bool]) -> float:
    """Seconds from publishing ``payload`` on ``set_topic`` until ``state`` carries a payload that ``matches``."""
    started = time.monotonic()
    await asyncio.to_thread(sub.publish, set_topic, payload)
    return await until(sub, state, matches, started)


@asynccontextmanager
async def bridged(
    url: str, home: Path, nodelay: bool, families: Callable[[BridgeOptions], list[Family]]
) -> AsyncIterator[tuple[Subscriber, float]]:
    """A broker (``set_tcp_nodelay`` when ``nodelay``), a subscriber to ``ringvault/#`` and the bridge with
    ``families`` on ``home``'s login, started and connected; yields the subscriber and the monotonic time just before
    the bridge started. Everything is stopped afterwards."""
    broker = make_broker(log_debug=False, extra_config=["set_tcp_nodelay true"] if nodelay else [])
    try:
        sub = Subscriber(broker, ["ringvault/#"]).connect()
        store = TokenStore(home / "token.json")
        async with RingApi(RefreshTokenAuth(token_store=store), RingApiOptions(cloud_url=url)) as api:
            options = BridgeOptions(command_rate=1000)  # the benches send faster than the default 10 per 10 s
            bridge = Bridge(api, options, BrokerUrl.parse(broker.url), families=families(options))
            try:
                started = time.monotonic()
                await bridge.start()
                await bridge.link.wait_connected(60)
                yield sub, started
            finally:
                await bridge.aclose()
        sub.close()
    finally:
        broker.close()


def bench_main(
    description: str | None, prefix: str, run: Callable[[str, Path, int, bool], Coroutine[Any, Any, dict[str, Any]]]
) -> None:
    """``--samples`` / ``--json`` / ``--nodelay``, the simulator in its own process with a logged-in home, then
    ``run(url, home, samples, nodelay)`` and its result as JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--nodelay", action="store_true", help="set_tcp_nodelay on the broker (Mosquitto's default is off: ~40 ms)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator([], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args.samples, args.nodelay))
    emit_json(result, args.json)
