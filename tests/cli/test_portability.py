"""``ringvault portability login | export | status | scopes`` against the simulator.

The browser is a test client that answers the real consent page and then follows the redirect to the CLI's loopback
receiver, so the whole Login with Ring round trip (authorize URL with PKCE and state, consent, redirect to a
loopback port, code exchange) runs over HTTP."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from rich.progress import Progress
from typer.testing import Result

from ringvault.archive.store import ArchiveStore
from ringvault.cli.common import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_RATE_LIMITED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from ringvault.cli.portability import _TtyDisplay, portability_exit_code
from ringvault.portability import errors as e
from ringvault.portability.importer import ExportCanceledError, ImportProgress, record_notification
from ringvault.portability.notifications import parse_notification
from ringvault.portability.scopes import DATASETS
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.portability.flow import (
    CREDENTIALS,
    REDIRECT_URI,
    ConsentingBrowser,
    answer_consent,
    control,
    expected_counts,
    import_sim_config,
    operation_count,
    redirect_port,
    revoke_all,
)

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def dp_env(cloud_env: SimServer, archive: Path, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """The demo app's credentials and the archive, from the environment (as a user would configure them)."""
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", CREDENTIALS.client_secret)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("RINGVAULT_ARCHIVE", str(archive))
    for name in ("RINGVAULT_PORTABILITY_BRAND", "RINGVAULT_PORTABILITY_REGION", "RINGVAULT_PORTABILITY_TOKEN_DIR"):
        monkeypatch.delenv(name, raising=False)
    return cloud_env


@pytest.fixture
def browser(dp_env: SimServer, monkeypatch: pytest.MonkeyPatch) -> ConsentingBrowser:
    fake = ConsentingBrowser(dp_env)
    monkeypatch.setattr("webbrowser.open", fake.open)
    return fake


def error_lines(result: Result) -> list[str]:
    """stderr without blank lines and without the logged ``warning:`` lines (retries) that precede an error."""
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]


def login(invoke: Invoke, browser: ConsentingBrowser, *args: str) -> Result:
    result = invoke("portability", "login", "--timeout", "60", *args)
    browser.join()
    assert not browser.errors, browser.errors
    return result


# ---------------------------------------------------------------------------------------------------------------
# login


