"""``clients_api`` over HTTP against a real simulator: discovery, control, history, events, recordings, snapshots."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.helpers import (
    BIG,
    CLIENTS,
    DEVICES,
    advance,
    devices,
    entry,
    first,
    login,
    new_event,
    put_json,
    set_faults,
    world,
)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    # long-lived tokens and sessions: some tests move the clock by weeks
    long = 100 * 86400
    return sim_config.model_copy(update={"events_per_device": 130, "access_token_ttl_s": long, "session_ttl_s": long})


@pytest.fixture
def ring(sim: SimServer) -> Iterator[httpx.Client]:
    client = login(sim)
    yield client
    client.close()


def _events_of(client: httpx.Client, device_id: int) -> list[dict[str, Any]]:
    items = world(client)["events"][str(device_id)]
    assert isinstance(items, list)
    return items


# ---------------------------------------------------------------------------------------------------- discovery


def test_session_required(sim: SimServer) -> None:
    client = login(sim, "no-session-hid", session=False)
    answer = client.get(f"{CLIENTS}/ring_devices")
    assert answer.status_code == 404
    assert answer.json() == {"error": "Session not found for no-session-hid"}
    assert httpx.get(f"{sim.url}{CLIENTS}/ring_devices").status_code == 401
    client.close()


def test_ring_devices_has_seven_arrays(ring: httpx.Client) -> None:
    data = devices(ring)
    assert set(data) == {
        "doorbots",
        "authorized_doorbots",
        "stickup_cams",
        "chimes",
        "base_stations",
        "beams_bridges",
        "other",
    }
    assert all(isinstance(v, list) and v for v in data.values())
    ids = {d["id"] for d in world(ring)["devices"]}
    assert ids == {item["id"] for items in data.values() for item in items}


def test_profile_ringtones_users_and_push_registration(ring: httpx.Client) -> None:
    profile = ring.get(f"{CLIENTS}/profile").json()["profile"]
    assert profile["email"] == world(ring)["account"]["email"]
    owner = first(ring, family="doorbots")["owner"]
    assert owner["id"] == profile["id"]
    tones = ring.get(f"{CLIENTS}/ringtones").json()
    assert tones["audios"] and {"default_ding_id", "default_motion_id"} <= set(tones)
    location = first(ring, kind="intercom_handset_audio")["location_id"]
    users = ring.get(f"{CLIENTS}/locations/{location}/users").json()
    assert users[0]["object_type"] == "user"
    assert users[0]["devices"][0]["device_type"] == "intercom_handset_audio"
    invitation = {"invitation": {"doorbot_ids": [1], "invited_email": "guest@example.com", "group_ids": []}}
    assert ring.post(f"{CLIENTS}/locations/{location}/invitations", json=invitation).status_code == 200
    assert ring.delete(f"{CLIENTS}/locations/{location}/invitations/123").status_code == 200
    body = {"device": {"metadata": {"api_version": 11, "pn_dict_version": "2.0.0"}, "push_notification_token": "t"}}
    assert ring.patch(f"{CLIENTS}/device", json=body).status_code == 204


# ---------------------------------------------------------------------------------------------------- control


def test_put_with_a_non_json_content_type_is_422(ring: httpx.Client) -> None:
    """Ring refuses a PUT whose content type is present and not JSON (aiohttp's octet-stream, Oct 2024)."""
    light = first(ring, kind="floodlight_v2")["id"]
    for content_type in ("text/plain", "application/octet-stream"):
        answer = ring.put(f"{CLIENTS}/doorbots/{light}/floodlight_light_on", headers={"Content-Type": content_type})
        assert answer.status_code == 422
    assert entry(ring, light)["led_status"] == "off"
    assert put_json(ring, f"{CLIENTS}/doorbots/{light}/floodlight_light_on").status_code == 200
    assert entry(ring, light)["led_status"] == "on"


def test_put_without_a_content_type_is_accepted(ring: httpx.Client) -> None:
    """A body-less PUT with no content type works on Ring (ring-client-api sends them since mid-2024; issue 11)."""
    light = first(ring, kind="floodlight_v2")["id"]
    answer = ring.put(f"{CLIENTS}/doorbots/{light}/floodlight_light_on")
    assert "content-type" not in answer.request.headers
    assert answer.status_code == 200
    assert entry(ring, light)["led_status"] == "on"


def test_put_content_type_knob(ring: httpx.Client) -> None:
    assert ring.patch("/_sim/config", json={"strict_put_content_type": False}).status_code == 200
    light = first(ring, kind="floodlight_v2")["id"]
    answer = ring.put(f"{CLIENTS}/doorbots/{light}/floodlight_light_on", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200


def test_light_and_siren(ring: httpx.Client) -> None:
    flood = first(ring, kind="floodlight_v2")["id"]
    assert put_json(ring, f"{CLIENTS}/doorbots/{flood}/floodlight_light_on").status_code == 200
    assert entry(ring, flood)["health"]["floodlight_on"] is True
    assert put_json(ring, f"{CLIENTS}/doorbots/{flood}/floodlight_light_off").status_code == 200
    assert entry(ring, flood)["led_status"] == "off"
    wired_doorbell = first(ring, kind="lpd_v4")["id"]  # no light, no siren
    assert put_json(ring, f"{CLIENTS}/doorbots/{wired_doorbell}/floodlight_light_on").status_code == 404
    assert put_json(ring, f"{CLIENTS}/doorbots/{wired_doorbell}/siren_on").status_code == 404

    assert put_json(ring, f"{CLIENTS}/doorbots/{flood}/siren_on", params={"duration": 45}).status_code == 200
    siren = entry(ring, flood)["siren_status"]
    assert 44 <= siren["seconds_remaining"] <= 45 and siren["duration"] == 45
    advance(ring, 20)
    assert 24 <= entry(ring, flood)["siren_status"]["seconds_remaining"] <= 25
    assert put_json(ring, f"{CLIENTS}/doorbots/{flood}/siren_on", params={"duration": 500}).status_code == 400
    assert put_json(ring, f"{CLIENTS}/doorbots/{flood}/siren_off").status_code == 200
    assert entry(ring, flood)["siren_status"] == {"seconds_remaining": 0}


def test_put_doorbot_both_url_forms(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="lpd_v4")["id"]
    params = {
        "doorbot[description]": "Back Door",
        "doorbot[settings][doorbell_volume]": "9",
        "doorbot[settings][chime_settings][type]": "1",
    }
    assert put_json(ring, f"{CLIENTS}/doorbots/{doorbell}", params=params).status_code == 204
    settings = entry(ring, doorbell)["settings"]
    assert settings["doorbell_volume"] == 9
    assert settings["chime_settings"] == {"type": 1, "enable": True, "duration": 3}  # merged, not replaced
    body = {"doorbot": {"settings": {"chime_settings": {"enable": False}, "motion_detection_enabled": False}}}
    assert put_json(ring, f"{CLIENTS}/doorbots/{doorbell}/", body).status_code == 200
    settings = entry(ring, doorbell)["settings"]
    assert settings["chime_settings"] == {"type": 1, "enable": False, "duration": 3}
    assert settings["motion_detection_enabled"] is False
    doc = ring.get(f"{DEVICES}/devices/{doorbell}/settings").json()
    assert doc["motion_settings"]["motion_detection_enabled"] is False
    assert doc["volume_settings"]["doorbell_volume"] == 9


def test_settings_patch_reflected_in_ring_devices(ring: httpx.Client) -> None:
    camera = first(ring, kind="stickup_cam_lunar")["id"]
    patch = {"motion_settings": {"motion_detection_enabled": False}}
    assert ring.patch(f"{DEVICES}/devices/{camera}/settings", json=patch).status_code == 200
    assert entry(ring, camera)["settings"]["motion_detection_enabled"] is False


def test_subscriptions(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="doorbell_oyster")["id"]
    assert ring.post(f"{CLIENTS}/doorbots/{doorbell}/unsubscribe").status_code == 200
    assert ring.post(f"{CLIENTS}/doorbots/{doorbell}/motions_unsubscribe").status_code == 200
    current = entry(ring, doorbell)
    assert current["subscribed"] is False and current["subscribed_motions"] is False
    ring.post(f"{CLIENTS}/doorbots/{doorbell}/subscribe")
    ring.post(f"{CLIENTS}/doorbots/{doorbell}/motions_subscribe")
    current = entry(ring, doorbell)
    assert current["subscribed"] is True and current["subscribed_motions"] is True


def test_health_and_offline_devices(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="doorbell_oyster")["id"]
    health = ring.get(f"{CLIENTS}/doorbots/{doorbell}/health").json()["device_health"]
    assert health["id"] == doorbell and "latest_signal_strength" in health and "wifi_name" in health
    assert ring.patch(f"/_sim/devices/{doorbell}", json={"offline": True}).status_code == 200
    answer = ring.get(f"{CLIENTS}/doorbots/{doorbell}/health")
    assert answer.status_code == 404 and answer.json() == {"errors": [7019]}
    assert entry(ring, doorbell)["alerts"]["connection"] == "offline"
    assert ring.get(f"{DEVICES}/devices/{doorbell}/settings").json() == {"errors": [7019]}
    assert ring.get(f"{CLIENTS}/doorbots/{doorbell}/history").status_code == 200  # cloud data stays reachable
    ring.patch(f"/_sim/devices/{doorbell}", json={"offline": False})
    assert ring.get(f"{CLIENTS}/doorbots/{doorbell}/health").status_code == 200
    assert ring.get(f"{CLIENTS}/doorbots/999999999/health").status_code == 404
    chime = first(ring, family="chimes")["id"]
    assert ring.get(f"{CLIENTS}/doorbots/{chime}/health").status_code == 404  # not a doorbot


# ---------------------------------------------------------------------------------------------------- history


def test_history_big_ids_newest_first_cap_and_paging(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="doorbell_oyster")["id"]
    answer = ring.get(f"{CLIENTS}/doorbots/{doorbell}/history", params={"limit": 200})
    raw = answer.text
    assert re.search(r'"id":\d{19}[,}]', raw), "ids are bare 19-digit integers"
    assert not re.search(r'"id":\d\.\d+e\+?18', raw, re.IGNORECASE)
    page = answer.json()
    assert len(page) == 100, "Ring caps history at 100 items"
    ids = [item["id"] for item in page]
    assert ids == sorted(ids, reverse=True) and all(isinstance(i, int) and i > BIG for i in ids)
    item = page[0]
    assert item["doorbot"] == {"id": doorbell, "description": entry(ring, doorbell)["description"],
                               "type": "doorbell_oyster"}  # fmt: skip
    assert {"answered", "duration", "cv_properties", "properties", "recording", "kind", "created_at"} <= set(item)

    collected: list[int] = []
    older_than: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 30}
        if older_than is not None:
            params["older_than"] = older_than
        batch = ring.get(f"{CLIENTS}/doorbots/{doorbell}/history", params=params).json()
        collected += [b["id"] for b in batch]
        if len(batch) < 30:
            break
        older_than = batch[-1]["id"]
    expected = [e["id"] for e in _events_of(ring, doorbell)]
    assert collected == expected and len(collected) == 130
    formats = {bool(re.fullmatch(r".*\.\d{3}Z", i["created_at"])) for i in page}
    assert formats == {True, False}


def test_legacy_history_covers_every_device(ring: httpx.Client) -> None:
    items = ring.get(f"{CLIENTS}/doorbots/history", params={"limit": 100}).json()
    assert len(items) == 100
    assert len({i["doorbot"]["id"] for i in items}) > 1
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)


