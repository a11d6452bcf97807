"""The UI's frame: the devices page, the navigation, the security headers, assets from this server only."""

from __future__ import annotations

import httpx

from ringvault.archive.store import ArchiveStore
from tests.server.helpers import ServerThread
from tests.ui.conftest import UiPage, UiWorld


def test_the_devices_page_lists_every_device_of_the_archive(ui_page: UiPage, ui_world: UiWorld) -> None:
    with ArchiveStore.open(ui_world.archive) as store:
        devices = store.list_devices()
    assert devices, "the synced archive has devices"
    ui_page.open("/")
    rows = ui_page.page.locator("li.device[data-device-id]")
    assert rows.count() == len(devices)
    shown = set(ui_page.page.locator("li.device .device-name").all_text_contents())
    assert shown == {d.name or "(no name)" for d in devices}
    assert ui_page.page.title() == "Devices · ringvault"


def test_every_asset_comes_from_this_server(ui_page: UiPage, ui_server: ServerThread) -> None:
    ui_page.open("/")
    urls = [url for _method, url, _headers in ui_page.requests]
    assert urls, "the page made requests"
    assert all(url.startswith(ui_server.url) for url in urls), urls


def test_pages_carry_a_policy_without_inline_scripts(ui_server: ServerThread) -> None:
    response = httpx.get(ui_server.url + "/")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    # the API's answers carry it too (a JSON body opened as a page runs nothing either)
    assert "script-src 'self'" in httpx.get(ui_server.url + "/api/devices").headers["content-security-policy"]


def test_swagger_ui_still_starts_under_its_own_policy(ui_page: UiPage) -> None:
    ui_page.open("/docs")
    ui_page.page.wait_for_selector(".swagger-ui .info", state="visible")
    assert "ringvault" in (ui_page.page.text_content(".swagger-ui .info") or "")
