"""``ringvault portability status`` on an archive that ``ringvault serve`` imports customers into: per customer what
is scheduled next and why it waits (the reason's sentence, until when, the last error, the next recurring export),
and whether Ring's notifications can arrive — read from the archive, with Ring's text made safe to print. The server
runs for real against the simulator; the CLI reads what it left in the SQLite archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability_subscriptions import SubscriptionStore
from ringvault.portability.errors import WAIT_REASONS
from ringvault.portability.waiting import SCHEDULE_REASONS
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID, PortabilityConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import (
    connect,
    customers,
    dp_app,
    latest_query_in,
    sim_call,
    wait_for,
)

#: what Ring says in an error, as a hostile or broken service might: a screen clear and a window title
HOSTILE = "down for maintenance\x1b[2J\x1b]0;owned\x07"


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    portability = PortabilityConfig(completion_delay_s=0.3, log_records_per_day=0.5)
    return SimConfig(
        seed=41, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        portability=portability,
    )  # fmt: skip


def _connect(server: ServerThread, sim: SimServer) -> str:
    person = sim_call(sim, "POST", "/_sim/portability/customers", {"count": 1})["customers"][0]
    key = str(person["email"]).split("@")[0]
    answer = connect(server, email=person["email"], password=person["password"], history="5d", customer=key)
    assert answer.status_code == 200, answer.text
    return key


def _block(output: str, customer: str) -> str:
    """The lines of one customer in the status output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if f"customer {customer!r}:" in line)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join(lines[start:end])


def test_status_says_why_each_customer_of_serve_waits_and_whether_notifications_arrive(
    invoke: Invoke, cloud_env: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = cloud_env
    for name in ("RINGVAULT_PORTABILITY_SNS_REGIONS", "RINGVAULT_PORTABILITY_REGION"):
        monkeypatch.delenv(name, raising=False)
    archive = tmp_path / "archive"
    # no notification URL: Ring's notifications cannot arrive, the exports are found by polling
    server = ServerThread(
        dp_app(
            sim, archive, tmp_path / "dp-tokens", poll_after_s=0.3, recur_every_s=3600.0, export_retry_s=(600.0,),
            retry_delays=(0.05,) * 5,
        )
    ).start()  # fmt: skip
    try:
        done = _connect(server, sim)
        with server.client() as client:
            wait_for("the import", lambda: latest_query_in(client, done, "imported"))
        injected = {"type": "SERVICE_UNAVAILABLE", "status": 503, "message": HOSTILE, "count": 6}
        sim_call(sim, "POST", "/_sim/portability/inject", {**injected, "path": "/data-queries$", "method": "POST"})
        failing = _connect(server, sim)
        with server.client() as client:
            wait_for(
                "the failed export",
                lambda: (w := customers(client)[failing]["waiting"]) is not None and w["reason"] == "ring_failing",
            )
    finally:
        server.stop()

    result = invoke("portability", "status", "--archive", str(archive))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "\x1b" not in out and "\x07" not in out  # Ring's text cannot act on the terminal...
    recurring = _block(out, done)
    assert "serve: waiting (recurring) until 20" in recurring and SCHEDULE_REASONS["recurring"] in recurring
    assert "next recurring export: 20" in recurring and "last error" not in recurring
    stuck = _block(out, failing)
    assert "serve: waiting (ring_failing) until 20" in stuck and WAIT_REASONS["ring_failing"].text in stuck
    assert "last error (failed 1 time in a row): " in stuck
    assert "down for maintenance\\x1b[2J\\x1b]0;owned\\x07" in stuck  # ...and is shown escaped
    assert "no exports yet" in stuck and "run `ringvault portability export`" not in stuck  # serve asks again
    notes = f"notifications of app {DEMO_CLIENT_ID}: no SNS subscription confirmation has arrived: exports are found "
    assert notes + "by polling" in out

    # a confirmed subscription (as serve keeps it), judged against the regions serve would confirm
    with ArchiveStore.open(archive) as store:
        SubscriptionStore(store).add_confirmation(
            DEMO_CLIENT_ID, topic_arn="arn:aws:sns:eu-west-1:123456789012:ring", region="eu-west-1",
            subscribe_url=None, confirmed=True, http_status=200,
        )  # fmt: skip
    confirmed = invoke("portability", "status", "--archive", str(archive)).stdout
    assert f"notifications of app {DEMO_CLIENT_ID}: SNS subscription confirmed for eu-west-1" in confirmed
    monkeypatch.setenv("RINGVAULT_PORTABILITY_SNS_REGIONS", "eu-west-1,us-east-1")
    partial = invoke("portability", "status", "--archive", str(archive)).stdout
    assert "no confirmed SNS subscription for us-east-1: exports are found by polling" in partial
    monkeypatch.setenv("RINGVAULT_PORTABILITY_SNS_REGIONS", "mars-north-1")
    bad = invoke("portability", "status", "--archive", str(archive))
    assert bad.exit_code == 2 and "RINGVAULT_PORTABILITY_SNS_REGIONS" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_customer_of_the_cli_alone_shows_no_schedule_and_no_notifications(
    invoke: Invoke, cloud_env: SimServer, tmp_path: Path
) -> None:
    """Without ``serve`` nothing is scheduled and nothing can notify: status does not pretend otherwise."""
    archive = tmp_path / "archive"
    with ArchiveStore.open(archive) as store:
        store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id=DEMO_CLIENT_ID, customer="default")
    out = invoke("portability", "status", "--archive", str(archive)).stdout
    assert "ring customer 'default': active" in out and "no exports yet" in out
    assert "serve:" not in out and "notifications of app" not in out
