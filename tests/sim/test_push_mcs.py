"""The simulated MCS endpoint at the protocol level: raw frames over TLS (schemas from firebase-messaging's
protobuf modules), web-push decryption with http_ece, and hostile input that must close one connection only."""

from __future__ import annotations

import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from firebase_messaging.proto.mcs_pb2 import (
    DataMessageStanza,
    HeartbeatAck,
    HeartbeatPing,
    LoginResponse,
)

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.helpers import login
from tests.sim.push_helpers import control, device_id, ding, push_info, register_with_ring, ring_client
from tests.sim.push_raw import Device, Mcs, decrypt, frame, login_request, register


@pytest.fixture
def google(sim: SimServer) -> httpx.Client:
    return httpx.Client(base_url=sim.url, timeout=30)


@pytest.fixture
async def ring(sim: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with ring_client(login(sim, "push-mcs-0001")) as client:
        yield client


async def _logged_in(sim: SimServer, device: Device, **kwargs: object) -> Mcs:
    mcs = await Mcs.connect(sim)
    await mcs.send(login_request(device, **kwargs))  # type: ignore[arg-type]
    answer = await mcs.read()
    assert isinstance(answer, LoginResponse) and not answer.HasField("error")
    return mcs


async def _still_serves(sim: SimServer, device: Device) -> None:
    """After hostile input the server still logs a good client in."""
    mcs = await _logged_in(sim, device)
    mcs.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x07",  # version byte far too old
        b"\x29\x63\x05hello",  # unknown tag 99
        b"\x29\x02\xff\xff\xff\xff\xff\x01",  # varint length longer than 5 bytes
        b"\x29\x02\xff\xff\xff\x7f",  # a 268 MB login
        b"\x29\x02\x05\xff\xff\xff\xff\xff",  # an undecodable login
        frame(HeartbeatPing(), version=True),  # a first frame that is no login
    ],
    ids=["version", "tag", "varint", "oversize", "undecodable", "not-login"],
)
async def test_garbage_closes_the_connection_not_the_server(
    sim: SimServer, google: httpx.Client, garbage: bytes
) -> None:
    device = register(google)
    mcs = await Mcs.connect(sim)
    await mcs.send_raw(garbage)
    mcs.first_out = False
    assert await mcs.closed_by_server()
    await _still_serves(sim, device)


async def test_wrong_credentials_get_a_login_error_and_a_close(sim: SimServer, google: httpx.Client) -> None:
    device = register(google)
    mcs = await Mcs.connect(sim)
    await mcs.send(login_request(Device(device.android_id, device.security_token + 1)))
    answer = await mcs.read()
    assert isinstance(answer, LoginResponse) and answer.error.code == 401
    assert await mcs.closed_by_server()
    assert (await push_info(sim))["stats"]["refused_logins"] == 1


async def test_heartbeats_both_ways(sim: SimServer, google: httpx.Client) -> None:
    device = register(google)
    mcs = await _logged_in(sim, device, heartbeat_ms=1000)
    await mcs.send(HeartbeatPing())
    assert isinstance(await mcs.read_until(HeartbeatAck), HeartbeatAck)
    assert isinstance(await mcs.read_until(HeartbeatPing), HeartbeatPing)  # asked for every second
    mcs.close()


async def test_delivery_decrypts_and_unacked_messages_come_back_at_login(
    sim: SimServer, google: httpx.Client, ring: httpx.AsyncClient
) -> None:
    device = register(google)
    assert (await register_with_ring(ring, device.fcm_token)).status_code == 204
    doorbell = await device_id(sim, "lpd_v4")
    first = await ding(sim, doorbell)
    mcs = await _logged_in(sim, device)
    stanza = await mcs.read_until(DataMessageStanza)
    assert stanza.persistent_id == first["pushes"][0]["persistent_id"]
    assert {item.key for item in stanza.app_data} >= {"crypto-key", "encryption", "subtype"}
    assert dict((item.key, item.value) for item in stanza.app_data)["subtype"] == device.app_id
    assert getattr(stanza, "from") == "876313859327" and stanza.category == "org.chromium.linux"
    message = decrypt(device, stanza)
    assert message["data"]["version"] == "2.0.0"
    mcs.close()  # not acknowledged: it comes again at the next login
    again = await _logged_in(sim, device)
    assert (await again.read_until(DataMessageStanza)).persistent_id == stanza.persistent_id
    again.close()
    # listed in the login as received: never again
    second = await ding(sim, doorbell)
    third = await _logged_in(sim, device, received=[stanza.persistent_id])
    assert (await third.read_until(DataMessageStanza)).persistent_id == second["pushes"][0]["persistent_id"]
    await third.ack(second["pushes"][0]["persistent_id"])
    await third.send(HeartbeatPing())  # the ack is handled before the ping is answered
    await third.read_until(HeartbeatAck)
    assert (await push_info(sim))["pending"] == {}
    third.close()


async def test_delivery_delay_holds_the_message_back(
    sim: SimServer, google: httpx.Client, ring: httpx.AsyncClient
) -> None:
    device = register(google)
    assert (await register_with_ring(ring, device.fcm_token)).status_code == 204
    mcs = await _logged_in(sim, device)
    await control(sim, "PATCH", "/_sim/push/faults", {"delivery_delay_s": 1.0})
    posted = time.monotonic()
    await ding(sim, await device_id(sim, "lpd_v4"))
    await mcs.read_until(DataMessageStanza)
    assert time.monotonic() - posted >= 1.0
    mcs.close()


async def test_a_second_login_replaces_the_first_connection(sim: SimServer, google: httpx.Client) -> None:
    device = register(google)
    first = await _logged_in(sim, device)
    second = await _logged_in(sim, device)
    assert await first.closed_by_server()
    await second.send(HeartbeatPing())
    assert isinstance(await second.read_until(HeartbeatAck), HeartbeatAck)
    second.close()


def test_certificate_key_is_private_and_removed_at_stop(sim_config: SimConfig) -> None:
    server = SimServer(sim_config)
    with server:
        info = httpx.get(f"{server.url}/_sim/push").json()["mcs"]
        assert info["port"] == server.mcs_port and info["host"] == "127.0.0.1"
        key = Path(info["certificate"]).with_name("mcs-key.pem")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not key.parent.exists()
