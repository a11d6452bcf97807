"""``app-snaps.ring.com/snapshots/next/{id}``: headers, blocking, forced captures, battery limits, refusals."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx
import pytest
from PIL import Image

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.helpers import SNAPS, first, login, world


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return sim_config.model_copy(update={"snapshot_capture_delay_s": 0.3})


@pytest.fixture
def ring(sim: SimServer) -> Iterator[httpx.Client]:
    client = login(sim)
    yield client
    client.close()


def _x_time(answer: httpx.Response) -> int:
    return int(answer.headers["x-time-millis"])


def test_headers_and_image(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    started = time.monotonic()
    answer = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0}, headers={"Accept": "image/jpeg"})
    # waiting would mean the 10 s hold (MAX_WAIT_S); 8 s leaves a loaded machine room without hiding that
    assert time.monotonic() - started < 8, "an image newer than 0 exists: no waiting"
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(answer.content)).size == (320, 180)
    server_time = parsedate_to_datetime(answer.headers["date"]).timestamp()
    captured = _x_time(answer) / 1000
    assert 0 <= server_time - captured < 120
    sim_now = ring.get("/_sim/clock").json()["now"]
    assert abs(server_time - sim_now) < 5


def test_next_waits_then_returns_the_old_image(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    latest = _x_time(ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0}))
    started = time.monotonic()
    answer = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": latest, "max-wait-ms": 400})
    waited = time.monotonic() - started
    assert 0.35 <= waited < 8  # held for max-wait-ms, not for the 10 s default hold
    assert answer.status_code == 200 and _x_time(answer) == latest


def test_force_captures_a_newer_image(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    old = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0})
    started = time.monotonic()
    forced = {"after-ms": _x_time(old), "max-wait-ms": 10000, "extras": "force"}
    new = ring.get(f"{SNAPS}/next/{camera}", params=forced)
    waited = time.monotonic() - started
    assert _x_time(new) > _x_time(old)
    assert 0.25 <= waited < 8, "the capture takes snapshot_capture_delay_s (0.3 s), not the 10 s max-wait"
    assert new.content != old.content


def test_battery_camera_forces_at_most_every_ten_minutes(ring: httpx.Client) -> None:
    camera = first(ring, kind="stickup_cam_lunar")["id"]
    old = _x_time(ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0}))
    fresh = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": old, "max-wait-ms": 5000, "extras": "force"})
    assert _x_time(fresh) > old
    again = ring.get(
        f"{SNAPS}/next/{camera}", params={"after-ms": _x_time(fresh), "max-wait-ms": 500, "extras": "force"}
    )
    assert _x_time(again) == _x_time(fresh), "no second capture within 10 minutes"
    ring.post("/_sim/clock", json={"advance_s": 601})
    later = ring.get(
        f"{SNAPS}/next/{camera}", params={"after-ms": _x_time(fresh), "max-wait-ms": 5000, "extras": "force"}
    )
    assert _x_time(later) > _x_time(fresh)


def test_uuid_returns_the_event_image(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    event = world(ring, "full")["events"][str(camera)][2]
    answer = ring.get(f"{SNAPS}/next/{camera}", params={"uuid": event["snapshot_uuid"]})
    assert answer.status_code == 200 and _x_time(answer) == event["created_at_ms"]
    assert "date" in answer.headers
    unknown = {"uuid": "00000000-0000-4000-8000-000000000000"}
    assert ring.get(f"{SNAPS}/next/{camera}", params=unknown).status_code == 404


def test_refusals(ring: httpx.Client, sim: SimServer) -> None:
    assert httpx.get(f"{sim.url}{SNAPS}/next/1").status_code == 401
    unknown = ring.get(f"{SNAPS}/next/999999999")
    assert unknown.status_code == 404 and unknown.content == b""
    chime = first(ring, family="chimes")["id"]
    assert ring.get(f"{SNAPS}/next/{chime}").status_code == 404

    camera = first(ring, kind="cocoa_spotlight")["id"]
    ring.patch(f"/_sim/devices/{camera}", json={"motion_detection_enabled": False})
    off = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0})
    assert off.status_code == 404 and off.json()["reason"] == "motion_detection_disabled"
    ring.patch(f"/_sim/devices/{camera}", json={"motion_detection_enabled": True, "offline": True})
    offline = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0})
    assert offline.status_code == 404 and offline.json() == {"errors": [7019]}
    ring.patch(f"/_sim/devices/{camera}", json={"offline": False})
    assert ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0}).status_code == 200


def test_new_event_updates_the_latest_image(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    old = _x_time(ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": 0}))
    created = ring.post("/_sim/events", json={"device_id": camera, "kind": "motion"}).json()
    answer = ring.get(f"{SNAPS}/next/{camera}", params={"after-ms": old, "max-wait-ms": 1000})
    assert _x_time(answer) == created["created_at_ms"] > old
