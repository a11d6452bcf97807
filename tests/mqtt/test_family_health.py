"""The push health family against the real simulator (MemorySink, no broker): pushes Ring silently stops sending
(the simulator's ``stale_registrations``: the MCS connection stays up) are found in history, delivered once, turn
the problem ON, make a new registration, and the problem turns OFF once push delivers again; the button; the bound
on the check's history requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.archive.follow import EventWatch
from ringvault.cloud.api import RingApi
from ringvault.cloud.errors import RingError
from ringvault.cloud.push import RingEvent
from ringvault.cloud.push.hub import NotificationHub, NotificationStatus
from ringvault.mqtt.families import family_modules
from ringvault.mqtt.families.health import MIN_CHECK_S, HealthFamily, make_family
from ringvault.mqtt.model import BridgeContext, CommandRejected, MqttDevice
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import doorbells
from tests.cloud.api_helpers import open_api, sim_get
from tests.mqtt.sink_helpers import MemorySink, wait_until

WAIT_S = 60.0
GRACE_S = 1.0


@dataclass
class Running:
    api: RingApi
    watch: EventWatch
    family: HealthFamily
    sink: MemorySink
    bridge: MqttDevice
    events: list[RingEvent]
    status: NotificationStatus

    @property
    def hub(self) -> NotificationHub:
        hub = self.api.notifications
        assert hub is not None
        return hub

    def state(self, key: str) -> Any:
        return self.sink.state(self.bridge.entity(key))

    def deliveries(self, ding_id: str) -> list[RingEvent]:
        return [e for e in self.events if e.ding_id == ding_id]


@asynccontextmanager
async def running(
    sim: SimServer,
    home: Path,
    *,
    options: BridgeOptions | None = None,
    min_check_s: float = MIN_CHECK_S,
    push: bool = True,
) -> AsyncIterator[Running]:
    """The family on a bridge device, fed by an EventWatch as the Bridge feeds it (``on_event``)."""
    options = options or BridgeOptions()
    async with open_api(sim, home) as api:
        sink = MemorySink()
        bridge = MqttDevice(location="bridge", ident="bridge", name="ringvault")
        watch = EventWatch(api, push=push)
        family = HealthFamily(options, grace_s=GRACE_S, min_check_s=min_check_s)
        events: list[RingEvent] = []
        watch.on_event.subscribe(events.append)
        watch.on_event.subscribe(family.on_event)
        assert await family.start(BridgeContext(api=api, options=options, sink=sink, bridge=bridge, watch=watch)) == []
        status = await watch.start()
        try:
            yield Running(api, watch, family, sink, bridge, events, status)
        finally:
            await family.aclose()
            await watch.aclose()


async def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{sim.url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


async def ding(sim: SimServer, device_id: int) -> tuple[str, bool]:
    """Press a doorbell: its ding id, and whether the simulator handed a push to MCS (False: lost silently)."""
    answer = await sim_call(sim, "POST", f"/_sim/devices/{device_id}/ding")
    pushed = any(p["persistent_id"] for p in answer["pushes"])
    return answer["event"]["id_str"], pushed


async def older_than_grace() -> None:
    """Let the newest event age past the grace period (push may be slower than that): only an event older than it
    is judged. Waiting longer only makes the event older, never changes the outcome."""
    await asyncio.sleep(GRACE_S + 0.5)


def history_requests(sim: SimServer) -> int:
    counts = sim_get(sim, "/_sim/stats", prefix="GET api.ring.com/clients_api/doorbots")["endpoints"]
    return sum(v["count"] for k, v in counts.items() if k.endswith("/history"))


@pytest.mark.timeout(240)
async def test_silently_lost_pushes_are_delivered_once_and_push_is_registered_anew(
    sim: SimServer, rv_home: Path
) -> None:
    [doorbell] = doorbells(sim, 1)
    async with running(sim, rv_home) as run:
        assert run.status.mode == "push", run.status.reason
        registered = run.state("push_registered")
        assert isinstance(registered, str) and registered.startswith("20")
        assert run.state("push_last") == "None"  # Home Assistant's "unknown": nothing pushed yet
        assert (run.state("push_mode"), run.state("push_problem"), run.state("push_missed")) == ("push", "OFF", "0")

        # push works: a check finds nothing missing
        first, pushed = await ding(sim, doorbell)
        assert pushed
        await wait_until(lambda: len(run.deliveries(first)) == 1, "the pushed ding", WAIT_S)
        assert run.deliveries(first)[0].source == "push" and str(run.state("push_last")).startswith("20")
        await older_than_grace()
        assert await run.family.check() == 0
        assert (run.state("push_problem"), run.family.reregistrations) == ("OFF", 0)

        # Ring stops pushing to this token; the MCS connection stays up
        await sim_call(sim, "PATCH", "/_sim/push/faults", {"stale_registrations": True})
        lost, pushed = await ding(sim, doorbell)
        assert not pushed, "the simulator should have lost the push"
        assert sim_get(sim, "/_sim/push")["connected"], "the MCS connection should still be up"
        await older_than_grace()
        assert await run.family.check() == 1
        [delivered] = run.deliveries(lost)  # found in history, delivered once
        assert delivered.source == "poll"
        assert run.state("push_problem") == "ON" and run.state("push_missed") == "1"
        assert run.family.reregistrations == 1 and run.hub.reregistrations == 1
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 2
        assert run.state("push_mode") == "polling"
        attributes = run.bridge.entity("push_problem").attributes
        assert attributes is not None and "1 event(s) push did not deliver" in attributes()["reason"]
        assert run.state("push_registered") > registered  # ISO 8601 in UTC: later sorts after

        # the new token gets pushes again: the problem turns OFF and polling stops
        third, pushed = await ding(sim, doorbell)
        assert pushed
        await wait_until(lambda: run.state("push_problem") == "OFF", "the problem turning off", WAIT_S)
        await wait_until(lambda: run.state("push_mode") == "push", "push mode again", WAIT_S)
        assert f"ding:{third}" in run.hub.pushed
        await wait_until(lambda: len(run.deliveries(third)) == 1, "the third ding", WAIT_S)
        await older_than_grace()
        assert await run.family.check() == 0
        for ding_id in (first, lost, third):
            assert len(run.deliveries(ding_id)) == 1, ding_id
        assert run.state("push_missed") == "1" and run.family.reregistrations == 1


@pytest.mark.timeout(180)
async def test_motions_count_only_where_push_delivered_that_kind_before(sim: SimServer, rv_home: Path) -> None:
    """Ring pushes motions as the app's alerts say (person-only alerts: plain motions recorded, not pushed; ring-mqtt
    #374): a motion push never delivered for a camera is no evidence; once push delivered one, a lost one is."""
    [doorbell] = doorbells(sim, 1)
    async with running(sim, rv_home) as run:
        assert run.status.mode == "push"
        await sim_call(sim, "PATCH", "/_sim/push/faults", {"stale_registrations": True})
        unseen = (await sim_call(sim, "POST", f"/_sim/devices/{doorbell}/motion", {"detection": "person"}))["event"]
        await older_than_grace()
        assert await run.family.check() == 0  # delivered from history, but not counted
        assert len(run.deliveries(unseen["id_str"])) == 1 and run.state("push_problem") == "OFF"

        await sim_call(sim, "PATCH", "/_sim/push/faults", {"stale_registrations": False})
        seen = (await sim_call(sim, "POST", f"/_sim/devices/{doorbell}/motion", {"detection": "person"}))["event"]
        await wait_until(lambda: len(run.deliveries(seen["id_str"])) == 1, "the pushed motion", WAIT_S)
        assert run.deliveries(seen["id_str"])[0].source == "push"
        await sim_call(sim, "PATCH", "/_sim/push/faults", {"stale_registrations": True})
        lost = (await sim_call(sim, "POST", f"/_sim/devices/{doorbell}/motion", {"detection": "person"}))["event"]
        await older_than_grace()
        assert await run.family.check() == 1
        assert run.state("push_problem") == "ON" and len(run.deliveries(lost["id_str"])) == 1


