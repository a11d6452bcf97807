"""Shared fixtures: a real simulator server on loopback, and an isolated ringvault home."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer

pytest_plugins = ["tests.cli_fixtures", "tests.pg.fixtures", "tests.mqtt.fixtures"]


def _run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary directory of this whole run: under pytest-xdist each worker's base temp is a child
    (``.../pytest-N/popen-gw0``) of the controller's, which belongs to this run alone."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated JPEG/MP4 media are deterministic; one directory serves every test of the run, on every worker.

    Sharing is safe across processes: a file's name holds everything its bytes derive from (media version, ids,
    length, label hash), and ``MediaStore`` writes a temporary file and renames it, so a reader sees a whole file
    or none, and two workers generating the same clip at once both write the same bytes."""
    path = _run_dir(tmp_path_factory) / "sim-media"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_default_tls_context() -> Iterator[None]:
    """Build httpx's default TLS context once per worker instead of once per client.

    Every ``httpx.Client``/``AsyncClient`` (and every ``httpx.get``) loads a CA bundle into a new context: 20-50 ms
    of CPU each, and the suite makes thousands of clients (the tests' own, and ringvault's, one per command). That
    was 44 % of the CPU time of tests/cloud (20 s of user CPU; 11 s with one context), for TLS that no test uses
    (all traffic is plain HTTP on 127.0.0.1). Only the default case (``verify=True``, no client certificate) is
    shared, one context per ``SSL_CERT_*`` setting; an ``SSLContext`` is safe to share between clients and threads.
    Should httpx move this function, the suite just runs slower."""
    module = httpx._transports.default
    build = getattr(module, "create_ssl_context", None)
    if build is None:
        yield
        return
    shared: dict[tuple[str | None, ...], ssl.SSLContext] = {}

    def cached(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            context: ssl.SSLContext = build(verify=verify, cert=cert, trust_env=trust_env)
            return context
        # what the default context is built from: certifi's bundle, or the SSL_CERT_* files when trust_env
        key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
        if key not in shared:
            shared[key] = build(verify=verify, cert=cert, trust_env=trust_env)
        return shared[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "create_ssl_context", cached)
        yield


@pytest.fixture(scope="session", autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the platform's per-user config/data/cache directories (where ringvault's defaults live) at this
    worker's own temporary ones, so no test reads or writes the real user's, and two workers never share one.
    Subprocesses inherit them."""
    base = tmp_path_factory.mktemp("user-dirs")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            folder = base / name.removeprefix("XDG_").removesuffix("_HOME").lower()
            folder.mkdir()
            patch.setenv(name, str(folder))
        yield


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the long tests first: those with an explicit ``timeout`` mark above the suite's default.

    Under pytest-xdist the run ends when its slowest worker does; a minute-long test handed out last would run
    alone at the end. Otherwise the collection order is kept (a stable sort)."""
    default = float(config.getini("timeout") or 0)

    def budget(item: pytest.Item) -> float:
        mark = item.get_closest_marker("timeout")
        if mark is None:
            return default
        value = mark.args[0] if mark.args else mark.kwargs.get("timeout", default)
        return float(value or 0)

    items.sort(key=lambda item: -budget(item) if budget(item) > default else 0.0)
