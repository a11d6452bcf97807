"""``ringvault.archive.follow.EventWatch`` (what ``watch`` and ``serve`` run) against the simulator: a pushed ding
reaches ``on_event`` and its recording ``on_archived`` as ``done``; a recording Ring does not prepare in time is
reported ``pending`` (and the next pass, once Ring has it, reports it ``done``); a ding whose push was lost is
caught up from history right after the library reconnects by itself (the reconnect signal; before it, a catch-up
needed the listener to be restarted after three drops in a row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.archive.follow import EventWatch
from ringvault.archive.store import ArchiveStore
from ringvault.archive.watch import ArchiveFollower, RecordingChange, watch_options
from ringvault.cloud.push import RingEvent
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.cloud.test_push_e2e import push_faults, push_info, sim_call
from tests.server.events_helpers import until

pytestmark = pytest.mark.timeout(240)


def _doorbell(sim: SimServer) -> int:
    return min(
        d.id
        for d in sim.state.world.devices.values()
        if d.family == "doorbots" and d.spec.protect and not d.is_intercom
    )


async def test_events_and_recordings_reach_subscribers(sim: SimServer, rv_home: Path, tmp_path: Path) -> None:
    camera = _doorbell(sim)
    archive = tmp_path / "archive"
    with ArchiveStore.open(archive) as store:
        async with open_api(sim, rv_home) as api:
            follower = ArchiveFollower(api, store, archive, watch_options(2.0), devices=[str(camera)])
            watch = EventWatch(api, follower)
            events: list[RingEvent] = []
            changes: list[RecordingChange] = []
            watch.on_event.subscribe(events.append)
            watch.on_archived.subscribe(changes.append)
            try:
                assert (await watch.start()).mode == "push"
                await until(lambda: watch.catch_ups >= 1, "the first catch-up")
                answer = await sim_call(sim, "POST", f"/_sim/devices/{camera}/ding")
                ding_id = answer["event"]["id_str"]
                await until(lambda: any(c.event_id == ding_id for c in changes), "the archived recording")
                assert [e.source for e in events if e.ding_id == ding_id] == ["push"]
                [change] = [c for c in changes if c.event_id == ding_id]
                assert (change.status, change.device_id, change.kind) == ("done", camera, "ding")

                await sim_call(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 3600})
                late = (await sim_call(sim, "POST", f"/_sim/devices/{camera}/ding"))["event"]["id_str"]
                await until(lambda: any(c.event_id == late for c in changes), "the late recording reported")
                assert [c.status for c in changes if c.event_id == late] == ["pending"]
                await sim_call(sim, "PATCH", "/_sim/faults", {"recording_delay_s": 0})
                follower.catch_up()  # what the next reconnect (or serve's next pass) does
                await until(lambda: [c.status for c in changes if c.event_id == late] == ["pending", "done"], "done")
            finally:
                await watch.aclose()
            assert api.notifications is None  # aclose stopped the notifications


async def test_a_lost_push_is_caught_up_after_the_library_reconnects(sim: SimServer, rv_home: Path) -> None:
    camera = _doorbell(sim)
    async with open_api(sim, rv_home) as api:
        watch = EventWatch(api)
        events: list[RingEvent] = []
        watch.on_event.subscribe(events.append)
        try:
            assert (await watch.start()).mode == "push"
            await until(lambda: watch.catch_ups >= 1, "the first catch-up")
            push_faults(sim, lose_next=1)
            lost = (await sim_call(sim, "POST", f"/_sim/devices/{camera}/ding"))["event"]["id_str"]
            assert push_info(sim)["stats"]["lost"] == 1  # the simulator dropped it instead of pushing it
            logins = push_info(sim)["stats"]["logins"]
            await sim_call(sim, "POST", "/_sim/push/drop")  # one drop: firebase-messaging reconnects by itself
            await until(lambda: push_info(sim)["stats"]["logins"] > logins, "a new MCS login")
            await until(lambda: any(e.ding_id == lost for e in events), "the lost ding, from history")
            assert [e.source for e in events if e.ding_id == lost] == ["poll"]
            assert api.notifications is not None and api.notifications.listener.restarts == 0
            after = (await sim_call(sim, "POST", f"/_sim/devices/{camera}/ding"))["event"]["id_str"]
            await until(lambda: any(e.ding_id == after for e in events), "a ding after the reconnect")
            assert [e.ding_id for e in events].count(lost) == 1
        finally:
            await watch.aclose()
