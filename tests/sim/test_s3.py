"""The fake S3 storage hosts: signed URLs, expiry, missing keys, Range, HEAD, no Ring auth."""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from ringvault.sim.config import SimConfig
from ringvault.sim.s3 import TRANSCODED_HOST, presign
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


def _url(ring: httpx.Client) -> tuple[str, str]:
    camera = first(ring, kind="floodlight_v2")["id"]
    ding = world(ring)["events"][str(camera)][0]["id_str"]
    answer = ring.get(f"{CLIENTS}/dings/{ding}/recording", params={"disable_redirect": "true"})
    url = answer.json()["url"]
    assert isinstance(url, str)
    return url, ding


def test_signed_url_shape(ring: httpx.Client, sim: SimServer) -> None:
    url, _ = _url(ring)
    parts = urlsplit(url)
    assert url.startswith(f"{sim.url}/ring-transcoded-videos.s3.amazonaws.com/") and parts.path.endswith(".mp4")
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["3600"]
    assert len(query["X-Amz-Date"][0]) == 16 and query["X-Amz-Date"][0].endswith("Z")
    assert len(query["X-Amz-Signature"][0]) == 64


def test_media_needs_no_ring_auth_and_supports_range_and_head(ring: httpx.Client) -> None:
    url, _ = _url(ring)
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"].startswith('"')
    size = len(whole.content)
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == size


def test_bad_signature_and_missing_parameters(ring: httpx.Client) -> None:
    url, _ = _url(ring)
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    tampered = url.replace(signature, "0" * 64)
    answer = httpx.get(tampered)
    assert answer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    bare = httpx.get(url.split("?")[0])
    assert bare.status_code == 403 and "<Code>AccessDenied</Code>" in bare.text
    other_key = url.replace(".mp4?", "0.mp4?")  # a signature is bound to its key
    assert httpx.get(other_key).status_code == 403


def test_expired_url(ring: httpx.Client) -> None:
    url, ding = _url(ring)
    assert httpx.get(url).status_code == 200
    ring.post("/_sim/clock", json={"advance_s": 3601})
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    fresh = ring.get(f"{CLIENTS}/dings/{ding}/recording", params={"disable_redirect": "true"}).json()["url"]
    assert httpx.get(fresh).status_code == 200


def test_no_such_key(ring: httpx.Client, sim: SimServer) -> None:
    url = presign(sim.state, f"{sim.url}/{TRANSCODED_HOST}", TRANSCODED_HOST, "1.mp4")  # validly signed
    missing = httpx.get(url)
    assert missing.status_code == 404
    assert "<Code>NoSuchKey</Code>" in missing.text and "<Key>1.mp4</Key>" in missing.text


def test_thumbnail_is_a_jpeg(ring: httpx.Client) -> None:
    camera = first(ring, kind="floodlight_v2")["id"]
    params = {"doorbot_id": camera, "date_from": 0, "date_to": 10**13}
    result = ring.get(f"{CLIENTS}/video_search/history", params=params).json()["video_search"][0]
    image = httpx.get(result["thumbnail_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).format == "JPEG"
    clip = httpx.get(result["untranscoded_url"])
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"


def test_urls_use_real_host_names_when_reached_by_host_header(ring: httpx.Client, sim: SimServer) -> None:
    """With DNS pointed at the simulator (``Host: api.ring.com``), signed URLs name the real storage host."""
    camera = first(ring, kind="floodlight_v2")["id"]
    ding = world(ring)["events"][str(camera)][0]["id_str"]
    answer = ring.get(
        f"/clients_api/dings/{ding}/recording", params={"disable_redirect": "true"}, headers={"Host": "api.ring.com"}
    )
    url = httpx.URL(answer.json()["url"])
    assert url.host == TRANSCODED_HOST and url.path.endswith(".mp4")
    media = httpx.get(url.copy_with(scheme="http", host="127.0.0.1", port=sim.port), headers={"Host": url.host})
    assert media.status_code == 200 and media.content[4:8] == b"ftyp"
