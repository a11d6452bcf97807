"""Push health on the bridge's own device: is push delivering, and what the bridge does when it is not.

ring-mqtt's most repeated complaint is motion and ding events that silently stop arriving (ring-mqtt #643, #881,
#997): the MCS connection stays up, only Ring no longer pushes to the token. Nothing on the connection shows it;
Ring's history does. So, every ``BridgeOptions.health_check_s`` (never more often than every ``MIN_CHECK_S``), the
check reads **one page** of history per camera and intercom (the devices the hub would poll, at the hub poller's
rate) and compares it with what push delivered (``NotificationHub.pushed``: every key push handed over, duplicates
included, so polling winning a race is not taken for a push failure):

- an event younger than ``grace_s`` is left for the next check (push may simply be slower);
- an event push did not deliver is handed to the hub (so it reaches ``on_event`` once, as ``poll``: nothing is lost
  even before the bridge reacts);
- nothing is judged while the push connection is being re-established, nor an event older than the last login to
  MCS (what Ring sent while the connection was down is the watch's catch-up to deliver, and says nothing about the
  registration);
- it counts as **missed** when push was meant to be working at its time (push listening since before it) and Ring
  pushes that kind for that device: a doorbell or intercom ding unless the device says ``subscribed: false``; a
  motion only when push delivered a motion of the same detection for that camera before (Ring pushes motions only
  as the app's alert settings say; with person alerts only, plain motions are recorded but not pushed:
  ring-mqtt #374).

Missed events turn the problem ``binary_sensor`` ON; the bridge then registers push anew (``RingApi.reregister_push``,
a new FCM token told to Ring: what fixes a token Ring stopped pushing to, dgreif/ring #1241) and polls history as
the hub's fallback does until push delivers again; then the problem turns OFF. The ``button`` does the same by hand.

Entities (on the bridge device, ``<base>/bridge/bridge/<key>/state``):

- ``push_last`` (sensor, timestamp): when push last delivered a message;
- ``push_registered`` (sensor, timestamp): when the FCM registration in use was made (``PushStore.registered_at``);
- ``push_mode`` (sensor, enum): how events arrive now: ``push``, ``polling`` or ``stopped``;
- ``push_missed`` (sensor, total_increasing): events Ring's history showed that push did not deliver, since the start;
- ``push_problem`` (binary_sensor, problem): ON from missed events until push delivers again (attributes: reason,
  checks, last check, re-registrations);
- ``push_reregister`` (button): register push anew now (payload ``PRESS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ringvault.cloud.errors import RingError
from ringvault.cloud.push.hub import POLL_INTERVAL_S, POLL_PAGE, HistoryPoller, event_from_history
from ringvault.cloud.push.store import SEEN_EVENT_KEYS, SeenIds
from ringvault.mqtt.model import BridgeContext, CommandRejected, Entity, MqttDevice, StatePayload

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent
    from ringvault.cloud.push.hub import NotificationHub, NotificationStatus, PolledDevice
    from ringvault.mqtt.options import BridgeOptions

__all__ = ["GRACE_S", "MIN_CHECK_S", "ORDER", "REREGISTER_EVERY_S", "HealthFamily", "make_family"]

log = logging.getLogger(__name__)

#: Before the device families: the health entities sit on the bridge's own device.
ORDER = 5
#: The check never runs more often than this, whatever ``health_check_s`` says (each check reads history).
MIN_CHECK_S = 60.0
#: How late push may be before an event counts as missed (FCM is usually sub-second, at times much slower).
GRACE_S = 120.0
#: While events keep being missed, register push anew at most this often.
REREGISTER_EVERY_S = 900.0
#: How often the fallback looks whether push delivered again (in memory only, no request).
RECOVERY_LOOK_S = 1.0
MODES = ["push", "polling", "stopped"]
UNKNOWN = "None"
BUTTON_PAYLOAD = "PRESS"  # Home Assistant's default payload_press (MQTT button docs)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _timestamp_state(moment: datetime | None) -> str:
    """A timestamp sensor's state: ISO 8601 with its zone, or ``None``, which Home Assistant's MQTT sensor takes as
    "unknown" (sensor.mqtt docs, ``state_topic``), so a retained state exists before the first push too."""
    return _iso(moment) or UNKNOWN


class HealthFamily:
    """The push health entities of the bridge device, the scheduled history check and the reaction to it."""

    name = "health"

    def __init__(self, options: BridgeOptions, *, grace_s: float = GRACE_S, min_check_s: float = MIN_CHECK_S) -> None:
        self.options = options
        self.grace_s = grace_s
        self.interval_s = max(min_check_s, options.health_check_s)
        """Seconds between two checks: ``health_check_s``, but never less than ``MIN_CHECK_S``."""
        self.checks = 0
        self.missed = 0
        """Events push missed since the start (the ``push_missed`` sensor)."""
        self.reregistrations = 0
        self.problem = False
        self.reason: str | None = None
        self.last_check: datetime | None = None
        self.last_reregistration: datetime | None = None
        self._ctx: BridgeContext | None = None
        self._bridge: MqttDevice | None = None
        self._last_push: datetime | None = None
        self._registered_at: datetime | None = None
        self._push_meant_since: datetime | None = None
        self._recover_after: datetime | None = None
        self._judged = SeenIds(SEEN_EVENT_KEYS)
        self._pushed = SeenIds(SEEN_EVENT_KEYS)
        self._motion_pushed: set[tuple[int, str | None]] = set()
        self._fallback: HistoryPoller | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._unsubscribe: list[Callable[[], None]] = []

    # -- Family -------------------------------------------------------------------------------------------------
    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        """Add the entities to the bridge's device (published with it) and start the schedule."""
        self._ctx = ctx
        self._bridge = ctx.bridge
        self._add_entities(ctx.bridge)
        self._unsubscribe.append(ctx.api.on_notifications_connected.subscribe(self._on_connected))
        self._note_hub()
        self._task = asyncio.create_task(self._schedule(), name="ringvault-mqtt-push-health")
        return []

    def on_event(self, event: RingEvent) -> None:
        if event.source != "push":
            return
        self._pushed.add(event.key)
        self._last_push = datetime.now(UTC)
        if event.kind == "motion" and event.device_id is not None:
            self._motion_pushed.add((event.device_id, event.detection))
        self._look_for_recovery()
        self._changed()

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        tasks = [t for t in (self._task, self._recovery) if t is not None]
        self._task = self._recovery = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_fallback()

    # -- entities -----------------------------------------------------------------------------------------------
    def _add_entities(self, bridge: MqttDevice) -> None:
        # Home Assistant MQTT sensor: device_class "timestamp" takes an ISO 8601 state with a time zone; "enum"
        # takes "options"; state_class "total_increasing" for a count that only grows (MQTT sensor docs,
        # home-assistant/core components/sensor/const.py).
        bridge.add(
            Entity(
                "sensor",
                "push_last",
                "Last push received",
                read=self._read_last_push,
                options={"device_class": "timestamp"},
                category="diagnostic",
            )
        )
        bridge.add(
            Entity(
                "sensor",
                "push_registered",
                "Push registered",
                read=self._read_registered,
                options={"device_class": "timestamp"},
                category="diagnostic",
            )
        )
        bridge.add(
            Entity(
                "sensor",
                "push_mode",
                "Events arrive by",
                read=self.mode,
                options={"device_class": "enum", "options": MODES},
                category="diagnostic",
                icon="mdi:transit-connection-variant",
            )
        )
        bridge.add(
            Entity(
                "sensor",
                "push_missed",
                "Events push missed",
                read=lambda: str(self.missed),
                options={"state_class": "total_increasing"},
                category="diagnostic",
                icon="mdi:bell-alert-outline",
            )
        )
        # binary_sensor: payload_on/payload_off default to ON/OFF; device_class "problem" (MQTT binary sensor docs).
        bridge.add(
            Entity(
                "binary_sensor",
                "push_problem",
                "Push problem",
                read=lambda: "ON" if self.problem else "OFF",
                attributes=self._attributes,
                options={"device_class": "problem"},
                category="diagnostic",
            )
        )
        # button: payload_press defaults to PRESS; entity_category may be config (MQTT button docs).
        bridge.add(
            Entity(
                "button",
                "push_reregister",
                "Re-register push",
                command=self._press,
                options={"payload_press": BUTTON_PAYLOAD},
                category="config",
                icon="mdi:refresh",
            )
        )

    def _read_last_push(self) -> StatePayload:
        hub = self._hub()
        moments = [m for m in (self._last_push, hub.last_push_at if hub is not None else None) if m is not None]
        return _timestamp_state(max(moments) if moments else None)

    def _read_registered(self) -> StatePayload:
        return _timestamp_state(self._registered_at)

    def mode(self) -> str:
        """How events arrive now: ``push``, ``polling`` (the hub's fallback or this family's) or ``stopped``."""
        hub = self._hub()
        if hub is None or hub.status.mode == "stopped":
            return "stopped"
        if hub.status.mode == "polling" or (self._fallback is not None and self._fallback.running):
            return "polling"
        return "push"

    def _attributes(self) -> Mapping[str, Any]:
        hub = self._hub()
        return {
            "reason": self.reason,
            "checks": self.checks,
            "last_check": _iso(self.last_check),
            "check_interval_s": self.interval_s,
            "grace_s": self.grace_s,
            "reregistrations": self.reregistrations,
            "last_reregistration": _iso(self.last_reregistration),
            "polling_reason": hub.status.reason if hub is not None and hub.status.mode == "polling" else None,
        }

    async def _press(self, payload: str) -> None:
        if payload.strip() != BUTTON_PAYLOAD:
            shown = payload[:20] + ("..." if len(payload) > 20 else "")
            raise CommandRejected(f"push_reregister takes {BUTTON_PAYLOAD} (Home Assistant's button), not {shown!r}")
        await self.reregister("re-registration asked for by hand")

    # -- the check ----------------------------------------------------------------------------------------------
    async def _schedule(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except RingError as exc:
                log.warning("push health check: %s", exc.one_line)
            except Exception:
                log.exception("the push health check failed; the next one runs in %.0f s", self.interval_s)

    async def check(self) -> int:
        """One check: one history page per camera and intercom, compared with what push delivered. Returns the
        number of events found missed (and reacts to them: problem ON, a new registration, polling)."""
        hub = self._hub()
        if hub is None:
            return 0
        self._note_hub()
        if hub.status.mode == "push" and (hub.listener is None or not hub.listener.running):
            # MCS is reconnecting: what Ring sends meanwhile waits there, and the watch catches up at the login
            log.info("push health: the push connection is being re-established; this check is skipped")
            return 0
        now = datetime.now(UTC)
        missed: list[RingEvent] = []
        for device in list(hub.poller.devices()):
            async with hub.poller.limiter:  # the hub poller's rate (one request per second)
                try:
                    items = await device.history(POLL_PAGE)
                except RingError as exc:
                    log.warning("push health: the history of device %s: %s", device.id, exc.one_line)
                    continue
            missed.extend(self._judge(hub, device, items, now))
        self.checks += 1
        self.last_check = now
        if missed:
            await self._on_missed(missed)
        elif self.problem and hub.status.mode == "polling" and self._reregistration_due():
            await self._try_reregister("push is still not set up after the last re-registration")
        self._look_for_recovery()
        self._changed()
        return len(missed)

    def _judge(self, hub: NotificationHub, device: PolledDevice, items: list[Any], now: datetime) -> list[RingEvent]:
        missed: list[RingEvent] = []
        since = self._push_meant_since
        for item in reversed(items):  # oldest first, as the poller delivers
            event = event_from_history(item, device)
            if event is None or since is None or event.created_at < since:
                continue
            if (now - event.created_at).total_seconds() < self.grace_s or event.key in self._judged:
                continue  # push may still be on its way: the next check judges it
            self._judged.add(event.key)
            if event.key in hub.pushed or event.key in self._pushed:
                if event.kind == "motion" and event.device_id is not None:  # pushed after polling delivered it
                    self._motion_pushed.add((event.device_id, event.detection))
                continue
            hub.deliver_event(event)  # on_event hears it once (as "poll") unless something delivered it already
            if self._pushes(device, event):
                missed.append(event)
        return missed

    def _pushes(self, device: PolledDevice, event: RingEvent) -> bool:
        """Whether Ring pushes this event, as far as we can tell (see the module docstring)."""
        if event.kind in ("ding", "intercom_ding"):
            data = getattr(device.device, "data", None)
            return getattr(data, "subscribed", None) is not False
        if event.kind == "motion" and event.device_id is not None:
            return (event.device_id, event.detection) in self._motion_pushed
        return False

    async def _on_missed(self, missed: list[RingEvent]) -> None:
        self.missed += len(missed)
        newest = max(missed, key=lambda e: e.created_at)
        self.reason = (
            f"Ring's history shows {len(missed)} event(s) push did not deliver "
            f"(newest: {newest.kind} of {newest.device_name or newest.device_id} at {_iso(newest.created_at)})"
        )
        first = not self.problem
        self.problem = True
        log.warning("push health: %s; registering push anew and polling until push delivers again", self.reason)
        if first or self._reregistration_due():
            await self._try_reregister(self.reason)
        else:
            await self._start_fallback()

    def _reregistration_due(self) -> bool:
        last = self.last_reregistration
        return last is None or (datetime.now(UTC) - last).total_seconds() >= REREGISTER_EVERY_S

    async def _try_reregister(self, why: str) -> None:
        try:
            await self.reregister(why)
        except RingError as exc:
            log.warning("push health: cannot register push anew: %s", exc.one_line)
            self.reason = f"{self.reason}; re-registration impossible: {exc}"
            await self._start_fallback()

    # -- the reaction -------------------------------------------------------------------------------------------
    async def reregister(self, why: str) -> NotificationStatus:
        """Register push anew and poll until push delivers again. ``RingError`` (one line) when this process does
        not receive push."""
        async with self._lock:
            api = self._api()
            log.info("push health: %s", why)
            status = await api.reregister_push()
            self.reregistrations += 1
            self.last_reregistration = datetime.now(UTC)
            self._recover_after = self.last_reregistration
            self._push_meant_since = self.last_reregistration if status.mode == "push" else None
            self._refresh_registration()
            await self._start_fallback()
            self._changed()
            return status

    async def _start_fallback(self) -> None:
        hub = self._hub()
        if hub is None or hub.status.mode != "push":  # stopped, or the hub polls already
            return
        if self._recover_after is None:
            self._recover_after = datetime.now(UTC)
        if self._fallback is None or not self._fallback.running:
            self._fallback = HistoryPoller(
                hub.poller.devices,
                hub.deliver_event,
                interval_s=POLL_INTERVAL_S,
                replay_window_s=self.interval_s + self.grace_s,
            )
            self._fallback.limiter = hub.poller.limiter  # one request rate for everything that reads history
            self._fallback.start()
            log.info("push health: polling history until push delivers again")
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._await_recovery(), name="ringvault-mqtt-push-recovery")
        self._changed()

    async def _await_recovery(self) -> None:
        while self._fallback is not None and self._fallback.running:
            await asyncio.sleep(RECOVERY_LOOK_S)
            self._look_for_recovery()

    def _look_for_recovery(self) -> None:
        """Push delivered after the problem (or the re-registration): the problem is over, the polling stops."""
        hub = self._hub()
        since = self._recover_after
        if since is None or hub is None or hub.last_push_at is None or hub.last_push_at <= since:
            return
        self._recover_after = None
        if self.problem:
            log.info("push health: push delivers again; problem cleared")
        self.problem = False
        self.reason = None
        fallback, self._fallback = self._fallback, None
        if fallback is not None:
            task = asyncio.get_running_loop().create_task(fallback.stop(), name="ringvault-mqtt-push-fallback-stop")
            task.add_done_callback(lambda _: self._changed())
        self._changed()

    async def _stop_fallback(self) -> None:
        fallback, self._fallback = self._fallback, None
        if fallback is not None:
            await fallback.stop()

    # -- state ------------------------------------------------------------------------------------------------------
    def _on_connected(self, status: NotificationStatus) -> None:
        """A push login (the first, a reconnect, a new registration) or push giving way to polling."""
        if status.mode == "push":
            # only what happens after a login is judged: what Ring sent while the connection was down is the
            # watch's catch-up to deliver, and says nothing about the registration
            self._push_meant_since = datetime.now(UTC)
        else:
            self._push_meant_since = None
        self._refresh_registration()
        self._changed()

    def _note_hub(self) -> None:
        """Push counts as meant to work from the first moment the hub is seen listening (events older than that
        are not judged: the watch's catch-up at its start covers them)."""
        hub = self._hub()
        if hub is not None and hub.status.mode == "push" and self._push_meant_since is None:
            self._push_meant_since = datetime.now(UTC)
        if self._registered_at is None:
            self._refresh_registration()

    def _refresh_registration(self) -> None:
        hub = self._hub()
        if hub is None:
            return
        saved = hub.store.registered_at()
        if saved is not None:
            self._registered_at = datetime.fromtimestamp(saved, UTC)

    def _hub(self) -> NotificationHub | None:
        return self._ctx.api.notifications if self._ctx is not None else None

    def _api(self) -> RingApi:
        assert self._ctx is not None, "the family is not started"
        return self._ctx.api

    def _changed(self) -> None:
        if self._ctx is not None and self._bridge is not None:
            self._ctx.sink.changed(self._bridge)


def make_family(options: BridgeOptions) -> HealthFamily:
    return HealthFamily(options)