def test_events_pagination_filters_and_ids(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="doorbell_oyster")
    loc, device_id = doorbell["location_id"], doorbell["id"]
    url = f"{CLIENTS}/locations/{loc}/devices/{device_id}/events"
    seen: list[int] = []
    key: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 50}
        if key:
            params["pagination_key"] = key
        answer = ring.get(url, params=params)
        assert re.search(r'"ding_id":\d{19},', answer.text)
        data = answer.json()
        pages += 1
        for event in data["events"]:
            assert event["ding_id_str"] == str(event["ding_id"]) and event["doorbot_id"] == device_id
        seen += [e["ding_id"] for e in data["events"]]
        key = data["meta"]["pagination_key"]
        if key is None:
            break
        assert key == data["events"][-1]["ding_id_str"]
    assert pages == 3 and seen == [e["id"] for e in _events_of(ring, device_id)]

    dings = ring.get(url, params={"kind": "ding", "limit": 100}).json()["events"]
    assert dings and all(e["kind"] == "ding" for e in dings)
    missed = ring.get(url, params={"state": "missed", "limit": 100}).json()["events"]
    assert all(e["kind"] == "ding" and e["state"] == "timed_out" for e in missed)
    everything = ring.get(f"{CLIENTS}/locations/{loc}/events", params={"limit": 100}).json()
    assert len({e["doorbot_id"] for e in everything["events"]}) > 1
    assert everything["meta"]["pagination_key"] == everything["events"][-1]["ding_id_str"]
    other_location = next(x["location_id"] for x in world(ring)["locations"] if x["location_id"] != loc)
    assert ring.get(f"{CLIENTS}/locations/{other_location}/devices/{device_id}/events").status_code == 404


