"""Reading Ring's side: the account, locations and devices, then each device's history down to its watermark (a few
devices at a time), stored in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ringvault.archive.ids import fits_archive, unstorable_device_line
from ringvault.archive.layout import DeviceRef, slugify
from ringvault.archive.store import (
    AccountRecord,
    ArchiveStore,
    DeviceRecord,
    EventRecord,
    LocationRecord,
    MediaStatus,
    SyncState,
)
from ringvault.archive.sync.options import SyncOptions, SyncSummary, utc, wanted
from ringvault.cloud.errors import DeviceNotFoundError, NotFoundError, ResponseFormatError

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.models.events import HistoryItem

HISTORY_PAGE = 100

#: The first history page of a device read before: a run with little new stops after it (fewer items to parse).
RESYNC_PAGE = 20
#: Events written to the database at once while a history is read (bounds memory on a first sync).
UPSERT_BATCH = 1000


@dataclass
class SyncDevice:
    device: Any  # RingCamera | RingIntercom
    ref: DeviceRef
    has_media: bool


def _event_record(item: HistoryItem, location_id: str | None, has_media: bool) -> EventRecord | None:
    if item.id_str is None or item.created_at is None:
        return None
    cv = item.cv_properties
    # No plan now, or Ring says this event was not recorded under one: there is no recording to fetch.
    recorded = has_media and item.had_subscription is not False
    return EventRecord(
        id=item.id_str,
        created_at=utc(item.created_at),
        kind=item.kind,
        location_id=location_id,
        duration_s=item.duration,
        answered=item.answered,
        favorite=item.favorite,
        person_detected=cv.person_detected if cv is not None else None,
        detection_type=cv.detection_type if cv is not None else None,
        cv_properties=cv.raw if cv is not None else None,
        recording_status=item.recording.status if item.recording is not None else None,
        raw=item.raw,
        media_status=MediaStatus.PENDING if recorded else MediaStatus.NO_MEDIA,
    )


def select_devices(devices: list[SyncDevice], wanted: Sequence[str] | None) -> list[SyncDevice]:
    if not wanted:
        return devices
    chosen: dict[int, SyncDevice] = {}
    for spec in wanted:
        text = spec.strip()
        by_id = [d for d in devices if str(d.device.id) == text]
        matches = by_id or [d for d in devices if (d.device.name or "").lower() == text.lower()]
        if not matches:
            raise DeviceNotFoundError(f"no camera, doorbell or intercom matches {spec!r}")
        if len(matches) > 1:
            raise DeviceNotFoundError(f"{len(matches)} devices are named {spec!r}", hint="Use the numeric device id.")
        chosen[matches[0].device.id] = matches[0]
    return list(chosen.values())


def _device_record(device: Any, location_id: str, account_id: int | None) -> DeviceRecord:
    return DeviceRecord(
        id=device.id, family=device.family, kind=device.kind, name=device.name,
        location_id=device.location_id or location_id, account_id=account_id, model=device.model,
        slug=slugify(device.name, fallback="device"), raw=device.raw,
    )  # fmt: skip


async def collect_devices(
    api: RingApi, store: ArchiveStore, options: SyncOptions, notes: list[str] | None = None
) -> list[SyncDevice]:
    """Store the account, locations and devices; the devices whose events are synced. A device whose id the archive
    cannot hold (beyond signed 64-bit) is skipped with one line in ``notes``, and the rest proceeds."""
    locations = await api.get_locations()
    account_id: int | None = None
    if not options.dry_run:
        profile = await api.get_profile()
        if profile.email:
            profile_id = profile.id if fits_archive(profile.id) else None
            account_id = store.upsert_account(AccountRecord(email=profile.email, profile_id=profile_id))
    result: list[SyncDevice] = []
    records: list[DeviceRecord] = []
    for location in locations:
        zone: str | None = None
        for device in location.all_devices:
            zone = zone or getattr(device.data, "time_zone", None)
        if not options.dry_run:
            store.upsert_location(
                LocationRecord(id=location.id, account_id=account_id, name=location.name, time_zone=zone)
            )
        for device in location.all_devices:
            if fits_archive(device.id):
                records.append(_device_record(device, location.id, account_id))
            elif notes is not None:
                notes.append(unstorable_device_line(device.name, device.id))
        media_devices: list[Any] = [*location.cameras, *location.intercoms]
        for media_device in (d for d in media_devices if fits_archive(d.id)):
            ref = DeviceRef(
                device_id=media_device.id,
                name=media_device.name,
                location_id=media_device.location_id or location.id,
                location_name=location.name,
                time_zone=getattr(media_device.data, "time_zone", None),
            )
            has_media = bool(getattr(media_device, "has_subscription", False))
            result.append(SyncDevice(device=media_device, ref=ref, has_media=has_media))
    if not options.dry_run:
        store.upsert_devices(records)
    return result


class HistoryReader:
    """Reads one device's history newest first down to its watermark (+ ``overlap``), storing events in batches."""

    def __init__(
        self, dev: SyncDevice, store: ArchiveStore, options: SyncOptions, summary: SyncSummary, state: SyncState | None
    ) -> None:
        self.dev, self.store, self.options, self.summary = dev, store, options, summary
        # A first run, or a device that gained a Protect plan since the last run: read everything (events stored as
        # no_media come back as pending where Ring now shows a recording).
        plan_appeared = dev.has_media and state is not None and state.has_recordings is False
        self.mark = (
            (utc(state.newest_created_at), state.newest_event_id)
            if state is not None
            and state.newest_created_at is not None
            and state.newest_event_id is not None
            and not plan_appeared
            else None
        )
        self.batch: dict[str, EventRecord] = {}
        self.newest: EventRecord | None = None
        self.oldest: EventRecord | None = None

    async def read(self) -> None:
        dev, options = self.dev, self.options
        below_mark = 0
        cursor: str | None = None
        reached_end = False
        # With a watermark most runs find a handful of new events: a short first page, then full ones if needed.
        size = max(RESYNC_PAGE, options.overlap + 1) if self.mark is not None else HISTORY_PAGE
        while True:
            page = await dev.device.get_history(limit=size, older_than=cursor)
            for item in page:
                record = _event_record(item, dev.ref.location_id, dev.has_media)
                if record is None:
                    continue
                if self.mark is not None and (record.created_at, record.id) <= self.mark:
                    below_mark += 1
                    if below_mark > options.overlap:  # stored and refreshed by earlier runs already
                        continue
                self._add(record)
            if len(self.batch) >= UPSERT_BATCH:
                self._flush()
            last = page[-1].id_str if page else None
            if len(page) < size or last is None or last == cursor:
                reached_end = True
                break
            if self.mark is not None and below_mark >= options.overlap:
                break
            cursor, size = last, HISTORY_PAGE
        self._flush()
        if options.dry_run:
            return
        newest, oldest, whole = self.newest, self.oldest, reached_end or self.mark is None
        self.store.set_watermark(
            dev.device.id,
            newest_event_id=newest.id if newest is not None else None,
            newest_created_at=newest.created_at if newest is not None else None,
            oldest_event_id=oldest.id if oldest is not None and whole else None,
            oldest_created_at=oldest.created_at if oldest is not None and whole else None,
            full_scan=reached_end and self.mark is None,
            has_recordings=dev.has_media,
        )

    def _add(self, record: EventRecord) -> None:
        self.batch[record.id] = record
        self.summary.events_seen += 1
        key = (record.created_at, record.id)
        if self.newest is None or key > (self.newest.created_at, self.newest.id):
            self.newest = record
        if self.oldest is None or key < (self.oldest.created_at, self.oldest.id):
            self.oldest = record

    def _flush(self) -> None:
        records, self.batch = list(self.batch.values()), {}
        if not records:
            return
        if self.options.dry_run:
            known = self.store.existing_event_ids([r.id for r in records])
            unseen = [r for r in records if r.id not in known]
            self.summary.new += len(unseen)
            self.summary.would_download += sum(1 for r in unseen if wanted(r, self.options, self.dev.ref))
            return
        self.summary.new += self.store.upsert_events(self.dev.device.id, records).new


