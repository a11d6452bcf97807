"""The web UI's security in a real browser: the login form and its session cookie, the logout, the login throttle,
and CSRF on every request that changes something (with and without an API key)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route

from ringvault.server import create_app
from ringvault.server.security import mask_secrets
from ringvault.server.sessions import CSRF_COOKIE, FREE_ATTEMPTS, SESSION_COOKIE
from tests.server.helpers import ServerThread
from tests.ui.conftest import ServeUi, UiPage, UiWorld

KEY = "ui-test-key-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {KEY}"}
#: a page of another site (Playwright answers it; the browser believes it came from there)
EVIL = "http://evil.test/"

PageFactory = Callable[[str], UiPage]


def jobs(server: ServerThread) -> list[dict[str, Any]]:
    """Every sync job the server knows (asked with the key when it has one)."""
    answer = httpx.get(server.url + "/api/jobs", headers=BEARER, timeout=30)
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


def log_in(ui: UiPage, key: str = KEY, path: str = "/") -> None:
    ui.page.goto(ui.base_url + path, wait_until="networkidle")
    assert "/login" in ui.page.url
    ui.page.fill("#key", key)
    with ui.page.expect_navigation(wait_until="networkidle"):
        ui.page.click("form.login button[type=submit]")


def cookies(ui: UiPage) -> dict[str, dict[str, Any]]:
    return {c["name"]: dict(c) for c in ui.page.context.cookies()}


def serve_evil_form(ui: UiPage, action: str, fields: dict[str, str] | None = None) -> None:
    """Make ``http://evil.test/`` a page with a form that POSTs to ``action`` (a cross-site form)."""
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in (fields or {}).items())
    html = f'<!doctype html><form method="post" action="{action}">{inputs}<button id="go">win a prize</button></form>'

    def answer(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=html)

    ui.page.route(EVIL, answer)


def submit_evil_form(ui: UiPage) -> int:
    """Open the other site's page, press its button; the HTTP status of what the form's POST got back."""
    ui.page.goto(EVIL)
    with ui.page.expect_response(lambda r: r.request.method == "POST") as posted:
        ui.page.click("#go")
    return posted.value.status


# -- with an API key: sessions -------------------------------------------------------------------------------------


def test_without_a_session_a_page_goes_to_the_login_form_and_the_api_answers_401(
    serve_ui: ServeUi, ui_page_factory: PageFactory
) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    ui.open("/login?next=%2F")  # the form itself is open, with its style sheet and script
    response = ui.page.goto(server.url + "/", wait_until="networkidle")
    assert response is not None and response.status == 200
    assert ui.page.url == server.url + "/login?next=%2F"
    assert ui.page.locator("label[for=key]").text_content() == "API key"
    assert ui.page.locator("#key").get_attribute("type") == "password"
    assert not any(c["name"] == SESSION_COOKIE for c in ui.page.context.cookies())
    ui.screenshot("login")
    # a program without the key: the JSON 401 as before, no redirect
    for path in ("/", "/api/devices", "/api/media/1"):
        answer = httpx.get(server.url + path, timeout=30)
        assert answer.status_code == 401 and "Authorization: Bearer" in answer.json()["error"], path
    # the browser's own API calls (Accept: */*) are refused the same way
    api = ui.page.evaluate("fetch('/api/devices').then(r => r.status)")
    assert api == 401
    ui.allow_console_error("401")
    # a browser asking for a page deep inside comes back there after the login
    assert httpx.get(server.url + "/docs", headers={"Accept": "text/html"}).headers["location"] == "/login?next=%2Fdocs"


