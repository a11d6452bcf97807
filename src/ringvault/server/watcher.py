"""The server's watcher: ``ringvault watch --archive`` inside ``ringvault serve``, so its archive follows Ring's
events without cron, and the live feed (``server/events.py``) gets each event and each recording archived.

It runs the same ``EventWatch`` as the command (push, the polling fallback, catch-ups from history after every
reconnect, the archive follower). Supervision is the server's:

- **Off** when ``ServerSettings.watch`` is off (``--no-watch``), or while there is no stored login (the token file
  is looked for every ``LOGIN_CHECK_S``: a ``ringvault login`` while the server runs starts it).
- **Never takes the server down.** A start that fails (Ring refuses the login: 401; Ring unreachable) is logged in
  one line — once per distinct reason — and tried again after a growing pause (``RETRY_S``). Push refused is not a
  failure: the watch falls back to polling by itself and says so once. A failed archive pass is the follower's to
  retry (with backoff, said once).
- **Bridges to MQTT** with ``serve --broker``: the bridge (``ringvault.mqtt.bridge``) runs on the watch's own
  ``EventWatch`` (one push registration per login) and stops with it; a broker that refuses the login is said in
  one line, and the watcher goes on without the bridge.
- **Stops with the server**: ``aclose()`` cancels its task and waits for it; the watch stops its notifications and
  its own tasks on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringvault.archive.follow import DeviceInfo, EventWatch
    from ringvault.archive.store import ArchiveStore
    from ringvault.archive.watch import RecordingChange
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.bridge import Bridge
    from ringvault.mqtt.options import BridgeOptions, BrokerUrl
    from ringvault.server.events import EventBroker

__all__ = ["LOGIN_CHECK_S", "RETRY_S", "ServeWatcher"]

log = logging.getLogger("ringvault.server.watcher")

#: How often a server without a stored login looks for one.
LOGIN_CHECK_S = 10.0
#: Pauses between attempts to start a watcher that failed (the last one repeats).
RETRY_S = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class ServeWatcher:
    """Runs ``EventWatch`` on the stored login for as long as the server runs; ``status()`` says how it is."""

    def __init__(
        self,
        *,
        enabled: bool,
        token_file: Path,
        open_api: Callable[[], RingApi],
        store: ArchiveStore,
        archive_dir: Path,
        broker: EventBroker,
        retry_s: tuple[float, ...] = RETRY_S,
        login_check_s: float = LOGIN_CHECK_S,
        mqtt: tuple[BrokerUrl, BridgeOptions] | None = None,
    ) -> None:
        self.enabled = enabled
        self.token_file = token_file
        self.open_api = open_api
        self.store = store
        self.archive_dir = archive_dir
        self.broker = broker
        self.retry_s = retry_s
        self.login_check_s = login_check_s
        self.mqtt = mqtt
        self.state = "off"
        self.reason: str | None = "--no-watch" if not enabled else "starting"
        self.mode: str | None = None
        self.starts = 0
        """Watchers started (one per Ring client; a failed start is not counted)."""
        self.failures = 0
        """Failed starts in a row (0 once one runs)."""
        self._task: asyncio.Task[None] | None = None
        self._said: str | None = None

    def status(self) -> dict[str, Any]:
        """``{"state": "on"|"off"|"retrying", "mode": "push"|"polling"|None, "reason": one line|None}``."""
        return {"state": self.state, "mode": self.mode, "reason": self.reason}

    def line(self) -> str:
        """The status as one line (the banner, the logs)."""
        if self.state == "on":
            return f"watcher: on ({'push notifications' if self.mode == 'push' else f'polling: {self.reason}'})"
        return f"watcher: {self.state} ({self.reason})"

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ringvault-serve-watcher")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _set(self, state: str, reason: str | None, mode: str | None = None) -> None:
        changed = (state, reason, mode) != (self.state, self.reason, self.mode)
        self.state, self.reason, self.mode = state, reason, mode
        if changed:
            self.broker.announce("status", self.status())

    async def _run(self) -> None:
        while True:
            if not self.token_file.exists():
                self._set("off", "not logged in to Ring (run `ringvault login`)")
                self._say("the watcher waits for a Ring login (`ringvault login`)", logging.INFO)
                await asyncio.sleep(self.login_check_s)
                continue
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = _one_line(exc).rstrip(".")
                pause = self.retry_s[min(self.failures, len(self.retry_s) - 1)]
                self.failures += 1
                self._set("retrying", reason)
                self._say(f"the watcher stopped: {reason}; trying again in {pause:.0f} s", logging.WARNING, key=reason)
                await asyncio.sleep(pause)

    async def _watch(self) -> None:
        """One watcher on one Ring client, until cancelled (or it fails starting)."""
        from ringvault.archive.follow import EventWatch, device_infos
        from ringvault.archive.watch import ArchiveFollower

        async with self.open_api() as api:
            devices = await device_infos(api)
            follower = ArchiveFollower(api, self.store, self.archive_dir)
            watch = EventWatch(api, follower)
            watch.on_event.subscribe(lambda event: self._publish_event(event, devices))
            watch.on_archived.subscribe(self._publish_recording)
            bridge = self._bridge(api, watch)
            try:
                if bridge is not None:
                    await bridge.start()  # before the watch starts: the bridge hears every event
                status = await watch.start()
                self.starts += 1
                self.failures = 0
                self._set("on", status.reason, status.mode)
                self._said = None
                log.info("%s", self.line())
                while True:  # the mode can change (push gives way to polling): keep the status current
                    await _changed(api)
                    hub = api.notifications
                    if hub is not None:
                        self._set("on", hub.status.reason, hub.status.mode)
            finally:
                if bridge is not None:
                    await bridge.aclose()
                await watch.aclose()

    def _bridge(self, api: RingApi, watch: EventWatch) -> Bridge | None:
        """The MQTT bridge on this watch (``serve --broker``), None without a broker."""
        if self.mqtt is None:
            return None
        from ringvault.mqtt.archive import StoreLinks
        from ringvault.mqtt.bridge import Bridge

        broker, options = self.mqtt
        bridge = Bridge(api, options, broker, watch=watch, archive=StoreLinks(self.store, self.archive_dir,
                                                                            options.serve_url))  # fmt: skip
        bridge.on_link_failed = lambda exc: self._say(f"MQTT bridge stopped: {exc}", logging.ERROR, key=str(exc))
        return bridge

    def _publish_event(self, event: RingEvent, devices: dict[int, DeviceInfo]) -> None:
        from ringvault.archive.follow import event_fields

        info = devices.get(event.device_id) if event.device_id is not None else None
        self.broker.publish(event.kind, event_fields(event, info))

    def _publish_recording(self, change: RecordingChange) -> None:
        self.broker.publish(
            "recording",
            {
                "event_id": change.event_id,
                "device_id": str(change.device_id) if change.device_id is not None else None,
                "kind": change.kind,
                "status": change.status,
                "time": change.created_at.isoformat() if change.created_at is not None else None,
            },
        )

    def _say(self, text: str, level: int, *, key: str | None = None) -> None:
        """Log ``text`` unless the same thing (``key``, default the text) was the last said: a watcher retrying
        for hours for one reason writes one line."""
        said = key if key is not None else text
        if said != self._said:
            self._said = said
            log.log(level, "%s", text)


async def _changed(api: RingApi) -> None:
    """Until the notifications (re)connect or change mode."""
    ready = asyncio.Event()
    unsubscribe = api.on_notifications_connected.subscribe(lambda _status: ready.set())
    try:
        await ready.wait()
    finally:
        unsubscribe()


def _one_line(exc: Exception) -> str:
    from ringvault.cloud.errors import RingError

    if isinstance(exc, RingError):
        return exc.one_line
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
