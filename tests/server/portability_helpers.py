"""Helpers for the Data Portability server tests: a real ``ringvault serve`` app with the simulator's demo app
configured, a customer's browser walking through /portability/connect and the simulator's consent page, and what
the simulator holds (the expected records) computed from its state, never hard-coded."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from ringvault.portability.config import ClientCredentials, PortabilityConfig
from ringvault.server import ServerSettings, create_app
from ringvault.server.portability_settings import PortabilityServerSettings
from ringvault.sim.portability.config import DATASETS, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ringvault.sim.server import SimServer

WAIT_S = 120.0


class Served(Protocol):
    """A running ringvault server: a ``ServerThread``, or one started by another process."""

    url: str


SUBJECT = "Data Portability Notification 1.0"


def dp_app(sim: SimServer, archive_dir: Path, token_dir: Path, **knobs: Any) -> Callable[[str], Any]:
    """An app factory for ``ServerThread``: the server's URL gives the redirect URI; ``knobs`` go to
    ``PortabilityServerSettings`` (``api_key`` / ``poll_after_s`` ... ``api_key`` goes to the server, ``retry_delays``
    to the app's configuration)."""
    api_key = knobs.pop("api_key", None)
    retry_delays = knobs.pop("retry_delays", None)

    def factory(url: str) -> Any:
        credentials = ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, f"{url}/portability/callback")
        config = PortabilityConfig(
            credentials=credentials, token_dir=token_dir, cloud_url=sim.url, retry_delays=retry_delays
        )
        settings = ServerSettings(
            archive_dir=archive_dir,
            cloud_url=sim.url,
            api_key=api_key,
            portability=PortabilityServerSettings(config=config, **knobs),
        )
        return create_app(settings)

    return factory


def sim_call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{sim.url}{path}", json=body, timeout=30)
    assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
    return answer.json() if answer.content else None


def notify_here(sim: SimServer, server: Served, path: str = "/portability/notifications/v1") -> None:
    """Point the simulator's demo app at this server's notification endpoint."""
    sim_call(sim, "PATCH", f"/_sim/portability/apps/{DEMO_CLIENT_ID}", {"notification_url": server.url + path})


def sim_knobs(sim: SimServer, **knobs: Any) -> None:
    sim_call(sim, "PATCH", "/_sim/portability/config", knobs)


def consent_page_request_id(page: httpx.Response) -> str:
    match = re.search(r'name=request_id value="([^"]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def connect(
    server: Served,
    *,
    email: str,
    password: str,
    action: str = "authorize",
    history: str = "1y",
    duration: str = "90d",
    customer: str | None = None,
    replace: bool = False,
    invite: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A customer's browser: /portability/connect (or the ``invite`` link) → Ring's consent page (followed
    redirects) → the form answered → the redirect back to /portability/callback (followed). Returns the callback's
    answer. ``headers`` (the API key) go to the connect request only, as an operator's script would send them."""
    params: dict[str, str] = {"customer": customer} if customer else {}
    if replace:
        params["replace"] = "true"
    with httpx.Client(follow_redirects=True, timeout=60) as browser:
        start = browser.get(invite or f"{server.url}/portability/connect", params=params or None, headers=headers)
        return consent(browser, start, email=email, password=password, action=action, history=history,
                       duration=duration)  # fmt: skip


def consent(
    browser: httpx.Client,
    page: httpx.Response,
    *,
    email: str,
    password: str,
    action: str = "authorize",
    history: str = "1y",
    duration: str = "90d",
) -> httpx.Response:
    """Answer the simulator's consent ``page`` (reached through /portability/connect) and follow the redirect back to
    the server; returns the callback's answer."""
    assert page.status_code == 200 and "request_id" in page.text, page.text[:500]
    form = {
        "request_id": consent_page_request_id(page),
        "email": email,
        "password": password,
        "history": history,
        "duration": duration,
        "acknowledge": "yes",
        "action": action,
    }
    return browser.post(str(page.url), data=form)


def make_invite(server: Served, key: str | None = None, **body: Any) -> dict[str, Any]:
    """``POST /portability/invites`` (with the API key ``key`` when the server has one); the answer's JSON."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = httpx.post(f"{server.url}/portability/invites", json=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def customers(client: httpx.Client) -> dict[str, dict[str, Any]]:
    answer = client.get("/portability/customers")
    assert answer.status_code == 200, answer.text
    return {c["customer"]: c for c in answer.json()["customers"]}


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = WAIT_S, interval_s: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy (a safety net against hanging, not a timing assertion).

    Polls quickly at first, then backs off to one check every ``interval_s``: a check asks the server for work
    (``/portability/customers`` reads every customer's queries and counts), and polling it 20 times a second
    took CPU from the imports it waited for, on a machine that has little to spare."""
    deadline = time.monotonic() + timeout_s
    pause = 0.02
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout_s} s")
        time.sleep(pause)
        pause = min(pause * 1.5, interval_s)


class Waits:
    """The waits of one test, sharing one budget that ends before pytest's timeout (120 s, setup and teardown
    included). Several ``wait_for`` of ``WAIT_S`` each inside one test could never fail by themselves: the global
    timeout killed the test in the middle of one, naming no wait. With a shared budget, the wait that runs out fails
    and says what did not happen."""

    def __init__(self, total_s: float = 90.0) -> None:
        self.deadline = time.monotonic() + total_s

    def until(self, what: str, check: Callable[[], Any], interval_s: float = 0.25) -> Any:
        """``wait_for(what, check)`` with what is left of the budget."""
        left = max(0.0, self.deadline - time.monotonic())
        return wait_for(what, check, timeout_s=left, interval_s=interval_s)


def latest_query_in(client: httpx.Client, customer: str, *states: str) -> dict[str, Any] | None:
    query = customers(client).get(customer, {}).get("latest_query")
    return query if query is not None and query["state"] in states else None


def expected_records(sim: SimServer, query_id: str) -> dict[str, int]:
    """What the simulator exports for a query: records per data set (from its state)."""
    service = sim.state.portability
    query = service.query_by_id(query_id)
    assert query is not None
    return {name: len(service.records(query, name)) for name in DATASETS}


def envelope(query_id: str, status: str = "COMPLETED", **overrides: Any) -> bytes:
    """The documented notification envelope, as SNS sends it (Message a JSON string)."""
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:eu-west-1:000000000000:ring-data-portability-notifications",
        "Subject": SUBJECT,
        "Message": json.dumps({"id": query_id, "version": "1.0", "status": status}),
        "Timestamp": "2026-11-22T10:00:00.000Z",
    }
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
