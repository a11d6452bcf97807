"""The hub service: one per simulated cloud (``SimState.hub``). It holds the hub world of every location that has
a base station or a lighting bridge, the open sockets, rs/history, the ticket rules and the control knobs.

Threads: routes run on uvicorn's event loop, tests may call in from their own thread. State is guarded by one
lock; frames reach a socket through its own asyncio queue (``loop.call_soon_threadsafe``), so any thread may
publish and every socket sees frames in the order they were made. Timers (exit/entry delay, lights switched on for
a duration) follow the simulated clock and are applied by ``advance()``: the ticker calls it every 0.2 s and the
REST routes call it before they answer, so a test that moves the clock sees the consequences.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ringvault.sim.clock import SimClock
from ringvault.sim.config import SimConfig
from ringvault.sim.hub import access, rules, thermostat
from ringvault.sim.hub.history import Actor, HistoryStore, seed_history
from ringvault.sim.hub.model import (
    BASE_STATION_KIND,
    BRIDGE_KIND,
    HubAsset,
    HubDevice,
    HubLocation,
    make_device,
    seed_location,
)
from ringvault.sim.world import World

log = logging.getLogger("ringvault.sim.hub")

JSON = dict[str, Any]

#: [sim] The host name ``clap/tickets`` answers; the socket is served at ``/{HUB_HOST}/ws`` (the CLOUD_URL rule).
HUB_HOST = "alarm-hub.prd.rings.solutions"
TICK_S = 0.2
#: Sentinels for a socket's queue.
DROP = "__drop__"
CLOSE = "__close__"
#: Frames a socket may have waiting to be sent before it is dropped.
MAX_QUEUED = 10_000


class HubConnection:
    """One open hub socket: its location and the queue its sender task drains."""

    def __init__(self, location_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.location_id = location_id
        self.loop = loop
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.id = uuid.uuid4().hex[:12]

    def post(self, text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop has closed
            self.loop.call_soon_threadsafe(self._put, text)

    def _put(self, text: str) -> None:
        """On the loop: queue a frame; a client that has let ``MAX_QUEUED`` frames pile up is dropped [sim], so a
        reader that stopped reading cannot make the simulator hold frames without bound."""
        if self.queue.qsize() >= MAX_QUEUED:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(DROP)
            return
        self.queue.put_nowait(text)


@dataclass
class TicketRefusal:
    """Control knob: refuse the next ``remaining`` tickets (None: all) with ``status``, at the handshake or at
    ``clap/tickets``."""

    remaining: int | None
    status: int
    stage: str  # "handshake" | "ticket"


@dataclass(frozen=True)
class HandshakeVerdict:
    location_id: str | None
    status: int
    reason: str


class HubService:
    def __init__(self, config: SimConfig, clock: SimClock, world: World) -> None:
        self.config = config
        self.clock = clock
        self.world = world
        self.lock = threading.RLock()
        self.history = HistoryStore()
        self.locations: dict[str, HubLocation] = {}
        self.connections: dict[str, set[HubConnection]] = {}
        self.refusal: TicketRefusal | None = None
        self.mode_settings: dict[str, JSON] = {}
        self.mode_sharing: dict[str, JSON] = {}
        self.closed = False
        self._rng = random.Random(f"ringvault-sim-hub-runtime:{config.seed}")
        self._ticker: asyncio.Task[None] | None = None
        #: called with (location id, notice kind, device zid) for each alarm notice an operation produces; the
        #: simulator's state points it at the push stand-in (``SimState``)
        self.notify: Callable[[str, str, str | None], None] | None = None
        user = Actor("user", str(world.user_id), f"{config.first_name} {config.last_name}".strip())
        self.user = user
        for location in world.locations:
            hub = self._seed(location.id)
            if hub is None:
                continue
            self.locations[location.id] = hub
            seed_history(self.history, hub, seed=config.seed, start_s=world.start, days=config.history_days, user=user)

    def _seed(self, location_id: str) -> HubLocation | None:
        base: tuple[str, int, str] | None = None
        bridge: tuple[str, int, str] | None = None
        for device in self.world.devices_at(location_id):
            if device.family == "base_stations" and base is None and device.asset_uuid:
                base = (device.asset_uuid, device.id, device.name)
            elif device.family == "beams_bridges" and bridge is None and device.asset_uuid:
                bridge = (device.asset_uuid, device.id, device.name)
        if base is None and bridge is None:
            return None
        groups = self.world.groups_at(location_id)
        return seed_location(self.config.seed, location_id, base, bridge, groups[0].id if groups else None)

    # ----------------------------------------------------------------------------------------------- basics

    def location(self, location_id: str) -> HubLocation | None:
        return self.locations.get(location_id)

    def timing(self) -> rules.Timing:
        c = self.config
        return rules.Timing(
            c.hub_exit_delay_home_s, c.hub_exit_delay_away_s, c.hub_entry_delay_s, c.hub_light_duration_s
        )

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _effects(self, hub: HubLocation, actor: Actor | None = None) -> rules.Effects:
        return rules.Effects(hub, self.clock.now_ms(), actor or self.user, self.history, self._new_id)

    def _publish(self, location_id: str, frames: Iterable[JSON]) -> None:
        texts = [json.dumps(frame, separators=(",", ":")) for frame in frames]
        for conn in list(self.connections.get(location_id, ())):
            for text in texts:
                conn.post(text)

    def _finish(self, fx: rules.Effects) -> None:
        self._publish(fx.hub.location_id, fx.frames)
        notify = self.notify
        if notify is not None:
            for kind, zid in fx.notices:
                try:
                    notify(fx.hub.location_id, kind, zid)
                except Exception:  # a push failure never breaks the hub's answer
                    log.exception("sim hub: pushing the %s notice failed", kind)
        panel = fx.hub.devices.get(fx.hub.panel_zid or "")
        if panel is not None:  # [inferred] alarm locations take their location mode from the panel (§4.8)
            mode = {"none": "disarmed", "some": "home", "all": "away"}.get(str(panel.device.get("mode")))
            location = self.world.location(fx.hub.location_id)
            if mode is not None and location is not None and location.mode != mode:
                self.world.set_mode(location.id, mode)

    # ----------------------------------------------------------------------------------------------- tickets

    def ticket_refused_status(self) -> int | None:
        """For ``clap/tickets``: the status to answer when the refusal knob is set at the ticket stage."""
        with self.lock:
            return self._take_refusal("ticket")

    def _take_refusal(self, stage: str) -> int | None:
        refusal = self.refusal
        if refusal is None or refusal.stage != stage:
            return None
        if refusal.remaining is not None:
            refusal.remaining -= 1
            if refusal.remaining <= 0:
                self.refusal = None
        return refusal.status

    def check_ticket(self, ticket: str) -> HandshakeVerdict:
        """Redeem a ticket at the handshake (single use [inferred]; expires after ``hub_ticket_ttl_s`` [sim])."""
        with self.lock:
            details = self.world.consume_ticket(ticket) if ticket else None
            refused = self._take_refusal("handshake")
            if refused is not None:
                return HandshakeVerdict(None, refused, "ticket refused (control API)")
            if details is None or details.get("purpose") != "hub":
                return HandshakeVerdict(None, 401, "unknown or already used ticket")
            if self.clock.now() - float(details.get("issued_at", 0.0)) > self.config.hub_ticket_ttl_s:
                return HandshakeVerdict(None, 401, "expired ticket")
            location_id = str(details.get("location_id") or "")
            if location_id not in self.locations:
                return HandshakeVerdict(None, 404, "no hubs at this location")
            open_now = len(self.connections.get(location_id, ()))
            if open_now >= self.config.hub_max_sockets_per_location:
                return HandshakeVerdict(None, 429, "too many hub sockets for this location")
            return HandshakeVerdict(location_id, 101, "ok")

    # ----------------------------------------------------------------------------------------------- sockets

    def register(self, conn: HubConnection) -> None:
        with self.lock:
            self.connections.setdefault(conn.location_id, set()).add(conn)

    def unregister(self, conn: HubConnection) -> None:
        with self.lock:
            conns = self.connections.get(conn.location_id)
            if conns is not None:
                conns.discard(conn)

    def socket_count(self, location_id: str) -> int:
        with self.lock:
            return len(self.connections.get(location_id, ()))

    def frame_delay_s(self, location_id: str) -> float:
        hub = self.locations.get(location_id)
        return hub.frame_delay_s if hub is not None else 0.0

    def handle_frame(self, conn: HubConnection, text: str) -> list[JSON]:
        """A client frame; returns the answers for this socket only (updates go to every socket).

        Malformed frames (not JSON, not an object, no ``msg`` object) and unknown message types are logged and
        ignored [sim]: Ring's answer to them is unknown, and rca ignores what it does not understand."""
        try:
            frame = json.loads(text)
        except ValueError:
            log.info("hub socket %s: ignored a frame that is not JSON (%d chars)", conn.id, len(text))
            return []
        msg = frame.get("msg") if isinstance(frame, dict) else None
        if not isinstance(msg, dict):
            log.info("hub socket %s: ignored a frame without a msg object", conn.id)
            return []
        kind, dst = msg.get("msg"), msg.get("dst")
        with self.lock:
            self.advance_locked()
            hub = self.locations.get(conn.location_id)
            asset = hub.assets.get(dst) if hub is not None and isinstance(dst, str) else None
            if hub is None or asset is None:
                log.info("hub socket %s: ignored %r for an unknown asset", conn.id, kind)
                return []
            if kind == "DeviceInfoDocGetList":
                if not asset.answers:
                    return []
                docs = [d.document() for d in hub.devices_of(asset.uuid)]
                return [{"channel": "message",
                         "msg": {"msg": "DeviceInfoDocGetList", "datatype": "DeviceInfoDocType", "src": asset.uuid,
                                 "body": docs}}]  # fmt: skip
            if kind == "RoomGetList":
                if not asset.answers:
                    return []
                rooms = copy.deepcopy(hub.rooms.get(asset.uuid, []))
                return [{"channel": "message",
                         "msg": {"msg": "RoomGetList", "datatype": "RoomListV2Type", "src": asset.uuid,
                                 "body": rooms}}]  # fmt: skip
            if kind == "DeviceInfoSet":
                if asset.connection_status == "unknown":
                    return []  # [sim] an offline hub does nothing
                body = msg.get("body")
                fx = self._effects(hub)
                for item in body if isinstance(body, list) else []:
                    if not isinstance(item, dict):
                        continue
                    device = hub.devices.get(str(item.get("zid")))
                    if device is None or device.asset_uuid != asset.uuid:
                        continue  # [sim] writes go to the asset that listed the device (§7.4)
                    rules.apply_set(fx, device, item, self.timing())
                self._finish(fx)
                return []
            log.info("hub socket %s: ignored message type %r", conn.id, kind)
            return []

    # ----------------------------------------------------------------------------------------------- timers

    def advance(self) -> None:
        with self.lock:
            self.advance_locked()

    def advance_locked(self) -> None:
        for hub in self.locations.values():
            fx = self._effects(hub, rules.SYSTEM)
            rules.tick(fx)
            if fx.frames:
                self._finish(fx)

    def ensure_ticker(self) -> None:
        """Start the timer task on the running loop (call from async routes); idempotent."""
        if self.closed or (self._ticker is not None and not self._ticker.done()):
            return
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever(), name="ringvault-sim-hub-ticker")

    async def _tick_forever(self) -> None:
        while not self.closed:
            try:
                self.advance()
            except Exception:  # a bug in a rule must not stop the timers of every location
                log.exception("hub ticker")
            await asyncio.sleep(TICK_S)

    def close(self) -> None:
        """Stop the ticker and close every socket (``/_sim/reset`` replaces the service)."""
        self.closed = True
        with self.lock:
            for conns in self.connections.values():
                for conn in conns:
                    conn.post(CLOSE)

    # ----------------------------------------------------------------------------------------------- control

    def find_device(self, hub: HubLocation, ref: str) -> HubDevice | None:
        """By zid, else by exact name."""
        device = hub.devices.get(ref)
        if device is not None:
            return device
        return next((d for d in hub.devices.values() if d.name == ref), None)

    def find_asset(self, hub: HubLocation, ref: str) -> HubAsset | None:
        """By uuid, or ``base_station`` / ``bridge`` (or the asset kind)."""
        if ref in hub.assets:
            return hub.assets[ref]
        kind = {"base_station": BASE_STATION_KIND, "bridge": BRIDGE_KIND}.get(ref, ref)
        return next((a for a in hub.assets.values() if a.kind == kind), None)

    def listing(self, hub: HubLocation) -> JSON:
        with self.lock:
            return {
                "location_id": hub.location_id,
                "host": HUB_HOST,
                "sockets": len(self.connections.get(hub.location_id, ())),
                "frame_delay_ms": round(hub.frame_delay_s * 1000),
                "assets": [
                    {
                        "uuid": a.uuid,
                        "kind": a.kind,
                        "doorbotId": a.doorbot_id,
                        "connectionStatus": a.connection_status,
                        "silent": a.silent,
                        "devices": [d.document() for d in hub.devices_of(a.uuid)],
                        "rooms": copy.deepcopy(hub.rooms.get(a.uuid, [])),
                    }
                    for a in hub.assets.values()
                ],
            }

    def set_fault(self, hub: HubLocation, device: HubDevice, faulted: bool) -> None:
        with self.lock:
            self.advance_locked()
            fx = self._effects(hub)
            rules.set_fault(fx, device, faulted, self.timing())
            self._finish(fx)

    def impulse(self, hub: HubLocation, device: HubDevice, kind: str) -> None:
        with self.lock:
            self.advance_locked()
            fx = self._effects(hub, rules.SYSTEM)
            rules.impulse(fx, device, kind)
            self._finish(fx)

    def trigger_alarm(self, hub: HubLocation, kind: str) -> bool:
        with self.lock:
            fx = self._effects(hub, rules.SYSTEM)
            done = rules.trigger_alarm(fx, kind)
            self._finish(fx)
            return done

    def drop(self, location_id: str) -> int:
        with self.lock:
            conns = list(self.connections.get(location_id, ()))
        for conn in conns:
            conn.post(DROP)
        return len(conns)

    def send_disconnection_event(self, hub: HubLocation) -> int:
        """``datatype:"HubDisconnectionEventType"`` (rca reconnects on it); its ``msg`` name and empty body are
        [sim]."""
        asset = hub.base_station or next(iter(hub.assets.values()))
        frame = {"channel": "DataUpdate",
                 "msg": {"msg": "HubDisconnectionEvent", "datatype": "HubDisconnectionEventType", "src": asset.uuid,
                         "body": []}}  # fmt: skip
        with self.lock:
            self._publish(hub.location_id, [frame])
            return len(self.connections.get(hub.location_id, ()))

    def set_session(self, hub: HubLocation, asset: HubAsset, status: str) -> None:
        """``SessionInfo`` on channel ``DataUpdate`` (rca reads it there only, §7.5)."""
        with self.lock:
            asset.connection_status = status
            body = [{"assetUuid": asset.uuid, "connectionStatus": status, "doorbotId": asset.doorbot_id,
                     "kind": asset.kind, "sessionId": asset.session_id}]  # fmt: skip
            frame = {
                "channel": "DataUpdate",
                "msg": {"msg": "SessionInfo", "datatype": "SessionInfoType", "src": asset.uuid, "body": body},
            }
            self._publish(hub.location_id, [frame])
            for device in self.world.devices_at(hub.location_id):
                if device.asset_uuid == asset.uuid:
                    self.world.set_offline(device.id, status == "unknown")

    def add_device(self, hub: HubLocation, asset: HubAsset, document: JSON) -> HubDevice | None:
        """A new device of any type; pushed as a full document on ``DataUpdate`` and listed from now on. None when
        its zid is taken."""
        with self.lock:
            device = make_device(asset.uuid, document, self._rng)
            if device.zid in hub.devices:
                return None
            hub.devices[device.zid] = device
            fx = self._effects(hub, rules.SYSTEM)
            fx.update(device, dict(device.device), v2=dict(device.general), level=40)
            self._finish(fx)
            return device

    def report(self, hub: HubLocation, device: HubDevice, fields: JSON) -> None:
        """The device changed by itself (a lock turned by hand, jammed ...): ``fields`` pushed as its update."""
        with self.lock:
            self.advance_locked()
            fx = self._effects(hub)
            access.report(fx, device, fields)
            self._finish(fx)

    def set_refusing(self, hub: HubLocation, device: HubDevice, refusing: bool) -> None:
        """Make the device refuse (or take again) lock/valve commands (``sim.hub.access``)."""
        with self.lock:
            if refusing:
                hub.refusing.add(device.zid)
            else:
                hub.refusing.discard(device.zid)

    def set_temperature(self, hub: HubLocation, device: HubDevice, celsius: float) -> None:
        """A temperature sensor reports ``celsius`` (a thermostat's own sensor may change its operating status)."""
        with self.lock:
            self.advance_locked()
            fx = self._effects(hub)
            thermostat.set_temperature(fx, device, celsius)
            self._finish(fx)

    def push_raw(self, location_id: str, text: str) -> int:
        with self.lock:
            conns = list(self.connections.get(location_id, ()))
        for conn in conns:
            conn.post(text)
        return len(conns)
