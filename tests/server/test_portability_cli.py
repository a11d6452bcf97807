"""``ringvault serve`` with a Data Portability app from the environment: refused when half-configured, and the real
command in its own process importing a customer — with no code, state or token in its output (access log included)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ringvault.server.security import _LogRedaction
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PortabilityConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.server.portability_helpers import (
    connect,
    customers,
    expected_records,
    latest_query_in,
    notify_here,
    wait_for,
)


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    portability = PortabilityConfig(completion_delay_s=0.3, log_records_per_day=1.0)
    return SimConfig(seed=5, locations=1, events_per_device=4, media_cache_dir=media_cache, portability=portability)


def test_half_a_configuration_is_refused_in_one_line(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", DEMO_CLIENT_ID)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.delenv("RINGVAULT_PORTABILITY_REDIRECT_URI", raising=False)
    missing = invoke("serve", "--port", "0")
    assert missing.exit_code == 2
    assert "RINGVAULT_PORTABILITY_REDIRECT_URI" in missing.output and len(missing.output.strip().splitlines()) == 1
    assert DEMO_CLIENT_SECRET not in missing.output

    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", "http://127.0.0.1/portability/callback")
    monkeypatch.setenv("RINGVAULT_PORTABILITY_RATE_LIMIT_PER", "planet")
    bad = invoke("serve", "--port", "0")
    assert bad.exit_code == 2 and "RINGVAULT_PORTABILITY_RATE_LIMIT_PER must be customer or app" in bad.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_serve_command_imports_a_customer_and_logs_no_secret(sim: SimServer, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "RINGVAULT_HOME": str(tmp_path / "home"),
        "RINGVAULT_CLOUD_URL": sim.url,
        "RINGVAULT_PORTABILITY_CLIENT_ID": DEMO_CLIENT_ID,
        "RINGVAULT_PORTABILITY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "RINGVAULT_PORTABILITY_REDIRECT_URI": f"http://127.0.0.1:{port}/portability/callback",
    }
    command = [sys.executable, "-m", "ringvault", "serve", "--port", str(port), "--archive", str(tmp_path / "arch")]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(4)]
        assert banner[0].startswith(f"ringvault serve: listening on http://127.0.0.1:{port}"), banner
        portability = [line for line in banner if line.startswith("Data Portability: customers connect at ")]
        # whether Ring's notifications can arrive, on the same line (the banner keeps its number of lines)
        assert (
            len(portability) == 1 and "; notifications: no SNS subscription confirmation has arrived" in portability[0]
        )
        server = _Running(f"http://127.0.0.1:{port}")
        notify_here(sim, server)
        answer = connect(server, customer="zoe", email=sim.config.email, password=sim.config.password)
        assert answer.status_code == 200, answer.text
        redirect = next(r for r in answer.history if "/portability/callback?" in r.headers.get("location", ""))
        sent = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["location"]).query).items()}
        with httpx.Client(base_url=server.url, timeout=60) as client:
            query = wait_for("the import", lambda: latest_query_in(client, "zoe", "imported", "failed"))
            zoe = customers(client)["zoe"]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        output = "".join(banner) + proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert query["state"] == "imported"
    assert zoe["records"] == sum(expected_records(sim, query["id"]).values())
    assert "GET /portability/callback?code=***" in output  # the access log line is there, masked
    token = (tmp_path / "home" / "portability" / "ring" / "zoe.json").read_text()
    for secret in (sent["code"], sent["state"], DEMO_CLIENT_SECRET):
        assert secret not in output
    for line in token.splitlines():
        if "_token" in line:
            value = line.split(":", 1)[1].strip().strip('",')
            assert value and value not in output


class _Running:
    """A server run by another process (``Served`` for the helpers)."""

    def __init__(self, url: str) -> None:
        self.url = url


def test_the_access_log_filter_masks_codes_and_registered_secrets() -> None:
    from ringvault.transport import register_secret

    register_secret("path-secret-for-the-filter-test")
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/portability/callback?code=AbC123&state=xyz", "1.1", 200), None,
    )  # fmt: skip
    secret = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/portability/notifications/path-secret-for-the-filter-test/v1", "1.1", 200), None,
    )  # fmt: skip
    fil = _LogRedaction()
    assert fil.filter(record) and fil.filter(secret)
    assert "AbC123" not in record.getMessage() and "/portability/callback?" in record.getMessage()
    assert "path-secret-for-the-filter-test" not in secret.getMessage()


def test_settings_from_the_environment() -> None:
    from ringvault.portability.config import PortabilityConfigError
    from ringvault.server.portability_settings import PortabilityServerSettings

    assert PortabilityServerSettings.from_env({}) is None
    env = {
        "RINGVAULT_PORTABILITY_CLIENT_ID": DEMO_CLIENT_ID,
        "RINGVAULT_PORTABILITY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "RINGVAULT_PORTABILITY_REDIRECT_URI": "https://app.example.org/portability/callback",
        "RINGVAULT_PORTABILITY_MAX_IMPORTS": "6",
        "RINGVAULT_PORTABILITY_RATE_LIMIT_PER": "App",
        "RINGVAULT_PORTABILITY_CONFIRM_SUBSCRIPTIONS": "1",
        "RINGVAULT_PORTABILITY_NOTIFICATION_SECRET": "a-long-enough-path-secret",
    }
    settings = PortabilityServerSettings.from_env(env, cloud_url="http://127.0.0.1:9")
    assert settings is not None
    assert (settings.max_concurrent, settings.rate_limit_per, settings.confirm_subscriptions) == (6, "app", True)
    assert settings.config.cloud_url == "http://127.0.0.1:9"
    assert settings.notification_path == "/portability/notifications/a-long-enough-path-secret/v1"
    assert "a-long-enough-path-secret" not in repr(settings) and DEMO_CLIENT_SECRET not in repr(settings)
    for name, value, words in [
        ("RINGVAULT_PORTABILITY_NOTIFICATION_SECRET", "short", "at least 16 URL-safe characters"),
        ("RINGVAULT_PORTABILITY_NOTIFICATION_SECRET", "has/a/slash/in/it/somewhere", "URL-safe"),
        ("RINGVAULT_PORTABILITY_MAX_IMPORTS", "many", "must be numbers"),
        ("RINGVAULT_PORTABILITY_MAX_IMPORTS", "0", "at least 1"),
    ]:
        with pytest.raises(PortabilityConfigError, match=words):
            PortabilityServerSettings.from_env({**env, name: value})


def test_a_server_secret_others_may_read_is_refused_in_one_line(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tokens = tmp_path / "dp-tokens"
    tokens.mkdir()
    secret = tokens / "server-secret"
    secret.write_text("ab" * 32 + "\n")
    secret.chmod(0o644)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", DEMO_CLIENT_ID)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", "http://127.0.0.1/portability/callback")
    monkeypatch.setenv("RINGVAULT_PORTABILITY_TOKEN_DIR", str(tokens))
    refused = invoke("serve", "--port", "0", "--archive", str(tmp_path / "archive"))
    assert refused.exit_code == 2, refused.output
    assert f"chmod 600 {secret}" in refused.output and "ab" * 32 not in refused.output
    assert len([line for line in refused.output.splitlines() if line.startswith("error")]) == 1
