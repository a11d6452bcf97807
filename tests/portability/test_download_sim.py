"""Downloads over real HTTP: presigned URLs of the simulator's fake S3, reached through the cloud-URL rule.

The portability service's own simulator is built separately; its storage host follows the same presigned-URL rules as
the account simulator's fake S3 used here (signature, expiry, S3's XML errors), so the download path of the client is
exercised end to end over loopback.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.endpoints import endpoints_for
from ringvault.portability.oauth import PortabilityAuth
from ringvault.sim.s3 import TRANSCODED_HOST, presign
from ringvault.sim.server import SimServer
from tests.portability.helpers import CREDENTIALS, FakeService, RecordingSleep, fast_policy, no_limits, valid_token


def _signed_recording_url(sim: SimServer) -> tuple[str, str]:
    """A presigned URL (written with the real host) of a ready recording, and the clip's event id."""
    world = sim.state.world
    event = next(ev for ev in world.visible_events() if world.recording_ready(ev))
    url = presign(sim.state, f"https://{TRANSCODED_HOST}", TRANSCODED_HOST, f"{event.recording_id}.mp4")
    return url, event.id_str


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _control(sim: SimServer, method: str, path: str, body: object) -> None:
    httpx.request(method, f"{sim.url}{path}", json=body, timeout=10).raise_for_status()


def _client(sim: SimServer, sleep: RecordingSleep, **options: object) -> PortabilityClient:
    service = FakeService()
    auth = PortabilityAuth(CREDENTIALS, token=valid_token(service), endpoints=endpoints_for(cloud_url=sim.url))
    return PortabilityClient(auth, limiter=no_limits(), retry=fast_policy(sleep), **options)  # type: ignore[arg-type]


async def test_a_presigned_file_downloads_over_loopback(sim: SimServer, tmp_path: Path) -> None:
    url, _ = _signed_recording_url(sim)
    sleep = RecordingSleep()
    async with _client(sim, sleep) as client:
        result = await client.download(url, tmp_path / "clip.mp4")
    data = (tmp_path / "clip.mp4").read_bytes()
    assert result.bytes == len(data) > 1000
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert data[4:8] == b"ftyp" and result.content_type == "video/mp4"
    assert sleep.waits == []
    assert _names(tmp_path) == ["clip.mp4"]


async def test_an_expired_presigned_url_over_loopback(sim: SimServer, tmp_path: Path) -> None:
    url, _ = _signed_recording_url(sim)
    _control(sim, "POST", "/_sim/clock", {"advance_s": 3601})
    async with _client(sim, RecordingSleep()) as client:
        with pytest.raises(e.PresignedUrlExpiredError) as caught:
            await client.download(url, tmp_path / "clip.mp4")
    assert caught.value.status == 403
    assert _names(tmp_path) == []


async def test_a_tampered_signature_is_refused(sim: SimServer, tmp_path: Path) -> None:
    url, _ = _signed_recording_url(sim)
    async with _client(sim, RecordingSleep()) as client:
        with pytest.raises(e.PresignedUrlExpiredError):
            await client.download(url.replace("X-Amz-Signature=", "X-Amz-Signature=00"), tmp_path / "clip.mp4")


async def test_the_cap_applies_over_loopback(sim: SimServer, tmp_path: Path) -> None:
    url, _ = _signed_recording_url(sim)
    async with _client(sim, RecordingSleep(), max_download_bytes=1024) as client:
        with pytest.raises(e.DownloadTooLargeError):
            await client.download(url, tmp_path / "clip.mp4")
    assert _names(tmp_path) == []


async def test_bodies_cut_off_mid_way_are_resumed_until_complete(sim: SimServer, tmp_path: Path) -> None:
    url, _ = _signed_recording_url(sim)
    sleep = RecordingSleep()
    async with _client(sim, RecordingSleep()) as client:
        reference = await client.download(url, tmp_path / "reference.mp4")
    _control(sim, "PATCH", "/_sim/faults", {"drop_rate": 0.5, "seed": 3})
    async with _client(sim, sleep) as client:
        result = await client.download(url, tmp_path / "clip.mp4")
        resumes = client.http.stats.resumes
    assert result.sha256 == reference.sha256 and result.bytes == reference.bytes
    assert sleep.waits and resumes >= 1  # the body was cut off, and the next attempt went on from where it stopped
    assert _names(tmp_path) == ["clip.mp4", "reference.mp4"]
