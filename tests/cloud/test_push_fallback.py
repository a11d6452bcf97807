"""Push refused → the polling fallback feeds the same streams, once per event, and says why once.

Google's registration is refused by the simulator's fault engine (every request under the Google host answers
503), so this runs the real listener start, the real refusal and the real poller against the real simulator."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from ringvault.cloud.push import RingEvent
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_get, sim_post
from tests.transport.ws_helpers import eventually

WAIT_S = 30.0


def refuse_google(sim: SimServer) -> None:
    response = httpx.patch(
        f"{sim.url}/_sim/faults",
        json={"error_rate": 1.0, "path_pattern": "^/(android\\.clients\\.google\\.com|firebaseinstallations)"},
        timeout=10,
    )
    response.raise_for_status()


async def wait_for(condition: asyncio.Event) -> None:
    await asyncio.wait_for(condition.wait(), WAIT_S)


@pytest.mark.timeout(180)
async def test_refused_push_falls_back_to_polling_with_the_same_events(
    sim: SimServer, rv_home: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_google(sim)
    # name an MCS endpoint through the environment, so that the listener gets as far as Google's registration
    ca = rv_home / "unused-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nunused\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("RINGVAULT_PUSH_MCS", "127.0.0.1:9")
    monkeypatch.setenv("RINGVAULT_PUSH_CA", str(ca))
    async with open_api(sim, rv_home) as api:
        camera = next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")
        with caplog.at_level(logging.WARNING, logger="ringvault.cloud.push"):
            status = await api.start_notifications(poll_interval_s=0.2, poll_requests_per_s=100)
        assert status.mode == "polling"
        assert status.reason and "registration" in status.reason
        warnings = [r.getMessage() for r in caplog.records if "polling the cameras' history" in r.getMessage()]
        assert len(warnings) == 1 and "registration" in warnings[0]
        # the library's check-in went to the simulator, rewritten by the CLOUD_URL rule (not to Google)
        logged = sim_get(sim, "/_sim/requests", limit=1000)["requests"]
        assert any("android.clients.google.com/checkin" in str(item) for item in logged), logged[-5:]

        pressed: list[RingEvent] = []
        motions: list[bool] = []
        got_ding, got_motion = asyncio.Event(), asyncio.Event()

        def on_pressed(event: RingEvent) -> None:
            pressed.append(event)
            got_ding.set()

        def on_motion(active: bool) -> None:
            motions.append(active)
            if active:
                got_motion.set()

        camera.on_doorbell_pressed.subscribe(on_pressed)
        camera.on_motion_detected.subscribe(on_motion)
        created = sim_post(sim, "/_sim/events", {"device_id": camera.id, "kind": "ding"})
        await wait_for(got_ding)
        sim_post(sim, "/_sim/events", {"device_id": camera.id, "kind": "motion"})
        await wait_for(got_motion)
        hub = api.notifications
        assert hub is not None
        rounds = hub.poller.rounds
        # the same history items are read again and again ...
        await eventually(lambda: hub.poller.rounds >= rounds + 3, within=WAIT_S, what="three more polling rounds")
        assert len(pressed) == 1  # ... and delivered once
        event = pressed[0]
        assert event.source == "poll" and event.kind == "ding"
        assert event.ding_id == str(created.get("ding_id_str") or created.get("id_str") or created.get("id"))
        assert [e.kind for e in camera.active_dings] == ["ding", "motion"]
        warnings = [r.getMessage() for r in caplog.records if "polling the cameras' history" in r.getMessage()]
        assert len(warnings) == 1
    assert api.notifications is None  # disconnect stopped it
    assert not hub.poller.running


async def test_push_disabled_polls_and_history_before_start_is_not_replayed(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        got: list[RingEvent] = []
        api.on_new_notification.subscribe(got.append)
        status = await api.start_notifications(push=False, poll_interval_s=0.2, poll_requests_per_s=100)
        assert status.mode == "polling" and status.reason == "push disabled"
        hub = api.notifications
        assert hub is not None
        await eventually(lambda: hub.poller.rounds >= 2, within=WAIT_S, what="two polling rounds")
        assert got == []  # the simulator's seeded history is older than the poller
