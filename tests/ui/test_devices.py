"""The devices page against the database, and hostile device names on every page of the navigation bar.

The module's world: the simulator's first doorbell renamed ``<img src=x onerror=alert(1)>`` and one camera taken
offline before the sync, then a snapshot round into the archive (as ``ringvault snapshot --all`` does)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog

from ringvault.archive.snapshots import ArchiveSink, take_snapshot
from ringvault.archive.store import DB_FILENAME, ArchiveStore
from ringvault.archive.store.device_overview import device_status
from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.tokens import TokenStore
from ringvault.server.ui.render import nav_items
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json, sync_once
from tests.cloud.http_helpers import fast_options
from tests.server.helpers import ServerThread
from tests.ui.conftest import UiPage, UiWorld, run_async

HOSTILE = "<img src=x onerror=alert(1)>"


async def snapshot_round(sim: SimServer, base: Path, archive: Path) -> int:
    """Every camera's snapshot into the archive; how many were saved."""
    auth = RefreshTokenAuth(token_store=TokenStore(base / "tokens" / "token.json"))
    saved = 0
    async with RingApi(auth, fast_options(sim)) as api:
        names = {loc.id: loc.name for loc in await api.get_locations()}
        with ArchiveStore.open(archive) as store:
            sink = ArchiveSink(store, archive, location_names=names)
            for camera in await api.get_cameras():
                outcome = await take_snapshot(camera, sink, max_retries=2)
                saved += outcome.status == "saved"
    return saved


