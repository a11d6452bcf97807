"""Server fixtures: a logged-in simulator, and ``serve(...)`` starting real ringvault servers (stopped afterwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ringvault.server import ServerSettings, create_app
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options
from tests.server.helpers import ServerThread

Serve = Callable[..., ServerThread]


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    return SimConfig(seed=11, locations=2, events_per_device=6, recording_seconds=1.0, media_cache_dir=media_cache)


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def serve(logged_in: Path, cloud_env: SimServer, archive_dir: Path) -> Iterator[Serve]:
    """Start a ringvault server on the logged-in simulator account; ``serve(api_key=..., clock=..., ...)``."""
    started: list[ServerThread] = []

    def _serve(*, clock: Any = None, **overrides: Any) -> ServerThread:
        values: dict[str, Any] = {
            "archive_dir": archive_dir,
            "token_file": logged_in,
            "cloud_url": cloud_env.url,
            "sync_defaults": fast_sync_options(),
        }
        values.update(overrides)
        server = ServerThread(create_app(ServerSettings(**values), clock=clock)).start()
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()
