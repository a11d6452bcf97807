"""``EventWatch``: Ring's events, followed into the archive — what ``ringvault watch`` and ``ringvault serve`` run.

Given a ``RingApi`` (and, to archive, an ``ArchiveFollower``), it starts the notifications (push, or the polling
fallback), publishes each event on ``on_event``, hands the camera of each event it is told to archive to the
follower, and catches up from history at start and after every reconnect (``RingApi.on_notifications_connected``:
a login to the push server, or push giving way to polling), so that what happened while events could not arrive is
delivered too — through the hub's de-duplication, so an event pushed and found in history is published once.
``on_archived`` tells what the follower's passes did to each recording (archived, left pending, failed).

It lives below the surfaces (the CLI prints its events, the server streams them) so both run the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ringvault.cloud.device import Signal

if TYPE_CHECKING:
    from ringvault.archive.snapshots import SnapshotOutcome, SnapshotSink
    from ringvault.archive.watch import ArchiveFollower, RecordingChange
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent
    from ringvault.cloud.push.hub import NotificationStatus

__all__ = [
    "START_WINDOW_S",
    "DeviceInfo",
    "EventWatch",
    "MotionSnapshots",
    "catch_up_from_history",
    "device_infos",
    "event_fields",
]

log = logging.getLogger(__name__)

#: Events this long before the watch started are caught up from history too (the time it takes to set up push).
START_WINDOW_S = 65.0


@dataclass(frozen=True)
class DeviceInfo:
    """What an event line shows of its device: its name and time zone (None: UTC)."""

    name: str
    zone: Any  # a tzinfo, or None


def event_fields(event: RingEvent, device: DeviceInfo | None) -> dict[str, Any]:
    """The JSON object of one event (``watch --json``'s lines, the live feed's messages): stable names; ids as
    strings (ding ids exceed 2^53); times in UTC ISO 8601 and, as ``local_time``, in the device's zone."""
    local = event.created_at.astimezone(device.zone) if device is not None and device.zone else event.created_at
    return {
        "time": event.created_at.isoformat(),
        "local_time": local.isoformat(),
        "kind": event.kind,
        "device_id": str(event.device_id) if event.device_id is not None else None,
        "device_name": device.name if device is not None else event.device_name,
        "location_id": event.location_id,
        "ding_id": event.ding_id,
        "detection": event.detection,
        "alarm_kind": event.alarm_kind,
        "source": event.source,
    }


async def device_infos(api: RingApi) -> dict[int, DeviceInfo]:
    """Every device of the account by id: its name and its zone (a zone Ring names that this system lacks: UTC)."""
    from zoneinfo import ZoneInfo

    found: dict[int, DeviceInfo] = {}
    for device in await api.get_all_devices():
        zone_name = getattr(getattr(device, "data", None), "time_zone", None)
        zone = None
        if isinstance(zone_name, str):
            with contextlib.suppress(Exception):
                zone = ZoneInfo(zone_name)
        found[device.id] = DeviceInfo(name=device.name or str(device.id), zone=zone)
    return found


async def catch_up_from_history(api: RingApi, since: datetime) -> None:
    """Read each camera's and intercom's newest history and deliver, through the hub's de-duplication, the events
    since ``since`` that push did not deliver (a ding pushed and found in history has one key: published once)."""
    from ringvault.cloud.push.hub import HistoryPoller

    hub = api.notifications
    if hub is None:
        return
    window = max(0.0, (datetime.now(UTC) - since).total_seconds())
    poller = HistoryPoller(hub.poller.devices, hub.deliver_event, replay_window_s=window)
    await poller.poll_once()


