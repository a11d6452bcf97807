"""The activity page: the bars and the heatmap show the archive's true counts, in each device's time zone, for every
filter; the text tables say the same; exact across daylight saving and half-hour zones.

Every expected number here is computed independently of the page's code: the events are read from the archive's
SQLite file with ``sqlite3`` and each time converted with :mod:`zoneinfo` in Python.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from ringvault.archive.store import ArchiveStore, DeviceRecord, EventRecord, LocationRecord
from ringvault.server import ServerSettings, create_app
from tests.server.helpers import ServerThread
from tests.ui.conftest import UiPage, UiWorld

Key = tuple[str, int, str]  # (first day of the bar, device id, kind)
Cell = tuple[int, int]  # (weekday 0 = Monday, hour)


def _zones(db: sqlite3.Connection) -> dict[int, ZoneInfo]:
    """Each device's zone as the archive knows it: the device's ``time_zone``, else its location's, else UTC."""
    zones: dict[int, ZoneInfo] = {}
    rows = db.execute("SELECT d.id, d.raw, l.time_zone FROM devices d LEFT JOIN locations l ON l.id = d.location_id")
    for device_id, raw, location_zone in rows:
        name = (json.loads(raw) if raw else {}).get("time_zone") or location_zone or "UTC"
        zones[int(device_id)] = ZoneInfo(name)
    return zones


def local_events(archive: Path) -> list[tuple[int, str, datetime]]:
    """(device id, kind, local time) of every event of the archive."""
    with sqlite3.connect(archive / "archive.sqlite3") as db:
        zones = _zones(db)
        rows = db.execute("SELECT device_id, kind, created_at FROM events").fetchall()
    out = []
    for device_id, kind, created_at in rows:
        at = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
        out.append((int(device_id), kind or "", at.astimezone(zones[int(device_id)])))
    return out


def bucket(day: date, per: str) -> date:
    if per == "week":
        return day - timedelta(days=day.weekday())
    if per == "month":
        return day.replace(day=1)
    return day


def expected(
    events: list[tuple[int, str, datetime]],
    *,
    device: int | None = None,
    kind: str | None = None,
    per: str = "day",
    since: date | None = None,
    until: date | None = None,
) -> tuple[Counter[Key], Counter[Cell]]:
    bars: Counter[Key] = Counter()
    cells: Counter[Cell] = Counter()
    for device_id, event_kind, local in events:
        if (device is not None and device_id != device) or (kind is not None and event_kind != kind):
            continue
        if (since is not None and local.date() < since) or (until is not None and local.date() > until):
            continue
        bars[(bucket(local.date(), per).isoformat(), device_id, event_kind)] += 1
        cells[(local.weekday(), local.hour)] += 1
    return bars, cells


def shown_bars(ui: UiPage) -> Counter[Key]:
    rows = ui.page.eval_on_selector_all(
        "rect.bar", "els => els.map(e => [e.dataset.day, e.dataset.device, e.dataset.kind, e.dataset.count])"
    )
    shown: Counter[Key] = Counter()
    for day, device, kind, count in rows:
        key = (day, int(device), kind)
        assert key not in shown, f"two bars for {key}"
        shown[key] = int(count)
    return shown


def shown_cells(ui: UiPage) -> Counter[Cell]:
    rows = ui.page.eval_on_selector_all(
        "rect.cell", "els => els.map(e => [e.dataset.weekday, e.dataset.hour, e.dataset.count])"
    )
    assert len(rows) == 7 * 24, "the heatmap has a cell for every hour of every weekday"
    return Counter({(int(w), int(h)): int(n) for w, h, n in rows if int(n)})


def table_bars(ui: UiPage) -> Counter[Key]:
    """The numbers of the text table under the bars (one row per day and device, one column per kind)."""
    kinds = ui.page.eval_on_selector_all("#days-table thead th[data-kind]", "els => els.map(e => e.dataset.kind)")
    rows = ui.page.eval_on_selector_all(
        "#days-table tbody tr",
        "rows => rows.map(r => [r.dataset.day, r.dataset.device, [...r.querySelectorAll('td')].slice(1)"
        ".map(td => td.textContent)])",
    )
    table: Counter[Key] = Counter()
    for day, device, numbers in rows:
        assert len(numbers) == len(kinds)
        for kind, number in zip(kinds, numbers, strict=True):
            if int(number):
                table[(day, int(device), kind)] = int(number)
    return table