@pytest.fixture(scope="module")
def ui_world(ui_sim_config: SimConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    base = tmp_path_factory.mktemp("ui-devices")
    archive = base / "archive"
    with SimServer(ui_sim_config) as sim:
        devices = sim_json(sim, "GET", "/_sim/world?events=count")["devices"]
        doorbell = next(d for d in devices if d["family"] == "doorbots")
        sim_json(sim, "PATCH", f"/_sim/devices/{doorbell['id']}", {"description": HOSTILE})
        camera = next(d for d in devices if d["family"] == "stickup_cams" and d["id"] != doorbell["id"])
        sim_json(sim, "PATCH", f"/_sim/devices/{camera['id']}", {"offline": True})
        run_async(sync_once(sim, base, archive))
        assert run_async(snapshot_round(sim, base, archive)) > 0
        yield UiWorld(sim=sim, base=base, archive=archive, token_file=base / "tokens" / "token.json")


def query(world: UiWorld, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{world.archive / DB_FILENAME}?mode=ro", uri=True)) as conn:
        return list(conn.execute(sql, args).fetchall())


def watch_dialogs(ui: UiPage) -> list[str]:
    """Every alert/confirm/prompt the page opens (dismissed at once): there must be none."""
    opened: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    ui.page.on("dialog", on_dialog)
    return opened


def card(ui: UiPage, device_id: int) -> Any:
    return ui.page.locator(f'li.device[data-device-id="{device_id}"]')


def test_every_device_with_its_location_state_last_event_and_snapshot(ui_page: UiPage, ui_world: UiWorld) -> None:
    with ArchiveStore.open(ui_world.archive) as store:
        devices = store.list_devices()
    ui_page.open("/")
    assert ui_page.page.locator("li.device").count() == len(devices)
    locations = dict(query(ui_world, "select id, name from locations"))
    for device in devices:
        shown = card(ui_page, device.id)
        assert shown.locator(".device-name").text_content() == (device.name or "(no name)")
        assert (shown.locator(".device-location").text_content() or "").strip() == locations[device.location_id]
        status = device_status(device.raw)
        online = (shown.locator(".device-online").text_content() or "").strip()
        assert online == {True: "online", False: "offline", None: "unknown"}[status.online], device.name
        battery = (shown.locator(".device-battery").text_content() or "").strip()
        assert battery == (f"{status.battery} %" if status.battery is not None else "wired" if status.wired else "—")
        wifi = (shown.locator(".device-wifi").text_content() or "").strip()
        health = (device.raw or {}).get("health") or {}
        if "rssi" in health:
            assert wifi.startswith(f"{health['rssi']} dBm"), (device.name, wifi)
        # the newest event: kind and time as the database has them
        newest = query(
            ui_world,
            "select kind, created_at from events where device_id = ? order by created_at desc, id desc limit 1",
            device.id,
        )
        last = shown.locator(".device-last-event")
        if newest:
            assert (last.text_content() or "").strip().startswith(f"{newest[0][0]},")
            stamp = last.locator("time").get_attribute("datetime") or ""
            assert stamp.replace("T", " ").startswith(newest[0][1][:19]), (stamp, newest[0][1])
        else:
            assert (last.text_content() or "").strip() == "none archived"
        # the newest snapshot, served by the API and really loaded by the browser
        snapshot = query(ui_world, "select max(id) from media where device_id = ? and kind = 'snapshot'", device.id)[0][
            0
        ]
        image = shown.locator("img.thumb")
        if snapshot is None:
            assert image.count() == 0
        else:
            assert image.get_attribute("src") == f"/api/media/{snapshot}"
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    offline = [d for d in devices if device_status(d.raw).online is False]
    assert offline, "the world has an offline camera"
    assert query(ui_world, "select count(*) from media where kind = 'snapshot'")[0][0] > 0
    ui_page.screenshot("devices")


def test_the_alarm_and_lights_section_lists_the_hub_devices(ui_page: UiPage, ui_world: UiWorld) -> None:
    listed = query(ui_world, "select zid, name from hub_devices where removed_at is null")
    ui_page.open("/")
    rows = ui_page.page.locator("tr[data-hub-zid]")
    assert rows.count() == len(listed)
    shown = {row.get_attribute("data-hub-zid"): row.locator(".hub-name").text_content() for row in rows.all()}
    assert shown == {zid: name or "(no name)" for zid, name in listed}
    if listed:
        assert ui_page.page.locator("#hub-heading").text_content() == "Alarm and lights"


def test_a_hostile_device_name_is_text(ui_page: UiPage, ui_world: UiWorld) -> None:
    dialogs = watch_dialogs(ui_page)
    (device_id,) = query(ui_world, "select id from devices where name = ?", HOSTILE)[0]
    ui_page.open("/")
    hostile = card(ui_page, device_id)
    assert hostile.locator(".device-name").text_content() == HOSTILE
    assert ui_page.page.locator("img[src=x]").count() == 0
    assert ui_page.page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert dialogs == []


def test_usable_on_a_phone(ui_page: UiPage) -> None:
    ui_page.page.set_viewport_size({"width": 390, "height": 844})
    ui_page.open("/")
    assert ui_page.page.evaluate("document.documentElement.scrollWidth") <= 390
    first = ui_page.page.locator("li.device").first
    box = first.bounding_box()
    assert box is not None and box["width"] <= 390
    ui_page.screenshot("devices-phone")


def test_every_page_of_the_navigation_bar_shows_the_hostile_name_as_text(
    ui_page_factory: Callable[[str], UiPage], ui_server: ServerThread, ui_world: UiWorld
) -> None:
    """Pages added by other helpers are covered too: every entry of the navigation bar, with the hostile name in
    the archive, opens no dialog, builds no element from the name, logs no console error, and where a page names
    devices it names this one as text."""
    items = nav_items()  # registered by install_ui, which create_app (ui_server) ran
    assert any(item.path == "/" for item in items)
    names = [name for (name,) in query(ui_world, "select name from devices where name is not null") if name]
    others = [name for name in names if name != HOSTILE]
    for item in items:
        ui = ui_page_factory(ui_server.url)
        dialogs = watch_dialogs(ui)
        ui.open(item.path)
        ui.page.wait_for_timeout(300)  # let page scripts that fetch and build markup finish
        assert dialogs == [], item.path
        assert ui.page.evaluate("document.querySelectorAll('[onerror]').length") == 0, item.path
        assert ui.page.locator("img[src=x]").count() == 0, item.path
        text = ui.page.locator("body").text_content() or ""
        if any(name in text for name in others):
            assert HOSTILE in text, f"{item.path} names devices but not the hostile one as text"
        assert not ui.unexpected_errors(), (item.path, ui.console_errors)