def test_login_export_status_the_whole_flow(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, rv_home: Path, archive: Path
) -> None:
    sim = dp_env
    result = login(invoke, browser)
    assert result.exit_code == 0, result.output
    assert "Authorized: ring customer 'default'" in result.stdout
    (opened,) = browser.opened
    assert "code_challenge_method=S256" in opened and "state=" in opened
    (redirect,) = browser.redirects
    assert redirect_port(redirect) not in (None, 0)  # a free loopback port was bound for the any-port redirect URI
    assert browser.receiver_status == [200]
    token_file = rv_home / "portability" / "ring" / "default.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    secrets = [token_file.read_text().split('"refresh_token": "')[1].split('"')[0], CREDENTIALS.client_secret]
    assert not any(secret in result.output for secret in secrets)
    code = redirect.split("code=")[1].split("&")[0]
    assert code not in result.output

    exported = invoke("portability", "export", "--page-size", "7")
    assert exported.exit_code == 0, exported.output
    with ArchiveStore.open(archive) as store:
        (grant,) = store.portability.list_grants()
        (query,) = store.portability.list_queries()
        counts = store.portability.dataset_counts(grant.id)
    expected = expected_counts(sim, query.id)
    assert counts == expected and len(expected) == 15
    assert f"export {query.id}: imported" in exported.stdout
    for name, count in expected.items():  # the summary has one line per data set: exported, new, archived
        assert any(line.split() == [name, str(count), str(count), str(count)] for line in exported.stdout.splitlines())
    assert "[1/" in exported.stdout  # plain progress lines when not on a terminal

    status = invoke("portability", "status")
    assert status.exit_code == 0, status.output
    assert "ring customer 'default': active" in status.stdout
    assert f"export {query.id}: imported (COMPLETED)" in status.stdout
    for name, count in expected.items():
        assert any(line.split() == [name, str(count)] for line in status.stdout.splitlines())

    # every record back out as JSON Lines, each once; filters by data set and date
    dumped = invoke("portability", "records")
    assert dumped.exit_code == 0, dumped.output
    lines = [json.loads(line) for line in dumped.stdout.splitlines()]
    assert len(lines) == sum(expected.values())
    assert len({(r["dataset"], r["key"]) for r in lines}) == len(lines)
    assert {r["customer"] for r in lines} == {"default"} and {r["dataset"] for r in lines} == set(expected)
    history = invoke("portability", "records", "--dataset", "Ring.Alarm.HistoryLog", "--limit", "3")
    assert [json.loads(line)["dataset"] for line in history.stdout.splitlines()] == ["Ring.Alarm.HistoryLog"] * 3
    dated = sorted(r["event_date"] for r in lines if r["dataset"] == "Ring.EventManager.Events")
    middle = dated[len(dated) // 2]
    later = invoke("portability", "records", "--dataset", "Ring.EventManager.Events", "--since", middle)
    assert len(later.stdout.splitlines()) == sum(1 for d in dated if d >= middle)
    refused = invoke("portability", "records", "--dataset", "Ring.Nope")
    assert refused.exit_code == EXIT_USAGE and "portability scopes" in error_lines(refused)[0]


def test_login_canceled_at_consent_exits_3_with_one_line(
    invoke: Invoke, dp_env: SimServer, monkeypatch: pytest.MonkeyPatch, rv_home: Path
) -> None:
    browser = ConsentingBrowser(dp_env, action="cancel")
    monkeypatch.setattr("webbrowser.open", browser.open)
    result = login(invoke, browser)
    assert result.exit_code == EXIT_AUTH
    (line,) = error_lines(result)
    assert "access_denied" in line and "did not authorize" in line
    assert "error=access_denied" in browser.redirects[0] and browser.receiver_status == [200]
    assert not (rv_home / "portability" / "ring" / "default.json").exists()


def test_login_gives_up_after_the_timeout(invoke: Invoke, dp_env: SimServer) -> None:
    result = invoke("portability", "login", "--no-browser", "--timeout", "1")
    assert result.exit_code == EXIT_AUTH
    assert "http://127.0.0.1:" in result.stdout and "/oauth.ring.com/v2/authorize?" in result.stdout
    (line,) = error_lines(result)
    assert "no answer from Login with Ring within 1 s" in line and "--timeout" in line


def test_login_with_no_browser_in_a_real_process(dp_env: SimServer, rv_home: Path, archive: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-m", "ringvault", "portability", "login", "--no-browser", "--brand", "blink",
         "--customer", "alice", "--timeout", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        url = ""
        for line in child.stdout:
            if line.startswith("http"):
                url = line.strip()
                break
        assert "/api.oauth.blink.com/v2/authorize?" in url
        location = answer_consent(dp_env, url)
        assert httpx.get(location, timeout=30).status_code == 200  # the browser lands on the CLI's receiver
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert "Authorized: blink customer 'alice'" in out
    assert (rv_home / "portability" / "blink" / "alice.json").exists()
    with ArchiveStore.open(archive) as store:
        (grant,) = store.portability.list_grants()
    assert (grant.brand, grant.customer, grant.status) == ("blink", "alice", "active")


def test_a_stray_request_does_not_end_the_login(
    invoke: Invoke, dp_env: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    class ForgingBrowser(ConsentingBrowser):
        def _visit(self, url: str) -> None:
            location = answer_consent(self.sim, url)
            forged = location.replace("state=", "state=forged")
            seen.append(httpx.get(forged, timeout=30).status_code)  # wrong state: refused, still waiting
            seen.append(httpx.get(location.split("?")[0] + "x", timeout=30).status_code)  # wrong path
            seen.append(httpx.get(location, timeout=30).status_code)

    browser = ForgingBrowser(dp_env)
    monkeypatch.setattr("webbrowser.open", browser.open)
    result = login(invoke, browser)
    assert result.exit_code == 0, result.output
    assert seen == [400, 404, 200]


def test_login_needs_the_app_configuration(invoke: Invoke, dp_env: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RINGVAULT_PORTABILITY_CLIENT_SECRET")
    monkeypatch.delenv("RINGVAULT_PORTABILITY_REDIRECT_URI")
    result = invoke("portability", "login")
    assert result.exit_code == EXIT_ERROR
    (line,) = error_lines(result)
    assert "RINGVAULT_PORTABILITY_CLIENT_SECRET" in line and "RINGVAULT_PORTABILITY_REDIRECT_URI" in line


def test_a_redirect_uri_off_this_machine_is_refused(
    invoke: Invoke, dp_env: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", "https://app.example.org/callback")
    result = invoke("portability", "login", "--no-browser")
    assert result.exit_code == EXIT_ERROR
    (line,) = error_lines(result)
    assert "not an http:// loopback address" in line


# ---------------------------------------------------------------------------------------------------------------
# export: failures


def test_export_without_login_exits_3(invoke: Invoke, dp_env: SimServer) -> None:
    result = invoke("portability", "export")
    assert result.exit_code == EXIT_AUTH
    (line,) = error_lines(result)
    assert "no stored authorization" in line and "ringvault portability login" in line


def test_export_after_revocation_exits_3_and_status_says_so(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer
) -> None:
    assert login(invoke, browser).exit_code == 0
    revoke_all(dp_env)
    result = invoke("portability", "export")
    assert result.exit_code == EXIT_AUTH
    (line,) = error_lines(result)
    assert "revoked" in line and "ringvault portability login" in line
    status = invoke("portability", "status")
    assert "ring customer 'default': revoked" in status.stdout


def test_a_used_one_time_authorization_is_refused_and_a_new_login_restores_it(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer
) -> None:
    browser.answers["duration"] = "once"  # "One time transfer" on the consent page
    assert login(invoke, browser).exit_code == 0
    first = invoke("portability", "export")
    assert first.exit_code == 0, first.stderr
    creates = operation_count(dp_env, "createDataQuery")

    again = invoke("portability", "export")
    assert again.exit_code == EXIT_AUTH
    (line,) = error_lines(again)
    assert "one-time authorization that was already used" in line and "ringvault portability login" in line
    # the client refreshed its token once (ACCESS_DENIED also means an expired token) and asked once more
    assert operation_count(dp_env, "createDataQuery") == creates + 2
    status = invoke("portability", "status").stdout
    assert "ring customer 'default': refused" in status
    assert "a one-time authorization already used" in status

    browser.answers["duration"] = "90d"
    assert login(invoke, browser).exit_code == 0
    assert "ring customer 'default': active" in invoke("portability", "status").stdout
    third = invoke("portability", "export")
    assert third.exit_code == 0, third.stderr
    status = invoke("portability", "status").stdout
    assert "ring customer 'default': active" in status and "refused" not in status
    assert status.count("imported (COMPLETED)") == 2


def test_export_canceled_while_waiting_exits_3(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, archive: Path
) -> None:
    assert login(invoke, browser).exit_code == 0
    control(dp_env, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    created = invoke("portability", "export", "--wait-timeout", "0")
    assert created.exit_code == EXIT_ERROR  # created, not ready: kept for the next run
    assert "run `ringvault portability export` again later" in error_lines(created)[0]
    (query,) = control(dp_env, "GET", "/_sim/portability/queries")["queries"]
    polls = operation_count(dp_env, "listDataQueryRecords")
    child = subprocess.Popen(
        [sys.executable, "-m", "ringvault", "portability", "export"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while operation_count(dp_env, "listDataQueryRecords") == polls:  # until the re-run is waiting
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        control(dp_env, "POST", f"/_sim/portability/queries/{query['id']}/cancel")
        # `ringvault serve` received the CANCELED notification and stored it
        note = parse_notification(
            {"Subject": "Data Portability Notification 1.0",
             "Message": json.dumps({"id": query["id"], "version": "1.0", "status": "CANCELED"})}
        )  # fmt: skip
        with ArchiveStore.open(archive) as store:
            record_notification(store, note)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == EXIT_AUTH, out + err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert f"export {query['id']}" in line and "canceled" in line.lower() and "portability login" in line
    assert f"resuming export {query['id']}" in out
    with ArchiveStore.open(archive) as store:
        assert store.portability.get_query(query["id"]).state == "canceled"  # type: ignore[union-attr]
        assert len(store.portability.list_queries()) == 1


def test_a_rerun_notices_a_silent_cancellation_and_exports_anew(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, archive: Path
) -> None:
    assert login(invoke, browser).exit_code == 0
    control(dp_env, "PATCH", "/_sim/portability/config", {"completion_delay_s": 3600})
    assert invoke("portability", "export", "--wait-timeout", "0").exit_code == EXIT_ERROR
    (query,) = control(dp_env, "GET", "/_sim/portability/queries")["queries"]
    control(dp_env, "POST", f"/_sim/portability/queries/{query['id']}/cancel")  # no notification reaches us
    control(dp_env, "PATCH", "/_sim/portability/config", {"completion_delay_s": 0.2})
    with sqlite3.connect(archive / "archive.sqlite3") as db:  # the export was started an hour ago
        db.execute("UPDATE portability_queries SET created_at = datetime(created_at, '-1 hour')")
    result = invoke("portability", "export")
    assert result.exit_code == 0, result.output
    assert f"Ring canceled export {query['id']}" in result.stdout
    with ArchiveStore.open(archive) as store:
        old, new = store.portability.list_queries()
        assert (old.id, old.state, new.state) == (query["id"], "canceled", "imported")
        assert store.portability.dataset_counts() == expected_counts(dp_env, new.id)


@pytest.mark.parametrize(
    ("injected", "code", "words"),
    [
        ({"type": "SCOPE_ID_NOT_FOUND"}, EXIT_NOT_FOUND, "Scope id does not exist"),
        ({"type": "QUOTA_EXCEEDED"}, EXIT_RATE_LIMITED, "daily quota"),
        ({"type": "APP_NOT_ALLOWLISTED"}, EXIT_AUTH, "allowlist"),
        ({"type": "INVALID_PARAMETERS"}, EXIT_ERROR, "Parameters provided for this request are invalid"),
    ],
)
def test_service_errors_are_one_line_with_their_exit_code(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, injected: dict[str, Any], code: int, words: str
) -> None:
    assert login(invoke, browser).exit_code == 0
    control(dp_env, "POST", "/_sim/portability/inject", {**injected, "method": "POST"})
    result = invoke("portability", "export")
    assert result.exit_code == code, result.output
    (line,) = error_lines(result)
    assert words.lower() in line.lower()


def test_only_with_an_unknown_data_set_is_refused(invoke: Invoke, dp_env: SimServer) -> None:
    result = invoke("portability", "export", "--only", "Ring.Alarm.HubData", "--only", "Ring.Nope")
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert "'Ring.Nope'" in line and "ringvault portability scopes" in line


def test_export_only_some_data_sets(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, archive: Path
) -> None:
    assert login(invoke, browser).exit_code == 0
    result = invoke("portability", "export", "--only", "ring.alarm.hubdata")
    assert result.exit_code == 0, result.output
    with ArchiveStore.open(archive) as store:
        (query,) = store.portability.list_queries()
        assert store.portability.dataset_counts() == {"Ring.Alarm.HubData": expected_counts(dp_env, query.id)[
            "Ring.Alarm.HubData"
        ]}  # fmt: skip
        skipped = sum(1 for f in store.portability.list_files(query.id) if f.state == "skipped")
    assert f"{skipped} skipped" in result.stdout and skipped > 0


def test_exit_codes_of_every_kind_of_failure() -> None:
    assert portability_exit_code(e.AuthorizationDeniedError("access_denied", "no")) == EXIT_AUTH
    assert portability_exit_code(e.InvalidGrantError("invalid_grant", "revoked")) == EXIT_AUTH
    assert portability_exit_code(ExportCanceledError("canceled")) == EXIT_AUTH
    assert portability_exit_code(e.QueryIdNotFoundError()) == EXIT_NOT_FOUND
    assert portability_exit_code(e.PortabilityUnreachableError("refused")) == EXIT_UNREACHABLE
    assert portability_exit_code(e.TooManyRequestsError()) == EXIT_RATE_LIMITED
    assert portability_exit_code(e.DailyQuotaReachedError("used up")) == EXIT_RATE_LIMITED
    assert portability_exit_code(e.AccessTimeElapsedError()) == EXIT_ERROR
    assert portability_exit_code(e.IntegrationTimeoutError()) == EXIT_ERROR


def test_an_unreachable_service_exits_5(
    invoke: Invoke, browser: ConsentingBrowser, dp_env: SimServer, monkeypatch: pytest.MonkeyPatch, rv_home: Path
) -> None:
    assert login(invoke, browser).exit_code == 0
    import socket

    with socket.socket() as probe:  # bound, not listening: refused, and no other test's server can take the port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.setenv("RINGVAULT_PORTABILITY_RETRY_DELAYS", "0,0")  # retried twice, at once
        result = invoke("--cloud-url", f"http://127.0.0.1:{port}", "portability", "export")
    assert result.exit_code == EXIT_UNREACHABLE, result.output
    (line,) = error_lines(result)
    assert "ConnectError" in line


def test_the_terminal_display_follows_every_phase() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    query = "q-1"
    events = [
        ImportProgress(query, "create", "export q-1 created"),
        ImportProgress(query, "wait", "Ring is preparing export q-1; checking again in 1 s"),
        ImportProgress(query, "list", "listing the files of export q-1"),
        ImportProgress(query, "download", files_total=2, file="0000-Ring.Alarm.HubData.json", file_bytes=10,
                       file_total=100, bytes=10),
        ImportProgress(query, "download", file="0001-Ring.Alarm.HubData.json", files_total=2, file_bytes=5, bytes=15),
        ImportProgress(query, "download", "downloaded 0000-Ring.Alarm.HubData.json", files_done=1, files_total=2,
                       file="0000-Ring.Alarm.HubData.json", file_done=True, bytes=105),
        ImportProgress(query, "download", "skipped Ring.Alarm.AuditLog", files_done=2, files_total=2, bytes=100),
        ImportProgress(query, "import", "importing 0000-Ring.Alarm.HubData.json", files_total=1,
                       file="0000-Ring.Alarm.HubData.json"),
        ImportProgress(query, "import", "imported 0000-Ring.Alarm.HubData.json: 7 records, 7 new", files_done=1,
                       files_total=1, file="0000-Ring.Alarm.HubData.json", file_done=True, records=7, new_records=7),
        ImportProgress(query, "done", "export q-1 imported"),
    ]  # fmt: skip
    with Progress(console=console, transient=False) as bar:
        display = _TtyDisplay(bar)
        for event in events[:5]:
            display(event)
        in_flight = {task.description.strip() for task in bar.tasks}
        display(events[5])
        after_one = {task.description.strip() for task in bar.tasks}
        for event in events[6:]:
            display(event)
        tasks = {task.description.strip(): task for task in bar.tasks}
    # two files in flight at once, each with its bar; a finished file's bar goes away
    assert in_flight == {"downloading", "0000-Ring.Alarm.HubData.json", "0001-Ring.Alarm.HubData.json"}
    assert after_one == {"downloading", "0001-Ring.Alarm.HubData.json"}
    assert set(tasks) == {"importing"} and tasks["importing"].completed == 1  # one phase bar at a time
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "export q-1 created" in text and "export q-1 imported" in text


# ---------------------------------------------------------------------------------------------------------------
# status and scopes


def test_scopes_lists_the_15_documented_data_sets(invoke: Invoke) -> None:
    result = invoke("portability", "scopes")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert names == list(DATASETS)
    assert all(len(line.split()) > 2 for line in result.stdout.splitlines() if line.strip())


def test_status_of_an_empty_or_missing_archive(invoke: Invoke, dp_env: SimServer, archive: Path) -> None:
    missing = invoke("portability", "status")
    assert missing.exit_code == EXIT_NOT_FOUND
    assert "no archive" in error_lines(missing)[0]
    ArchiveStore.open(archive).close()
    empty = invoke("portability", "status")
    assert empty.exit_code == 0 and "ringvault portability login" in empty.stdout
