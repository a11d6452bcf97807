"""Who may use the server: the API key, loopback-only without one, the Host check, and `ringvault serve` itself."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ringvault.server import ServerSettings
from ringvault.server.security import is_loopback
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.server.conftest import Serve
from tests.server.helpers import wait_for_job

KEY = "k3y-for-tests-0123456789abcdef"


def test_api_key_is_required_everywhere_but_healthz(serve: Serve) -> None:
    server = serve(api_key=KEY)
    with server.client() as client:
        for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": f"Basic {KEY}"}):
            for path in ("/api/devices", "/connector/download/today", "/docs", "/openapi.json", "/api/media/1"):
                answer = client.get(path, headers=headers)
                assert answer.status_code == 401, (path, headers)
                assert answer.headers["www-authenticate"].startswith("Bearer")
                message = answer.json()["error"]
                assert "Authorization: Bearer" in message and KEY not in answer.text
        assert client.post("/api/sync", json={}).status_code == 401
        assert client.get("/healthz").status_code == 200

        good = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/api/devices", headers=good).status_code == 200
        assert client.get("/openapi.json", headers=good).status_code == 200
        accepted = client.post("/api/sync", json={"metadata_only": True}, headers=good)
        assert accepted.status_code == 202
        client.headers.update(good)
        assert wait_for_job(client, accepted.json()["job_id"])["state"] == "done"


def test_without_a_key_only_loopback_host_names_are_answered(serve: Serve) -> None:
    server = serve()
    with server.client() as client:
        assert client.get("/api/devices").status_code == 200
        assert client.get("/api/devices", headers={"Host": f"localhost:{server.port}"}).status_code == 200
        rebound = client.get("/api/devices", headers={"Host": f"attacker.example:{server.port}"})
        assert rebound.status_code == 400 and "127.0.0.1" in rebound.json()["error"]


def test_the_key_is_not_in_the_settings_repr(tmp_path: Path) -> None:
    settings = ServerSettings(archive_dir=tmp_path, api_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings)


def test_loopback_names() -> None:
    for host in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "localhost.example.com", ""):
        assert not is_loopback(host), host


def test_serve_refuses_unsafe_settings(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RINGVAULT_API_KEY", raising=False)
    wide = invoke("serve", "--host", "0.0.0.0")
    assert wide.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in wide.output and len(wide.output.strip().splitlines()) == 1

    missing = invoke("serve", "--api-key-env", "RINGVAULT_TEST_NO_SUCH_VARIABLE")
    assert missing.exit_code == 2 and "RINGVAULT_TEST_NO_SUCH_VARIABLE" in missing.output

    monkeypatch.setenv("RINGVAULT_API_KEY", "short")
    weak = invoke("serve", "--host", "0.0.0.0")
    assert weak.exit_code == 2 and "at least 16 characters" in weak.output and "short" not in weak.output

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.delenv("RINGVAULT_API_KEY")
        taken = invoke("serve", "--port", str(port))
    assert taken.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in taken.output


def test_serve_command_end_to_end(cloud_env: SimServer, logged_in: Path, tmp_path: Path) -> None:
    """The real command in its own process: key from the environment, port 0, graceful stop on SIGINT."""
    env = {**os.environ, "RINGVAULT_API_KEY": KEY, "RINGVAULT_CLOUD_URL": cloud_env.url}
    command = [sys.executable, "-m", "ringvault", "serve", "--port", "0", "--archive", str(tmp_path / "archive")]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("ringvault serve: listening on http://127.0.0.1:"), banner
        url = banner.split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/devices").status_code == 401
            client.headers["Authorization"] = f"Bearer {KEY}"
            accepted = client.post("/api/sync", json={"metadata_only": True})
            assert accepted.status_code == 202
            job = wait_for_job(client, accepted.json()["job_id"])
            assert job["state"] == "done", job
            assert client.get("/api/devices").json()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        output = proc.stdout.read()  # the same buffered reader as the banner (communicate() would skip its buffer)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert KEY not in banner + output
    assert "API key: required" in output and "ringvault serve: stopped" in output


def test_no_secret_reaches_the_logs(cloud_env: SimServer, logged_in: Path, tmp_path: Path) -> None:
    """Clients that put the API key in the query string (``api_key=``, ``key=``, ``apikey=``), a token, or an
    invitation: the real command's access log shows the requests, never the secrets."""
    env = {**os.environ, "RINGVAULT_API_KEY": KEY, "RINGVAULT_CLOUD_URL": cloud_env.url}
    command = [sys.executable, "-m", "ringvault", "serve", "--port", "0", "--archive", str(tmp_path / "archive")]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    leaked = [KEY, "an-access-token-value-123456", "an-invitation-value-123456"]
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = banner.split("listening on ", 1)[1].split()[0]
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.get("/api/devices", params={"api_key": KEY}).status_code == 401  # never accepted there
            assert client.get("/healthz", params={"key": KEY, "x": "1"}).status_code == 200
            assert client.get("/healthz", params={"apikey": KEY}).status_code == 200
            assert client.get(f"/api/events/{KEY}", headers={"Authorization": f"Bearer {KEY}"}).status_code == 404
            assert client.get("/healthz", params={"access_token": leaked[1], "invite": leaked[2]}).status_code == 200
            # the web UI's login form: the key in a form body, then the session cookie on every request
            form = client.get("/login")
            token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            logged_in = client.post("/login", data={"key": KEY, "csrf_token": token}, follow_redirects=False)
            assert logged_in.status_code == 303
            session = logged_in.cookies["ringvault_session"]
            leaked += [session, token, form.cookies["ringvault_csrf"]]
            assert client.get("/api/devices").status_code == 200  # with the cookie
            assert client.get("/healthz", params={"csrf_token": token}).status_code == 200
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        output = banner + proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    for secret in leaked:
        assert secret not in output
    assert "GET /api/devices?api_key=*** " in output and "GET /healthz?key=***&x=1 " in output  # logged, masked
    assert "GET /api/events/*** " in output
    assert "POST /login " in output and "GET /healthz?csrf_token=*** " in output


def test_docs_load_nothing_from_another_host(serve: Serve) -> None:
    """/docs and /redoc reference only this server; every script, style and icon they name is served by it."""
    server = serve()
    with server.client() as client:
        for page_path in ("/docs", "/redoc"):
            page = client.get(page_path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "//" not in page.text, page.text  # no http://, https:// nor protocol-relative //host
            assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
            assert assets, page.text[:500]
            for asset in assets:
                assert asset.startswith("/") and not asset.startswith("//"), asset
                answer = client.get(asset)
                assert answer.status_code == 200 and len(answer.content) > 100, asset
        swagger = client.get("/docs").text
        assert "/docs/static/swagger-ui-bundle.js" in swagger and "/docs/static/swagger-ui.css" in swagger
        assert '"validatorUrl": null' in swagger  # no badge fetched from validator.swagger.io
        assert (
            client.get("/docs/static/swagger-ui-bundle.js")
            .headers["content-type"]
            .startswith(("application/javascript", "text/javascript"))
        )
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "ringvault"
