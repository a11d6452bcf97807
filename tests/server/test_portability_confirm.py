"""Confirming a COMPLETED notification through ``ringvault serve`` when Ring repeats a ``QUERY_NOT_COMPLETED`` for the
same call (seed 003: "During the five-minute period, the API will return the same response for the same
parameters"; the simulator's ``cache_not_completed`` knob): the polls and the confirmation never share parameters,
and a confirmation that still hears ``QUERY_NOT_COMPLETED`` is asked again once that answer has expired — a step
deferred through the work queue, not a wait inside one. Over real HTTP against the simulator and a real SQLite
archive; every wait is a safety net (``wait_for``), never a timing assertion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.server import SimServer
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import (
    SNS_HEADERS,
    connect,
    customers,
    dp_app,
    envelope,
    expected_records,
    latest_query_in,
    notify_here,
    sim_call,
    sim_knobs,
    wait_for,
)

Serve = Callable[..., ServerThread]


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    # queries stay IN_PROGRESS until a test completes them; QUERY_NOT_COMPLETED is cached like any answer
    portability = PortabilityConfig(completion_delay_s=3600.0, log_records_per_day=0.5, cache_not_completed=True)
    return SimConfig(
        seed=37, locations=1, events_per_device=3, recording_seconds=1.0, media_cache_dir=media_cache,
        portability=portability,
    )  # fmt: skip


@pytest.fixture
def serve(sim: SimServer, tmp_path: Path) -> Iterator[Serve]:
    started: list[ServerThread] = []

    def _serve(**knobs: Any) -> ServerThread:
        server = ServerThread(dp_app(sim, tmp_path / "archive", tmp_path / "dp-tokens", **knobs)).start()
        started.append(server)
        notify_here(sim, server)
        return server

    yield _serve
    for server in started:
        server.stop()


def _customer(sim: SimServer, server: ServerThread) -> tuple[str, dict[str, Any]]:
    """A new customer connected through the server; their query, still ``created``."""
    person = sim_call(sim, "POST", "/_sim/portability/customers", {"count": 1})["customers"][0]
    key = str(person["email"]).split("@")[0]
    answer = connect(server, email=person["email"], password=person["password"], history="5d", customer=key)
    assert answer.status_code == 200, answer.text
    with server.client() as client:
        created: dict[str, Any] = wait_for("the query", lambda: latest_query_in(client, key, "created"))
    return key, created


def _records_calls(sim: SimServer) -> dict[str, int]:
    by_status: dict[str, int] = sim_call(sim, "GET", "/_sim/portability/stats")["operations"]
    return by_status.get("listDataQueryRecords", {}).get("by_status", {})


def _notify(server: ServerThread, query_id: str) -> dict[str, Any]:
    """A COMPLETED notification for ``query_id`` that Ring did not send (premature, or forged)."""
    answer = httpx.post(
        f"{server.url}/portability/notifications/v1", content=envelope(query_id), headers=SNS_HEADERS, timeout=30
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _waiting(server: ServerThread, key: str, reason: str) -> dict[str, Any]:
    with server.client() as client:
        found: dict[str, Any] = wait_for(
            f"{key} waiting for {reason}",
            lambda: (w := customers(client)[key]["waiting"]) is not None and w["reason"] == reason and w,
        )
    return found


def _imported(server: ServerThread, key: str) -> dict[str, Any]:
    with server.client() as client:
        query: dict[str, Any] = wait_for(f"{key}'s import", lambda: latest_query_in(client, key, "imported"))
    return query


def test_a_genuine_notification_is_imported_although_the_polls_answer_is_cached(sim: SimServer, serve: Serve) -> None:
    """Issue 10: a COMPLETED notification confirmed with a call Ring answered QUERY_NOT_COMPLETED minutes before was
    ignored. Five polls (h-sched's varied maxResults went 1..5 and then round again) leave every one of their
    calls cached as not completed; Ring then completes the query and notifies: it is imported at once."""
    server = serve(poll_after_s=0.2)
    key, created = _customer(sim, server)
    wait_for("five polls", lambda: _records_calls(sim).get("403", 0) >= 5)
    polls = _records_calls(sim).get("403", 0)
    sim_call(sim, "POST", f"/_sim/portability/queries/{created['id']}/complete")  # Ring completes it and notifies
    query = _imported(server, key)
    assert query["id"] == created["id"]
    assert query["records_imported"] == sum(expected_records(sim, created["id"]).values()) > 0
    attempts = sim_call(sim, "GET", "/_sim/portability/notifications")["attempts"]
    assert [a["status"] for a in attempts if a["query_id"] == created["id"]] == [200]  # the notification did it
    assert _records_calls(sim).get("403", 0) >= polls  # (every poll before it was answered QUERY_NOT_COMPLETED)


def test_an_unconfirmed_notification_is_checked_again_once_the_cached_answer_expired(
    sim: SimServer, serve: Serve
) -> None:
    """A premature COMPLETED notification: its confirmation hears QUERY_NOT_COMPLETED, which Ring then repeats for
    that call. When the genuine notification follows, the query is confirmed by a re-check deferred past the
    cache's lifetime (scaled down to 5 s here), not by a poll (the next one is 10 minutes away)."""
    sim_knobs(sim, response_cache_s=5.0)
    server = serve(poll_after_s=600.0, response_ttl_s=5.0)
    key, created = _customer(sim, server)
    assert _notify(server, created["id"])["accepted"] is True
    waiting = _waiting(server, key, "confirming")
    assert "QUERY_NOT_COMPLETED" in waiting["message"] and "5 minutes" in waiting["text"]
    seconds = (datetime.fromisoformat(waiting["until"]) - datetime.now(UTC)).total_seconds()
    assert seconds < 60  # the re-check comes after the (scaled) cache lifetime, not after a poll's wait
    sim_call(sim, "POST", f"/_sim/portability/queries/{created['id']}/complete")  # the genuine notification
    query = _imported(server, key)
    assert query["id"] == created["id"]
    assert query["records_imported"] == sum(expected_records(sim, created["id"]).values())
    calls = _records_calls(sim)
    assert calls.get("403") == 1  # the premature confirmation only: no poll ran


def test_a_notification_ring_never_confirms_falls_back_to_polling(sim: SimServer, serve: Serve) -> None:
    """A forged (or very premature) COMPLETED: neither the confirmation nor its re-check sees a completed query, so
    nothing is imported and the query goes back to waiting for Ring's notification; the genuine one then imports
    it."""
    sim_knobs(sim, response_cache_s=1.0)
    server = serve(poll_after_s=600.0, response_ttl_s=1.0)
    key, created = _customer(sim, server)
    assert _notify(server, created["id"])["accepted"] is True
    back = _waiting(server, key, "notification")  # after "confirming" and its re-check
    assert "did not confirm the COMPLETED notification" in back["message"], back
    with server.client() as client:
        assert customers(client)[key]["latest_query"]["state"] == "created"
    assert _records_calls(sim).get("403") == 2  # the confirmation and its re-check; no import was tried
    sim_call(sim, "POST", f"/_sim/portability/queries/{created['id']}/complete")
    assert _imported(server, key)["id"] == created["id"]