def test_video_search_by_date_range(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    events = ring.get(f"{CLIENTS}/doorbots/{camera}/history", params={"limit": 100}).json()
    newest, oldest = events[10], events[40]
    date_from, date_to = oldest["id"] >> 22, newest["id"] >> 22  # ids carry their epoch ms
    params = {"doorbot_id": camera, "date_from": date_from, "date_to": date_to, "order": "asc", "api_version": 11}
    answer = ring.get(f"{CLIENTS}/video_search/history", params=params)
    results = answer.json()["video_search"]
    assert [r["ding_id"] for r in results] == [str(e["id"]) for e in reversed(events[10:41])]
    assert all(isinstance(r["ding_id"], str) and isinstance(r["created_at"], int) for r in results)
    assert all(date_from <= r["created_at"] <= date_to for r in results)
    assert results[0]["lq_url"] and results[0]["thumbnail_url"]
    desc = ring.get(f"{CLIENTS}/video_search/history", params={**params, "order": "desc"}).json()["video_search"]
    assert _unsigned(desc) == list(reversed(_unsigned(results)))


def _unsigned(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Search results without the query strings of their presigned URLs: a signature carries the second it was made
    (X-Amz-Date), so two requests a second apart differ there and nowhere else."""
    return [
        {k: v.split("?")[0] if k.endswith("_url") and isinstance(v, str) else v for k, v in r.items()} for r in results
    ]


# ---------------------------------------------------------------------------------------------------- recordings


def test_recording_redirect_and_disable_redirect(ring: httpx.Client) -> None:
    doorbell = first(ring, kind="doorbell_oyster")["id"]
    ding = _events_of(ring, doorbell)[3]["id_str"]
    answer = ring.get(f"{CLIENTS}/dings/{ding}/recording")
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert "/ring-transcoded-videos.s3.amazonaws.com/" in location and "X-Amz-Signature=" in location
    flagged = ring.get(f"{CLIENTS}/dings/{ding}/recording", params={"disable_redirect": "true"})
    assert flagged.status_code == 200 and flagged.json()["url"].split("?")[0] == location.split("?")[0]
    media = httpx.get(location)  # no Ring auth on the storage host
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(media.content)) as container:
        assert container.streams.video and ding in container.metadata["comment"]
    play = ring.get(f"{CLIENTS}/dings/{ding}/share/play").json()["url"]
    assert "/share-service-download-bucket.s3.amazonaws.com/" in play
    assert httpx.get(play).content == media.content
    download = ring.get(f"{CLIENTS}/dings/{ding}/share/download", params={"disable_redirect": "true"}).json()
    assert download["url"]


def test_recording_not_ready_then_ready(ring: httpx.Client) -> None:
    set_faults(ring, recording_delay_s=600)
    doorbell = first(ring, kind="doorbell_oyster")["id"]
    event = new_event(ring, doorbell, "ding")
    ding = event["id_str"]
    assert event["recording_ready"] is False
    url = ring.get(f"{CLIENTS}/dings/{ding}/recording", params={"disable_redirect": "true"}).json()["url"]
    missing = httpx.get(url)
    assert missing.status_code == 404 and "<Code>NoSuchKey</Code>" in missing.text
    assert ring.get(f"{CLIENTS}/dings/{ding}/share/play").json() == {"url": ""}
    assert ring.get(f"{CLIENTS}/dings/{ding}/share/download", params={"disable_redirect": "true"}).json() == {"url": ""}
    history = ring.get(f"{CLIENTS}/doorbots/{doorbell}/history", params={"limit": 1}).json()[0]
    assert history["id"] == event["id"] and history["recording"]["status"] is None
    advance(ring, 601)
    ready = httpx.get(url)
    assert ready.status_code == 200 and ready.content[4:8] == b"ftyp"
    assert ring.get(f"{CLIENTS}/dings/{ding}/share/play").json()["url"]
    history = ring.get(f"{CLIENTS}/doorbots/{doorbell}/history", params={"limit": 1}).json()[0]
    assert history["recording"]["status"] == "ready"


def test_no_media_without_protect_and_unknown_ding(ring: httpx.Client) -> None:
    indoor = first(ring, kind="stickup_cam_mini_v2")
    assert indoor["features"]["show_recordings"] is False
    ding = _events_of(ring, indoor["id"])[0]["id_str"]
    assert ring.get(f"{CLIENTS}/dings/{ding}/recording").status_code == 404
    assert ring.get(f"{CLIENTS}/dings/{ding}/share/play").status_code == 404
    history = ring.get(f"{CLIENTS}/doorbots/{indoor['id']}/history").json()
    assert all(h["had_subscription"] is False for h in history)
    assert ring.get(f"{CLIENTS}/dings/1234567890123456789/recording").status_code == 404
    assert ring.get(f"{CLIENTS}/dings/not-a-ding/recording").status_code == 404


def test_retention(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    oldest = _events_of(ring, camera)[-1]
    url = ring.get(f"{CLIENTS}/dings/{oldest['id_str']}/recording", params={"disable_redirect": "true"})
    assert url.status_code == 200
    advance(ring, 31 * 86400)  # history spans 30 days, retention is 60: the oldest events are past it now
    remaining = ring.get(f"{CLIENTS}/doorbots/{camera}/history", params={"limit": 100}).json()
    assert remaining and oldest["id"] not in {r["id"] for r in remaining}
    assert ring.get(f"{CLIENTS}/dings/{oldest['id_str']}/recording").status_code == 404


def test_active_dings(ring: httpx.Client) -> None:
    assert ring.get(f"{CLIENTS}/dings/active").json() == []
    doorbell = first(ring, kind="lpd_v4")["id"]
    event = new_event(ring, doorbell, "ding")
    active = ring.get(f"{CLIENTS}/dings/active")
    assert re.search(r'"id":\d{19},', active.text)
    (item,) = active.json()
    assert item["id_str"] == event["id_str"] and item["doorbot_id"] == doorbell and item["kind"] == "ding"
    assert 0 < item["expires_in"] <= 180
    advance(ring, 200)
    assert ring.get(f"{CLIENTS}/dings/active").json() == []


# ---------------------------------------------------------------------------------------------------- snapshots


def test_legacy_snapshot_trio(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    assert ring.get(f"{CLIENTS}/snapshots/timestamps").status_code == 405
    answer = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [camera]})
    (stamp,) = answer.json()["timestamps"]
    assert stamp["doorbot_id"] == camera and isinstance(stamp["timestamp"], int)
    asked_at = time.time()
    # prd: sleep 1 s, ask again (up to 3 times), accept once the timestamp is newer than the first request
    for _ in range(3):
        time.sleep(1.0)
        newer = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [camera]}).json()
        if newer["timestamps"][0]["timestamp"] / 1000 > asked_at:
            break
    else:
        pytest.fail("timestamp did not advance within 3 s")
    refresh = put_json(ring, f"{CLIENTS}/snapshots/update_all", {"doorbot_ids": [camera], "refresh": True})
    assert refresh.status_code == 204
    image = ring.get(f"{CLIENTS}/snapshots/image/{camera}", headers={"Accept": "*/*", "Range": "bytes=0-"})
    assert image.status_code in (200, 206) and image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (320, 180)


def test_legacy_snapshot_battery_camera_lags_and_no_snapshot(ring: httpx.Client, sim: SimServer) -> None:
    battery = first(ring, kind="stickup_cam_lunar")["id"]
    before = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [battery]}).json()
    advance(ring, 2)  # the first capture happens (its last image was older than 10 minutes)
    after = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [battery]}).json()
    assert after["timestamps"][0]["timestamp"] > before["timestamps"][0]["timestamp"]
    advance(ring, 60)  # within 10 minutes: no fresh capture
    again = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [battery]}).json()
    advance(ring, 2)
    still = ring.post(f"{CLIENTS}/snapshots/timestamps", json={"doorbot_ids": [battery]}).json()
    assert still == again == after
    sim.state.world.forget_snapshots(battery)
    missing = ring.get(f"{CLIENTS}/snapshots/image/{battery}")
    assert missing.status_code == 404 and missing.text == "no snapshot"


def test_snapshot_by_event_uuid(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    full = world(ring, "full")["events"][str(camera)][0]
    answer = ring.get(f"{CLIENTS}/snapshots/uuid", params={"uuid": f"{full['snapshot_uuid']}:122429140"})
    assert answer.status_code == 200 and answer.content[:2] == b"\xff\xd8"
    assert answer.headers["x-time-millis"] == str(full["created_at_ms"])
    assert ring.get(f"{CLIENTS}/snapshots/uuid", params={"uuid": "nope"}).status_code == 404


# ---------------------------------------------------------------------------------------------------- chimes


def test_chimes(ring: httpx.Client) -> None:
    chime = first(ring, kind="chime_pro_v2")
    cid = chime["id"]
    params = {"chime[description]": "Hall Chime", "chime[settings][volume]": "3"}
    assert put_json(ring, f"{CLIENTS}/chimes/{cid}", params=params).status_code == 204
    assert entry(ring, cid)["settings"]["volume"] == 3
    assert put_json(ring, f"{CLIENTS}/chimes/{cid}/", {"chime": {"settings": {"volume": 8}}}).status_code == 200
    assert entry(ring, cid)["settings"]["volume"] == 8
    assert ring.get(f"{DEVICES}/devices/{cid}/settings").json()["volume_settings"]["volume"] == 8
    assert put_json(ring, f"{CLIENTS}/chimes/{cid}/", {"chime": {"settings": {"volume": 12}}}).status_code == 400
    answer = ring.put(f"{CLIENTS}/chimes/{cid}", params=params, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 422
    assert ring.put(f"{CLIENTS}/chimes/{cid}", params=params).status_code == 204  # no content type: accepted

    assert ring.post(f"{CLIENTS}/chimes/{cid}/play_sound", json={"kind": "motion"}).status_code == 204
    prd_style = ring.post(
        f"{CLIENTS}/chimes/{cid}/play_sound",
        params={"kind": "ding"},
        headers={"Content-Type": "application/octet-stream"},
    )
    assert prd_style.status_code == 204

    assert ring.post(f"{CLIENTS}/chimes/{cid}/do_not_disturb", json={"time": 30}).status_code == 204
    assert entry(ring, cid)["do_not_disturb"]["seconds_left"] == 1800
    advance(ring, 600)
    assert entry(ring, cid)["do_not_disturb"]["seconds_left"] == 1200
    assert ring.post(f"{CLIENTS}/chimes/{cid}/do_not_disturb").status_code == 204
    assert entry(ring, cid)["do_not_disturb"]["seconds_left"] == 0

    assert "device_health" in ring.get(f"{CLIENTS}/chimes/{cid}/health").json()
    linked = ring.get(f"{CLIENTS}/chimes/{cid}/linked_doorbots").json()
    assert linked and all(d["location_id"] == chime["location_id"] for d in linked)
    doorbell = first(ring, kind="lpd_v4")["id"]
    assert ring.post(f"{CLIENTS}/chimes/{doorbell}/play_sound", json={"kind": "ding"}).status_code == 404
