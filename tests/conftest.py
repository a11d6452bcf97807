"""Shared fixtures: a real simulator server on loopback, and an isolated ringvault home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer

pytest_plugins = ["tests.cli_fixtures"]


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated JPEG/MP4 media are deterministic; share them across the whole test session."""
    return tmp_path_factory.mktemp("sim-media")


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    """A small world; tests tweak it before the `sim` fixture starts the server."""
    return SimConfig(seed=7, locations=2, events_per_device=12, recording_seconds=1.0, media_cache_dir=media_cache)


@pytest.fixture
def sim(sim_config: SimConfig) -> Iterator[SimServer]:
    """A running simulated Ring cloud on 127.0.0.1 (a real uvicorn server in a thread)."""
    with SimServer(sim_config) as server:
        yield server


@pytest.fixture
def rv_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated RINGVAULT_HOME (token file lives here)."""
    home = tmp_path / "rv-home"
    home.mkdir()
    monkeypatch.setenv("RINGVAULT_HOME", str(home))
    monkeypatch.delenv("RINGVAULT_TOKEN_FILE", raising=False)
    monkeypatch.delenv("RINGVAULT_CLOUD_URL", raising=False)
    return home


@pytest.fixture
def cloud_env(sim: SimServer, rv_home: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """Point ringvault at the running simulator through the one endpoint rule."""
    monkeypatch.setenv("RINGVAULT_CLOUD_URL", sim.url)
    return sim
