"""``NotificationHub``: one place where push messages and polled history become de-duplicated ``RingEvent``s.

- Push first (``PushListener``). When it cannot be set up, or a running listener cannot be restarted, the hub says
  so once (a warning naming why) and starts ``HistoryPoller``, which feeds the same events through the same
  de-duplication.
- De-duplication: by FCM ``persistent_id`` (MCS re-delivers after a reconnect) and by ``RingEvent.key`` (the same
  ding pushed twice, or seen by push and by the poller). Both are bounded and written to the delivery record after
  each new event, so a restart does not replay.
- Malformed, unknown or undecryptable notifications are logged (redacted, without their content) and skipped.
- ``reregister_push()`` replaces the push registration with a new one (a token Ring silently stopped pushing to is
  not fixed by reconnecting: ring-mqtt #643, dgreif/ring #1241); ``last_push_at`` and ``pushed`` record what push
  itself delivered (duplicates included), so a caller can tell push working from polling winning the race.
- ``on_connected(status)`` is called whenever events may have been missed and history can tell: after each MCS login
  (the first, every reconnect, every restart) and when push gives way to polling. A caller catches up from history
  then (``ringvault.archive.follow``); nothing has to poll the listener's state for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from aiolimiter import AsyncLimiter

from ringvault.cloud.errors import RingError
from ringvault.cloud.push.events import EventKind, RingEvent, detection_of
from ringvault.cloud.push.parse import NotificationError, UnknownNotification, parse_notification
from ringvault.cloud.push.store import SEEN_EVENT_KEYS, PushStore, SeenIds
from ringvault.transport.redaction import redact

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp
    from ringvault.cloud.models.events import HistoryItem

__all__ = [
    "HistoryPoller",
    "NotificationHub",
    "NotificationStatus",
    "PolledDevice",
    "PushNotOursError",
    "event_from_history",
]

log = logging.getLogger(__name__)

NotificationMode = Literal["push", "polling", "stopped"]
POLL_INTERVAL_S = 20.0
POLL_REQUESTS_PER_S = 1.0
POLL_PAGE = 10


class PushNotOursError(RingError):
    """This process does not receive push (push disabled, another process holds the push lock, or notifications are
    stopped), so it cannot register push anew."""

    hint = "Re-register in the process that receives push (the one holding the push lock), or start push here."


@dataclass(frozen=True)
class NotificationStatus:
    """How events arrive: ``push`` or ``polling`` (with ``reason``: why push is not used)."""

    mode: NotificationMode
    reason: str | None = None


class PolledDevice:
    """What the poller needs of a camera or intercom: its id, whether it is an intercom, and its history."""

    def __init__(self, device: Any, *, intercom: bool) -> None:
        self.device = device
        self.intercom = intercom

    @property
    def id(self) -> int:
        return int(self.device.id)

    async def history(self, limit: int) -> list[HistoryItem]:
        items: list[HistoryItem] = await self.device.get_history(limit=limit)
        return items


def event_from_history(item: HistoryItem, device: PolledDevice) -> RingEvent | None:
    """The event a history item stands for (``ding`` / ``motion`` / ``intercom_ding``), or None for other kinds."""
    kind_text = (item.kind or "").lower()
    kind: EventKind
    if kind_text == "ding":
        kind = "intercom_ding" if device.intercom else "ding"
    elif kind_text == "motion" and not device.intercom:
        kind = "motion"
    else:
        return None
    cv = item.cv_properties
    detection = None
    if kind == "motion" and cv is not None:
        detection = detection_of(cv.detection_type, *cv.detection_types) or ("person" if cv.person_detected else None)
    raw_device = getattr(device.device, "data", None)
    return RingEvent(
        kind=kind,
        created_at=item.created_at or datetime.now(UTC),
        device_id=device.id,
        ding_id=item.id_str,
        location_id=getattr(device.device, "location_id", None),
        device_name=getattr(device.device, "name", None),
        device_kind=getattr(raw_device, "kind", None),
        subtype=cv.detection_type if cv is not None else None,
        detection=detection,
        source="poll",
        raw=item.raw,
    )


class HistoryPoller:
    """Polls each device's newest history at a bounded rate (aiolimiter) and hands new items over as events.

    The first round only learns what is already there (nothing older than the poller is replayed, except items of
    the last ``replay_window_s``, which the push listener may have missed while it was being set up)."""

    def __init__(
        self,
        devices: Callable[[], Sequence[PolledDevice]],
        deliver: Callable[[RingEvent], None],
        *,
        interval_s: float = POLL_INTERVAL_S,
        requests_per_s: float = POLL_REQUESTS_PER_S,
        replay_window_s: float = 65.0,
    ) -> None:
        self.devices = devices
        self.deliver = deliver
        self.interval_s = interval_s
        self.limiter = AsyncLimiter(1, 1.0 / max(requests_per_s, 1e-3))
        self.replay_window_s = replay_window_s
        self._since = datetime.now(UTC) - timedelta(seconds=replay_window_s)
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ringvault-history-poll")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.interval_s)

    async def poll_once(self) -> None:
        for device in list(self.devices()):
            async with self.limiter:
                try:
                    items = await device.history(POLL_PAGE)
                except RingError as exc:
                    log.warning("polling the history of device %s: %s", device.id, exc.one_line)
                    continue
                except Exception:
                    log.exception("polling the history of device %s failed", device.id)
                    continue
            for item in reversed(items):  # oldest first
                if item.created_at is not None and item.created_at < self._since:
                    continue
                event = event_from_history(item, device)
                if event is not None:
                    self.deliver(event)
        self.rounds += 1


class NotificationHub:
    """Runs push (or the polling fallback) and hands each new event to ``route`` exactly once."""

    def __init__(
        self,
        http: RingHttp,
        store: PushStore,
        route: Callable[[RingEvent], None],
        devices: Callable[[], Sequence[PolledDevice]],
        *,
        cloud_url: str | None,
        route_update: Callable[[RingEvent], None] | None = None,
        device_model: str = "ringvault",
        poll_interval_s: float = POLL_INTERVAL_S,
        poll_requests_per_s: float = POLL_REQUESTS_PER_S,
        on_connected: Callable[[NotificationStatus], None] | None = None,
    ) -> None:
        self.http = http
        self.on_connected = on_connected
        self.store = store
        self.route = route
        self.route_update = route_update
        self.cloud_url = cloud_url
        self.device_model = device_model
        self._persistent, self._keys = store.load_seen()
        self._with_image = SeenIds(SEEN_EVENT_KEYS)
        self.poller = HistoryPoller(
            devices, self.deliver_event, interval_s=poll_interval_s, requests_per_s=poll_requests_per_s
        )
        self.listener: Any = None
        self.status = NotificationStatus("stopped")
        self.skipped = 0
        self.duplicates = 0
        self._fallback_reason: str | None = None
        #: False while another process receives push for this login: this one polls and records nothing on disk
        self._owns_store = True
        self._push_wanted = False
        self._reregistering = asyncio.Lock()
        self.last_push_at: datetime | None = None
        """When push last handed over a message (any message, a duplicate too); None before the first."""
        self.pushed = SeenIds(SEEN_EVENT_KEYS)
        """``RingEvent.key``s of the events push delivered, duplicates included (the poller may deliver first)."""
        self.reregistrations = 0
        """New push registrations made by ``reregister_push``."""

    async def start(self, *, push: bool = True) -> NotificationStatus:
        """Set up push; on failure fall back to polling (said once, as a warning). Returns how events arrive."""
        self._push_wanted = push
        if not push:
            self._fall_back("push disabled")
            return self.status
        if not self.store.try_lock():
            self._owns_store = False
            self._fall_back(
                f"another ringvault process receives push for this login ({self.store.lock_path} is locked); "
                "stop it to receive push here"
            )
            return self.status
        return await self._listen(fresh=False)

    async def _listen(self, *, fresh: bool) -> NotificationStatus:
        """Start a listener (``fresh``: with a new FCM registration); polling, with the reason, when it fails."""
        from ringvault.cloud.push.listener import PushListener, PushSetupError  # firebase-messaging: import on use

        listener = PushListener(
            self.http,
            self.store,
            self.deliver_message,
            cloud_url=self.cloud_url,
            device_model=self.device_model,
            received_persistent_ids=self._persistent.items()[-100:],
            on_gave_up=self._fall_back,
            on_connected=self._connected,
            fresh_registration=fresh,
        )
        try:
            await listener.start()
        except PushSetupError as exc:
            self._fall_back(str(exc))
            return self.status
        self.listener = listener
        self.status = NotificationStatus("push")
        log.info("push notifications: listening")
        return self.status

    async def reregister_push(self) -> NotificationStatus:
        """Stop the push listener and start one with a **new** FCM registration, told to Ring like the first (the
        new credentials replace the stored ones once the library has them). Returns how events arrive afterwards:
        ``push`` once MCS accepted the new login (the polling fallback, if it ran, stops), else ``polling`` with the
        reason. ``PushNotOursError`` when this process does not receive push. One re-registration at a time."""
        async with self._reregistering:
            if self.status.mode == "stopped":
                raise PushNotOursError("notifications are stopped: nothing to register push for")
            if not self._push_wanted:
                raise PushNotOursError("push is disabled in this process (polling only)")
            if not self._owns_store:
                where = self.store.lock_path
                raise PushNotOursError(f"another ringvault process receives push for this login ({where} is locked)")
            old, self.listener = self.listener, None
            if old is not None:
                await old.stop()
            self.reregistrations += 1
            was_polling = self.status.mode == "polling"
            log.info("push notifications: registering anew")
            status = await self._listen(fresh=True)
            if status.mode == "push":
                self._fallback_reason = None
                await self.poller.stop()
                if was_polling:  # the new login was announced while the status still said polling
                    self._tell_connected(status)
            return status

    def _fall_back(self, reason: str) -> None:
        if self._fallback_reason is None:
            log.warning("push notifications unavailable (%s); polling the cameras' history instead", redact(reason))
        self._fallback_reason = reason
        self.status = NotificationStatus("polling", reason)
        self.poller.start()
        self._tell_connected(self.status)

    def _connected(self) -> None:
        """An MCS login (the listener's callback): push delivers (again)."""
        self._tell_connected(NotificationStatus("push") if self.status.mode != "polling" else self.status)

    def _tell_connected(self, status: NotificationStatus) -> None:
        if self.on_connected is None:
            return
        try:
            self.on_connected(status)
        except Exception:
            log.exception("a notifications-connected subscriber failed")

    async def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.stop()
        await self.poller.stop()
        if self._owns_store:
            self.store.release_lock()
        self.status = NotificationStatus("stopped")

    # -- delivery --------------------------------------------------------------------------------------------
    def deliver_message(self, message: dict[str, Any], persistent_id: str) -> None:
        """A decrypted FCM message: de-duplicate, parse, hand on. Never raises."""
        self.last_push_at = datetime.now(UTC)
        if persistent_id and persistent_id in self._persistent:
            self.duplicates += 1
            return
        if persistent_id:
            self._persistent.add(persistent_id)
        try:
            event = parse_notification(message, persistent_id=persistent_id or None)
        except UnknownNotification as exc:
            self.skipped += 1
            log.info("push: skipped a notification (%s)", redact(str(exc)))
            self._save()
            return
        except NotificationError as exc:
            self.skipped += 1
            log.warning("push: skipped a malformed notification (%s)", redact(str(exc)))
            self._save()
            return
        except Exception as exc:
            self.skipped += 1
            log.warning("push: skipped an unreadable notification (%s)", type(exc).__name__)
            self._save()
            return
        self.deliver_event(event)

    def deliver_event(self, event: RingEvent) -> None:
        """A parsed event (push or poll): hand it to ``route`` unless its key was seen. A repeat that brings the
        event's snapshot for the first time (battery doorbells push twice, the second time with the image, §8.4)
        goes to ``route_update`` instead."""
        if event.source == "push":
            self.pushed.add(event.key)
        first_image = bool(event.snapshot_uuid) and self._with_image.add(event.key)
        if not self._keys.add(event.key):
            self.duplicates += 1
            self._save()
            if first_image and self.route_update is not None:
                try:
                    self.route_update(event)
                except Exception:
                    log.exception("routing the update of event %s failed", event.key)
            return
        self._save()
        try:
            self.route(event)
        except Exception:
            log.exception("routing event %s failed", event.key)

    def _save(self) -> None:
        if not self._owns_store:
            return
        started = time.monotonic()
        self.store.save_seen(self._persistent, self._keys)
        elapsed = time.monotonic() - started
        if elapsed > 0.5:
            log.debug("saving the push delivery record took %.2f s", elapsed)
