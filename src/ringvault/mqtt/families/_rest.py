"""What the families of Ring's REST devices (cameras, chimes, intercoms, other) share: payload parsing for commands,
the hold of an event sensor, the Wi-Fi signal poller, and the battery / signal entities.

A leading underscore: not a family module (``families/__init__`` skips it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ringvault.mqtt.model import CommandRejected, Entity, MqttDevice

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.models.health import DeviceHealth
    from ringvault.cloud.push import RingEvent
    from ringvault.mqtt.model import BridgeContext
    from ringvault.mqtt.options import BridgeOptions

__all__ = [
    "DEVICE_POLL_S",
    "HEALTH_POLL_S",
    "HEALTH_SPACING_S",
    "NAME_MAX",
    "STATE_MAX",
    "HealthPoller",
    "Hold",
    "OneLineLog",
    "RestFamily",
    "RestUnit",
    "battery_entity",
    "confirm",
    "display_name",
    "iso",
    "parse_int",
    "parse_json_object",
    "parse_on_off",
    "poll_devices",
    "shown",
    "signal_entity",
]

log = logging.getLogger(__name__)

DEVICE_POLL_S = 20.0
"""How often Ring's device list is read again when the ``RingApi`` does not poll it itself: a light switched, a
battery drained, a camera gone offline, a chime snoozed in the Ring app shows within this (ring-mqtt reads it every
20 s: ``cameraStatusPollingSeconds: 20``, lib/ring.js)."""
HEALTH_POLL_S = 1800.0
"""How often the Wi-Fi signal of a device whose ``ring_devices`` entry carries none is read from its ``health``
document (Ring refreshes it every few minutes at best; ring-mqtt reads it with its ~20-minute attribute refresh)."""
HEALTH_SPACING_S = 1.0
"""The pause between two health reads of one round: one request at a time, never a burst across many devices."""
STATE_MAX = 255
"""Home Assistant keeps at most 255 characters of a state (longer states are refused); attributes carry the rest."""


NAME_MAX = 100
"""A device name longer than this is cut (a hostile or broken name must not bloat every discovery payload)."""


def display_name(name: str, fallback: str) -> str:
    """A device name for Home Assistant and log lines: control and format characters (a terminal escape, a
    right-to-left override) replaced by spaces, runs of space folded, at most ``NAME_MAX`` characters; ``fallback``
    when nothing is left."""
    cleaned = "".join(c if c.isprintable() else " " for c in name[: NAME_MAX * 4])
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > NAME_MAX:
        cleaned = cleaned[: NAME_MAX - 1].rstrip() + "…"
    return cleaned or fallback


def shown(payload: str, limit: int = 40) -> str:
    """A received payload as a log line may show it: quoted, control characters escaped, cut to ``limit``."""
    text = payload if len(payload) <= limit else payload[:limit] + "…"
    return repr(text)


def parse_on_off(payload: str, what: str) -> bool:
    """``ON`` / ``OFF`` (any case, as Home Assistant's switch, light and siren send them) → True / False."""
    text = payload.strip().upper()
    if text == "ON":
        return True
    if text == "OFF":
        return False
    raise CommandRejected(f"{what}: {shown(payload)} is not a command; send ON or OFF")


def parse_int(payload: str, what: str, low: int, high: int) -> int:
    """A whole number in ``low..high``; Home Assistant's ``number`` sends ``5`` or ``5.0``."""
    text = payload.strip()
    try:
        number = float(text)
    except ValueError:
        raise CommandRejected(f"{what}: {shown(payload)} is not a number; send a whole number {low}-{high}") from None
    if number != number or number in (float("inf"), float("-inf")) or number != int(number):
        raise CommandRejected(f"{what}: {shown(payload)} is not a whole number; send {low}-{high}")
    value = int(number)
    if not low <= value <= high:
        raise CommandRejected(f"{what}: {value} is out of range; send a whole number {low}-{high}")
    return value


def parse_json_object(payload: str) -> dict[str, Any] | None:
    """The payload as a JSON object, or None when it is not one (bounded: the bridge caps payload sizes)."""
    text = payload.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


class OneLineLog:
    """Logs a recurring failure once as a warning, its repeats at debug level, and a recovery once: an interval
    snapshot of a camera with motion detection off must not fill the log every hour."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def failed(self, key: str, message: str) -> None:
        if self._last.get(key) == message:
            log.debug("%s", message)
            return
        self._last[key] = message
        log.warning("%s", message)

    def ok(self, key: str) -> None:
        self._last.pop(key, None)


@dataclass
class Hold:
    """An event sensor (motion, ding): on from an event until ``seconds`` after Ring's event time.

    The expiry counts from the event's own time, as ring-mqtt counts from the push's ``eventito.timestamp``
    (devices/camera.js ``last_ding_expires``): an event caught up from history long after it happened does not turn
    the sensor on at all. A newer event extends the hold; ``changed`` is called at each change and at the expiry
    (the bridge then re-reads ``active``)."""

    seconds: float
    changed: Callable[[], None]
    last: RingEvent | None = None
    until: float = 0.0  # time.monotonic()
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return time.monotonic() < self.until

    def trigger(self, event: RingEvent) -> None:
        """Note ``event`` (the latest of its kind) and hold the sensor on for what is left of ``seconds``."""
        if self.last is None or event.created_at >= self.last.created_at:
            self.last = event
        self.hold_from(event.created_at)

    def hold_from(self, moment: datetime, seconds: float | None = None) -> None:
        """Hold on until ``seconds`` (default: the hold's) after ``moment``; a later end than the current wins."""
        age = max(0.0, (datetime.now(UTC) - moment).total_seconds())
        remaining = (self.seconds if seconds is None else seconds) - age
        if remaining > 0:
            until = time.monotonic() + remaining
            if until > self.until:
                self.until = until
                self._schedule(remaining)
        self.changed()

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the next read after ``until`` shows OFF anyway
            return
        self._timer = loop.call_later(delay + 0.05, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self.active:
            self.changed()
        else:  # extended meanwhile (a clock step): look again when the new hold ends
            self._schedule(self.until - time.monotonic())

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class HasHealth(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    async def get_health(self) -> DeviceHealth: ...


@dataclass
class HealthPoller:
    """Reads the ``health`` document of devices whose ``ring_devices`` entry has no Wi-Fi signal, on a bounded
    schedule: one round at start, then one every ``interval_s``; one request at a time, ``spacing_s`` apart.
    ``changed(device_id)`` is called after each read that brought a document."""

    devices: Callable[[], Sequence[HasHealth]]
    changed: Callable[[int], None]
    interval_s: float = HEALTH_POLL_S
    spacing_s: float = HEALTH_SPACING_S
    latest: dict[int, DeviceHealth] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _log: OneLineLog = field(default_factory=OneLineLog, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ringvault-mqtt-health")

    async def _run(self) -> None:
        while True:
            for device in list(self.devices()):
                await self.read(device)
                await asyncio.sleep(self.spacing_s)
            await asyncio.sleep(self.interval_s)

    async def read(self, device: HasHealth) -> None:
        from ringvault.cloud.errors import RingError

        name = display_name(device.name, str(device.id))
        try:
            self.latest[device.id] = await device.get_health()
        except RingError as exc:
            self._log.failed(f"health:{device.id}", f"the Wi-Fi signal of {name} is unknown: {exc.one_line}")
            return
        except Exception as exc:  # anything else: this read fails, the poller goes on
            self._log.failed(f"health:{device.id}", f"the Wi-Fi signal of {name} is unknown: {type(exc).__name__}")
            return
        self._log.ok(f"health:{device.id}")
        self.changed(device.id)

    def signal(self, device_id: int) -> int | None:
        health = self.latest.get(device_id)
        return health.latest_signal_strength if health is not None else None

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _number_state(value: float | int | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def battery_entity(
    level: Callable[[], int | None], attributes: Callable[[], Mapping[str, Any] | None] | None = None
) -> Entity:
    """``sensor`` battery %, diagnostic (ring-mqtt's ``battery`` entity: device_class battery, state_class
    measurement)."""
    return Entity(
        component="sensor",
        key="battery",
        name="Battery",
        read=lambda: _number_state(level()),
        attributes=attributes,
        options={"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"},
        category="diagnostic",
    )


def signal_entity(dbm: Callable[[], int | None]) -> Entity:
    """``sensor`` Wi-Fi signal in dBm, diagnostic (ring-mqtt's ``wireless`` entity: device_class signal_strength)."""
    return Entity(
        component="sensor",
        key="wireless",
        name="Wi-Fi signal",
        read=lambda: _number_state(dbm()),
        options={"device_class": "signal_strength", "unit_of_measurement": "dBm", "state_class": "measurement"},
        category="diagnostic",
    )


async def confirm(action: Awaitable[Any], refresh: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run a Ring call, then re-read Ring's state (``refresh``) so the state published afterwards is Ring's answer.

    Ring's refusal becomes ``CommandRejected`` (one line): the bridge logs it and republishes the true state."""
    from ringvault.cloud.errors import RingError

    try:
        await action
    except RingError as exc:
        raise CommandRejected(f"{what}: Ring refused it ({exc.one_line})") from None
    except ValueError as exc:
        raise CommandRejected(f"{what}: {exc}") from None
    try:
        await refresh()
    except RingError as exc:  # the call went through; the next poll shows the state
        log.warning("%s: done, but re-reading the device failed (%s)", what, exc.one_line)


@dataclass
class _Poll:
    task: asyncio.Task[None]
    users: int = 0


_POLLS: weakref.WeakKeyDictionary[RingApi, _Poll] = weakref.WeakKeyDictionary()


def poll_devices(api: RingApi) -> Callable[[], Awaitable[None]]:
    """Have Ring's device list read every ``DEVICE_POLL_S`` seconds while a family needs it (one reader per
    ``RingApi``, shared by the families; none when the ``RingApi`` polls it itself, ``camera_status_polling_seconds``).
    Each read feeds the devices' ``on_data``, so the families publish what changed. Returns the release."""
    own = api.options.camera_status_polling_seconds
    if own is not None and own > 0:

        async def nothing() -> None:
            return None

        return nothing
    poll = _POLLS.get(api)
    if poll is None or poll.task.done():
        task = asyncio.get_running_loop().create_task(_read_devices(api, DEVICE_POLL_S), name="ringvault-mqtt-poll")
        poll = _POLLS[api] = _Poll(task)
    poll.users += 1
    released = False

    async def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        poll.users -= 1
        if poll.users > 0:
            return
        if _POLLS.get(api) is poll:
            del _POLLS[api]
        poll.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll.task

    return release


async def _read_devices(api: RingApi, seconds: float) -> None:
    from ringvault.cloud.errors import RingError

    problems = OneLineLog()
    while True:
        await asyncio.sleep(seconds)
        try:
            await api.refresh_devices()
        except RingError as exc:
            problems.failed("devices", f"reading Ring's device list failed ({exc.one_line}); again in {seconds:.0f} s")
            continue
        except Exception as exc:  # the next read may work: the poll goes on
            problems.failed("devices", f"reading Ring's device list failed ({type(exc).__name__})")
            continue
        problems.ok("devices")


class RestUnit(Protocol):
    """One REST device of a family: its ``MqttDevice``, re-read on ``changed()``, stopped by ``aclose()``."""

    device: MqttDevice

    def changed(self) -> None: ...

    def aclose(self) -> None: ...


U = TypeVar("U", bound=RestUnit)
D = TypeVar("D", bound=HasHealth)


class RestFamily(ABC, Generic[D, U]):
    """What the chime and intercom families share: one unit per Ring device of the family's class (``listed`` at
    start, ``on_device_added`` later — a device Ring lists again under the same id replaces its unit), the shared
    device-list reader, the Wi-Fi ``HealthPoller`` over the units not removed, and the clean stop."""

    name: str

    def __init__(self, options: BridgeOptions) -> None:
        self.options = options
        self.units: dict[int, U] = {}
        self._ctx: BridgeContext | None = None
        self._health: HealthPoller | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._release_poll: Callable[[], Awaitable[None]] | None = None

    # -- what a family decides ---------------------------------------------------------------------------------
    @abstractmethod
    async def listed(self, api: RingApi) -> Sequence[D]:
        """The family's Ring devices at start."""

    @abstractmethod
    def accepts(self, device: object) -> bool:
        """Whether a device Ring added later is the family's."""

    @abstractmethod
    def make_unit(self, device: D, ctx: BridgeContext, health: HealthPoller) -> U: ...

    @abstractmethod
    def ring_device(self, unit: U) -> D: ...

    def replaced(self, old: U, new: U) -> None:
        """A device listed again under the same id: carry over what the old unit held (nothing by default)."""

    def unit_event(self, unit: U, event: RingEvent) -> None:
        """A Ring event of one of the family's devices (none by default)."""

    # -- the plumbing ------------------------------------------------------------------------------------------
    async def start(self, ctx: BridgeContext) -> list[MqttDevice]:
        self._ctx = ctx
        self._health = HealthPoller(self._present, self._health_read)
        devices = [self._add(device).device for device in await self.listed(ctx.api)]
        self._unsubscribe.append(ctx.api.on_device_added.subscribe(self._device_added))
        self._release_poll = poll_devices(ctx.api)
        self._health.start()
        return devices

    def _add(self, device: D) -> U:
        assert self._ctx is not None and self._health is not None
        old = self.units.get(device.id)
        if old is not None:
            old.aclose()
        unit = self.make_unit(device, self._ctx, self._health)
        if old is not None:
            self.replaced(old, unit)
        self.units[device.id] = unit
        return unit

    def _device_added(self, device: object) -> None:
        if self._ctx is not None and self.accepts(device):
            self._ctx.sink.add_device(self._add(device).device)  # type: ignore[arg-type]  # (accepts checked it)

    def _present(self) -> list[D]:
        return [self.ring_device(u) for u in self.units.values() if not getattr(self.ring_device(u), "removed", False)]

    def _health_read(self, device_id: int) -> None:
        unit = self.units.get(device_id)
        if unit is not None:
            unit.changed()

    def on_event(self, event: RingEvent) -> None:
        unit = self.units.get(event.device_id) if event.device_id is not None else None
        if unit is not None:
            self.unit_event(unit, event)

    async def aclose(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        release, self._release_poll = self._release_poll, None
        if release is not None:
            await release()
        if self._health is not None:
            await self._health.aclose()
        for unit in self.units.values():
            unit.aclose()
