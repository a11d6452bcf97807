"""Login with Ring: PKCE, state, the authorize URL, the redirect, the code exchange and refresh-token rotation."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.config import ClientCredentials
from ringvault.portability.endpoints import endpoints_for
from ringvault.portability.http import PortabilityHttp
from ringvault.portability.oauth import (
    UNRESERVED,
    AuthorizationRequest,
    Pkce,
    PortabilityAuth,
    authorization_url,
    check_verifier,
    code_challenge,
    new_state,
    parse_redirect,
)
from ringvault.portability.tokens import PortabilityTokenStore, check_customer
from tests.portability.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    CREDENTIALS,
    REDIRECT_URI,
    FakeService,
    RecordingSleep,
    fast_policy,
    make_auth,
    no_limits,
    valid_token,
)

# RFC 7636, appendix B: the worked S256 example.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# -- PKCE and state ------------------------------------------------------------------------------------------------


def test_s256_matches_the_rfc_7636_example() -> None:
    assert code_challenge(RFC_VERIFIER, "S256") == RFC_CHALLENGE
    assert Pkce(RFC_VERIFIER).challenge == RFC_CHALLENGE


def test_plain_challenge_is_the_verifier() -> None:
    assert code_challenge(RFC_VERIFIER, "plain") == RFC_VERIFIER
    assert Pkce(RFC_VERIFIER, "plain").challenge == RFC_VERIFIER


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 42 + "!", "a" * 42 + " ", "a" * 42 + "é"])
def test_invalid_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(ValueError, match="verifier"):
        check_verifier(verifier)


def test_verifier_bounds_are_accepted() -> None:
    assert check_verifier("A" * 43) and check_verifier("~" * 128)


def test_generated_verifiers_use_the_unreserved_set_and_differ() -> None:
    seen = set()
    for length in (43, 64, 128):
        pkce = Pkce.generate(length=length)
        assert len(pkce.verifier) == length
        assert set(pkce.verifier) <= set(UNRESERVED)
        assert pkce.method == "S256"
        seen.add(pkce.verifier)
    assert len(seen) == 3
    with pytest.raises(ValueError):
        Pkce.generate(length=20)


def test_pkce_repr_hides_the_verifier() -> None:
    assert RFC_VERIFIER not in repr(Pkce(RFC_VERIFIER))


def test_states_are_random_and_long() -> None:
    states = {new_state() for _ in range(20)}
    assert len(states) == 20
    assert all(len(state) >= 43 for state in states)


# -- the authorize URL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("brand", "host"), [("ring", "oauth.ring.com"), ("blink", "api.oauth.blink.com")])
def test_authorization_url_has_every_documented_parameter(brand: str, host: str) -> None:
    request = authorization_url(CLIENT_ID, REDIRECT_URI, brand=brand)
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", host, "/v2/authorize")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "data-portability",
        "code_challenge": request.pkce.challenge,
        "code_challenge_method": "S256",
        "state": request.state,
    }
    assert code_challenge(request.pkce.verifier) == query["code_challenge"]


def test_authorization_url_with_plain_and_given_state() -> None:
    request = authorization_url(CLIENT_ID, REDIRECT_URI, method="plain", state="fixed-state")
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge_method"] == ["plain"]
    assert query["code_challenge"] == [request.pkce.verifier]
    assert query["state"] == ["fixed-state"]


def test_authorization_url_through_the_simulator_rule() -> None:
    request = authorization_url(CLIENT_ID, REDIRECT_URI, cloud_url="http://127.0.0.1:8765")
    assert request.url.startswith("http://127.0.0.1:8765/oauth.ring.com/v2/authorize?")


def test_authorization_request_survives_a_round_trip() -> None:
    request = authorization_url(CLIENT_ID, REDIRECT_URI, brand="blink", method="plain")
    again = AuthorizationRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request


# -- the redirect --------------------------------------------------------------------------------------------------


def test_redirect_with_code_and_matching_state() -> None:
    url = f"{REDIRECT_URI}?code=the-code-123&state=s-1"
    assert parse_redirect(url, expected_state="s-1") == "the-code-123"
    assert parse_redirect("code=the-code-123&state=s-1", expected_state="s-1") == "the-code-123"
    assert parse_redirect({"code": "the-code-123", "state": "s-1"}, expected_state="s-1") == "the-code-123"


@pytest.mark.parametrize(
    "redirect",
    [
        f"{REDIRECT_URI}?code=c&state=other",
        f"{REDIRECT_URI}?code=c",
        f"{REDIRECT_URI}?code=c&state=",
        # an error redirect with a foreign state is not trusted either
        f"{REDIRECT_URI}?error=access_denied&state=other",
    ],
)
def test_state_mismatch_is_refused(redirect: str) -> None:
    with pytest.raises(e.StateMismatchError) as caught:
        parse_redirect(redirect, expected_state="s-1")
    assert "state" in str(caught.value) and "again" in caught.value.hint


def test_cancelled_login_is_access_denied_with_its_description() -> None:
    url = (
        f"{REDIRECT_URI}?error=access_denied&error_description=The+resource+owner+or+authorization+server+denied"
        "+the+request&state=s-1"
    )
    with pytest.raises(e.AuthorizationDeniedError) as caught:
        parse_redirect(url, expected_state="s-1")
    assert caught.value.error == "access_denied"
    assert caught.value.error_description == "The resource owner or authorization server denied the request"


def test_other_redirect_errors_and_missing_code() -> None:
    with pytest.raises(e.InvalidScopeError):
        parse_redirect("error=invalid_scope&state=s", expected_state="s")
    with pytest.raises(e.UnknownOAuthError):
        parse_redirect("error=brand_new_error&state=s", expected_state="s")
    with pytest.raises(e.MissingAuthorizationCodeError):
        parse_redirect("state=s", expected_state="s")


# -- code exchange and the token store -----------------------------------------------------------------------------


async def test_code_exchange_stores_the_tokens_privately(tmp_path: Path) -> None:
    service = FakeService()
    store_dir = tmp_path / "tokens"
    auth = make_auth(service, store_dir, customer="alice")
    auth.use_http(_http(service))
    request = auth.authorization_request()
    service.codes["code-abc-123"] = request.pkce.verifier
    token = await auth.complete(request, f"{REDIRECT_URI}?code=code-abc-123&state={request.state}")

    [sent] = service.routed("token")
    form = {k: v[0] for k, v in parse_qs(sent.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": "code-abc-123",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.pkce.verifier,
        "scope": "data-portability",
    }
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    path = store_dir / "ring" / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["refresh_token"] == token.refresh_token and saved["access_token"] == token.access_token
    assert saved["client_id"] == CLIENT_ID and saved["scope"] == "data-portability"
    assert PortabilityTokenStore(store_dir).customers("ring") == ["alice"]
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    await auth.aclose()


async def test_code_exchange_with_a_wrong_verifier_is_invalid_grant(tmp_path: Path) -> None:
    service = FakeService()
    auth = make_auth(service, tmp_path)
    auth.use_http(_http(service))
    service.codes["code-1"] = Pkce.generate().verifier
    with pytest.raises(e.InvalidGrantError):
        await auth.exchange_code("code-1", Pkce.generate())
    assert PortabilityTokenStore(tmp_path).load("ring", "default") is None


async def test_wrong_client_secret_is_invalid_client(tmp_path: Path) -> None:
    service = FakeService()
    auth = PortabilityAuth(ClientCredentials(CLIENT_ID, "wrong-secret-value", REDIRECT_URI))
    auth.use_http(_http(service))
    with pytest.raises(e.InvalidClientError) as caught:
        await auth.exchange_code("code", Pkce.generate())
    assert "CLIENT_SECRET" in caught.value.hint


async def test_no_stored_authorization_is_a_clear_error(tmp_path: Path) -> None:
    auth = make_auth(FakeService(), tmp_path, customer="nobody")
    with pytest.raises(e.NotAuthorizedError) as caught:
        await auth.access_token()
    assert "nobody" in str(caught.value) and "log in" in caught.value.hint


def test_customer_keys_cannot_escape_the_directory() -> None:
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 129, "name.lock"):
        with pytest.raises(ValueError):
            check_customer(bad)
    assert check_customer("user-42@example.com") == "user-42@example.com"


def test_a_corrupt_token_file_is_a_clear_error(tmp_path: Path) -> None:
    store = PortabilityTokenStore(tmp_path)
    path = store.path_for("ring", "alice")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(e.PortabilityTokenFileError, match="corrupt"):
        store.load("ring", "alice")


# -- refresh and rotation ------------------------------------------------------------------------------------------


async def test_expired_access_token_is_refreshed_and_the_rotation_saved_before_use(tmp_path: Path) -> None:
    service = FakeService()
    old = valid_token(service, expired=True)
    auth = make_auth(service, tmp_path, token=old)
    store = PortabilityTokenStore(tmp_path)
    seen_in_file: list[str] = []

    def check_file(request: httpx.Request) -> None:
        # at the moment the new access token is used, the file already holds the new refresh token
        stored = store.load("ring", "default")
        assert stored is not None
        seen_in_file.append(stored.refresh_token)
        assert request.headers["authorization"] == f"Bearer {stored.access_token}"

    service.on_api_call = check_file
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        await client.create_query()
    assert service.refresh_grants == 1
    assert seen_in_file and seen_in_file[0] != old.refresh_token
    assert seen_in_file[0] in service.refresh_tokens
    path = store.path_for("ring", "default")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_access_denied_refreshes_once_and_retries(tmp_path: Path) -> None:
    service = FakeService()
    auth = make_auth(service, tmp_path, token=valid_token(service))
    # the service has forgotten the access token (expired on its side before our clock says so)
    service.access_tokens.clear()
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        assert await client.create_query()
    assert service.refresh_grants == 1
    assert [r.headers["authorization"] != "" for r in service.routed("create")] == [True, True]


async def test_access_denied_twice_raises_after_one_refresh(tmp_path: Path) -> None:
    service = FakeService()
    auth = make_auth(service, tmp_path, token=valid_token(service))
    denied = httpx.Response(403, json={"category": "FORBIDDEN", "type": "ACCESS_DENIED", "message": "no"})
    service.script("create", denied, denied, denied)
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        with pytest.raises(e.AccessDeniedError):
            await client.create_query()
    assert service.refresh_grants == 1
    assert len(service.routed("create")) == 2


async def test_a_revoked_refresh_token_says_to_log_in_again(tmp_path: Path) -> None:
    service = FakeService()
    token = valid_token(service, expired=True)
    service.refresh_tokens.clear()
    auth = make_auth(service, tmp_path, token=token)
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        with pytest.raises(e.InvalidGrantError) as caught:
            await client.create_query()
    assert "log in with Ring again" in caught.value.hint


async def test_a_rotation_by_another_process_is_adopted_not_repeated(tmp_path: Path) -> None:
    service = FakeService()
    auth_a = make_auth(service, tmp_path, token=valid_token(service, expired=True))
    auth_b = make_auth(service, tmp_path)
    assert auth_b.token is not None  # b has read the file before a rotates
    async with PortabilityClient(auth_a, transport=service.transport(), limiter=no_limits()) as client_a:
        await client_a.create_query()
    assert service.refresh_grants == 1
    # b still holds the superseded tokens in memory; refreshing must adopt a's rotation from the file
    async with PortabilityClient(auth_b, transport=service.transport(), limiter=no_limits()) as client_b:
        await client_b.create_query()
    assert service.refresh_grants == 1
    assert auth_b.token is not None and auth_a.token is not None
    assert auth_b.token.refresh_token == auth_a.token.refresh_token


async def test_concurrent_calls_share_one_refresh(tmp_path: Path) -> None:
    service = FakeService()
    auth = make_auth(service, tmp_path, token=valid_token(service, expired=True))
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        ids = await asyncio.gather(*(client.create_query() for _ in range(5)))
    assert len(ids) == 5
    assert service.refresh_grants == 1


async def test_refresh_without_a_new_refresh_token_keeps_the_old_one(tmp_path: Path) -> None:
    service = FakeService()
    token = valid_token(service, expired=True)
    auth = make_auth(service, tmp_path, token=token)
    service.access_tokens.add("Atza|fresh-only")
    service.script("token", httpx.Response(200, json={"access_token": "Atza|fresh-only", "expires_in": 60}))
    async with PortabilityClient(auth, transport=service.transport(), limiter=no_limits()) as client:
        await client.create_query()
    stored = PortabilityTokenStore(tmp_path).load("ring", "default")
    assert stored is not None and stored.refresh_token == token.refresh_token
    assert stored.access_token == "Atza|fresh-only"


async def test_tokens_codes_and_secrets_are_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service = FakeService()
    auth = make_auth(service, tmp_path)
    request = auth.authorization_request()
    service.codes["code-secret-777"] = request.pkce.verifier
    sleep = RecordingSleep()
    async with PortabilityClient(
        auth, transport=service.transport(), limiter=no_limits(), retry=fast_policy(sleep)
    ) as client:
        await auth.complete(request, {"code": "code-secret-777", "state": request.state})
        service.access_tokens.clear()  # force the 403 -> refresh path
        service.script("create", httpx.Response(500, json={"type": "INTERNAL_SERVER_ERROR"}))
        await client.create_query()
        logging.getLogger("ringvault.portability").debug(
            "debug dump %s %s", auth.token.refresh_token if auth.token else "", CLIENT_SECRET
        )
    secrets = [CLIENT_SECRET, "code-secret-777", request.pkce.verifier, request.state]
    for issued in range(1, service.issued + 1):
        secrets += [f"Atza|access-{issued}-xyz", f"Atzr|refresh-{issued}-xyz"]
    text = caplog.text
    assert "retrying" in text  # the log did get written
    for secret in secrets:
        assert secret not in text
        assert secret not in repr(auth) and secret not in repr(auth.token)


def _http(service: FakeService) -> PortabilityHttp:
    return PortabilityHttp(transport=service.transport())


def test_endpoints_token_url_is_the_documented_one() -> None:
    assert endpoints_for("ring").token_url == "https://oauth.ring.com/oauth/token"
    assert endpoints_for("blink").token_url == "https://oauth.ring.com/oauth/token"
    assert endpoints_for("blink", token_url="https://api.oauth.blink.com/oauth/token").token_url.startswith(
        "https://api.oauth.blink.com"
    )
    assert CREDENTIALS.client_secret not in repr(CREDENTIALS)
