"""The public reconnect signal, ``RingApi.on_notifications_connected``, against the simulator's FCM stand-in: it
fires after the first login to MCS, after each reconnect firebase-messaging makes by itself (one drop: the library
reconnects, nothing else of it reports that), after the watchdog starts a new client, and when push gives way to
polling — the moments a caller must catch up from history."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.cloud.push.hub import NotificationStatus
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.cloud.test_push_e2e import WAIT_S, push_faults, push_info, sim_call
from tests.transport.ws_helpers import eventually


@pytest.mark.timeout(180)
async def test_fired_on_the_first_login_each_reconnect_and_each_restart(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        heard: list[NotificationStatus] = []
        api.on_notifications_connected.subscribe(heard.append)
        assert (await api.start_notifications()).mode == "push"
        hub = api.notifications
        assert hub is not None and hub.listener is not None
        listener = hub.listener
        assert [s.mode for s in heard] == ["push"] and listener.connections == 1  # the first login
        logins = push_info(sim)["stats"]["logins"]
        await sim_call(sim, "POST", "/_sim/push/drop")  # once: the library reconnects on its own
        await eventually(lambda: len(heard) == 2, within=WAIT_S, what="the signal after a reconnect")
        assert push_info(sim)["stats"]["logins"] == logins + 1 and listener.restarts == 0
        for _ in range(2):  # two more drops in a row: the library gives up, the watchdog starts a new client
            before = len(heard)
            await sim_call(sim, "POST", "/_sim/push/drop")
            await eventually(lambda before=before: len(heard) > before, within=WAIT_S, what="the signal")  # type: ignore[misc]
        await eventually(lambda: listener.restarts >= 1, within=WAIT_S, what="a restart")
        await eventually(lambda: listener.connections == len(heard), within=WAIT_S, what="a login per signal")
        assert all(s.mode == "push" for s in heard)


@pytest.mark.timeout(120)
async def test_fired_when_push_gives_way_to_polling(sim: SimServer, rv_home: Path) -> None:
    push_faults(sim, ring_patch_status=200)  # Ring does not accept the token: polling from the start
    async with open_api(sim, rv_home) as api:
        heard: list[NotificationStatus] = []
        api.on_notifications_connected.subscribe(heard.append)
        status = await api.start_notifications(poll_interval_s=0.2, poll_requests_per_s=100)
        assert status.mode == "polling"
        assert [(s.mode, s.reason) for s in heard] == [("polling", status.reason)]