def table_cells(ui: UiPage) -> Counter[Cell]:
    rows = ui.page.eval_on_selector_all(
        "#heat-table td", "els => els.map(e => [e.dataset.weekday, e.dataset.hour, e.textContent])"
    )
    assert len(rows) == 7 * 24
    return Counter({(int(w), int(h)): int(n) for w, h, n in rows if int(n)})


@pytest.fixture(scope="module")
def events(ui_world: UiWorld) -> list[tuple[int, str, datetime]]:
    found = local_events(ui_world.archive)
    assert len(found) > 20, "the synced archive has events"
    assert len({d for d, _k, _t in found}) > 1 and len({k for _d, k, _t in found}) > 1
    return found


def test_the_plots_show_the_archives_true_counts(
    ui_page: UiPage, ui_world: UiWorld, events: list[tuple[int, str, datetime]]
) -> None:
    bars, cells = expected(events)
    ui_page.open("/activity")
    assert ui_page.page.locator(".activity-days").get_attribute("data-per") == "day"
    assert shown_bars(ui_page) == bars
    assert shown_cells(ui_page) == cells
    assert sum(bars.values()) == len(events)
    ui_page.screenshot("activity")
    # the text alternative says the same, and opens
    ui_page.page.click("text=Events per day as a table")
    assert ui_page.page.locator("#days-table").is_visible()
    assert table_bars(ui_page) == bars
    assert table_cells(ui_page) == cells
    # every bar and cell has a title for hover, and the page says which zones it uses
    assert ui_page.page.locator("rect.bar > title").count() == len(bars)
    assert ui_page.page.locator("rect.cell > title").count() == 7 * 24
    zones_text = ui_page.page.text_content("#activity-zones") or ""
    with sqlite3.connect(ui_world.archive / "archive.sqlite3") as db:
        for zone in {str(z) for z in _zones(db).values()}:
            assert zone in zones_text


