"""The Data Portability pages in a real browser: a server with the simulator's demo app, one customer connected
through Login with Ring and imported; the customers, the data sets with the store's counts, the record browser paged
through a data set (every record once, in order, compared with the database), a record field holding a script shown
as text; the page without an app configured; no page for an anonymous visitor when a key is set."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog

from ringvault.archive.store import ArchiveStore
from ringvault.server.ui.pages.portability import PAGE_SIZE
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import PortabilityConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import sim_json
from tests.server.helpers import ServerThread
from tests.server.portability_helpers import connect, dp_app, latest_query_in, notify_here, wait_for
from tests.ui.conftest import ServeUi, UiPage

SCRIPT = "<script>alert(1)</script>"
CUSTOMER = "alice"


@dataclass
class DpWorld:
    sim: SimServer
    server: ServerThread
    archive: Path
    grant_id: int


@pytest.fixture(scope="module")
def dp_world(media_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DpWorld]:
    """The simulator (its location renamed to a script, which its Data Portability export carries), a server with the
    demo app, and customer ``alice`` connected and imported once."""
    base = tmp_path_factory.mktemp("ui-dp")
    config = SimConfig(
        seed=17, locations=1, events_per_device=6, recording_seconds=1.0, media_cache_dir=media_cache,
        portability=PortabilityConfig(completion_delay_s=0.3, records_per_file=40, log_records_per_day=1.0),
    )  # fmt: skip
    with SimServer(config) as sim:
        location = sim_json(sim, "GET", "/_sim/world")["devices"][0]["location_id"]
        sim_json(sim, "PATCH", f"/_sim/locations/{location}", {"name": SCRIPT})
        server = ServerThread(dp_app(sim, base / "archive", base / "dp-tokens")).start()
        try:
            notify_here(sim, server)
            answer = connect(server, customer=CUSTOMER, email=sim.config.email, password=sim.config.password)
            assert answer.status_code == 200, answer.text
            with server.client() as client:
                query = wait_for(
                    "the import", lambda: latest_query_in(client, CUSTOMER, "imported", "failed", "canceled")
                )
            assert query["state"] == "imported", query
            with ArchiveStore.open(base / "archive") as store:
                (grant,) = [g for g in store.portability.list_grants() if g.customer == CUSTOMER]
            yield DpWorld(sim=sim, server=server, archive=base / "archive", grant_id=grant.id)
        finally:
            server.stop()


def _db(world: DpWorld) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{world.archive / 'archive.sqlite3'}?mode=ro", uri=True)


def _counts(world: DpWorld) -> dict[str, int]:
    with ArchiveStore.open(world.archive) as store:
        return store.portability.dataset_counts(world.grant_id)


def _no_dialogs(ui: UiPage) -> list[str]:
    """Every dialog a page opens (``alert``...) is recorded and dismissed; the test asserts the list stays empty."""
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    ui.page.on("dialog", on_dialog)
    return seen


def test_the_customers_and_their_data_sets_with_the_stores_counts(
    ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld
) -> None:
    counts = _counts(dp_world)
    assert sum(counts.values()) > 0
    ui = ui_page_factory(dp_world.server.url)
    ui.open("/data-portability")
    assert ui.page.title() == "Data Portability · ringvault"
    rows = ui.page.locator("#dp-customers tbody tr")
    assert rows.count() == 1
    row = ui.page.locator(f'#dp-customers tr[data-customer="{CUSTOMER}"]')
    assert row.locator('[data-field="status"]').inner_text() == "active"
    assert row.locator('[data-field="records"]').inner_text() == str(sum(counts.values()))
    with _db(dp_world) as conn:
        state, imported = conn.execute(
            "SELECT state, records_imported FROM portability_queries WHERE grant_id = ? ORDER BY created_at DESC",
            (dp_world.grant_id,),
        ).fetchone()
    assert row.locator('[data-field="last-export"]').inner_text().startswith(state)
    assert f"({imported} records)" in row.locator('[data-field="last-export"]').inner_text()
    assert row.locator('[data-field="next"]').inner_text().strip() not in ("", "—")  # recurring export or done
    ui.screenshot("data-portability")

    row.get_by_role("link", name=CUSTOMER).click()
    ui.page.wait_for_selector("#dp-datasets")
    assert ui.page.locator('#dp-customer [data-field="status"]').inner_text() == "active"
    shown = {
        name: int(n)
        for name, n in ui.page.locator("#dp-datasets tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.dataset, r.querySelector('[data-field=records]').textContent])"
        )
    }
    assert len(shown) >= 15
    assert {name: n for name, n in shown.items() if n} == counts


@pytest.mark.parametrize("status", ["refused", "expired", "revoked"])
def test_a_customer_whose_authorization_ended_is_shown_so(
    ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld, status: str
) -> None:
    with ArchiveStore.open(dp_world.archive) as store:
        store.portability.set_grant_status(dp_world.grant_id, status)
    try:
        ui = ui_page_factory(dp_world.server.url)
        ui.open("/data-portability")
        badge = ui.page.locator(f'#dp-customers tr[data-customer="{CUSTOMER}"] [data-field="status"] .badge')
        assert badge.inner_text() == status and "bad" in (badge.get_attribute("class") or "")
        ui.open(f"/data-portability/customers/{CUSTOMER}")
        assert ui.page.locator('#dp-customer [data-field="status"]').inner_text() == status
    finally:
        with ArchiveStore.open(dp_world.archive) as store:
            store.portability.set_grant_status(dp_world.grant_id, "active")


def test_the_record_browser_pages_through_a_data_set_without_gap_or_duplicate(
    ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld
) -> None:
    counts = _counts(dp_world)
    dataset, total = max(counts.items(), key=lambda item: item[1])
    assert total > 2 * PAGE_SIZE, f"{dataset} has {total} records: too few for three pages"
    with _db(dp_world) as conn:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM portability_records WHERE grant_id = ? AND dataset = ? AND is_current ORDER BY id",
                (dp_world.grant_id, dataset),
            )
        ]
    assert len(expected) == total
    ui = ui_page_factory(dp_world.server.url)
    ui.open(f"/data-portability/customers/{CUSTOMER}")
    ui.page.locator(f'#dp-datasets tr[data-dataset="{dataset}"]').get_by_role("link", name=dataset).click()
    ui.page.wait_for_load_state("networkidle")
    assert ui.page.locator("#dp-total").inner_text() == str(total)
    seen: list[int] = []
    while True:
        ids = ui.page.locator("article.record").evaluate_all("nodes => nodes.map(n => Number(n.dataset.recordId))")
        assert 0 < len(ids) <= PAGE_SIZE
        seen += ids
        following = ui.page.locator("#records-next")
        if following.count() == 0:
            break
        following.click()
        ui.page.wait_for_load_state("networkidle")
    assert seen == expected


def test_a_record_field_holding_a_script_is_shown_as_text(
    ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld
) -> None:
    with _db(dp_world) as conn:
        found = conn.execute(
            "SELECT id, dataset FROM portability_records WHERE grant_id = ? AND is_current AND data LIKE ? "
            "ORDER BY id LIMIT 1",
            (dp_world.grant_id, f"%{SCRIPT}%"),
        ).fetchone()
        assert found is not None, "the export carries the renamed location"
        record_id, dataset = found
        before = conn.execute(
            "SELECT count(*) FROM portability_records WHERE grant_id = ? AND dataset = ? AND is_current AND id < ?",
            (dp_world.grant_id, dataset, record_id),
        ).fetchone()[0]
    ui = ui_page_factory(dp_world.server.url)
    dialogs = _no_dialogs(ui)
    ui.open(f"/data-portability/customers/{CUSTOMER}/records?dataset={dataset}")
    for _ in range(before // PAGE_SIZE):  # to the page that holds it
        ui.page.locator("#records-next").click()
        ui.page.wait_for_load_state("networkidle")
    record = ui.page.locator(f'article.record[data-record-id="{record_id}"]')
    assert SCRIPT in record.locator("dd").all_inner_texts()
    assert ui.page.locator("article.record script").count() == 0
    assert dialogs == []
    ui.screenshot("data-portability-records")


def test_a_huge_field_is_cut_and_said_so(ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld) -> None:
    """A record whose value is 200,000 characters: the page shows the first 1,000 and how many more there are."""
    from ringvault.archive.store.portability_records import ImportRecord
    from ringvault.server.ui.pages.portability import MAX_VALUE_CHARS

    big = "x" * 200_000
    with ArchiveStore.open(dp_world.archive) as store:
        store.portability.import_records(
            dp_world.grant_id, None, [ImportRecord("ui.test.Huge", "huge-1", None, {"note": big, "html": SCRIPT})]
        )
    ui = ui_page_factory(dp_world.server.url)
    dialogs = _no_dialogs(ui)
    ui.open(f"/data-portability/customers/{CUSTOMER}")
    assert ui.page.locator('#dp-datasets tr[data-dataset="ui.test.Huge"] [data-field="records"]').inner_text() == "1"
    ui.page.get_by_role("link", name="ui.test.Huge").click()
    ui.page.wait_for_load_state("networkidle")
    values = ui.page.locator("article.record dd").all_inner_texts()
    assert values[0] == "x" * MAX_VALUE_CHARS + f" … ({len(big) - MAX_VALUE_CHARS} more characters)"
    assert values[1] == SCRIPT and dialogs == []
    assert len(ui.page.content()) < 50_000


def test_unknown_customer_or_data_set_is_a_404_page(
    ui_page_factory: Callable[[str], UiPage], dp_world: DpWorld
) -> None:
    ui = ui_page_factory(dp_world.server.url)
    ui.allow_console_error("404")
    ui.open("/data-portability/customers/nobody", status=404)
    assert "There is no customer 'nobody'" in ui.page.locator("#dp-missing").inner_text()
    ui.open(f"/data-portability/customers/{CUSTOMER}/records?dataset=No.Such.Set", status=404)
    assert "no data set 'No.Such.Set'" in ui.page.locator("#dp-missing").inner_text()


def test_without_an_app_the_page_says_how_to_configure_it(ui_page: UiPage) -> None:
    ui_page.open("/data-portability")
    text = ui_page.page.locator("#dp-off").inner_text()
    assert "RINGVAULT_PORTABILITY_CLIENT_ID" in text and "docs/portability.md" in text
    assert ui_page.page.locator("nav a[aria-current=page]").inner_text() == "Data Portability"


def test_no_data_portability_page_for_an_anonymous_visitor(serve_ui: ServeUi) -> None:
    server = serve_ui(api_key="k" * 32)
    for path in ("/data-portability", f"/data-portability/customers/{CUSTOMER}"):
        answer = httpx.get(server.url + path, follow_redirects=False)
        refused = answer.status_code in (401, 403) or (
            answer.is_redirect and "login" in answer.headers.get("location", "")
        )
        assert refused, f"{path}: {answer.status_code}"
        assert CUSTOMER not in answer.text
