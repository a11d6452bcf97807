"""The MQTT bridge's push health (issue 17, Deliver 4) against the simulator in its own process:

1. ``RingApi.reregister_push()``: the old listener stopped, a new FCM registration (check-in, GCM register,
   installation, FCM registration), the token told to Ring (``PATCH clients_api/device``), the MCS login: N times;
2. one health check (``HealthFamily.check``): one history page per camera and intercom at the hub poller's rate
   (1 request/s), timed and counted through the simulator's ``/_sim/stats``;
3. a silent push failure end to end, at the family's real grace (120 s) left out: ``stale_registrations`` on, a ding
   (lost), the check after the grace (timed from the check's start): missed → re-registered → the next ding pushed
   to the new token → the problem OFF (timed from that ding's POST).

Run: ``.venv/bin/python -m bench.push_health [--reregistrations 10] [--json out.json]``. No goal is set by the issue;
the numbers say what a re-registration and a check cost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, emit_json, env, login_ringvault, markdown_table, simulator, spread
from ringvault.archive.follow import EventWatch
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenStore
from ringvault.mqtt.families.health import HealthFamily
from ringvault.mqtt.model import BridgeContext, MqttDevice
from ringvault.mqtt.options import BridgeOptions
from tests.mqtt.sink_helpers import MemorySink

GRACE_S = 1.0


def _history_requests(url: str) -> int:
    doc = httpx.get(f"{url}/_sim/stats", params={"prefix": "GET api.ring.com/clients_api/doorbots"}, timeout=10).json()
    return sum(int(v["count"]) for k, v in doc["endpoints"].items() if k.endswith("/history"))


async def _post(url: str, path: str, body: Any = None, method: str = "POST") -> Any:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.request(method, f"{url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


async def _until(check: Any, what: str, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} within {timeout:.0f} s")
        await asyncio.sleep(0.005)


async def _quiet(url: str, for_s: float = 2.0) -> int:
    """The history request count once it has not changed for ``for_s`` seconds."""
    count, since = _history_requests(url), time.monotonic()
    while time.monotonic() - since < for_s:
        await asyncio.sleep(0.2)
        now = _history_requests(url)
        if now != count:
            count, since = now, time.monotonic()
    return count


async def run(url: str, home: Path, reregistrations: int) -> dict[str, Any]:
    options = BridgeOptions()
    async with RingApi(
        RefreshTokenAuth(token_store=TokenStore(home / "token.json")), RingApiOptions(cloud_url=url)
    ) as api:
        sink = MemorySink()
        bridge = MqttDevice(location="bridge", ident="bridge", name="ringvault")
        family = HealthFamily(options, grace_s=GRACE_S)
        watch = EventWatch(api)
        watch.on_event.subscribe(family.on_event)
        await family.start(BridgeContext(api=api, options=options, sink=sink, bridge=bridge, watch=watch))
        status = await watch.start()
        if status.mode != "push":
            raise SystemExit(f"push did not start: {status.reason}")
        try:
            await _until(lambda: watch.catch_ups >= 1, "first catch-up")
            times = []
            for _ in range(reregistrations):
                started = time.perf_counter()
                status = await api.reregister_push()
                times.append((time.perf_counter() - started) * 1000)
                if status.mode != "push":
                    raise SystemExit(f"a re-registration fell back to polling: {status.reason}")
            hub = api.notifications
            assert hub is not None
            devices = len(hub.poller.devices())
            before = await _quiet(url)  # the watch catches up after each new login: let those passes end
            started = time.perf_counter()
            await family.check()
            check_s = time.perf_counter() - started
            requests = _history_requests(url) - before

            doorbell = next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")
            await _post(url, "/_sim/push/faults", {"stale_registrations": True}, method="PATCH")
            await _post(url, f"/_sim/devices/{doorbell.id}/ding")
            await asyncio.sleep(GRACE_S + 0.5)
            started = time.perf_counter()
            missed = await family.check()
            react_s = time.perf_counter() - started
            if missed != 1 or not family.problem:
                raise SystemExit(f"the check found {missed} missed events")
            started = time.perf_counter()
            await _post(url, f"/_sim/devices/{doorbell.id}/ding")
            await _until(lambda: not family.problem and family.mode() == "push", "recovery")
            recover_ms = (time.perf_counter() - started) * 1000
        finally:
            await family.aclose()
            await watch.aclose()
    return {
        "reregister_ms": {"count": reregistrations, **{k: round(v, 1) for k, v in spread(times).items()}},
        "check": {"devices": devices, "history_requests": requests, "seconds": round(check_s, 2)},
        "missed_check_with_reregistration_s": round(react_s, 2),
        "ding_after_reregistration_to_problem_off_ms": round(recover_ms, 1),
        "reregister_mean_ms": round(statistics.fmean(times), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reregistrations", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="rv-bench-health-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        with simulator(["--locations", "2"], work) as url:
            login_ringvault(url, env(RINGVAULT_HOME=str(home), RINGVAULT_CLOUD_URL=url))
            result = asyncio.run(run(url, home, args.reregistrations))
    r, c = result["reregister_ms"], result["check"]
    rows = [
        Row(f"reregister_push ({r['count']} times)", {"median": f"{r['median']} ms", "p95": f"{r['p95']} ms",
                                                      "max": f"{r['max']} ms"}),
        Row(f"one check ({c['devices']} cameras/intercoms)", {"median": f"{c['seconds']} s",
                                                              "requests": c["history_requests"]}),
        Row("check finding a lost ding, re-registering",
            {"median": f"{result['missed_check_with_reregistration_s']} s"}),
        Row("ding after re-registration → problem OFF",
            {"median": f"{result['ding_after_reregistration_to_problem_off_ms']} ms"}),
    ]  # fmt: skip
    print(markdown_table(rows))
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