async def read_histories(
    devices: list[SyncDevice],
    store: ArchiveStore,
    options: SyncOptions,
    summary: SyncSummary,
    report: Callable[[str, int, int, str], None],
) -> None:
    """Every device's history, ``history_concurrency`` devices at a time (one state query for all)."""
    states = store.sync_states([dev.device.id for dev in devices])
    slots = asyncio.Semaphore(max(1, options.history_concurrency))
    started = 0

    async def one(dev: SyncDevice) -> None:
        nonlocal started
        async with slots:
            report("history", started, len(devices), dev.device.name or str(dev.device.id))
            started += 1
            try:
                await HistoryReader(dev, store, options, summary, states.get(dev.device.id)).read()
            except (NotFoundError, ResponseFormatError) as exc:
                # A device without a history endpoint (e.g. an ONVIF camera): note it and go on with the others.
                name = dev.device.name or dev.device.id
                if isinstance(exc, NotFoundError) and dev.device.kind == "onvif_camera":
                    summary.errors.append(f"{name}: Ring keeps no event history for third-party (ONVIF) cameras")
                else:
                    summary.errors.append(f"history of {name}: {exc}")

    async with asyncio.TaskGroup() as group:
        for dev in devices:
            group.create_task(one(dev))
    report("history", len(devices), len(devices), "")
