"""``LiveViewSession`` against a minimal answerer written from the reference (``live_answerer``): the message flow,
the media (frames, JPEG, MP4 decoded with PyAV), every failure path, and that every end cleans up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud.endpoints import signalling_url, websocket_url
from ringvault.cloud.live import (
    CameraOfflineError,
    LiveViewEndedError,
    LiveViewIceError,
    LiveViewOptions,
    LiveViewRefusedError,
    LiveViewSession,
    LiveViewTimeoutError,
)
from ringvault.cloud.live.signalling import accept_frame, client_id
from tests.cloud.live_answerer import SIGNALLING_PATH, Answerer, running_answerer
from tests.cloud.live_helpers import advancing, decode, jpeg_image, leftovers, live_tasks, shows_pattern, square_x

pytestmark = pytest.mark.timeout(90)

CAMERA = 4321


def _session(answerer: Answerer, doorbot_id: int = CAMERA, **options: Any) -> LiveViewSession:
    # the socket URL through the CLOUD_URL rule, with the answerer as the cloud
    url = websocket_url(signalling_url("a-ticket", client_id()), answerer.url)
    assert url.startswith(f"ws://127.0.0.1:{answerer.port}{SIGNALLING_PATH}?")

    async def socket_url() -> str:
        return url

    return LiveViewSession(
        doorbot_id=doorbot_id,
        name="Front Door",
        socket_url=socket_url,
        options=LiveViewOptions(ice_servers=(), **options),
    )


@contextlib.asynccontextmanager
async def started(answerer: Answerer, **options: Any) -> AsyncIterator[LiveViewSession]:
    session = _session(answerer, **options)
    async with await session.start():
        yield session
    assert session.peer_connection is not None and session.peer_connection.connectionState == "closed"
    assert live_tasks() == []


async def test_record_is_a_valid_mp4_of_the_stream_and_the_flow_follows_the_reference(tmp_path: Path) -> None:
    async with running_answerer() as answerer:
        async with started(answerer) as session:
            result = await session.record(tmp_path / "clip.mp4", 4.0)
        decoded = decode(result.path)
        seen = answerer.sessions[0]
    assert leftovers(tmp_path) == ["clip.mp4"]
    assert decoded.video_codec == "h264" and decoded.audio_codec == "aac"
    assert (decoded.width, decoded.height) == (320, 240)
    assert 3.6 <= decoded.duration_s <= 4.4, decoded.duration_s
    assert decoded.audio_frames > 100  # 4 s of AAC: about 187 frames of 1024 samples
    assert all(shows_pattern(image) for image in decoded.images)
    assert advancing([square_x(image) for image in decoded.images]) > 0.9
    # §9.2: the socket's query and header
    assert seen.query["api_version"] == "4.0" and seen.query["auth_type"] == "ring_solutions"
    assert seen.query["client_id"].startswith("ring_site-") and seen.query["token"] == "a-ticket"
    assert seen.user_agent == "android:com.ringapp"
    # §9.3/§9.4: live_view first, trickled ice, activate + stream_options with the session id, close {code 0} last
    methods = seen.methods()
    assert methods[0] == "live_view" and "ice" in methods
    assert methods.index("activate_session") < methods.index("stream_options")
    assert methods[-1] == "close"
    live_view = seen.received[0]
    assert live_view["body"]["doorbot_id"] == CAMERA and "v=0" in live_view["body"]["sdp"]
    assert live_view["body"]["stream_options"] == {"audio_enabled": True, "video_enabled": True}
    dialogs = {m.get("dialog_id") for m in seen.received if m["method"] != "close"}
    assert len(dialogs) == 1
    activate = seen.received[methods.index("activate_session")]
    assert activate["body"] == {"doorbot_id": CAMERA, "session_id": seen.session_id}
    assert seen.received[-1] == {"reason": {"code": 0, "text": ""}, "method": "close"}
    # §9.6: audio sendrecv (opus, PCMU), video recvonly offering H.264 only
    sdp = live_view["body"]["sdp"]
    audio, video = sdp.split("m=audio", 1)[1].split("m=video", 1)
    assert "a=sendrecv" in audio and "opus/48000/2" in audio and "PCMU/8000" in audio
    assert "a=recvonly" in video and "H264/90000" in video and "VP8" not in video
    assert answerer.all_closed()


async def test_frame_is_a_jpeg_of_the_picture_and_frames_flow_to_iterators() -> None:
    async with running_answerer() as answerer, started(answerer) as session:
        image = jpeg_image(await session.frame())
        assert shows_pattern(image)
        positions = []
        async for frame in session.video_frames():
            positions.append(square_x(frame.to_image()))
            if len(positions) == 10:
                break
        assert advancing(positions) > 0.8
        audio = [frame async for frame in _take(session.audio_frames(), 5)]
        assert all(frame.sample_rate in (48000, 8000) for frame in audio)


async def _take(frames: AsyncIterator[Any], n: int) -> AsyncIterator[Any]:
    count = 0
    async for frame in frames:
        yield frame
        count += 1
        if count == n:
            return


async def test_a_slow_consumer_gets_the_newest_frames_in_bounded_memory() -> None:
    async with running_answerer() as answerer, started(answerer, queue_frames=3) as session:
        iterator = session.video_frames()
        first = await anext(iterator)
        await asyncio.sleep(2.0)  # 30 frames arrive meanwhile; 3 are kept
        queue = next(iter(session._video._subscribers))
        assert len(queue) <= 3 and queue.dropped >= 20
        newer = await anext(iterator)
        assert newer.pts - first.pts >= 90000  # what is kept is the recent past, not the frame after the first
        await iterator.aclose()
        assert session._video._subscribers == set()


async def test_pings_every_interval_with_the_session_and_speaker_on_when_asked() -> None:
    async with running_answerer() as answerer:
        async with started(answerer, ping_interval_s=0.3, two_way_audio=True):
            await asyncio.sleep(1.5)
        seen = answerer.sessions[0]
    pings = [m for m in seen.received if m["method"] == "ping"]
    assert len(pings) >= 3
    assert all(p["body"] == {"doorbot_id": CAMERA, "session_id": seen.session_id} for p in pings)
    options = [m for m in seen.received if m["method"] == "camera_options"]
    assert options and options[0]["body"]["stealth_mode"] is False


async def test_frames_for_another_camera_or_session_are_dropped() -> None:
    assert not accept_frame({"method": "close", "body": {"doorbot_id": "4321"}}, CAMERA, None)
    assert not accept_frame({"method": "sdp", "body": {"doorbot_id": CAMERA, "session_id": "x"}}, CAMERA, None)
    assert accept_frame({"method": "session_created", "body": {"doorbot_id": CAMERA, "session_id": "x"}}, CAMERA, None)
    assert not accept_frame({"method": "close", "body": {"doorbot_id": CAMERA, "session_id": "y"}}, CAMERA, "x")
    async with running_answerer("noise") as answerer, started(answerer) as session:
        assert shows_pattern(jpeg_image(await session.frame()))
        assert session.signalling.dropped >= 3  # three close frames that were not ours


async def test_offline_camera_is_a_one_line_error_and_cleans_up() -> None:
    async with running_answerer("offline") as answerer:
        session = _session(answerer)
        with pytest.raises(CameraOfflineError) as caught:
            await session.start()
        assert "offline" in caught.value.one_line and "\n" not in caught.value.one_line
        assert live_tasks() == []
        assert session.peer_connection is not None and session.peer_connection.connectionState == "closed"
    assert answerer.sessions[0].methods()[-1] == "close"  # our hang-up on every end, as rca


async def test_close_mid_recording_ends_with_the_reason_and_leaves_no_file(tmp_path: Path) -> None:
    async with running_answerer("close_after", close_after_s=1.5) as answerer:
        session = _session(answerer)
        async with await session.start():
            with pytest.raises(LiveViewEndedError) as caught:
                await session.record(tmp_path / "clip.mp4", 10.0)
        assert "Timeout waiting for ping" in caught.value.one_line and caught.value.code == 6
        assert leftovers(tmp_path) == []
        assert live_tasks() == []


async def test_ice_failure_is_a_typed_error() -> None:
    async with running_answerer("ice_fail") as answerer:
        session = _session(answerer, connect_timeout_s=15)
        with pytest.raises(LiveViewIceError) as caught:
            await session.start()
        assert "ICE" in caught.value.one_line
        assert live_tasks() == []


async def test_no_answer_within_the_bound_is_a_typed_error() -> None:
    async with running_answerer("silent") as answerer:
        # the bound also covers opening the socket: 6 s, so a busy machine opens it in time and the answer is late
        session = _session(answerer, answer_timeout_s=6.0)
        with pytest.raises(LiveViewTimeoutError, match="no answer"):
            await session.start()
        assert live_tasks() == []
    assert answerer.all_closed()


async def test_a_cancelled_recording_leaves_no_file_and_close_still_cleans_up(tmp_path: Path) -> None:
    async with running_answerer() as answerer, started(answerer) as session:
        task = asyncio.ensure_future(session.record(tmp_path / "clip.mp4", 10.0))
        await asyncio.sleep(1.5)
        assert any(".part" in name for name in leftovers(tmp_path))  # it was writing
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert leftovers(tmp_path) == []


async def test_cancelling_the_owner_mid_stream_closes_everything() -> None:
    async with running_answerer() as answerer:

        async def watch() -> None:
            async with await _session(answerer).start() as session:
                async for _frame in session.video_frames():
                    pass

        task = asyncio.ensure_future(watch())
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert live_tasks() == []
    assert answerer.all_closed()
    assert json.dumps(answerer.sessions[0].received[-1]) == json.dumps(
        {"reason": {"code": 0, "text": ""}, "method": "close"}
    )


async def test_four_cameras_stream_and_record_at_once(tmp_path: Path) -> None:
    async with running_answerer() as answerer:

        async def one(index: int) -> Path:
            session = _session(answerer, CAMERA + index)
            async with await session.start():
                return (await session.record(tmp_path / f"clip-{index}.mp4", 3.0)).path

        paths = await asyncio.gather(*(one(i) for i in range(4)))
        assert live_tasks() == []
    assert sorted(p.name for p in paths) == leftovers(tmp_path)
    for path in paths:
        decoded = decode(path, keep_every=5)
        assert 2.7 <= decoded.duration_s <= 3.3 and all(shows_pattern(i) for i in decoded.images)
    assert sorted(s.doorbot_id for s in answerer.sessions) == [CAMERA + i for i in range(4)]
    assert answerer.all_closed()


async def test_an_unusable_answer_is_a_one_line_refusal_and_durations_are_bounded(tmp_path: Path) -> None:
    async with running_answerer("garbage_sdp") as answerer:
        session = _session(answerer)
        with pytest.raises(LiveViewRefusedError) as caught:
            await session.start()
        assert "\n" not in caught.value.one_line and "sdp" in caught.value.one_line
        assert live_tasks() == []
    async with running_answerer() as answerer, started(answerer, audio=False, max_duration_s=5) as session:
        with pytest.raises(ValueError, match="at most 5"):
            await session.record(tmp_path / "long.mp4", 6)
        decoded = decode((await session.record(tmp_path / "mute.mp4", 2)).path)
        assert decoded.audio_codec is None and decoded.video_frames > 0
    assert answerer.sessions[0].received[0]["body"]["stream_options"]["audio_enabled"] is False
