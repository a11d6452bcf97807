"""Helpers for the end-to-end Data Portability tests: a simulator configured for imports, the consent page answered
by a test client (plain httpx, as a person would in a browser), and the simulator's control API (expected counts,
statistics, revocation, the clock)."""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx

from ringvault.portability.config import ClientCredentials, PortabilityConfig
from ringvault.portability.oauth import PortabilityAuth
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, demo_app
from ringvault.sim.portability.config import PortabilityConfig as SimPortabilityConfig
from ringvault.sim.server import SimServer

#: registered without a port by the simulator's demo app: any loopback port matches
REDIRECT_URI = "http://127.0.0.1/portability/callback"
CREDENTIALS = ClientCredentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, REDIRECT_URI)
#: few records per file, so the 15 data sets come as many files (and a small page size pages them)
RECORDS_PER_FILE = 50
COMPLETION_DELAY_S = 0.2


def import_sim_config(base: SimConfig, **knobs: Any) -> SimConfig:
    """``base`` with the demo app (no notification endpoint), quick completion and small files."""
    app = demo_app().model_copy(update={"notification_url": None})
    settings: dict[str, Any] = {
        "apps": [app],
        "completion_delay_s": COMPLETION_DELAY_S,
        "records_per_file": RECORDS_PER_FILE,
        **knobs,
    }
    return base.model_copy(update={"portability": SimPortabilityConfig(**settings)})


def control(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{sim.url}{path}", json=body, timeout=30)
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def expected_counts(sim: SimServer, query_id: str) -> dict[str, int]:
    """What the simulator generated for the query, per data set (from its control API)."""
    data = control(sim, "GET", f"/_sim/portability/queries/{query_id}/counts")["datasets"]
    assert isinstance(data, dict) and len(data) == 15
    return {str(k): int(v) for k, v in data.items()}


def stats(sim: SimServer) -> dict[str, Any]:
    data: dict[str, Any] = control(sim, "GET", "/_sim/portability/stats")
    return data


def operation_count(sim: SimServer, operation: str, status: str | None = None) -> int:
    slot = stats(sim)["operations"].get(operation, {"count": 0, "by_status": {}})
    return int(slot["count"] if status is None else slot["by_status"].get(status, 0))


def advance(sim: SimServer, seconds: float) -> None:
    control(sim, "POST", "/_sim/clock", {"advance_s": seconds})


def grants(sim: SimServer) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = control(sim, "GET", "/_sim/portability/grants")["grants"]
    return data


def revoke_all(sim: SimServer) -> None:
    for grant in grants(sim):
        if grant["status"] == "active":
            control(sim, "POST", f"/_sim/portability/grants/{grant['id']}/revoke")


def sim_queries(sim: SimServer) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = control(sim, "GET", "/_sim/portability/queries")["queries"]
    return data


def answer_consent(
    sim: SimServer,
    authorize_url: str,
    *,
    action: str = "authorize",
    history: str = "1y",
    duration: str = "90d",
) -> str:
    """Open the consent page at ``authorize_url`` and answer it as the seeded customer; the redirect's Location."""
    with httpx.Client(timeout=30) as client:
        page = client.get(authorize_url)
        assert page.status_code == 200, page.text[:300]
        match = re.search(r'name=request_id value="([^"]+)"', page.text)
        assert match is not None, page.text[:300]
        form = {
            "request_id": match.group(1),
            "email": sim.config.email,
            "password": sim.config.password,
            "history": history,
            "duration": duration,
            "acknowledge": "yes",
            "action": action,
        }
        answer = client.post(authorize_url.split("?", 1)[0], data=form)
    assert answer.status_code == 302, answer.text[:300]
    location: str = answer.headers["location"]
    return location


class ConsentingBrowser:
    """Stands in for ``webbrowser.open``: a thread opens the URL, answers the consent page, then follows the redirect
    to wherever it points (the CLI's loopback receiver), like a browser would."""

    def __init__(self, sim: SimServer, **answers: str) -> None:
        self.sim = sim
        self.answers = answers
        self.opened: list[str] = []
        self.redirects: list[str] = []
        self.receiver_status: list[int] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str, *args: Any, **kwargs: Any) -> bool:
        self.opened.append(url)
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return True

    def _visit(self, url: str) -> None:
        try:
            location = answer_consent(self.sim, url, **self.answers)
            self.redirects.append(location)
            self.receiver_status.append(httpx.get(location, timeout=30).status_code)
        except BaseException as exc:  # reported by the test through .errors
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)


def redirect_port(url: str) -> int | None:
    return urlsplit(url).port


async def authorize(
    sim: SimServer, config: PortabilityConfig, customer: str = "default", **answers: str
) -> PortabilityAuth:
    """Login with Ring for ``customer``: PKCE authorize URL, the consent answered by a test client, code exchange."""
    auth = PortabilityAuth.from_config(config, customer=customer)
    request = auth.authorization_request()
    location = answer_consent(sim, request.url, **answers)
    await auth.complete(request, location)
    return auth