@pytest.mark.timeout(180)
async def test_the_button_registers_push_anew_and_refuses_other_payloads(sim: SimServer, rv_home: Path) -> None:
    [doorbell] = doorbells(sim, 1)
    async with running(sim, rv_home) as run:
        button = run.bridge.entity("push_reregister")
        assert button.component == "button" and button.read is None and button.command is not None
        with pytest.raises(CommandRejected, match="takes PRESS"):
            await button.command("press it")
        assert run.family.reregistrations == 0
        before = run.state("push_registered")
        await button.command("PRESS")
        assert run.family.reregistrations == 1
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 2
        assert run.state("push_registered") > before
        assert run.state("push_mode") == "polling"  # until push shows it delivers
        ding_id, pushed = await ding(sim, doorbell)
        assert pushed
        await wait_until(lambda: run.state("push_mode") == "push", "push mode after the press", WAIT_S)
        assert [e.source for e in run.deliveries(ding_id)] == ["push"] and run.state("push_problem") == "OFF"


@pytest.mark.timeout(120)
async def test_the_button_says_in_one_line_when_this_process_does_not_receive_push(
    sim: SimServer, rv_home: Path
) -> None:
    async with running(sim, rv_home, push=False) as run:
        assert run.state("push_mode") == "polling"
        command = run.bridge.entity("push_reregister").command
        assert command is not None
        with pytest.raises(RingError) as caught:
            await command("PRESS")
        assert "push is disabled" in caught.value.one_line and "\n" not in caught.value.one_line
        assert run.family.reregistrations == 0
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 0


