"""End to end against the simulator's FCM stand-in: the real client (firebase-messaging, unmodified, configured by
ringvault) registers, tells Ring, and receives what ``POST /_sim/devices/{id}/ding`` (and friends) push through a
real TLS MCS connection. Uses the simulator's ``/_sim/push`` control routes (docs/simulator.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.push import RingEvent
from ringvault.cloud.push.store import PushStore
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, sim_get, sim_post
from tests.transport.ws_helpers import eventually

WAIT_S = 30.0


def push_info(sim: SimServer) -> dict[str, Any]:
    info: dict[str, Any] = sim_get(sim, "/_sim/push")
    return info


def push_faults(sim: SimServer, **knobs: Any) -> None:
    httpx.patch(f"{sim.url}/_sim/push/faults", json=knobs, timeout=10).raise_for_status()


async def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, f"{sim.url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


async def cameras(api: RingApi, count: int = 1) -> list[RingCamera]:
    found = [c for c in await api.get_cameras() if c.has_event_history]
    return found[:count]


def collect(signal: Any) -> tuple[list[RingEvent], Callable[[int], Callable[[], bool]]]:
    got: list[RingEvent] = []
    signal.subscribe(got.append)
    return got, lambda n: lambda: len(got) >= n


@pytest.mark.timeout(120)
async def test_registration_then_a_ding_reaches_on_doorbell_pressed(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        status = await api.start_notifications()
        assert status.mode == "push", status.reason
        hub = api.notifications
        assert hub is not None and hub.listener is not None and hub.listener.registrations == 1
        info = push_info(sim)
        assert info["google"]["fcm_registrations"] == 1
        [registration] = info["ring_registrations"]
        assert registration["pn_dict_version"] == "2.0.0" and registration["token_registered_with_google"]
        camera = next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")
        pressed, have = collect(camera.on_doorbell_pressed)
        answer = await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
        await eventually(have(1), within=WAIT_S, what="the pushed ding")
        event = pressed[0]
        assert (event.kind, event.source, event.device_id) == ("ding", "push", camera.id)
        assert event.ding_id == answer["event"]["id_str"]  # 19 digits, exact
        assert [e.ding_id for e in camera.active_dings] == [event.ding_id]
    credentials = PushStore.beside(rv_home / "token.json").credentials_path
    assert credentials is not None and credentials.stat().st_mode & 0o777 == 0o600


@pytest.mark.timeout(120)
async def test_a_restart_reuses_the_credentials_and_does_not_register_again(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        hub = api.notifications
        assert hub is not None and hub.listener is not None and hub.listener.registrations == 0
        [camera] = await cameras(api)
        got, have = collect(camera.on_new_notification)
        await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/motion", {"detection": "person"})
        await eventually(have(1), within=WAIT_S, what="the pushed motion")
        assert got[0].kind == "motion" and got[0].detection == "person"
    google = push_info(sim)["google"]
    assert google["fcm_registrations"] == 1 and google["gcm_registrations"] == 1
    assert google["checkins"] >= 1


@pytest.mark.timeout(180)
async def test_dropped_mcs_connections_and_duplicates_lose_nothing_and_duplicate_nothing(
    sim: SimServer, rv_home: Path
) -> None:
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        chosen = await cameras(api, 3)
        got: list[RingEvent] = []
        for camera in chosen:
            camera.on_new_notification.subscribe(got.append)
        sent: set[str] = set()
        for _ in range(3):
            logins = push_info(sim)["stats"]["logins"]
            await sim_call(sim, "POST", "/_sim/push/drop")
            for camera in chosen:  # sent while the connection is down: kept by MCS until acknowledged
                answer = await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
                sent.add(answer["event"]["id_str"])
            await eventually(
                lambda logins=logins: push_info(sim)["stats"]["logins"] > logins, within=WAIT_S, what="a new login"
            )
        push_faults(sim, duplicate_next=2)  # the same persistent id twice
        for camera in chosen[:2]:
            answer = await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
            sent.add(answer["event"]["id_str"])
        await eventually(lambda: len(got) >= len(sent), within=WAIT_S, what="every ding")
        await eventually(lambda: push_info(sim)["pending"] == {}, within=WAIT_S, what="an empty MCS outbox")
        assert sorted(e.ding_id or "" for e in got) == sorted(sent)  # each once
        assert push_info(sim)["stats"]["duplicated"] >= 2


@pytest.mark.timeout(180)
async def test_the_library_giving_up_is_noticed_and_it_is_started_again(sim: SimServer, rv_home: Path) -> None:
    """Three drops in a row with nothing received in between make firebase-messaging stop for good (3 sequential
    connection errors; python-ring-doorbell #526). The watchdog starts a new client with the same credentials."""
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        hub = api.notifications
        assert hub is not None and hub.listener is not None
        listener = hub.listener
        for _ in range(3):
            logins = push_info(sim)["stats"]["logins"]
            await sim_call(sim, "POST", "/_sim/push/drop")
            await eventually(
                lambda logins=logins: push_info(sim)["stats"]["logins"] > logins, within=WAIT_S, what="a new login"
            )
        await eventually(lambda: listener.restarts >= 1 and listener.running, within=WAIT_S, what="a restart")
        [camera] = await cameras(api)
        got, have = collect(camera.on_new_notification)
        await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
        await eventually(have(1), within=WAIT_S, what="a ding after the restart")
        assert got[0].kind == "ding" and got[0].source == "push"
        assert hub.listener.registrations == 1  # the restart checked in with the same credentials
        assert push_info(sim)["google"]["fcm_registrations"] == 1


@pytest.mark.timeout(120)
async def test_intercom_unlock_and_alarm_notices_reach_their_streams(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        intercom = (await api.get_intercoms())[0]
        unlocked, have_unlock = collect(intercom.on_unlocked)
        await sim_call(sim, "POST", f"/_sim/devices/{intercom.id}/unlock")
        await eventually(have_unlock(1), within=WAIT_S, what="the intercom unlock")
        assert unlocked[0].device_id == intercom.id
        location = next(loc for loc in await api.get_locations() if loc.has_alarm_base_station)
        alarms, have_alarm = collect(location.on_alarm_notice)
        await sim_call(sim, "POST", f"/_sim/locations/{location.id}/alarm", {"kind": "siren"})
        await eventually(have_alarm(1), within=WAIT_S, what="the alarm notice")
        assert alarms[0].alarm_kind == "alarm_siren"


@pytest.mark.timeout(120)
async def test_ring_refusing_the_token_falls_back_to_polling(
    sim: SimServer, rv_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    push_faults(sim, ring_patch_status=200)  # prd: anything but 204 means "not registered"
    async with open_api(sim, rv_home) as api:
        with caplog.at_level(logging.WARNING, logger="ringvault.cloud.push"):
            status = await api.start_notifications(poll_interval_s=0.2, poll_requests_per_s=100)
        assert status.mode == "polling" and status.reason and "204" in status.reason
        camera = next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")
        pressed, have = collect(camera.on_doorbell_pressed)
        answer = await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
        await eventually(have(1), within=WAIT_S, what="the polled ding")
        assert pressed[0].source == "poll" and pressed[0].ding_id == answer["event"]["id_str"]
        assert sum("polling the cameras' history" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.timeout(120)
async def test_no_credential_secret_reaches_any_log_line(
    sim: SimServer, rv_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with open_api(sim, rv_home) as api:
            assert (await api.start_notifications()).mode == "push"
            [camera] = await cameras(api)
            got, have = collect(camera.on_new_notification)
            await sim_call(sim, "POST", "/_sim/push/drop")  # the library logs its read error with a traceback
            await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
            await eventually(have(1), within=WAIT_S, what="the ding")
            assert got[0].kind == "ding"
    store = PushStore.beside(rv_home / "token.json")
    credentials = store.load_credentials(sim.url)
    assert credentials is not None
    secrets = [
        credentials["keys"]["private"],
        credentials["keys"]["secret"],
        str(credentials["gcm"]["security_token"]),
        credentials["gcm"]["token"],
        credentials["fcm"]["registration"]["token"],
        credentials["fcm"]["installation"]["token"],
        credentials["fcm"]["installation"]["refresh_token"],
    ]
    text = caplog.text
    assert "Registered with FCM" in text  # the library's lines were captured ...
    for secret in secrets:
        assert secret not in text  # ... and none carries a secret


async def test_sim_push_info_is_what_the_client_reads(sim: SimServer) -> None:
    """The contract between the two halves: ``/_sim/push`` names the MCS port and certificate."""
    from ringvault.cloud.push.connect import cloud_session, discover_mcs_endpoint

    async with cloud_session(sim.url) as session:
        endpoint = await discover_mcs_endpoint(session, sim.url)
    assert endpoint.port == push_info(sim)["mcs"]["port"]
    assert "BEGIN CERTIFICATE" in endpoint.ca_pem
    assert sim_post  # shared helpers stay importable


@pytest.mark.timeout(120)
async def test_the_token_is_sent_again_after_a_new_session(sim: SimServer, rv_home: Path) -> None:
    """Ring drops the session (``DELETE /_sim/sessions/{hid}``, as after ~24 h): the next request creates a new one,
    and the token goes to Ring again, so pushes (which the simulator sends only while the session lives) go on."""
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        hub = api.notifications
        assert hub is not None and hub.listener is not None
        listener = hub.listener
        await sim_call(sim, "DELETE", f"/_sim/sessions/{api.auth.hardware_id}?revoke=false")
        await api.refresh_devices()  # "Session not found" -> a new session -> the token again
        await eventually(lambda: listener.token_updates >= 1, within=WAIT_S, what="the token sent again")
        [registration] = push_info(sim)["ring_registrations"]
        assert registration["session_live"] and registration["token_registered_with_google"]
        [camera] = await cameras(api)
        got, have = collect(camera.on_new_notification)
        await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
        await eventually(have(1), within=WAIT_S, what="a ding in the new session")
        assert got[0].kind == "ding" and got[0].source == "push"


@pytest.mark.timeout(180)
async def test_a_listener_that_cannot_be_restarted_falls_back_to_polling(
    sim: SimServer, rv_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The library gives up (three drops); meanwhile the MCS endpoint has become unreachable, so every restart
    fails: after the last attempt the hub says so once and polls, and events keep coming."""
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications(poll_interval_s=0.2, poll_requests_per_s=100)).mode == "push"
        hub = api.notifications
        assert hub is not None and hub.listener is not None
        listener = hub.listener
        listener.restart_backoff_s = (0.05, 0.05, 0.05)
        listener.client_config.connection_retry_count = 1
        ca = rv_home / "unused-ca.pem"
        ca.write_text("-----BEGIN CERTIFICATE-----\nunused\n-----END CERTIFICATE-----\n")
        for _ in range(2):
            logins = push_info(sim)["stats"]["logins"]
            await sim_call(sim, "POST", "/_sim/push/drop")
            await eventually(
                lambda logins=logins: push_info(sim)["stats"]["logins"] > logins, within=WAIT_S, what="a new login"
            )
        monkeypatch.setenv("RINGVAULT_PUSH_MCS", "127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("RINGVAULT_PUSH_CA", str(ca))
        with caplog.at_level(logging.WARNING, logger="ringvault.cloud.push"):
            await sim_call(sim, "POST", "/_sim/push/drop")  # the third: the library stops
            await eventually(lambda: hub.status.mode == "polling", within=WAIT_S * 2, what="the fallback")
        assert hub.status.reason and "did not accept the connection" in hub.status.reason
        assert sum("polling the cameras' history" in r.getMessage() for r in caplog.records) == 1
        camera = next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")
        pressed, have = collect(camera.on_doorbell_pressed)
        await sim_call(sim, "POST", f"/_sim/devices/{camera.id}/ding")
        await eventually(have(1), within=WAIT_S, what="the ding, polled")
        assert pressed[0].source == "poll"


async def test_a_second_process_on_the_same_login_polls_and_leaves_push_to_the_first(
    sim: SimServer, rv_home: Path
) -> None:
    async with open_api(sim, rv_home) as first:
        assert (await first.start_notifications()).mode == "push"
        seen_file = PushStore.beside(rv_home / "token.json").seen_path
        assert seen_file is not None
        async with open_api(sim, rv_home) as second:
            status = await second.start_notifications(poll_interval_s=0.5)
            assert status.mode == "polling"
            assert status.reason is not None and "another ringvault process" in status.reason
            [camera_a] = await cameras(first)
            [camera_b] = [c for c in await cameras(second, 99) if c.id == camera_a.id]
            got_a, have_a = collect(camera_a.on_doorbell_pressed)
            got_b, have_b = collect(camera_b.on_doorbell_pressed)
            before = seen_file.read_bytes() if seen_file.exists() else b""
            answer = await sim_call(sim, "POST", f"/_sim/devices/{camera_a.id}/ding")
            await eventually(have_a(1), within=WAIT_S, what="the ding through push")
            await eventually(have_b(1), within=WAIT_S, what="the ding through polling")
            assert got_a[0].ding_id == got_b[0].ding_id == answer["event"]["id_str"]
            # only the push holder records deliveries
            assert seen_file.read_bytes() != before
        hub = first.notifications
        assert hub is not None and hub.listener is not None  # still on push
    async with open_api(sim, rv_home) as third:  # the first stopped: push is free again
        assert (await third.start_notifications()).mode == "push"


@pytest.mark.timeout(120)
async def test_arming_disarming_and_the_siren_on_the_hub_push_alarm_notices(sim: SimServer, rv_home: Path) -> None:
    """What a phone gets when someone arms, disarms or sounds the siren (§8.6), driven through the hub socket."""
    async with open_api(sim, rv_home) as api:
        assert (await api.start_notifications()).mode == "push"
        location = next(loc for loc in await api.get_locations() if loc.has_alarm_base_station)
        notices, have = collect(location.on_alarm_notice)
        try:
            await location.arm_home()
            await eventually(have(1), within=WAIT_S, what="the arm notice")
            await location.disarm()
            await eventually(have(2), within=WAIT_S, what="the disarm notice")
            await location.sound_siren()
            await eventually(have(3), within=WAIT_S, what="the siren notice")
            await location.silence_siren()
            await eventually(have(4), within=WAIT_S, what="the silenced notice")
        finally:
            await location.disarm()
        expected = ["alarm_mode_some", "alarm_mode_none", "alarm_siren", "alarm_silenced"]
        assert [n.alarm_kind for n in notices] == expected
        assert all(n.location_id == location.id for n in notices)
    hub_sent = [e["kind"] for e in push_info(sim)["recent"] if e.get("source") == "hub"]
    assert hub_sent == expected
