"""Fidelity: firebase-messaging's own ``FcmPushClient`` (unmodified; configured as ``push_helpers`` describes)
registers with the simulated Google, logs in over the simulated MCS, and receives Ring notifications that it
decrypts itself."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import login
from tests.sim.push_helpers import (
    Received,
    SimSession,
    control,
    device_id,
    ding,
    make_client,
    push_info,
    register_with_ring,
    ring_client,
    wait_for_info,
    wait_until,
)


@pytest.fixture
async def session(sim: SimServer) -> AsyncIterator[SimSession]:
    async with SimSession(sim.url) as http:
        yield http


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with ring_client(login(sim, "push-fidelity-0001")) as client:
        yield client


def _v2(message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    data = message["data"]
    return json.loads(data["android_config"]), json.loads(data["data"])


async def _start(client: Any) -> None:
    await client.start()
    await wait_until(client.is_started, "the MCS login")


async def test_register_login_and_receive_a_ding(sim: SimServer, session: SimSession, ring: httpx.AsyncClient) -> None:
    stored: list[dict[str, Any]] = []
    received = Received()
    client = await make_client(sim, session, received, on_credentials=stored.append)
    token = await client.checkin_or_register()
    assert stored and stored[0]["fcm"]["registration"]["token"] == token
    assert stored[0]["gcm"]["token"] and stored[0]["fcm"]["installation"]["fid"]
    answer = await register_with_ring(ring, token)
    assert answer.status_code == 204 and answer.content == b""
    info = await push_info(sim)
    assert info["ring_registrations"][0]["token_registered_with_google"] is True
    assert info["ring_registrations"][0]["pn_dict_version"] == "2.0.0"

    await _start(client)
    try:
        doorbell = await device_id(sim, "lpd_v4")
        event = await ding(sim, doorbell)
        [(message, persistent_id)] = await received.wait_for(1)
        assert persistent_id == event["pushes"][0]["persistent_id"]
        assert message["from"] == "876313859327" and message["data"]["version"] == "2.0.0"
        android_config, data = _v2(message)
        assert android_config["category"] == "com.ring.pn.live-event.ding"
        assert data["device"]["id"] == doorbell
        ding_id = data["event"]["ding"]["id"]
        assert isinstance(ding_id, str) and int(ding_id) > 2**53
        assert ding_id == event["event"]["id_str"]
        # the event is in the device's history under the same id
        history = (await ring.get(f"/api.ring.com/clients_api/doorbots/{doorbell}/history")).json()
        assert str(history[0]["id"]) == ding_id and history[0]["kind"] == "ding"
        # the library acknowledged it selectively: nothing stays pending
        await wait_for_info(sim, lambda info: not info["pending"], "the selective ack")
    finally:
        await client.stop()


async def test_restart_with_stored_credentials_does_not_register_again(
    sim: SimServer, session: SimSession, ring: httpx.AsyncClient
) -> None:
    stored: list[dict[str, Any]] = []
    first = await make_client(sim, session, Received(), on_credentials=stored.append)
    token = await first.checkin_or_register()
    assert (await register_with_ring(ring, token)).status_code == 204
    before = await push_info(sim)
    assert before["google"] == {"checkins": 1, "gcm_registrations": 1, "installations": 1, "fcm_registrations": 1}

    received = Received()
    second = await make_client(sim, session, received, credentials=stored[0], on_credentials=stored.append)
    assert await second.checkin_or_register() == token
    after = await push_info(sim)
    assert len(stored) == 1  # no new credentials
    assert after["google"] == before["google"]
    assert after["stats"]["checkins"] == 2 and after["stats"]["registrations"] == 1
    await _start(second)
    try:
        created = await ding(sim, await device_id(sim, "lpd_v4"))
        [(_, persistent_id)] = await received.wait_for(1)
        assert persistent_id == created["pushes"][0]["persistent_id"]
    finally:
        await second.stop()


async def test_dropped_connection_reconnects_and_gets_what_it_missed(
    sim: SimServer, session: SimSession, ring: httpx.AsyncClient
) -> None:
    received = Received()
    client = await make_client(sim, session, received)
    assert (await register_with_ring(ring, await client.checkin_or_register())).status_code == 204
    await _start(client)
    try:
        await control(sim, "PATCH", "/_sim/push/faults", {"drop_next": 1})
        doorbell = await device_id(sim, "lpd_v4")
        first = await ding(sim, doorbell)
        # the simulator dropped the connection instead of delivering; the library resets, logs in again and
        # receives the message that waited in the outbox
        [(_, persistent_id)] = await received.wait_for(1)
        assert persistent_id == first["pushes"][0]["persistent_id"]
        info = await push_info(sim)
        assert info["stats"]["dropped_connections"] == 1 and info["stats"]["logins"] >= 2
        # an abrupt drop between events: the next ding arrives after the reconnect
        assert (await control(sim, "POST", "/_sim/push/drop"))["dropped"] == 1
        second = await ding(sim, doorbell)
        items = await received.wait_for(2)
        assert items[1][1] == second["pushes"][0]["persistent_id"]
        await wait_for_info(sim, lambda info: not info["pending"], "acks after the reconnect")
    finally:
        await client.stop()


async def test_messages_sent_while_stopped_arrive_at_the_next_start_acked_ones_never_again(
    sim: SimServer, session: SimSession, ring: httpx.AsyncClient
) -> None:
    stored: list[dict[str, Any]] = []
    received = Received()
    client = await make_client(sim, session, received, on_credentials=stored.append)
    assert (await register_with_ring(ring, await client.checkin_or_register())).status_code == 204
    await _start(client)
    doorbell = await device_id(sim, "lpd_v4")
    seen = (await ding(sim, doorbell))["pushes"][0]["persistent_id"]
    await received.wait_for(1)
    await wait_for_info(sim, lambda info: not info["pending"], "the selective ack")
    await client.stop()
    await wait_for_info(sim, lambda info: not info["connected"], "the disconnect")

    missed = (await ding(sim, doorbell))["pushes"][0]["persistent_id"]
    assert sum((await push_info(sim))["pending"].values()) == 1
    again = Received()
    restarted = await make_client(sim, session, again, credentials=stored[0], persistent_ids=[seen])
    await restarted.checkin_or_register()
    await _start(restarted)
    try:
        [(_, persistent_id)] = await again.wait_for(1)
        assert persistent_id == missed  # the acked one is not redelivered
        await wait_for_info(sim, lambda info: not info["pending"], "the ack")
    finally:
        await restarted.stop()


async def test_duplicated_message_arrives_twice_lost_one_never(
    sim: SimServer, session: SimSession, ring: httpx.AsyncClient
) -> None:
    received = Received()
    client = await make_client(sim, session, received)
    assert (await register_with_ring(ring, await client.checkin_or_register())).status_code == 204
    await _start(client)
    try:
        doorbell = await device_id(sim, "lpd_v4")
        await control(sim, "PATCH", "/_sim/push/faults", {"duplicate_next": 1})
        twice = (await ding(sim, doorbell))["pushes"][0]["persistent_id"]
        items = await received.wait_for(2)
        assert [pid for _, pid in items] == [twice, twice]  # de-duplicating is the client's job
        await control(sim, "PATCH", "/_sim/push/faults", {"lose_next": 1})
        lost = await ding(sim, doorbell)
        assert lost["pushes"][0]["persistent_id"] is None
        kept = (await ding(sim, doorbell))["pushes"][0]["persistent_id"]
        items = await received.wait_for(3)
        # delivery is in order, so the lost one would have come before this one
        assert [pid for _, pid in items] == [twice, twice, kept]
        lost_id = lost["event"]["id_str"]
        assert all(json.loads(m["data"]["data"])["event"]["ding"]["id"] != lost_id for m, _ in items)
        assert (await push_info(sim))["stats"]["lost"] == 1
    finally:
        await client.stop()


async def test_refused_registration_makes_the_library_fail(sim: SimServer, session: SimSession) -> None:
    """Google's PHONE_REGISTRATION_ERROR (§8.7): the library gives up, which a client must survive (polling)."""
    await control(sim, "PATCH", "/_sim/push/faults", {"register_error": "PHONE_REGISTRATION_ERROR"})
    stored: list[dict[str, Any]] = []
    client = await make_client(sim, session, Received(), on_credentials=stored.append)
    with pytest.raises(RuntimeError):
        await client.checkin_or_register()
    assert stored == [] and (await push_info(sim))["google"]["fcm_registrations"] == 0
