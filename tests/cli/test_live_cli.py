"""``ringvault live`` against the simulator (login, devices, ticket) and the test's own answerer for the signalling
socket (the simulator's own live view is tested end to end in ``test_live_sim.py``): --record, --frame, --archive,
one-line errors, and SIGTERM leaving no partial file."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.archive.store import DB_FILENAME
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.cli_process import cli_env
from tests.cloud.live_answerer import Answerer, running_answerer
from tests.cloud.live_helpers import decode, jpeg_image, leftovers, shows_pattern

pytestmark = pytest.mark.timeout(120)

CAMERA_FAMILIES = {"doorbots", "authorized_doorbots", "stickup_cams"}


@contextlib.contextmanager
def answerer_thread(fault: str | None = None, **kwargs: Any) -> Iterator[Answerer]:
    """The answerer on its own event loop in a thread (the CLI runs its own ``asyncio.run``)."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"], holder["loop"] = stop, asyncio.get_running_loop()
        async with running_answerer(fault, **kwargs) as answerer:
            holder["answerer"] = answerer
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["answerer"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(15)


@pytest.fixture
def answerer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Answerer]:
    with answerer_thread() as running:
        monkeypatch.setattr("ringvault.cloud.live.start.SIGNALLING_SOCKET", running.socket_base)
        yield running


def _out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


def _camera(sim: SimServer) -> dict[str, Any]:
    world = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    return next(d for d in world["devices"] if d["family"] in CAMERA_FAMILIES)


def test_record_writes_a_valid_mp4(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, answerer: Answerer, tmp_path: Path
) -> None:
    camera = _camera(cloud_env)
    out = _out(tmp_path)
    clip = out / "clip.mp4"
    result = invoke("live", camera["name"], "--record", str(clip), "--duration", "3")
    assert result.exit_code == 0, result.output
    assert f"recorded 3.0 s to {clip}" in result.output
    decoded = decode(clip)
    assert 2.7 <= decoded.duration_s <= 3.3 and all(shows_pattern(i) for i in decoded.images)
    assert leftovers(out) == ["clip.mp4"]
    assert answerer.sessions[0].doorbot_id == camera["id"]


def test_frame_by_id_writes_a_jpeg(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, answerer: Answerer, tmp_path: Path
) -> None:
    camera = _camera(cloud_env)
    out = _out(tmp_path)
    still = out / "now.jpg"
    result = invoke("live", str(camera["id"]), "--frame", str(still))
    assert result.exit_code == 0, result.output
    assert shows_pattern(jpeg_image(still.read_bytes()))
    assert leftovers(out) == ["now.jpg"]


def test_archive_keeps_an_on_demand_event(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, answerer: Answerer, tmp_path: Path
) -> None:
    camera = _camera(cloud_env)
    root = tmp_path / "archive"
    result = invoke("live", camera["name"], "--archive", str(root), "--duration", "2")
    assert result.exit_code == 0, result.output
    with contextlib.closing(sqlite3.connect(root / DB_FILENAME)) as db:
        rows = db.execute(
            "SELECT e.kind, e.media_status, m.path FROM events e JOIN media m ON m.event_id = e.id "
            "WHERE e.device_id = ?",
            (camera["id"],),
        ).fetchall()
    assert len(rows) == 1 and rows[0][:2] == ("on_demand", "done")
    assert decode(root / rows[0][2]).video_frames > 0


def test_usage_and_refusals_are_one_line(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    camera = _camera(cloud_env)
    out = _out(tmp_path)
    both = invoke("live", camera["name"], "--record", str(out / "a.mp4"), "--frame", str(out / "b.jpg"))
    assert both.exit_code == 2 and "choose one of" in both.output
    missing = invoke("live", "no such camera", "--frame", str(out / "b.jpg"))
    assert missing.exit_code == 4
    with answerer_thread("offline") as offline:
        monkeypatch.setattr("ringvault.cloud.live.start.SIGNALLING_SOCKET", offline.socket_base)
        result = invoke("live", camera["name"], "--record", str(out / "clip.mp4"), "--duration", "3")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "offline" in lines[0], result.output
    assert leftovers(out) == []
    # a camera Ring reports offline is refused at once, as by every device command: no ticket, no socket
    httpx.patch(f"{cloud_env.url}/_sim/devices/{camera['id']}", json={"offline": True}, timeout=10).raise_for_status()
    with answerer_thread() as never:
        monkeypatch.setattr("ringvault.cloud.live.start.SIGNALLING_SOCKET", never.socket_base)
        refused = invoke("live", camera["name"], "--frame", str(out / "now.jpg"))
        assert never.sessions == []
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "offline" in refused.output
    assert leftovers(out) == []


def test_sigterm_stops_cleanly_and_leaves_no_partial_file(
    logged_in: Path, cloud_env: SimServer, answerer: Answerer, tmp_path: Path, rv_home: Path
) -> None:
    camera = _camera(cloud_env)
    out = _out(tmp_path)
    code = (
        "import sys, ringvault.cloud.live.start as start\n"
        f"start.SIGNALLING_SOCKET = {answerer.socket_base!r}\n"
        "from ringvault.cli import main\n"
        f"sys.argv = ['ringvault', 'live', {camera['name']!r}, '--record', {str(out / 'clip.mp4')!r}]\n"
        "main()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=cli_env(cloud_env, rv_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(".part" in name for name in leftovers(out)):  # recording
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 143, stderr
    assert "stopped (SIGTERM)" in stderr
    assert leftovers(out) == []
    deadline = time.monotonic() + 10
    while not answerer.all_closed() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answerer.all_closed()
    assert answerer.sessions[-1].methods()[-1] == "close"
