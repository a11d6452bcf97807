"""The ``html_media_ids`` fault knob: a listed recording answers ``200 text/html`` (a CDN or proxy error page) in
place of its MP4, on both storage hosts, until the knob is cleared; other recordings and thumbnails are untouched."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.sim.helpers import CLIENTS, first, login, world


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return sim_config.model_copy(update={"access_token_ttl_s": 86400})


@pytest.fixture
def ring(sim: SimServer) -> Iterator[httpx.Client]:
    client = login(sim)
    yield client
    client.close()


def _urls(ring: httpx.Client, ding: str) -> list[str]:
    """The transcoded (``recording``) and the shared (``share/play``) URL of one recording."""
    urls = []
    for path in (f"dings/{ding}/recording", f"dings/{ding}/share/play"):
        answer = ring.get(f"{CLIENTS}/{path}", params={"disable_redirect": "true"})
        assert answer.status_code == 200, answer.text
        urls.append(str(answer.json()["url"]))
    return urls


def test_listed_recording_answers_an_html_page_until_cleared(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    listed, other = (event["id_str"] for event in world(ring)["events"][str(camera)][:2])
    # ding ids are above 2^53: the knob takes them as JSON numbers too and keeps them as text
    answer = ring.patch("/_sim/faults", json={"html_media_ids": [int(listed)]})
    assert answer.status_code == 200 and answer.json()["html_media_ids"] == [listed]

    for url in _urls(ring, listed):
        page = httpx.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text.lstrip().lower().startswith("<!doctype html")
    for url in _urls(ring, other):
        clip = httpx.get(url)
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"

    cleared = ring.patch("/_sim/faults", json={"html_media_ids": []})
    assert cleared.status_code == 200 and cleared.json()["html_media_ids"] == []
    for url in _urls(ring, listed):
        clip = httpx.get(url)
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
        assert clip.content[4:8] == b"ftyp"


def test_listed_recording_keeps_its_thumbnail(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    ding = world(ring)["events"][str(camera)][0]["id_str"]
    ring.patch("/_sim/faults", json={"html_media_ids": [ding]})
    answer = ring.get(f"{CLIENTS}/video_search/history", params={"doorbot_id": camera, "limit": 50})
    assert answer.status_code == 200, answer.text
    items = answer.json()["video_search"]
    (item,) = [i for i in items if str(i["ding_id"]) == ding]
    thumb = httpx.get(item["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_bad_values_are_refused(ring: httpx.Client) -> None:
    answer = ring.patch("/_sim/faults", json={"html_media_ids": "123"})
    assert answer.status_code == 422
    answer = ring.patch("/_sim/faults", json={"html_media_ids": [{"id": 1}]})
    assert answer.status_code == 422