class EventWatch:
    """Notifications → subscribers (``on_event``) and, through ``follower``, the archive (``on_archived``).

    ``archives(event)`` chooses the events whose camera the follower is told about (default: every event with a
    device); the follower's own ``devices`` limit applies after that. ``start()`` returns how events arrive;
    ``aclose()`` stops everything it started (tasks, notifications) and unsubscribes.
    """

    def __init__(
        self,
        api: RingApi,
        follower: ArchiveFollower | None = None,
        *,
        archives: Callable[[RingEvent], bool] | None = None,
        push: bool = True,
        start_window_s: float = START_WINDOW_S,
    ) -> None:
        self.api = api
        self.follower = follower
        self.archives = archives
        self.push = push
        self.start_window_s = start_window_s
        self.on_event: Signal[RingEvent] = Signal()
        """Every event the account reports (push, polling or a catch-up), once."""
        self.on_archived: Signal[RecordingChange] = Signal()
        """Each recording a follower pass settled: archived (``done``), ``pending`` or ``failed``."""
        self.on_catch_up_failed: Signal[Exception] = Signal()
        """A catch-up could not read history (events keep arriving; the next catch-up reads it)."""
        self.status: NotificationStatus | None = None
        self.catch_ups = 0
        """Catch-ups from history done (the one at start, then one per reconnect)."""
        self._since = datetime.now(UTC)
        self._reconnected = asyncio.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> NotificationStatus:
        """Start the notifications, the follower and the catch-ups (the first runs at once, in the background)."""
        self._since = datetime.now(UTC) - timedelta(seconds=self.start_window_s)
        self._unsubscribe.append(self.api.on_new_notification.subscribe(self._on_event))
        self._unsubscribe.append(self.api.on_notifications_connected.subscribe(self._on_connected))
        if self.follower is not None:
            self.follower.changed = self.on_archived.emit
        self.status = await self.api.start_notifications(push=self.push)
        self._reconnected.clear()  # the logins of the start itself: the first catch-up covers them
        self._tasks.append(asyncio.create_task(self._catch_ups(), name="ringvault-watch-catch-up"))
        if self.follower is not None:
            self._tasks.append(asyncio.create_task(self.follower.run(), name="ringvault-watch-archive"))
        return self.status

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await self.api.stop_notifications()

    async def catch_up(self) -> None:
        """Deliver from history what push missed since the start (less ``start_window_s``), then ask the follower
        for a pass over every watched camera."""
        try:
            await catch_up_from_history(self.api, self._since)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # history unreadable now: events keep arriving, and the next catch-up reads it
            log.warning("catch-up from history failed (%s); events keep arriving", type(exc).__name__)
            self.on_catch_up_failed.emit(exc)
        self.catch_ups += 1
        if self.follower is not None:
            self.follower.catch_up()

    async def _catch_ups(self) -> None:
        await self.catch_up()
        while True:
            await self._reconnected.wait()
            self._reconnected.clear()
            await self.catch_up()

    def _on_connected(self, status: NotificationStatus) -> None:
        self.status = status
        self._reconnected.set()

    def _on_event(self, event: RingEvent) -> None:
        self.on_event.emit(event)
        if self.follower is None or event.device_id is None:
            return
        if self.archives is None or self.archives(event):
            self.follower.notify(event.device_id)


class MotionSnapshots:
    """``watch --snapshot-on-motion``: on each motion event of a camera, a snapshot into ``sink`` (the archive),
    taken by ``take_snapshot`` as ``ringvault snapshot`` takes it (checked JPEG, atomic file, ``media`` row; a capture
    already kept is not saved again).

    One snapshot at a time per camera: a motion that arrives while the camera's snapshot is being taken is covered
    by it. Battery cameras are spared as ``snapshot --every`` spares them: the ``RingApi`` should run with
    ``avoid_snapshot_battery_drain`` (their last image is reused for 10 minutes, and reported ``unchanged``).
    ``report`` hears each outcome. ``aclose()`` cancels the snapshots in flight."""

    def __init__(
        self, api: RingApi, sink: SnapshotSink, *, report: Callable[[SnapshotOutcome], None] | None = None
    ) -> None:
        self.api = api
        self.sink = sink
        self.report = report
        self.last_seen: dict[int, datetime] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def on_event(self, event: RingEvent) -> None:
        if event.kind != "motion" or event.device_id is None:
            return
        running = self._tasks.get(event.device_id)
        if running is not None and not running.done():
            return
        self._tasks[event.device_id] = asyncio.get_running_loop().create_task(
            self._take(event.device_id), name=f"ringvault-motion-snapshot-{event.device_id}"
        )

    async def _take(self, device_id: int) -> None:
        from ringvault.archive.snapshots import take_snapshot

        try:
            camera = next((c for c in await self.api.get_cameras() if c.id == device_id), None)
            if camera is None:
                return
            outcome = await take_snapshot(camera, self.sink, last_seen=self.last_seen)
        except asyncio.CancelledError:
            raise
        except Exception:  # take_snapshot reports its failures; anything else must not end the watch
            log.exception("the snapshot of camera %s failed", device_id)
            return
        if self.report is not None:
            self.report(outcome)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