def test_filters_change_the_numbers(ui_page: UiPage, events: list[tuple[int, str, datetime]]) -> None:
    ui_page.open("/activity")
    by_device = Counter(d for d, _k, _t in events)
    device = by_device.most_common(1)[0][0]
    # picking a device in the form (the page reloads with it)
    with ui_page.page.expect_navigation():
        ui_page.page.select_option("#activity-device", str(device))
    ui_page.page.wait_for_load_state("networkidle")
    bars, cells = expected(events, device=device)
    assert shown_bars(ui_page) == bars
    assert shown_cells(ui_page) == cells
    assert {d for _day, d, _k in shown_bars(ui_page)} == {device}
    # a kind on top of it, then a kind alone, then a day range and weeks: through the URL
    kinds = Counter(k for d, k, _t in events if d == device)
    kind = kinds.most_common(1)[0][0]
    ui_page.open(f"/activity?device={device}&kind={kind}")
    assert (shown_bars(ui_page), shown_cells(ui_page)) == expected(events, device=device, kind=kind)
    ui_page.open(f"/activity?kind={kind}")
    assert (shown_bars(ui_page), shown_cells(ui_page)) == expected(events, kind=kind)
    days = sorted({t.date() for _d, _k, t in events})
    since, until = days[len(days) // 3], days[-2]
    ui_page.open(f"/activity?since={since}&until={until}")
    assert (shown_bars(ui_page), shown_cells(ui_page)) == expected(events, since=since, until=until)
    ui_page.open("/activity?per=week")
    assert ui_page.page.locator(".activity-days").get_attribute("data-per") == "week"
    assert shown_bars(ui_page) == expected(events, per="week")[0]
    assert table_bars(ui_page) == expected(events, per="week")[0]


def test_bad_filters_say_what_to_do(ui_page: UiPage) -> None:
    ui_page.allow_console_error("status of 400")
    for query, fragment in (
        ("device=999999", "not a device of the archive"),
        ("kind=nonsense", "not an event kind"),
        ("since=yesterday", "not a day; use YYYY-MM-DD"),
        ("since=2026-12-06&until=2026-12-01", "since is after until"),
        ("per=year", "use day, week or month"),
    ):
        ui_page.open(f"/activity?{query}", status=400)
        assert fragment in (ui_page.page.text_content("[role=alert]") or ""), query


def test_the_page_fits_a_phone(ui_page: UiPage) -> None:
    ui_page.page.set_viewport_size({"width": 390, "height": 844})
    ui_page.open("/activity")
    width = ui_page.page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"


# -- time zones: exact across daylight saving and in half-hour zones -------------------------------------------------

ZONES = {11: "America/New_York", 12: "Asia/Kolkata", 13: "Australia/Lord_Howe", 14: "Europe/Berlin"}


@pytest.fixture(scope="module")
def zoned_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Events around the DST changes of 2025 in four zones (Lord Howe moves by 30 minutes, Kolkata is +05:30);
    Berlin's zone is known from its location only."""
    archive = tmp_path_factory.mktemp("zoned") / "archive"
    rng = random.Random(13)
    with ArchiveStore.open(archive) as store:
        store.upsert_location(LocationRecord(id="loc-berlin", name="Berlin", time_zone="Europe/Berlin"))
        for device_id, zone in ZONES.items():
            raw = {} if zone == "Europe/Berlin" else {"time_zone": zone}
            location = "loc-berlin" if zone == "Europe/Berlin" else None
            store.upsert_device(
                DeviceRecord(id=device_id, family="doorbots", name=f"cam {zone}", raw=raw, location_id=location)
            )
            around = [datetime(2025, 3, 9, tzinfo=UTC), datetime(2025, 4, 6, tzinfo=UTC),
                      datetime(2025, 10, 5, tzinfo=UTC), datetime(2025, 10, 26, tzinfo=UTC),
                      datetime(2025, 11, 2, tzinfo=UTC)]  # fmt: skip
            records = []
            for n in range(600):
                at = rng.choice(around) + timedelta(seconds=rng.randrange(-2 * 86400, 2 * 86400))
                records.append(EventRecord(id=f"{device_id}-{n}", created_at=at, kind=rng.choice(["ding", "motion"])))
            store.upsert_events(device_id, records)
    yield archive


def _attrs(html: str, selector_class: str) -> list[dict[str, str]]:
    tags = re.findall(rf'<rect class="{selector_class}[^"]*"([^>]*)>', html)
    return [dict(re.findall(r'data-([a-z]+)="([^"]*)"', tag)) for tag in tags]


def test_local_days_and_hours_are_exact_across_dst_and_half_hour_zones(zoned_archive: Path) -> None:
    events = local_events(zoned_archive)
    server = ServerThread(create_app(ServerSettings(archive_dir=zoned_archive))).start()
    try:
        for query, options in (
            ("", {"per": "week"}),  # eight months: weeks by default
            ("?per=day&device=13", {"device": 13}),
            ("?per=day&kind=motion", {"kind": "motion"}),
            ("?per=month", {"per": "month"}),
            # day ranges: whole local months come from the page's totals, the rest from the database
            ("?since=2025-03-09&until=2025-10-26&per=day", {"since": date(2025, 3, 9), "until": date(2025, 10, 26)}),
            ("?since=2025-04-01&until=2025-09-30&per=day", {"since": date(2025, 4, 1), "until": date(2025, 9, 30)}),
            ("?since=2025-03-05&until=2025-03-20&per=day", {"since": date(2025, 3, 5), "until": date(2025, 3, 20)}),
            ("?until=2025-10-05&per=week&device=12", {"until": date(2025, 10, 5), "per": "week", "device": 12}),
            ("?since=2025-10-26&kind=ding&per=day", {"since": date(2025, 10, 26), "kind": "ding"}),
        ):
            html = httpx.get(server.url + "/activity" + query, timeout=60).text
            bars, cells = expected(events, **options)
            shown = Counter({(a["day"], int(a["device"]), a["kind"]): int(a["count"]) for a in _attrs(html, "bar")})
            heat = Counter({(int(a["weekday"]), int(a["hour"])): int(a["count"]) for a in _attrs(html, "cell")})
            assert shown == bars, query
            assert +heat == cells, query
        # the page names the zones it used, the one known from the location too
        html = httpx.get(server.url + "/activity", timeout=60).text
        for zone in ZONES.values():
            assert zone in html
    finally:
        server.stop()


def test_an_empty_archive_says_what_to_do(tmp_path: Path, ui_page_factory: Callable[[str], UiPage]) -> None:
    ArchiveStore.open(tmp_path / "empty").close()
    server = ServerThread(create_app(ServerSettings(archive_dir=tmp_path / "empty"))).start()
    try:
        ui = ui_page_factory(server.url)
        ui.open("/activity")
        assert "ringvault sync" in (ui.page.text_content(".empty") or "")
        assert ui.page.locator("rect").count() == 0
    finally:
        server.stop()


def _page_counts(html: str) -> tuple[Counter[Key], Counter[Cell]]:
    bars = Counter({(a["day"], int(a["device"]), a["kind"]): int(a["count"]) for a in _attrs(html, "bar")})
    heat = Counter({(int(a["weekday"]), int(a["hour"])): int(a["count"]) for a in _attrs(html, "cell")})
    return bars, +heat


def test_events_added_later_and_a_changed_zone_are_counted(tmp_path: Path) -> None:
    """The page keeps its totals between requests: events synced since (newer ones, and older ones a backfill
    brings) are added to them, and a device whose time zone changed is counted afresh."""
    archive = tmp_path / "archive"
    rng = random.Random(7)

    def add(store: ArchiveStore, device_id: int, first: int, count: int, around: datetime) -> list[EventRecord]:
        records = [
            EventRecord(id=f"{device_id}-{n}", created_at=around + timedelta(minutes=rng.randrange(-9000, 9000)),
                        kind=rng.choice(["ding", "motion", None]))
            for n in range(first, first + count)
        ]  # fmt: skip
        store.upsert_events(device_id, records)
        return records

    stored: dict[int, list[EventRecord]] = {}
    with ArchiveStore.open(archive) as store:
        for device_id, zone in ((1, "America/Los_Angeles"), (2, "Asia/Kathmandu")):
            store.upsert_device(DeviceRecord(id=device_id, family="doorbots", name=f"d{device_id}",
                                             raw={"time_zone": zone}))  # fmt: skip
            stored[device_id] = add(store, device_id, 0, 150, datetime(2026, 11, 1, 9, tzinfo=UTC))
    server = ServerThread(create_app(ServerSettings(archive_dir=archive))).start()
    try:

        def check() -> None:
            html = httpx.get(server.url + "/activity?per=day", timeout=60).text
            assert _page_counts(html) == expected(local_events(archive))

        check()
        with ArchiveStore.open(archive) as store:
            add(store, 1, 150, 40, datetime(2026, 11, 20, tzinfo=UTC))  # newer
            add(store, 2, 150, 40, datetime(2026, 10, 20, tzinfo=UTC))  # older: a backfill
            store.upsert_events(2, stored[2][:20])  # a re-sync of known events: no change
        check()
        with ArchiveStore.open(archive) as store:
            store.upsert_device(DeviceRecord(id=1, family="doorbots", name="d1", raw={"time_zone": "Asia/Tokyo"}))
        check()
        # a kind filter is folded from the same totals
        html = httpx.get(server.url + "/activity?per=day&kind=ding", timeout=60).text
        assert _page_counts(html) == expected(local_events(archive), kind="ding")
    finally:
        server.stop()


def test_the_counts_are_the_same_on_postgresql(zoned_archive: Path, pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL the local times come from ``timezone(zone, created_at)``: the same counts, days, weeks, months,
    ranges and filters as Python's zoneinfo gives."""
    from ringvault.archive.store.activity import event_day_counts, event_hour_counts

    events = local_events(zoned_archive)
    with ArchiveStore.open(zoned_archive) as source, ArchiveStore.open_url(pg_url, archive_dir=tmp_path) as store:
        store.upsert_location(LocationRecord(id="loc-berlin", name="Berlin", time_zone="Europe/Berlin"))
        for device in source.list_devices():
            store.upsert_device(DeviceRecord(id=device.id, family=device.family, name=device.name, raw=device.raw,
                                             location_id=device.location_id))  # fmt: skip
        with sqlite3.connect(zoned_archive / "archive.sqlite3") as db:
            rows = db.execute("SELECT id, device_id, kind, created_at FROM events").fetchall()
        for device_id in ZONES:
            store.upsert_events(device_id, [
                EventRecord(id=i, created_at=datetime.fromisoformat(at).replace(tzinfo=UTC), kind=kind)
                for i, dev, kind, at in rows if dev == device_id
            ])  # fmt: skip
        since, until = date(2025, 3, 9), date(2025, 10, 26)
        for options in ({}, {"per": "week"}, {"per": "month"}, {"since": since, "until": until, "kind": "ding"}):
            per = str(options.get("per", "day"))
            kinds = {str(options["kind"])} if "kind" in options else None
            day_range = {k: v for k, v in options.items() if k in ("since", "until")}
            got = Counter(
                {
                    (c.day.isoformat(), c.device_id, c.kind): c.count
                    for c in event_day_counts(store, per=per, kinds=kinds, **day_range)
                }
            )
            cells: Counter[Cell] = Counter()
            for h in event_hour_counts(store, kinds=kinds, **day_range):
                cells[(h.weekday, h.hour)] += h.count
            assert (got, cells) == expected(events, **options), options
