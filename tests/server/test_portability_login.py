"""Who may connect which Data Portability customer, over real HTTP with the simulator's Login with Ring.

A server with an API key (as one reachable by customers runs): an anonymous visitor can neither choose nor replace a
customer (the takeover of issue 9), a flood of anonymous connects locks nobody out, an invitation connects the customer
it names once, and a callback is refused when it was altered, replayed (even after a restart) or would replace a
working authorization nobody asked to replace.
"""

from __future__ import annotations

import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import connect, consent, customers, dp_app, make_invite, sim_call

KEY = "operator-key-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {KEY}"}

DPServe = Callable[..., ServerThread]


@pytest.fixture
def sim_config(media_cache: Path) -> SimConfig:
    # one extra Ring account (the attacker's); queries never complete, so no import runs in these tests
    portability = PortabilityConfig(completion_delay_s=3600.0, customers=1)
    return SimConfig(seed=3, locations=1, events_per_device=2, media_cache_dir=media_cache, portability=portability)


@pytest.fixture
def dp_serve(sim: SimServer, tmp_path: Path) -> Iterator[DPServe]:
    started: list[ServerThread] = []

    def _serve(**knobs: Any) -> ServerThread:
        server = ServerThread(dp_app(sim, tmp_path / "archive", tmp_path / "dp-tokens", **knobs)).start()
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


def _victim(sim: SimServer) -> dict[str, str]:
    return {"email": sim.config.email, "password": sim.config.password}


def _attacker(sim: SimServer) -> dict[str, str]:
    other = sim.state.portability.customers[1]
    return {"email": other.email, "password": other.password}


def _account_of_refresh_token(sim: SimServer, refresh_token: str) -> str:
    """The simulated Ring account whose consent issued ``refresh_token`` (the simulator's own records)."""
    service = sim.state.portability
    token = service.tokens[refresh_token]
    return service.grants[token.grant_id].customer_id


def _token_file(tmp_path: Path, customer: str) -> Path:
    return tmp_path / "dp-tokens" / "ring" / f"{customer}.json"


def _refresh_token(tmp_path: Path, customer: str) -> str:
    import json

    value: str = json.loads(_token_file(tmp_path, customer).read_text())["refresh_token"]
    return value


def _token_requests(sim: SimServer) -> int:
    by_status = sim_call(sim, "GET", "/_sim/portability/stats")["token_requests_by_status"]
    return sum(int(n) for n in by_status.values())


def _callback_redirect(browser: httpx.Client, server: ServerThread, account: dict[str, str]) -> str:
    """Start an anonymous login and answer the consent page, but stop at Ring's redirect back: its Location."""
    start = browser.get(f"{server.url}/portability/connect", follow_redirects=False)
    assert start.status_code == 302, start.text
    page = browser.get(start.headers["location"], follow_redirects=True)
    no_follow = httpx.Client(timeout=60, follow_redirects=False)
    with no_follow:
        answer = consent(no_follow, page, **account)
    assert answer.status_code == 302 and "/portability/callback?" in answer.headers["location"], answer.text
    return str(answer.headers["location"])


def _with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    params.update(changes)
    return urlunsplit(parts._replace(query=urlencode(params)))


# -- the takeover of issue 9 -------------------------------------------------------------------------------------


def test_an_anonymous_visitor_cannot_take_over_a_customer(sim: SimServer, dp_serve: DPServe, tmp_path: Path) -> None:
    server = dp_serve(api_key=KEY)
    victim_account = sim.state.portability.customer_by_email(sim.config.email)
    assert victim_account is not None
    # the operator connects the victim under the key "victim"
    assert connect(server, customer="victim", headers=OPERATOR, **_victim(sim)).json()["customer"] == "victim"
    token_before = _token_file(tmp_path, "victim").read_bytes()

    with httpx.Client(base_url=server.url, timeout=60) as visitor:
        # issue 9: an anonymous visitor names the victim's key (and asks to replace it): refused before anything
        for params in ({"customer": "victim"}, {"customer": "victim", "replace": "true"}, {"replace": "true"}):
            answer = visitor.get("/portability/connect", params=params)
            assert answer.status_code == 403, (params, answer.status_code, answer.headers.get("location"))
            assert "operator" in answer.json()["error"] and "\n" not in answer.json()["error"]
        # nor can the visitor make an invitation
        assert visitor.post("/portability/invites", json={"customer": "victim", "replace": True}).status_code == 401

    # the visitor's own consent lands under a new key the server chose
    theirs = connect(server, **_attacker(sim))
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["customer"].startswith("customer-") and theirs.json()["customer"] != "victim"

    # a state altered to name the victim (signature no longer matches) is refused, with a real code in hand
    with httpx.Client(timeout=60) as browser:
        redirect = _callback_redirect(browser, server, _attacker(sim))
        state = parse_qs(urlsplit(redirect).query)["state"][0]
        payload, _, signature = state.partition(".")
        forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BA")
        for forged in (f"{forged_payload}.{signature}", state[:-1], state + "x", ""):
            answer = browser.get(_with_params(redirect, state=forged))
            assert answer.status_code == 400, (forged, answer.text)
            assert "unknown or expired" in answer.json()["error"]

    # the victim's authorization is untouched: same file, a refresh token of the victim's own Ring account
    assert _token_file(tmp_path, "victim").read_bytes() == token_before
    assert _account_of_refresh_token(sim, _refresh_token(tmp_path, "victim")) == victim_account.id
    with server.client(headers=OPERATOR) as client:
        listed = customers(client)
    assert listed["victim"]["status"] == "active"
    assert set(listed) == {"victim", theirs.json()["customer"]}


