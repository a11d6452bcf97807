"""Control knobs for hostile-input tests: renumber a device (any integer), set raw entry fields, rename a location."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.helpers import CLIENTS, DEVICES, entry, first, login, world

HUGE = 2**70


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    c = login(sim)
    try:
        yield c
    finally:
        c.close()


def test_renumbering_moves_the_device_everywhere(client: httpx.Client) -> None:
    doorbell = first(client, family="doorbots")
    old = doorbell["id"]
    events_before = world(client)["events"][str(old)]
    answer = client.patch(f"/_sim/devices/{old}", json={"id": HUGE})
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == HUGE
    assert '"id":1180591620717411303424' in answer.text.replace(" ", "")  # a JSON integer, exact
    assert entry(client, HUGE)["description"] == doorbell["description"]
    history = client.get(f"{CLIENTS}/doorbots/{HUGE}/history", params={"limit": 100})
    assert history.status_code == 200, history.text
    assert {str(item["id"]) for item in history.json()} == {e["id_str"] for e in events_before}
    health = client.get(f"{CLIENTS}/doorbots/{HUGE}/health")
    assert health.status_code == 200 and health.json()["device_health"]["id"] == HUGE
    assert client.get(f"{CLIENTS}/doorbots/{old}/health").status_code == 404
    assert str(HUGE) in world(client)["events"] and str(old) not in world(client)["events"]


def test_renumbering_onto_another_device_or_to_a_non_integer_is_refused(client: httpx.Client) -> None:
    doorbell, other = first(client, family="doorbots"), first(client, family="stickup_cams")
    assert client.patch(f"/_sim/devices/{doorbell['id']}", json={"id": other["id"]}).status_code == 409
    for bad in ("12", 1.5, True, None):
        assert client.patch(f"/_sim/devices/{doorbell['id']}", json={"id": bad}).status_code == 422
    assert entry(client, doorbell["id"])["id"] == doorbell["id"]


def test_raw_entry_fields_are_served_as_given(client: httpx.Client) -> None:
    camera = first(client, family="stickup_cams")
    body = {"entry": {"kind": "x\x1b[2J\nerror: fake", "latitude": 10**400, "features": {"new_flag": True}}}
    answer = client.patch(f"/_sim/devices/{camera['id']}", json=body)
    assert answer.status_code == 200, answer.text
    served = entry(client, camera["id"])
    assert served["kind"] == "x\x1b[2J\nerror: fake"
    assert served["latitude"] == 10**400
    assert served["features"]["new_flag"] is True and "show_recordings" in served["features"]  # merged
    assert client.patch(f"/_sim/devices/{camera['id']}", json={"entry": []}).status_code == 422


def test_a_location_can_be_renamed_to_any_text(client: httpx.Client) -> None:
    location = world(client)["locations"][0]["location_id"]
    name = "Home\u202e\x9b\nerror: fake"
    answer = client.patch(f"/_sim/locations/{location}", json={"name": name})
    assert answer.status_code == 200, answer.text
    served = client.get(f"{DEVICES}/locations").json()
    assert next(loc for loc in served["user_locations"] if loc["location_id"] == location)["name"] == name
    assert client.patch("/_sim/locations/nope", json={"name": "x"}).status_code == 404
    assert client.patch(f"/_sim/locations/{location}", json={"name": 5}).status_code == 422
    assert client.patch(f"/_sim/locations/{location}", json={"name": "x", "extra": 1}).status_code == 422
