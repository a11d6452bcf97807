"""A body the server keeps cutting off: the retry budget honours ``max_retries`` (a handful of attempts and a few
seconds of waiting, not minutes) and the error names the real cause, not the network. ``--max-retries 2`` on a
dropped body used to take 73 s and say "cannot reach"; a download made up to max(20, 10 × (max_retries + 1))
attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.errors import CloudUnreachableError, ConnectionCutOffError
from ringvault.cloud.http import CUT_OFF_MAX_WAIT_S, RingHttp
from ringvault.cloud.options import RingApiOptions
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from ringvault.transport.retry import RESUMES_PER_RETRY
from tests.cloud.http_helpers import fast_options, logged_in_auth, sim_get, sim_patch_faults

MEDIA = "https://bucket.s3.amazonaws.com/clip.mp4?X-Amz-Signature=abc"
SIZE = 1000


class CutAfter(httpx.AsyncByteStream):
    """A body that sends ``keep`` bytes and then breaks the connection."""

    def __init__(self, data: bytes, keep: int) -> None:
        self.data, self.keep = data, keep

    async def __aiter__(self) -> Any:
        if self.keep:
            yield self.data[: self.keep]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def media_server(keep: int, sent: list[str | None]) -> httpx.MockTransport:
    """A storage host that honours Range and cuts every body off after ``keep`` bytes."""
    payload = (bytes(range(256)) * 4)[:SIZE]

    def handler(request: httpx.Request) -> httpx.Response:
        asked = request.headers.get("range")
        sent.append(asked)
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
        rest = payload[start:]
        headers = {"content-type": "video/mp4", "content-length": str(len(rest))}
        if start:
            headers["content-range"] = f"bytes {start}-{SIZE - 1}/{SIZE}"
        return httpx.Response(206 if start else 200, headers=headers, stream=CutAfter(rest, keep))

    return httpx.MockTransport(handler)


def http_for(transport: httpx.MockTransport, **options: Any) -> RingHttp:
    values: dict[str, Any] = {"cloud_url": None, "backoff_initial_s": 0.01, "backoff_max_s": 0.02}
    values.update(options)
    auth = RefreshTokenAuth("rt", hardware_id="hid")
    return RingHttp(auth, RingApiOptions(**values), transport=transport)


@pytest.mark.parametrize("max_retries", [0, 2, 5])
async def test_a_download_that_moves_but_keeps_breaking_off_stops_within_the_budget(
    tmp_path: Path, max_retries: int
) -> None:
    sent: list[str | None] = []
    async with http_for(media_server(10, sent), max_retries=max_retries) as http:
        with pytest.raises(ConnectionCutOffError) as info:
            await http.download(MEDIA, tmp_path / "clip.mp4", expected_type="video/mp4")
        waits = list(http.stats.waits)
    assert waits == [0.0] * (len(sent) - 1)  # each attempt gained bytes: resumed at once
    attempts = 1 + RESUMES_PER_RETRY * max_retries
    assert len(sent) == attempts  # max_retries 2: 9 attempts (was 30)
    assert sent[1:] == [f"bytes={10 * n}-" for n in range(1, attempts)]  # each one resumed where the last stopped
    message = info.value.one_line
    times = "once" if attempts == 1 else f"{attempts} times"
    assert f"the storage host (bucket.s3.amazonaws.com) cut the download off {times}" in message
    assert f"{10 * attempts} of {SIZE} bytes" in message and "cannot reach" not in message
    assert "Check the network" not in message and not (tmp_path / "clip.mp4").exists()


async def test_a_download_cut_off_before_any_byte_waits_briefly_and_stops_after_max_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ringvault.cloud.http.CUT_OFF_MAX_WAIT_S", 0.05)
    sent: list[str | None] = []
    # a backoff that would wait 30 s and more: a host that answers is not waited for like one that does not
    async with http_for(media_server(0, sent), max_retries=3, backoff_initial_s=30, backoff_max_s=300) as http:
        with pytest.raises(ConnectionCutOffError, match="cut the download off 4 times"):
            await http.download(MEDIA, tmp_path / "clip.mp4")
        waits = list(http.stats.waits)
    assert len(sent) == 4 and sent == [None] * 4  # nothing gained: no Range, and only max_retries retries
    assert len(waits) == 3 and all(wait <= 0.05 for wait in waits)


async def test_an_unreachable_host_is_still_unreachable(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with http_for(httpx.MockTransport(refuse), max_retries=2) as http:
        with pytest.raises(CloudUnreachableError) as info:
            await http.download(MEDIA, tmp_path / "clip.mp4")
    assert not isinstance(info.value, ConnectionCutOffError) and "ConnectError" in str(info.value)


@pytest.fixture
def long_clips(sim_config: SimConfig) -> SimConfig:
    sim_config.recording_seconds = 6.0
    return sim_config


async def test_a_recording_the_storage_host_keeps_cutting_off_fails_fast_and_says_so(
    long_clips: SimConfig, sim: SimServer, tmp_path: Path
) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    event = next(e for e in sim.state.world.visible_events() if e.has_media)
    recording = f"https://api.ring.com/clients_api/dings/{event.id_str}/recording"
    sim_patch_faults(sim, drop_rate=1.0, path_pattern="s3.amazonaws.com")  # every media body is cut in half
    options = fast_options(sim, max_retries=2, backoff_initial_s=1.0, backoff_max_s=30.0)
    async with RingHttp(auth, options) as http:
        with pytest.raises(ConnectionCutOffError) as info:
            await http.download(recording, tmp_path / "clip.mp4", auth=True, expected_type="video/mp4")
        waits = list(http.stats.waits)
    s3 = [r for r in sim_get(sim, "/_sim/requests?limit=1000")["requests"] if "s3.amazonaws.com" in r["path"]]
    assert len(s3) <= 1 + RESUMES_PER_RETRY * 2
    assert sum(waits) <= 2 * CUT_OFF_MAX_WAIT_S  # seconds of waiting at most, whatever the backoff settings
    assert "the storage host" in str(info.value) and "cut the download off" in str(info.value)


async def test_an_answer_cut_off_is_named_as_such_not_as_an_unreachable_cloud(sim: SimServer, tmp_path: Path) -> None:
    auth, _store = await logged_in_auth(sim, tmp_path)
    camera = next(d for d in sim.state.world.devices.values() if d.is_camera and not d.offline)
    sim_patch_faults(sim, drop_rate=1.0, path_pattern="app-snaps")
    async with RingHttp(auth, fast_options(sim, max_retries=2, backoff_initial_s=1.0, backoff_max_s=30.0)) as http:
        with pytest.raises(ConnectionCutOffError) as info:
            await http.request("GET", f"https://app-snaps.ring.com/snapshots/next/{camera.id}")
        waits = list(http.stats.waits)
    assert "app-snaps.ring.com cut the answer off 3 times" in str(info.value)
    assert "cannot reach" not in str(info.value) and len(waits) == 2 and all(w <= CUT_OFF_MAX_WAIT_S for w in waits)
