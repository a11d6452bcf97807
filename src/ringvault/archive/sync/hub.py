"""The alarm and Smart Lighting part of a sync: for every location with hubs, the device list the hubs give
(``Location.get_devices()``, over the hub WebSocket) and ``rs/history`` of its categories (``alarm`` with a base
station, ``beams`` with a lighting bridge; REST), stored in ``hub_devices`` / ``hub_history``.

History is read newest first in offset pages (``Location.iter_alarm_history``). Offsets shift when new items arrive
while a sync reads, so a page may repeat items of the one before: every item is keyed (``context.eventId``, else a
hash of its canonical JSON) and stored once. A location whose history was read to its end (or to the first run's
bound, ``SyncOptions.hub_history_days``) before stops at the first page whose items are all held already: a run
with nothing new costs one request per category. Until then a run reads on past pages it holds, so a first run cut
short is finished by the next one.

A hub that cannot be read (``HubUnavailableError``: the ticket is refused or no socket opens; ``HubTimeoutError``: a
hub never answers; any other Ring error) costs nothing else: the failure is one line in
``SyncSummary.hub_failures`` and in ``hub_sync_state.last_error``, the devices stored before are kept as they are
(none is marked removed on an incomplete list), and the rest of the run goes on. The CLI exits 7 then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ringvault.archive.store import HubDeviceRecord, HubHistoryRecord, history_record
from ringvault.archive.sync.options import SyncOptions, SyncSummary
from ringvault.cloud.errors import RingError

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.cloud.api import RingApi

__all__ = ["HISTORY_CATEGORIES", "MAX_HISTORY_ITEMS", "HubDeviceLike", "HubSource", "sync_hubs"]

logger = logging.getLogger(__name__)

#: The categories of ``rs/history`` (reference §4.9): the alarm's and Smart Lighting's.
HISTORY_CATEGORIES = ("alarm", "beams")
#: Items of one category one run reads at most (a server that never ends a listing cannot keep a sync running).
MAX_HISTORY_ITEMS = 100_000
DAY_MS = 86_400_000


class HubDeviceLike(Protocol):
    """What the sync reads of a hub device (``ringvault.cloud.hub.HubDevice``)."""

    @property
    def zid(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def device_type(self) -> str: ...
    @property
    def asset_uuid(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def type_label(self) -> str: ...
    @property
    def category_id(self) -> int | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


class HubSource(Protocol):
    """What the sync uses of a location with hubs (``ringvault.cloud.location.Location``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def has_hubs(self) -> bool: ...
    @property
    def has_alarm_base_station(self) -> bool: ...

    async def get_devices(self, *, timeout: float = 20.0) -> Sequence[HubDeviceLike]: ...  # noqa: ASYNC109

    def iter_alarm_history(
        self, *, category: str | None = None, page_size: int = 50
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def disconnect(self) -> None: ...


def _categories(location: Any) -> list[str]:
    """``alarm`` with a base station, ``beams`` with a lighting bridge (a location with hubs has one of them)."""
    from ringvault.cloud.models.kinds import DeviceClass

    categories = ["alarm"] if location.has_alarm_base_station else []
    if any(getattr(d, "device_class", None) is DeviceClass.BEAMS_BRIDGE for d in getattr(location, "devices", ())):
        categories.append("beams")
    return categories or list(HISTORY_CATEGORIES)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, RingError):
        return exc.one_line
    return "the hub did not answer in time"


def _device_record(device: HubDeviceLike) -> HubDeviceRecord | None:
    zid = device.zid
    if not isinstance(zid, str) or not zid:
        return None
    category = device.category_id
    return HubDeviceRecord(
        zid=zid, name=device.name, device_type=device.device_type, asset_uuid=device.asset_uuid,
        kind=str(device.kind) if device.kind is not None else None, type_label=device.type_label,
        category_id=category if isinstance(category, int) and not isinstance(category, bool) else None,
        data=dict(device.data) if isinstance(device.data, dict) else None,
    )  # fmt: skip


@dataclass
class HistoryWalk:
    """One category of one location's ``rs/history``, read newest first down to what the archive covers.

    A page ends the read when it reaches items older than ``through_ms`` (the newest item time finished runs
    covered), when every item on it was held already and the last run finished (items without Ring's time), when
    it crosses the first run's bound, or when it brings nothing this run had not seen on an earlier page (a server
    that ignores the offset). Only the first three count as finished: then ``through_ms`` moves forward."""

    location: HubSource
    category: str
    store: ArchiveStore
    options: SyncOptions
    summary: SyncSummary
    seen_this_run: set[str] = field(default_factory=set)
    finished_before: bool = False
    through_ms: int | None = None
    cutoff_ms: int | None = None
    newest_ms: int | None = None
    now_ms: int = 0

    def __post_init__(self) -> None:
        self.now_ms = int(time.time() * 1000)
        state = self.store.hub.state(self.location.id, self.category)
        if state is not None:
            self.finished_before = state.complete_at is not None
            self.through_ms = state.through_ms
        days = self.options.hub_history_days
        if self.through_ms is None and days is not None:  # no run has read through yet: this one is bounded
            self.cutoff_ms = self.now_ms - int(days * DAY_MS)

    async def run(self) -> None:
        """Read pages until one says to stop; record how far the read got (``hub_sync_state``)."""
        size = max(1, self.options.hub_page_size)
        page: list[dict[str, Any]] = []
        read = 0
        finished = False
        if not self.options.dry_run:
            # until this run ends well, a next one must read on past what it stores (a kill, a failure, a time-out)
            self.store.hub.note_run(self.location.id, self.category, finished=False)
        items = self.location.iter_alarm_history(category=self.category, page_size=size)
        try:
            async for item in items:
                page.append(item)
                read += 1
                if len(page) < size:
                    continue
                stop, finished = self._page(page)
                page = []
                if stop or read >= MAX_HISTORY_ITEMS:
                    break
            else:  # a short page: the end of the history
                self._page(page)
                finished = True
        finally:
            close = getattr(items, "aclose", None)
            if close is not None:
                await close()
        if not self.options.dry_run:
            through = self.newest_ms if self.newest_ms is not None else self.through_ms
            self.store.hub.note_run(self.location.id, self.category, finished=finished, through_ms=through)

    def _page(self, items: list[dict[str, Any]]) -> tuple[bool, bool]:
        """Store one page; (stop reading, the read went through)."""
        records = [history_record(item, self.category, self.now_ms) for item in items if isinstance(item, dict)]
        if not records:
            return True, True
        keys = [record.item_key for record in records]
        advancing = any(key not in self.seen_this_run for key in keys)
        self.seen_this_run.update(keys)
        held = self.store.hub.known_keys(self.location.id, keys)
        timed = [record.event_ms for record in records if record.time_source == "event"]
        # an item dated more than a day ahead (a clock gone wrong) must not move through_ms past the items to come
        plausible = [at for at in timed if at <= self.now_ms + DAY_MS]
        if plausible:
            self.newest_ms = max(self.newest_ms or 0, *plausible)
        crossed = self.through_ms is not None and any(at < self.through_ms for at in timed)
        bounded = False
        fresh: dict[str, HubHistoryRecord] = {}
        for record in records:
            if self.cutoff_ms is not None and record.time_source == "event" and record.event_ms < self.cutoff_ms:
                bounded = True  # newest first: everything after this is older still
                continue
            if record.item_key not in held:
                fresh[record.item_key] = record
        self.summary.hub_history_seen += len(records)
        if self.options.dry_run:
            self.summary.hub_history_new += len(fresh)
        elif fresh:
            self.summary.hub_history_new += self.store.hub.add_history(self.location.id, list(fresh.values()))
        all_held = len(held) == len(set(keys))
        through = bounded or crossed or (self.finished_before and all_held)
        return through or not advancing, through


async def _sync_devices(location: HubSource, store: ArchiveStore, options: SyncOptions, summary: SyncSummary) -> None:
    try:
        devices = await location.get_devices(timeout=options.hub_timeout_s)
    finally:
        # the socket is needed for the list only: closed now, it does not go on reconnecting (asking for tickets
        # a refused hub keeps refusing) while the history is read, nor has a reconnect in flight when the run ends
        try:
            await location.disconnect()
        except (RingError, OSError, TimeoutError) as exc:
            logger.info("closing the hub socket of %s: %s", location.name, exc)
    records = [record for record in map(_device_record, devices) if record is not None]
    summary.hub_devices += len(records)
    if options.dry_run:
        known = {d.zid for d in store.hub.list_devices(location.id, limit=100_000).devices}
        summary.hub_devices_new += sum(1 for record in records if record.zid not in known)
        return
    changes = store.hub.upsert_devices(location.id, records, complete=True)
    summary.hub_devices_new += changes.new
    summary.hub_devices_removed += changes.removed
    store.hub.note_run(location.id, "devices", finished=True)


async def _guarded(
    what: str,
    location: HubSource,
    store: ArchiveStore,
    options: SyncOptions,
    summary: SyncSummary,
    step: Awaitable[None],
) -> None:
    """Run one step of a location's hub; a Ring failure or a time-out becomes one line, nothing more."""
    try:
        await step
    except (RingError, TimeoutError) as exc:
        line = f"{location.name}: {what} not read: {_failure(exc)}"
        summary.hub_failures.append(line)
        if not options.dry_run:
            category = "devices" if what == "hub devices" else what.split()[0]
            store.hub.note_run(location.id, category, error=_failure(exc))


async def sync_hubs(
    api: RingApi,
    store: ArchiveStore,
    options: SyncOptions,
    summary: SyncSummary,
    report: Callable[[str, int, int, str], None],
) -> None:
    """The device list and history of every location with hubs (see the module docstring)."""
    locations: list[HubSource] = [
        location for location in await api.get_locations() if location.known and location.has_hubs and location.id
    ]
    summary.hub_locations = len(locations)
    for n, location in enumerate(locations):
        report("hub", n, len(locations), location.name)
        await _guarded(
            "hub devices", location, store, options, summary, _sync_devices(location, store, options, summary)
        )
        for category in _categories(location):
            walk = HistoryWalk(location, category, store, options, summary)
            await _guarded(f"{category} history", location, store, options, summary, walk.run())
    if locations:
        report("hub", len(locations), len(locations), "")