def test_the_check_never_runs_more_often_than_every_minute() -> None:
    assert make_family(BridgeOptions(health_check_s=1)).interval_s == MIN_CHECK_S == 60.0
    assert make_family(BridgeOptions(health_check_s=600)).interval_s == 600.0
    assert "health" in family_modules()


@pytest.mark.timeout(180)
async def test_each_check_reads_one_history_page_per_camera_on_its_schedule(sim: SimServer, rv_home: Path) -> None:
    """The schedule with the minimum lowered to 1 s (asked: 0.2 s): checks come no faster than that, and each reads
    exactly one history page per camera and intercom."""
    started = time.monotonic()
    async with running(sim, rv_home, options=BridgeOptions(health_check_s=0.2), min_check_s=1.0) as run:
        assert run.family.interval_s == 1.0
        await wait_until(lambda: run.family.checks >= 3 and run.watch.catch_ups >= 1, "three checks", WAIT_S)
        await run.family.aclose()  # no check in flight from here on
        elapsed = time.monotonic() - started
        devices = len(run.hub.poller.devices())
        assert devices >= 2
        assert run.family.checks <= elapsed / run.family.interval_s + 1
        # history is read by the watch's catch-up at its start and by the checks, by nothing else
        assert history_requests(sim) == (run.watch.catch_ups + run.family.checks) * devices


@pytest.mark.timeout(120)
async def test_no_check_while_the_push_connection_is_down(sim: SimServer, rv_home: Path) -> None:
    """What Ring sends while MCS is away waits there (and the watch catches up at the login): a check then would
    take a slow connection for a lost registration, so it reads nothing and judges nothing."""
    [doorbell] = doorbells(sim, 1)
    async with running(sim, rv_home) as run:
        await wait_until(lambda: run.watch.catch_ups >= 1, "the watch's first catch-up", WAIT_S)
        listener = run.hub.listener
        assert listener is not None and listener.running
        await listener.stop()  # the connection is gone; the hub still means to receive push
        assert run.hub.status.mode == "push" and not listener.running
        ding_id, _ = await ding(sim, doorbell)
        await older_than_grace()
        before = history_requests(sim)
        assert await run.family.check() == 0
        assert history_requests(sim) == before and run.family.checks == 0
        assert run.state("push_problem") == "OFF" and run.deliveries(ding_id) == []
