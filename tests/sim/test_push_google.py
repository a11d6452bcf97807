"""Google's registration hosts and Ring's ``PATCH clients_api/device`` in the simulator (reference §8.1, §8.2)."""

from __future__ import annotations

import httpx
import pytest
from firebase_messaging.proto.android_checkin_pb2 import DEVICE_CHROME_BROWSER, AndroidCheckinProto
from firebase_messaging.proto.checkin_pb2 import AndroidCheckinRequest

from ringvault.sim.push import service
from ringvault.sim.server import SimServer
from tests.sim.helpers import CLIENTS, login
from tests.sim.push_raw import GOOGLE, PROJECT, checkin, register

INSTALLATIONS = f"/firebaseinstallations.googleapis.com/v1/projects/{PROJECT}/installations"
REGISTRATIONS = f"/fcmregistrations.googleapis.com/v1/projects/{PROJECT}/registrations"


@pytest.fixture
def google(sim: SimServer) -> httpx.Client:
    return httpx.Client(base_url=sim.url, timeout=30)


def _form(android_id: int) -> dict[str, str]:
    return {
        "app": "org.chromium.linux",
        "X-subtype": "wp:receiver.push.com#1",
        "device": str(android_id),
        "sender": "K",
    }


def test_checkin_issues_an_identity_and_a_recheckin_keeps_it(google: httpx.Client) -> None:
    device = checkin(google)
    assert device.android_id > 0 and device.security_token > 0
    again = checkin(google, device.android_id, device.security_token)
    assert (again.android_id, again.security_token) == (device.android_id, device.security_token)
    # an unknown pair is a new device [sim]
    assert checkin(google, device.android_id, device.security_token + 1).android_id != device.android_id


def test_checkin_refuses_garbage(google: httpx.Client) -> None:
    assert google.post(f"{GOOGLE}/checkin", content=b"\xff\xff\xff").status_code == 400
    assert google.post(f"{GOOGLE}/checkin", content=b"x" * (65 * 1024)).status_code == 413


def test_register3_needs_aidlogin_and_answers_token_or_error(sim: SimServer, google: httpx.Client) -> None:
    device = checkin(google)
    form = _form(device.android_id)
    refused = google.post(f"{GOOGLE}/c2dm/register3", data=form)
    assert refused.status_code == 401 and refused.text.startswith("Error=")
    wrong = google.post(
        f"{GOOGLE}/c2dm/register3", data=form, headers={"Authorization": f"AidLogin {device.android_id}:1"}
    )
    assert wrong.text.startswith("Error=")
    auth = {"Authorization": f"AidLogin {device.android_id}:{device.security_token}"}
    answer = google.post(f"{GOOGLE}/c2dm/register3", data=form, headers=auth)
    assert answer.status_code == 200 and answer.text.startswith("token=")
    assert "=" not in answer.text.removeprefix("token=")  # clients split the body on "="
    # the knob that stands for Google's PHONE_REGISTRATION_ERROR outages (§8.7)
    google.patch("/_sim/push/faults", json={"register_error": "PHONE_REGISTRATION_ERROR"}).raise_for_status()
    assert google.post(f"{GOOGLE}/c2dm/register3", data=form, headers=auth).text == "Error=PHONE_REGISTRATION_ERROR"
    google.patch("/_sim/push/faults", json={"register_error": None}).raise_for_status()
    assert google.post(f"{GOOGLE}/c2dm/register3", data=form, headers=auth).text.startswith("token=")


