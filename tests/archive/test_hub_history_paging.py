"""How the sync reads ``rs/history`` page by page (``HistoryWalk``) into a real SQLite archive, against a history
whose pages the test controls: offset pages that shift while a run reads (new items arriving between two requests),
a first run cut short and finished by the next, the first run's bound, and a server that ignores the offset.

The end-to-end runs against the simulator are in ``test_hub_sync.py``; the simulator cannot insert items between
two page requests of one run, which is the case the item keys exist for, so that is tested here with a history
source that pages by offset exactly as ``Location.iter_alarm_history`` does (newest first, until a short page)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.hub_records import item_key
from ringvault.archive.sync import SyncOptions, SyncSummary
from ringvault.archive.sync.hub import HistoryWalk, HubDeviceLike
from ringvault.cloud.errors import RingError

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000


def make_item(n: int, at_ms: int, *, with_id: bool = True) -> dict[str, Any]:
    context: dict[str, Any] = {"eventOccurredTsMs": at_ms}
    if with_id:
        context["eventId"] = f"ev-{n}"
    return {
        "msg": "DataUpdate",
        "datatype": "DeviceInfoDocType",
        "body": [{"general": {"v2": {"zid": "zid-panel"}}, "impulse": {"v1": [{"impulseType": f"step-{n}"}]}}],
        "context": context,
    }


@dataclass
class PagedHistory:
    """A location's ``rs/history``: ``items`` newest first, served by offset; ``arrive`` new items are put in front
    after each page is served (a page boundary shifts), ``fail_after`` pages then a Ring error, ``ignore_offset``
    serves the first page whatever the offset."""

    items: list[dict[str, Any]]
    arrive: int = 0
    fail_after: int | None = None
    ignore_offset: bool = False
    requests: int = 0
    next_n: int = 10_000
    id: str = "loc-1"
    name: str = "Home"
    has_hubs: bool = True
    has_alarm_base_station: bool = True
    with_ids: bool = True

    def add_newest(self, count: int) -> list[dict[str, Any]]:
        fresh = [make_item(self.next_n + k, NOW_MS - 1000 + k, with_id=self.with_ids) for k in range(count)][::-1]
        self.next_n += count
        self.items[:0] = fresh
        return fresh

    async def get_devices(self, *, timeout: float = 20.0) -> Sequence[HubDeviceLike]:  # noqa: ASYNC109
        return []

    async def disconnect(self) -> None:
        return None

    async def iter_alarm_history(
        self, *, category: str | None = None, page_size: int = 50
    ) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            if self.fail_after is not None and self.requests >= self.fail_after:
                raise RingError("the hub history is unavailable")
            self.requests += 1
            start = 0 if self.ignore_offset else offset
            page = [dict(entry) for entry in self.items[start : start + page_size]]
            if self.arrive:
                self.add_newest(self.arrive)
            for entry in page:
                await asyncio.sleep(0)
                yield entry
            if len(page) < page_size:
                return
            offset += len(page)


def history(count: int, *, spacing_ms: int = 60_000, with_ids: bool = True) -> list[dict[str, Any]]:
    """``count`` items, newest first, one every ``spacing_ms`` back from now."""
    return [make_item(n, NOW_MS - 5000 - n * spacing_ms, with_id=with_ids) for n in range(count)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened


def walk(store: ArchiveStore, source: PagedHistory, **options: Any) -> SyncSummary:
    summary = SyncSummary()
    values: dict[str, Any] = {"hub_page_size": 10, "hub_history_days": None, **options}
    asyncio.run(HistoryWalk(source, "alarm", store, SyncOptions(**values), summary).run())
    return summary


def stored_keys(store: ArchiveStore) -> list[str]:
    return [row.item_key for row in store.hub.query_history(limit=100_000).items]


@pytest.mark.parametrize("with_ids", [True, False], ids=["event-ids", "content-hashes"])
def test_pages_that_shift_while_a_run_reads_store_every_item_once(store: ArchiveStore, with_ids: bool) -> None:
    source = PagedHistory(history(45, with_ids=with_ids), arrive=3, with_ids=with_ids)
    original = {item_key(entry) for entry in source.items}
    first = walk(store, source)
    # every page after the first repeats the 3 items the arrivals pushed over its boundary: each stored once
    assert set(stored_keys(store)) == original and len(stored_keys(store)) == 45 == first.hub_history_new
    assert first.hub_history_seen == 45 + 3 * (source.requests - 1)
    state = store.hub.state("loc-1", "alarm")
    assert state is not None and state.complete_at is not None

    # the next run, nothing arriving meanwhile: what arrived during the first run and since, then one held page
    source.arrive = 0
    arrived = 3 * source.requests + 4
    source.add_newest(4)
    before = source.requests
    second = walk(store, source)
    assert second.hub_history_new == arrived
    # the pages that hold new items, then (when the last of them held only new ones) one that reaches held ones
    assert source.requests - before == -(-arrived // 10) + (0 if arrived % 10 else 1)
    keys = stored_keys(store)
    assert len(keys) == len(set(keys)) == 45 + arrived and set(keys) == {item_key(e) for e in source.items}

    # nothing new at all: one request, nothing stored
    before = source.requests
    assert walk(store, source).hub_history_new == 0 and source.requests - before == 1


def test_a_first_run_cut_short_is_finished_by_the_next(store: ArchiveStore) -> None:
    source = PagedHistory(history(57), fail_after=3)
    with pytest.raises(RingError):
        walk(store, source)
    assert len(stored_keys(store)) == 30
    state = store.hub.state("loc-1", "alarm")
    assert state is None or state.complete_at is None
    # healthy again, two new items: the run reads past the pages it holds (it never reached the end) to the end
    source.fail_after = None
    source.add_newest(2)
    summary = walk(store, source)
    assert summary.hub_history_new == 29 and len(stored_keys(store)) == 59
    done = store.hub.state("loc-1", "alarm")
    assert done is not None and done.complete_at is not None


def test_the_first_run_goes_back_as_far_as_the_bound_and_no_further(store: ArchiveStore) -> None:
    source = PagedHistory(history(48, spacing_ms=HOUR_MS))  # two days, one item an hour
    summary = walk(store, source, hub_history_days=0.5)
    assert summary.hub_history_new == 12  # the last 12 hours
    assert source.requests == 2  # the page that crossed the bound was the last one read
    state = store.hub.state("loc-1", "alarm")
    assert state is not None and state.complete_at is not None
    # later runs read what is new, and never go back for what the bound left out
    source.add_newest(1)
    assert walk(store, source, hub_history_days=0.5).hub_history_new == 1
    assert len(stored_keys(store)) == 13


def test_a_server_that_ignores_the_offset_cannot_keep_a_run_reading(store: ArchiveStore) -> None:
    source = PagedHistory(history(30), ignore_offset=True)
    summary = walk(store, source)
    assert summary.hub_history_new == 10 and source.requests == 2
    state = store.hub.state("loc-1", "alarm")
    assert state is not None and state.complete_at is None  # it never saw the end: the next run reads on


def test_a_dry_run_counts_and_writes_nothing(store: ArchiveStore) -> None:
    source = PagedHistory(history(25))
    summary = walk(store, source, dry_run=True)
    assert summary.hub_history_new == 25 and stored_keys(store) == []
    assert store.hub.state("loc-1", "alarm") is None


def test_a_later_run_cut_short_leaves_no_gap(store: ArchiveStore) -> None:
    """Run 1 reads everything; 35 items arrive; run 2 stores the newest 20 and fails (or is killed: nothing notes
    the failure); run 3 must not stop at those 20 held items: it reads on to where run 1 ended."""
    source = PagedHistory(history(15))
    assert walk(store, source).hub_history_new == 15
    source.add_newest(35)
    source.fail_after = source.requests + 2
    with pytest.raises(RingError):
        walk(store, source)
    assert len(stored_keys(store)) == 35
    source.fail_after = None
    assert walk(store, source).hub_history_new == 15
    assert set(stored_keys(store)) == {item_key(entry) for entry in source.items}


def test_an_item_dated_in_the_future_does_not_hide_later_ones(store: ArchiveStore) -> None:
    """An item claiming year 2999 does not count for through_ms (it would make every later page look covered)."""
    source = PagedHistory([make_item(999, 32_503_680_000_000), *history(5)])
    assert walk(store, source).hub_history_new == 6
    source.add_newest(25)  # more than a page of new items, all older than the item from the future
    assert walk(store, source).hub_history_new == 25