def test_the_operator_replaces_a_working_authorization_only_when_asked(
    sim: SimServer, dp_serve: DPServe, tmp_path: Path
) -> None:
    server = dp_serve(api_key=KEY)
    assert connect(server, customer="ann", headers=OPERATOR, **_victim(sim)).status_code == 200
    first = _refresh_token(tmp_path, "ann")
    with httpx.Client(base_url=server.url, timeout=60, headers=OPERATOR) as operator:
        again = operator.get("/portability/connect", params={"customer": "ann"})
        assert again.status_code == 409 and "replace=true" in again.json()["error"]
        invite = operator.post("/portability/invites", json={"customer": "ann"})
        assert invite.status_code == 409 and "replace" in invite.json()["error"]
    # asked for: the operator's login replaces ann's authorization
    replaced = connect(server, customer="ann", replace=True, headers=OPERATOR, **_attacker(sim))
    assert replaced.status_code == 200, replaced.text
    assert _refresh_token(tmp_path, "ann") != first
    attacker_id = sim.state.portability.customers[1].id
    assert _account_of_refresh_token(sim, _refresh_token(tmp_path, "ann")) == attacker_id


# -- the flood of issue 9 ----------------------------------------------------------------------------------------


def test_a_flood_of_anonymous_connects_locks_no_customer_out(sim: SimServer, dp_serve: DPServe) -> None:
    """1,000 connects (the old limit of pending logins), then more while a real customer connects: every connect is
    a redirect to Ring and the customer gets through."""
    server = dp_serve(api_key=KEY)
    with httpx.Client(base_url=server.url, timeout=60) as flooder:
        statuses = Counter(flooder.get("/portability/connect").status_code for _ in range(1000))
    assert statuses == Counter({302: 1000})

    stop = threading.Event()
    during: Counter[int] = Counter()

    def flood() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as again:
            while not stop.is_set():
                during[again.get("/portability/connect").status_code] += 1

    thread = threading.Thread(target=flood, name="flood", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not during and time.monotonic() < deadline:  # the flood is running
            time.sleep(0.01)
        answer = connect(server, **_victim(sim))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "connected"
    assert during and set(during) == {302}


# -- invitations -------------------------------------------------------------------------------------------------


def test_an_invitation_connects_its_customer_once(sim: SimServer, dp_serve: DPServe, tmp_path: Path) -> None:
    server = dp_serve(api_key=KEY)
    link = make_invite(server, KEY, customer="bea", valid_hours=2)
    assert link["replace"] is False and link["expires_at"]
    assert KEY not in link["url"] and "bea" not in link["url"].split("invite=")[0]

    answer = connect(server, invite=link["url"], **_victim(sim))
    assert answer.status_code == 200 and answer.json()["customer"] == "bea"

    with httpx.Client(timeout=60) as browser:
        used = browser.get(link["url"])  # the same link again
        assert used.status_code == 410 and "already used" in used.json()["error"]
        token = parse_qs(urlsplit(link["url"]).query)["invite"][0]
        for bad in (token[:-3], token[:10], token.replace(".", "x", 1), "x" * 5000):
            forged = browser.get(f"{server.url}/portability/connect", params={"invite": bad})
            assert forged.status_code == 400, (bad[:20], forged.text)
        mixed = browser.get(f"{server.url}/portability/connect", params={"invite": token, "customer": "zed"})
        assert mixed.status_code == 400

    # an invitation for a connected customer needs replace; made with it, it replaces bea's authorization once
    again = make_invite(server, KEY, customer="bea", replace=True)
    before = _refresh_token(tmp_path, "bea")
    assert connect(server, invite=again["url"], **_attacker(sim)).json()["customer"] == "bea"
    assert _refresh_token(tmp_path, "bea") != before
    with httpx.Client(timeout=60) as browser:
        assert browser.get(again["url"]).status_code == 410


def test_an_invitation_started_twice_completes_once(sim: SimServer, dp_serve: DPServe) -> None:
    """Two logins started from one link (two tabs, or a forwarded link): the first to come back wins, the second
    is refused at its callback and replaces nothing."""
    server = dp_serve(api_key=KEY)
    link = make_invite(server, KEY, customer="cyd")
    with (
        httpx.Client(timeout=60, follow_redirects=True) as tab1,
        httpx.Client(timeout=60, follow_redirects=True) as tab2,
    ):
        page1 = tab1.get(link["url"])
        page2 = tab2.get(link["url"])
        first = consent(tab1, page1, **_victim(sim))
        second = consent(tab2, page2, **_attacker(sim))
    assert first.status_code == 200 and first.json()["customer"] == "cyd"
    assert second.status_code == 410 and "already used" in second.json()["error"]


def test_the_cli_makes_invitations_the_server_accepts(
    sim: SimServer, dp_serve: DPServe, tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ringvault.sim.portability.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    server = dp_serve(api_key=KEY)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_ID", DEMO_CLIENT_ID)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setenv("RINGVAULT_PORTABILITY_REDIRECT_URI", f"{server.url}/portability/callback")
    monkeypatch.setenv("RINGVAULT_PORTABILITY_TOKEN_DIR", str(tmp_path / "dp-tokens"))
    made = invoke("portability", "invite", "dee", "--valid-hours", "1")
    assert made.exit_code == 0, made.output
    url = made.stdout.strip()
    assert url.startswith(f"{server.url}/portability/connect?invite="), made.output
    assert connect(server, invite=url, **_victim(sim)).json()["customer"] == "dee"

    bad = invoke("portability", "invite", "../etc")
    assert bad.exit_code == 2 and "customer key" in bad.output and len(bad.output.strip().splitlines()) == 1


# -- callbacks ---------------------------------------------------------------------------------------------------


def test_a_replayed_callback_is_refused_even_after_a_restart(sim: SimServer, dp_serve: DPServe, tmp_path: Path) -> None:
    first = dp_serve(api_key=KEY)
    with httpx.Client(timeout=60, follow_redirects=True) as browser:
        answer = connect(first, **_victim(sim))
        assert answer.status_code == 200
        callback = next(
            str(r.headers["location"])
            for r in answer.history
            if "/portability/callback?" in r.headers.get("location", "")
        )
        requests_before = _token_requests(sim)
        replay = browser.get(callback)
        assert replay.status_code == 409 and "already completed" in replay.json()["error"]
    first.stop()
    second = dp_serve(api_key=KEY)  # same archive and token directory, nothing in memory
    with httpx.Client(timeout=60) as browser:
        again = browser.get(callback.replace(first.url, second.url))
    assert again.status_code == 409 and "already completed" in again.json()["error"]
    assert _token_requests(sim) == requests_before  # refused before the code was even sent to Ring


def test_a_login_older_than_its_lifetime_is_refused(sim: SimServer, dp_serve: DPServe) -> None:
    server = dp_serve(api_key=KEY, login_ttl_s=1.0)
    with httpx.Client(timeout=60) as browser:
        redirect = _callback_redirect(browser, server, _victim(sim))
        time.sleep(2.5)  # the state's lifetime (1 s) is over; the margin is wide on a busy machine
        late = browser.get(redirect)
    assert late.status_code == 400 and "unknown or expired" in late.json()["error"]


# -- the sealing itself ------------------------------------------------------------------------------------------


def test_states_and_invitations_are_signed_expire_and_do_not_mix(tmp_path: Path) -> None:
    from ringvault.server.portability_login import InviteError, LoginSeal, SealError, load_server_secret

    now = [1_000_000.0]
    seal = LoginSeal(load_server_secret(tmp_path), ttl_s=600.0, clock=lambda: now[0])
    state = seal.new_state("alice", "ring", "eu-west-1", "operator", replace=True)
    sealed = seal.seal(state)
    assert seal.open(sealed) == state
    assert seal.pkce(state).verifier == seal.pkce(seal.open(sealed)).verifier  # derived, never sent
    assert seal.pkce(state).verifier not in sealed and len(seal.pkce(state).verifier) == 43

    token, card = seal.issue_invite("bob", ttl_s=3600.0)
    assert seal.read_invite(token) == card
    with pytest.raises(SealError):
        seal.open(token)  # an invitation is not a state
    with pytest.raises(InviteError):
        seal.read_invite(sealed)  # nor a state an invitation
    other = LoginSeal(load_server_secret(tmp_path / "elsewhere"), ttl_s=600.0, clock=lambda: now[0])
    with pytest.raises(SealError):
        other.open(sealed)  # another server's secret
    now[0] += 601.0
    with pytest.raises(SealError):
        seal.open(sealed)
    now[0] += 3600.0
    with pytest.raises(InviteError) as expired:
        seal.read_invite(token)
    assert expired.value.status == 410


def test_the_server_secret_is_private_and_kept(tmp_path: Path) -> None:
    from ringvault.server.portability_login import SECRET_FILE, ServerSecretError, load_server_secret

    secret = load_server_secret(tmp_path / "tokens")
    path = tmp_path / "tokens" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(secret) == 32
    assert load_server_secret(tmp_path / "tokens") == secret  # made once, then read
    path.chmod(0o644)
    with pytest.raises(ServerSecretError, match="chmod 600"):
        load_server_secret(tmp_path / "tokens")
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(ServerSecretError, match="corrupt"):
        load_server_secret(tmp_path / "tokens")