def test_installation_and_registration_rules(google: httpx.Client) -> None:
    body = {"appId": "1:876313859327:android:e10ec6ddb3c81f39", "authVersion": "FIS_v2", "fid": "", "sdkVersion": "w"}
    assert google.post(INSTALLATIONS, json=body).status_code == 403  # no x-goog-api-key
    install = google.post(INSTALLATIONS, json=body, headers={"x-goog-api-key": "k"})
    assert install.status_code == 200
    data = install.json()
    assert data["authToken"]["expiresIn"] == "604800s" and data["refreshToken"] and data["fid"]
    token = data["authToken"]["token"]
    refreshed = google.post(
        f"{INSTALLATIONS}/{data['fid']}/authTokens:generate",
        json={},
        headers={"Authorization": f"FIS_v2 {data['refreshToken']}"},
    )
    assert refreshed.status_code == 200 and refreshed.json()["token"] != token
    token = refreshed.json()["token"]
    web = {"endpoint": "https://fcm.googleapis.com/fcm/send/unknown", "p256dh": "AAAA", "auth": "AAAA"}
    assert google.post(REGISTRATIONS, json={"web": web}).status_code == 401  # no installation auth
    headers = {"x-goog-firebase-installations-auth": token}
    answer = google.post(REGISTRATIONS, json={"web": web}, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert google.post(REGISTRATIONS, content=b"not json", headers=headers).status_code == 400


def test_registration_binds_keys_and_answers_the_fcm_token(sim: SimServer, google: httpx.Client) -> None:
    device = register(google)
    assert ":" in device.fcm_token
    info = google.get("/_sim/push").json()
    assert info["google"] == {"checkins": 1, "gcm_registrations": 1, "installations": 1, "fcm_registrations": 1}


def test_ring_push_registration_is_exactly_204_and_kept(sim: SimServer) -> None:
    ring = login(sim, "push-ring-0001")
    body = {
        "device": {
            "metadata": {"api_version": "11", "device_model": "ring-doorbell", "pn_dict_version": "2.0.0"},
            "os": "android",
            "push_notification_token": "tok:APA91bX",
        }
    }
    answer = ring.patch(f"{CLIENTS}/device", json=body)
    assert answer.status_code == 204 and answer.content == b""
    [registration] = ring.get("/_sim/push").json()["ring_registrations"]
    assert registration["hardware_id"] == "push-ring-0001" and registration["pn_dict_version"] == "2.0.0"
    assert registration["token_registered_with_google"] is False and registration["session_live"] is True
    # without a session: Ring's 404
    other = login(sim, "push-ring-0002", session=False)
    assert other.patch(f"{CLIENTS}/device", json=body).status_code == 404


def test_ring_push_registration_refused_by_the_knob(sim: SimServer) -> None:
    ring = login(sim, "push-ring-0003")
    ring.patch("/_sim/push/faults", json={"ring_patch_status": 500}).raise_for_status()
    body = {"device": {"os": "android", "push_notification_token": "t"}}
    assert ring.patch(f"{CLIENTS}/device", json=body).status_code == 500
    assert ring.get("/_sim/push").json()["ring_registrations"] == []
    ring.patch("/_sim/config", json={"push": {"ring_patch_status": 204}}).raise_for_status()
    assert ring.patch(f"{CLIENTS}/device", json=body).status_code == 204


def test_push_knobs_are_validated(google: httpx.Client) -> None:
    assert google.patch("/_sim/push/faults", json={"nope": 1}).status_code == 422
    assert google.patch("/_sim/push/faults", json={"lose_next": -1}).status_code == 422
    assert google.patch("/_sim/config", json={"push": {"nope": 1}}).status_code == 422
    assert google.get("/_sim/push/faults").json()["lose_next"] == 0


def test_google_side_survives_a_reset(sim: SimServer, google: httpx.Client) -> None:
    device = register(google)
    google.post("/_sim/reset").raise_for_status()
    again = checkin(google, device.android_id, device.security_token)
    assert again.android_id == device.android_id
    assert google.get("/_sim/push").json()["google"]["fcm_registrations"] == 1


def test_registration_tables_are_bounded(sim: SimServer, google: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymous check-ins cannot grow the simulator without bound (``MAX_RECORDS``; shrunk here: the rule, not its
    size, is under test)."""
    monkeypatch.setattr(service, "MAX_RECORDS", 2)
    device = checkin(google)
    checkin(google)
    request = AndroidCheckinRequest(version=3, checkin=AndroidCheckinProto(type=DEVICE_CHROME_BROWSER))
    assert google.post(f"{GOOGLE}/checkin", content=request.SerializeToString()).status_code == 429
    # a known device still checks in
    assert checkin(google, device.android_id, device.security_token).android_id == device.android_id