def test_a_wrong_key_says_so_and_sets_no_session(serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    ui.allow_console_error("401")  # the form's answer to a wrong key is a 401 page
    log_in(ui, key="not-the-key-0123456789")
    error = ui.page.locator("[role=alert]")
    assert error.count() == 1
    assert (error.text_content() or "").startswith("Wrong API key")
    assert "/login" in ui.page.url
    assert SESSION_COOKIE not in cookies(ui)
    assert httpx.get(server.url + "/api/devices", timeout=30).status_code == 401


def test_the_right_key_sets_a_strict_http_only_session_the_pages_and_the_api_use(
    serve_ui: ServeUi, ui_page_factory: PageFactory
) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    log_in(ui, path="/?from=login")
    assert ui.page.url == server.url + "/?from=login"  # back where the browser was going
    assert ui.page.title() == "Devices · ringvault"
    session = cookies(ui)[SESSION_COOKIE]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/"
    assert session["secure"] is False  # plain http here (https: see test_the_cookie_is_secure_over_https)
    assert 11 * 3600 < session["expires"] - time.time() <= 12 * 3600 + 60
    assert KEY not in session["value"]
    # the page's scripts see neither cookie, and reach the API with the session
    assert ui.page.evaluate("document.cookie") == ""
    devices = ui.page.evaluate("ringvault.api('/api/devices')")
    assert isinstance(devices, list) and devices
    # the session's token works for a request that changes something
    accepted = ui.page.evaluate("ringvault.api('/api/sync', {method: 'POST', body: {metadata_only: true}})")
    assert accepted["job_id"] and [job["id"] for job in jobs(server)] == [accepted["job_id"]]
    # a logged-in browser is sent on from the login form
    ui.page.goto(server.url + "/login?next=%2F", wait_until="networkidle")
    assert ui.page.url == server.url + "/"
    assert ui.page.locator("form.logout button").is_visible()


def test_the_cookie_is_secure_over_https(ui_world: UiWorld) -> None:
    with TestClient(create_app(ui_world.settings(api_key=KEY)), base_url="https://testserver") as client:
        form = client.get("/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert "secure" in form.headers["set-cookie"].lower()
        answer = client.post(
            "/login", data={"key": KEY, "csrf_token": token, "next": "//evil.example/x"}, follow_redirects=False
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"  # never another host
        set_cookie = answer.headers["set-cookie"]
        assert set_cookie.startswith(SESSION_COOKIE + "=")
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=43200"):
            assert attribute in set_cookie, attribute
    # behind a TLS proxy (the server itself speaks http): the proxy's X-Forwarded-Proto says https
    with TestClient(create_app(ui_world.settings(api_key=KEY)), base_url="http://testserver") as client:
        assert "Secure" not in client.get("/login").headers["set-cookie"]
        client.cookies.clear()
        proxied = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert proxied.headers["set-cookie"].startswith(CSRF_COOKIE + "=") and "Secure" in proxied.headers["set-cookie"]


def test_forged_requests_with_a_session_are_refused_and_start_nothing(
    serve_ui: ServeUi, ui_page_factory: PageFactory
) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    log_in(ui)
    request = ui.page.context.request  # shares the browser's cookies: the session goes with every call
    assert request.get(server.url + "/api/devices").status == 200
    no_token = request.post(server.url + "/api/sync", data={"metadata_only": True})
    assert no_token.status == 403 and "CSRF" in no_token.json()["error"]
    wrong = request.post(server.url + "/api/sync", data={}, headers={"X-CSRF-Token": "forged.token"})
    assert wrong.status == 403
    form = request.post(server.url + "/api/sync", form={"csrf_token": "forged"})
    assert form.status == 403
    # another site's form: SameSite=Strict keeps the session cookie home, so the server sees no session at all
    serve_evil_form(ui, server.url + "/api/sync", {"metadata_only": "true"})
    assert submit_evil_form(ui) == 401
    ui.allow_console_error("401")
    assert jobs(server) == []  # nothing of it started a sync
    # the key in the header needs no token (a browser cannot send it to another site)
    assert httpx.post(server.url + "/api/sync", json={"metadata_only": True}, headers=BEARER).status_code == 202


def test_logout_ends_the_session(serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    log_in(ui)
    copied = cookies(ui)[SESSION_COOKIE]["value"]
    with_copy = {"Cookie": f"{SESSION_COOKIE}={copied}"}
    assert httpx.get(server.url + "/api/devices", headers=with_copy).status_code == 200
    # logout is a POST with the token: a forged one (no token) does not end the session
    forged = httpx.post(server.url + "/logout", headers=with_copy)
    assert forged.status_code == 403
    assert httpx.get(server.url + "/api/devices", headers=with_copy).status_code == 200
    with ui.page.expect_navigation(wait_until="networkidle"):
        ui.page.click("form.logout button")
    assert "/login" in ui.page.url
    assert SESSION_COOKIE not in cookies(ui)
    # the copy of the cookie is refused from now on
    assert httpx.get(server.url + "/api/devices", headers=with_copy).status_code == 401
    ui.page.goto(server.url + "/", wait_until="networkidle")
    assert "/login" in ui.page.url


def test_changing_the_key_ends_every_session(serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    log_in(ui)
    cookie = {"Cookie": f"{SESSION_COOKIE}={cookies(ui)[SESSION_COOKIE]['value']}"}
    restarted = serve_ui(api_key=KEY)  # the same key: the session holds
    assert httpx.get(restarted.url + "/api/devices", headers=cookie).status_code == 200
    other = serve_ui(api_key=KEY + "-new")
    assert httpx.get(other.url + "/api/devices", headers=cookie).status_code == 401


def test_wrong_keys_make_the_address_wait(serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    server = serve_ui(api_key=KEY)
    ui = ui_page_factory(server.url)
    ui.allow_console_error("401")
    ui.allow_console_error("429")
    for _ in range(FREE_ATTEMPTS):
        log_in(ui, key="wrong-key-0123456789-abc")
        assert (ui.page.locator("[role=alert]").text_content() or "").startswith("Wrong API key")
    # the next try waits, even with the right key (which is not even checked)
    log_in(ui, key=KEY)
    message = ui.page.locator("[role=alert]").text_content() or ""
    assert message.startswith("Too many wrong keys from your address: wait ")
    assert SESSION_COOKIE not in cookies(ui)
    # without the browser: a 429 with Retry-After
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/login", data={"key": KEY, "csrf_token": token})
        assert answer.status_code == 429 and 0 < int(answer.headers["retry-after"]) <= 30


def test_the_login_form_itself_needs_the_token(serve_ui: ServeUi) -> None:
    """No other site can log a browser in (with a key of its choosing): the form's POST is CSRF-checked too."""
    server = serve_ui(api_key=KEY)
    answer = httpx.post(server.url + "/login", data={"key": KEY}, follow_redirects=False)
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.headers.get("set-cookie", "")


# -- without a key: CSRF on a loopback server ------------------------------------------------------------------------


def test_a_cross_site_form_cannot_start_a_sync_on_a_server_without_a_key(
    serve_ui: ServeUi, ui_page_factory: PageFactory
) -> None:
    """Before this check, any web page the user visited could start syncs on their loopback server."""
    server = serve_ui()
    ui = ui_page_factory(server.url)
    ui.allow_console_error("403")
    serve_evil_form(ui, server.url + "/api/sync")
    assert submit_evil_form(ui) == 403
    assert "cross-site" in (ui.page.text_content("body") or "")
    assert jobs(server) == []


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Origin": "http://evil.test"}, "another site's Origin"),
        ({"Origin": "null"}, "an opaque Origin (sandboxed frame)"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site same-site (a sibling host)"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "a form body (old browsers send no Origin)"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "a multipart form body"),
        ({"Content-Type": "text/plain"}, "a text/plain body (enctype=text/plain)"),
        ({"X-CSRF-Token": "made.up"}, "a token that does not verify"),
    ],
)
def test_each_cross_site_signal_is_refused_without_a_key(serve_ui: ServeUi, headers: dict[str, str], why: str) -> None:
    server = serve_ui()
    answer = httpx.post(server.url + "/api/sync", content=b"{}", headers=headers, timeout=30)
    assert answer.status_code == 403, why
    assert len(answer.json()["error"].splitlines()) == 1
    assert jobs(server) == [], why


def test_programs_and_the_ui_s_own_pages_pass_without_a_key(serve_ui: ServeUi, ui_page_factory: PageFactory) -> None:
    server = serve_ui()
    # a program (no browser headers), and a same-origin browser request such as Swagger UI's "Try it out"
    plain = httpx.post(server.url + "/api/sync", json={"metadata_only": True})
    assert plain.status_code == 202
    same_origin = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert httpx.post(server.url + "/api/sync", json={"hub": False}, headers=same_origin).status_code == 202
    # the pages' own script, through the token from the page and the nonce cookie
    ui = ui_page_factory(server.url)
    ui.open("/")
    token = ui.page.get_attribute('meta[name="csrf-token"]', "content")
    assert token
    nonce = cookies(ui)[CSRF_COOKIE]
    assert nonce["httpOnly"] is True and nonce["sameSite"] == "Strict"
    accepted = ui.page.evaluate("ringvault.api('/api/sync', {method: 'POST', body: {kind: 'ding'}})")
    assert accepted["job_id"]
    # the token is bound to this browser: with another browser's cookie it fails
    other = {"X-CSRF-Token": token, "Cookie": f"{CSRF_COOKIE}=another-browser-nonce-0123456789"}
    assert httpx.post(server.url + "/api/sync", json={}, headers=other).status_code == 403
    assert len(jobs(server)) == 3


def test_data_portability_public_paths_need_no_token(serve_ui: ServeUi) -> None:
    """Ring's notifications are server-to-server (text/plain bodies, no token): they are not refused as forged.
    (Without Data Portability configured they answer 503, as before, rather than 403.)"""
    server = serve_ui()
    answer = httpx.post(
        server.url + "/portability/notifications/v1", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 503


# -- logs ------------------------------------------------------------------------------------------------------------


def test_cookies_and_tokens_are_masked_in_log_lines() -> None:
    line = (
        f"GET /login?csrf_token=abc.def&next=/ cookie: {SESSION_COOKIE}=eyJzaWQiOi.abc.def; {CSRF_COOKIE}=n0nce "
        f"Authorization: Bearer {KEY}"
    )
    masked = mask_secrets(line, frozenset({KEY}))
    for secret in ("abc.def", "eyJzaWQiOi", "n0nce", KEY):
        assert secret not in masked, secret
    assert "csrf_token=***" in masked and f"{SESSION_COOKIE}=***" in masked


def test_a_login_logs_neither_the_key_nor_the_cookie(ui_world: UiWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(ui_world.settings(api_key=KEY))) as client:
        token = client.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"key": "a-wrong-key-0123456789", "csrf_token": token})
        ok = client.post("/login", data={"key": KEY, "csrf_token": token}, follow_redirects=False)
        cookie = ok.cookies[SESSION_COOKIE]
        assert client.get("/api/devices").status_code == 200
    text = caplog.text
    assert "wrong API key" in text  # the refusal is logged ...
    assert "a-wrong-key-0123456789" not in text and KEY not in text and cookie not in text  # ... without secrets
