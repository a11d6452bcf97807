"""Live view (issue 14): time to first frame, and CPU and peak RSS per stream while recording, for 1 and 4 streams.

The measured side is a child process that does what ``ringvault live --record`` does for N cameras at once (a
``LiveViewSession`` each, ``record()`` to MP4 for ``--seconds``); its CPU (user + system) and peak RSS come from
``wait4``, so the camera side is not counted. The camera side is the live-view answerer of the tests
(``tests/cloud/live_answerer.py``: aiortc, 320x240 at 15 fps H.264 + Opus tone), run in this process on loopback.
With ``--sim`` the streams come from the simulator's live view instead (the simulator in its own process; 320x240 at
10 fps), through the whole client path: login, ticket, signalling socket under the CLOUD_URL rule.

Run: ``.venv/bin/python -m bench.live_view [--sim] [--seconds 10] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, emit_json, env


async def _child(socket_base: str | None, streams: int, seconds: float, out: Path) -> dict[str, Any]:
    """N live views at once, each recorded for ``seconds``: to the answerer at ``socket_base``, or (None) through
    the whole client path to the simulator named by ``RINGVAULT_CLOUD_URL`` with the login in ``RINGVAULT_HOME``."""
    import contextlib

    from ringvault.cloud.endpoints import signalling_url
    from ringvault.cloud.live import LiveViewOptions, LiveViewSession
    from ringvault.cloud.live.signalling import client_id

    async with contextlib.AsyncExitStack() as stack:
        if socket_base is None:
            from ringvault.cloud.api import RingApi
            from ringvault.cloud.auth import RefreshTokenAuth
            from ringvault.cloud.options import RingApiOptions
            from ringvault.cloud.tokens import TokenStore

            store = TokenStore(Path(os.environ["RINGVAULT_HOME"]) / "token.json")
            options = RingApiOptions(cloud_url=os.environ["RINGVAULT_CLOUD_URL"])
            api = await stack.enter_async_context(RingApi(RefreshTokenAuth(token_store=store), options))
            cameras = [c for c in await api.get_cameras() if c.kind != "onvif_camera" and not c.is_offline]
            cameras = cameras[:streams]

        async def open_session(index: int) -> LiveViewSession:
            if socket_base is None:
                return await cameras[index].start_live_view()
            url = signalling_url(f"ticket-{index}", client_id(), base=socket_base)

            async def socket_url() -> str:
                return url

            session = LiveViewSession(
                doorbot_id=1000 + index, name=f"camera {index}", socket_url=socket_url,
                options=LiveViewOptions(ice_servers=()),
            )  # fmt: skip
            return await session.start()

        async def one(index: int) -> dict[str, float]:
            started = time.monotonic()
            async with await open_session(index) as session:
                connected = time.monotonic()
                async for _frame in session.video_frames():
                    break
                first = time.monotonic()
                result = await session.record(out / f"clip-{index}.mp4", seconds)
            return {
                "connect_s": connected - started,
                "first_frame_s": first - started,
                "recorded_s": result.duration_s,
                "frames": result.video_frames,
            }

        cpu0 = time.process_time()
        results = await asyncio.gather(*(one(i) for i in range(streams)))
        return {"streams": results, "cpu_s_in_process": time.process_time() - cpu0}


def _run_child(
    socket_base: str | None, streams: int, seconds: float, workdir: Path, child_env: dict[str, str]
) -> dict[str, Any]:
    code = (
        "import asyncio, json, sys\nfrom pathlib import Path\nfrom bench.live_view import _child\n"
        f"print(json.dumps(asyncio.run(_child({socket_base!r}, {streams}, {seconds}, Path({str(workdir)!r})))))\n"
    )
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=child_env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the recording child failed ({status})")
    data: dict[str, Any] = json.loads(out)
    data["wall_s"] = time.perf_counter() - started
    data["cpu_s"] = usage.ru_utime + usage.ru_stime
    data["peak_rss_mib"] = usage.ru_maxrss / 1024
    return data


def _answerer_thread() -> tuple[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.cloud.live_answerer import running_answerer

    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        holder["stop"], holder["loop"] = asyncio.Event(), asyncio.get_running_loop()
        async with running_answerer() as answerer:
            holder["base"] = answerer.socket_base
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)

    def stop() -> None:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(15)

    return str(holder["base"]), stop


def _measure(report: dict[str, Any], socket_base: str | None, seconds: float, child_env: dict[str, str]) -> None:
    for streams in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            data = _run_child(socket_base, streams, seconds, Path(tmp), child_env)
        firsts = [s["first_frame_s"] for s in data["streams"]]
        report["runs"][streams] = {
            "first_frame_s_max": round(max(firsts), 3),
            "first_frame_s_each": [round(x, 3) for x in firsts],
            "cpu_s_per_stream": round(data["cpu_s"] / streams, 2),
            "cpu_share_per_stream": round(data["cpu_s"] / streams / data["wall_s"], 3),
            "peak_rss_mib_process": round(data["peak_rss_mib"], 1),
            "wall_s": round(data["wall_s"], 2),
            "recorded_s": [s["recorded_s"] for s in data["streams"]],
        }
        print(f"{streams} stream(s): {json.dumps(report['runs'][streams])}", flush=True)
    one, four = report["runs"][1], report["runs"][4]
    # what one more stream costs: the process's start (interpreter, imports, login) is in both runs once
    report["marginal_per_stream"] = {
        "cpu_s": round((four["cpu_s_per_stream"] * 4 - one["cpu_s_per_stream"]) / 3, 2),
        "rss_mib": round((four["peak_rss_mib_process"] - one["peak_rss_mib_process"]) / 3, 1),
    }
    print(f"marginal per stream: {json.dumps(report['marginal_per_stream'])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sim", action="store_true", help="stream from the simulator (login, ticket, socket)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().strip()
    report: dict[str, Any] = {"seconds": args.seconds, "against": "sim" if args.sim else "answerer", "load": load}
    report["runs"] = {}
    if args.sim:
        from bench.common import login_ringvault, simulator

        with tempfile.TemporaryDirectory() as work, simulator([], Path(work)) as url:
            child_env = env(RINGVAULT_HOME=str(Path(work) / "home"), RINGVAULT_CLOUD_URL=url)
            Path(child_env["RINGVAULT_HOME"]).mkdir()
            login_ringvault(url, child_env)
            _measure(report, None, args.seconds, child_env)
    else:
        base, stop = _answerer_thread()
        try:
            _measure(report, base, args.seconds, env())
        finally:
            stop()
    emit_json(report, args.json)


if __name__ == "__main__":
    main()
