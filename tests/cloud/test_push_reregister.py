"""``RingApi.reregister_push``: a new FCM registration in place of a token Ring silently stopped pushing to (the
simulator's ``stale_registrations`` knob: the MCS connection stays up, pushes vanish), its refusals, and its failure
(polling until a later re-registration succeeds). Real listener, real simulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.push import PushStore, RingEvent
from ringvault.cloud.push.hub import NotificationHub, PushNotOursError
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_get
from tests.transport.ws_helpers import eventually

WAIT_S = 30.0


async def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{sim.url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


async def doorbell(api: RingApi) -> RingCamera:
    return next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")


async def ding(sim: SimServer, camera: RingCamera) -> tuple[str, bool]:
    """The new ding's id, and whether the simulator handed its push to MCS (False: lost)."""
    answer = await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
    return answer["event"]["id_str"], any(p["persistent_id"] for p in answer["pushes"])


def collect(camera: RingCamera) -> tuple[list[RingEvent], Callable[[str], Callable[[], bool]]]:
    got: list[RingEvent] = []
    camera.on_new_notification.subscribe(got.append)
    return got, lambda ding_id: lambda: any(e.ding_id == ding_id for e in got)


def hub_of(api: RingApi) -> NotificationHub:
    hub = api.notifications
    assert hub is not None
    return hub


def stored_token(home: Path) -> str:
    path = PushStore.beside(home / "token.json").credentials_path
    assert path is not None and path.stat().st_mode & 0o777 == 0o600
    token: str = json.loads(path.read_text())["credentials"]["fcm"]["registration"]["token"]
    return token


@pytest.mark.timeout(180)
@pytest.mark.parametrize("knob_path", ["/_sim/push/faults", "/_sim/config"])
async def test_a_new_registration_replaces_a_token_ring_stopped_pushing_to(
    sim: SimServer, rv_home: Path, knob_path: str
) -> None:
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        hub = hub_of(api)
        camera = await doorbell(api)
        got, have = collect(camera)
        old_token, registered = stored_token(rv_home), hub.store.registered_at()
        assert registered is not None

        body = {"stale_registrations": True}
        await sim_call(sim, "PATCH", knob_path, body if knob_path.endswith("faults") else {"push": body})
        lost, pushed = await ding(sim, camera)
        assert not pushed and sim_get(sim, "/_sim/push")["stats"]["lost"] >= 1
        assert sim_get(sim, "/_sim/push")["connected"], "MCS stays connected: nothing on the connection shows it"
        assert hub.status.mode == "push" and f"ding:{lost}" not in hub.pushed

        status = await api.reregister_push()
        assert status.mode == "push", status.reason
        assert hub.reregistrations == 1 and hub.listener is not None and hub.listener.registrations == 1
        push = sim_get(sim, "/_sim/push")
        assert push["google"]["fcm_registrations"] == 2
        [ring] = push["ring_registrations"]
        assert ring["token_registered_with_google"]  # Ring was told the new token
        assert stored_token(rv_home) != old_token
        renewed = hub.store.registered_at()
        assert renewed is not None and renewed > registered

        fresh, pushed = await ding(sim, camera)
        assert pushed
        await eventually(have(fresh), within=WAIT_S, what="the ding pushed to the new token")
        assert [e.source for e in got if e.ding_id == fresh] == ["push"]
        assert f"ding:{fresh}" in hub.pushed and hub.last_push_at is not None

    # the new credentials were kept: a restart reuses them and receives
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        hub = hub_of(api)
        assert hub.listener is not None and hub.listener.registrations == 0
        camera = await doorbell(api)
        got, have = collect(camera)
        again, pushed = await ding(sim, camera)
        assert pushed
        await eventually(have(again), within=WAIT_S, what="a ding after the restart")
    assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 2


@pytest.mark.timeout(180)
async def test_reregistering_is_refused_where_this_process_does_not_receive_push(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        with pytest.raises(PushNotOursError, match="not running"):
            await api.reregister_push()
        assert (await api.start_notifications(push=False)).mode == "polling"
        with pytest.raises(PushNotOursError, match="push is disabled"):
            await api.reregister_push()
    async with open_api(sim, rv_home) as first, open_api(sim, rv_home) as second:
        assert (await first.start_notifications()).mode == "push"
        assert (await second.start_notifications()).mode == "polling"  # the push lock is the first one's
        with pytest.raises(PushNotOursError, match="another ringvault process") as caught:
            await second.reregister_push()
        assert "\n" not in caught.value.one_line
        assert sim_get(sim, "/_sim/push")["google"]["fcm_registrations"] == 1
        await second.stop_notifications()
        with pytest.raises(PushNotOursError, match="not running"):
            await second.reregister_push()


@pytest.mark.timeout(180)
async def test_a_refused_registration_polls_until_a_later_one_succeeds(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications(poll_interval_s=0.2, poll_requests_per_s=100)).mode == "push"
        hub = hub_of(api)
        camera = await doorbell(api)
        got, have = collect(camera)

        await sim_call(sim, "PATCH", "/_sim/push/faults", {"register_error": "PHONE_REGISTRATION_ERROR"})
        status = await api.reregister_push()
        assert status.mode == "polling" and status.reason and "registration" in status.reason
        assert hub.listener is None and hub.poller.running
        polled, _ = await ding(sim, camera)  # no registration Ring could push to: history only
        await eventually(have(polled), within=WAIT_S, what="the polled ding")
        assert [e.source for e in got if e.ding_id == polled] == ["poll"]

        await sim_call(sim, "PATCH", "/_sim/push/faults", {"register_error": None})
        status = await api.reregister_push()
        assert status.mode == "push" and hub.reregistrations == 2
        await eventually(lambda: not hub.poller.running, within=WAIT_S, what="the poller stopping")
        pushed_id, pushed = await ding(sim, camera)
        assert pushed
        await eventually(have(pushed_id), within=WAIT_S, what="the pushed ding")
        assert [e.source for e in got if e.ding_id == pushed_id] == ["push"]
