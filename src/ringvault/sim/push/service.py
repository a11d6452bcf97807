"""The push service: one per running simulator (``SimState.push``). It plays Google's part (check-ins, GCM
registrations, Firebase installations, FCM registrations, the MCS outbox of every device) and hands Ring's
notifications to it.

Threads: HTTP routes and the MCS server run on the simulator's event loop; tests may call in from their own
thread. State is guarded by one lock; a connection learns about new messages through ``McsLink.wake`` (thread-safe).
A message stays in its device's outbox until the client acknowledges its ``persistent_id`` (a selective ack, or
the id listed in the next ``LoginRequest``), so a client that was away gets what it missed (reference §8.1).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ringvault.sim.config import SimConfig
from ringvault.sim.push.config import PushConfig
from ringvault.sim.push.webpush import b64url, encrypt

log = logging.getLogger("ringvault.sim.push")

#: The sender of every Ring push: the Ring Android app's Firebase sender id (reference §8.1).
RING_SENDER_ID = "876313859327"
#: ``DataMessageStanza.category`` of Chrome-style web-push registrations (the ``app`` of c2dm/register3).
CHROME_CATEGORY = "org.chromium.linux"
#: The endpoint prefix a web-push registration names (``https://fcm.googleapis.com/fcm/send/<gcm token>``).
FCM_SEND_PREFIX = "https://fcm.googleapis.com/fcm/send/"
#: [sim] installation auth tokens live a week (Google answers ``expiresIn: "604800s"``, reference §8.1).
INSTALLATION_TTL_S = 604800
#: [sim] a device keeps at most this many unacknowledged messages; older ones are discarded (FCM documents 100
#: pending messages per device before it sends ``deleted_messages``).
MAX_PENDING = 100
#: [sim] Google's registration hosts take anonymous requests: each table holds at most this many records, so a
#: loop of check-ins cannot grow the simulator without bound (beyond it: 429 RESOURCE_EXHAUSTED).
MAX_RECORDS = 10_000


class Exhausted(Exception):
    """A registration table is full (``MAX_RECORDS``)."""


def _room(table: dict[Any, Any]) -> None:
    if len(table) >= MAX_RECORDS:
        raise Exhausted


class McsLink(Protocol):
    """What the service needs of a live MCS connection (``ringvault.sim.push.mcs``)."""

    android_id: int

    def wake(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Checkin:
    android_id: int
    security_token: int
    checkins: int = 1


@dataclass
class GcmRegistration:
    token: str
    android_id: int
    app_id: str  # X-subtype: "wp:receiver.push.com#<uuid>"
    sender: str


@dataclass
class Installation:
    fid: str
    project: str
    app_id: str
    auth_token: str
    refresh_token: str
    expires_at: float


@dataclass
class FcmRegistration:
    token: str
    project: str
    gcm_token: str
    endpoint: str
    p256dh: str
    auth: str
    fid: str
    serial: int = 0
    """Order of registration (1, 2 ...): ``stale_registrations`` silences the ones made before it was set."""


@dataclass
class Message:
    """One push in a device's outbox."""

    persistent_id: str
    android_id: int
    app_id: str
    app_data: list[tuple[str, str]]
    raw_data: bytes
    sent_ms: int
    ready_at: float  # time.monotonic(): delivery_delay_s
    copies: int = 1  # duplicate_next: sent this many times on its first delivery
    drop_first: bool = False  # drop_next: the first attempt drops the connection instead
    deliveries: int = 0


@dataclass
class PushStats:
    sent: int = 0
    delivered: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    dropped_connections: int = 0
    undeliverable: int = 0
    logins: int = 0
    refused_logins: int = 0
    registrations: int = 0
    checkins: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


def _random_id() -> int:
    """A 19-digit id below 2**63 (GCM android ids and security tokens are 64-bit numbers)."""
    low = 1_000_000_000_000_000_000
    return low + secrets.randbelow(2**63 - low)


class PushService:
    """Google's side of push for the simulated cloud, and the delivery of Ring's notifications."""

    def __init__(self, config: SimConfig) -> None:
        self._sim_config = config
        self.lock = threading.RLock()
        self.checkins: dict[int, Checkin] = {}
        self.gcm: dict[str, GcmRegistration] = {}
        self.installations: dict[str, Installation] = {}
        self.fcm: dict[str, FcmRegistration] = {}
        self.outbox: dict[int, dict[str, Message]] = {}
        self.links: dict[int, McsLink] = {}
        self.stats = PushStats()
        #: where the MCS endpoint listens; set by the server that runs it (``SimServer``)
        self.mcs_host: str | None = None
        self.mcs_port: int | None = None
        self.mcs_certificate: str | None = None
        self._fcm_serial = 0
        #: ``stale_registrations``: registrations with a serial up to this one get nothing (None: knob off)
        self._stale_upto: int | None = None

    @property
    def config(self) -> PushConfig:
        """The current knobs (read at each use: ``PATCH /_sim/config`` replaces the section)."""
        return self._sim_config.push

    # -----------------------------------------------------------------------------------------------------------
    # Google registration (android.clients.google.com, firebaseinstallations, fcmregistrations)

    def checkin(self, android_id: int | None, security_token: int | None) -> Checkin:
        """A check-in. With a known ``(android_id, security_token)`` the same identity answers again (a restart
        with stored credentials, reference §8.1); otherwise a new device identity is issued [sim]."""
        with self.lock:
            self.stats.checkins += 1
            if android_id is not None and security_token is not None:
                known = self.checkins.get(android_id)
                if known is not None and known.security_token == security_token:
                    known.checkins += 1
                    return known
            _room(self.checkins)
            new_id = _random_id()
            while new_id in self.checkins:
                new_id = _random_id()
            record = Checkin(android_id=new_id, security_token=_random_id())
            self.checkins[new_id] = record
            return record

    def authenticate_device(self, android_id: str | int, security_token: str | int) -> Checkin | None:
        """The checked-in device these AidLogin / MCS credentials name, or None."""
        try:
            aid, token = int(android_id), int(security_token)
        except (TypeError, ValueError):
            return None
        with self.lock:
            known = self.checkins.get(aid)
            return known if known is not None and known.security_token == token else None

    def register_gcm(self, device: Checkin, app_id: str, sender: str) -> GcmRegistration:
        """c2dm/register3: a GCM token for one (device, app id) pair; registering the pair again answers the
        same token [sim]."""
        with self.lock:
            for existing in self.gcm.values():
                if existing.android_id == device.android_id and existing.app_id == app_id:
                    return existing
            _room(self.gcm)
            token = f"{b64url(secrets.token_bytes(8))}:APA91b{b64url(secrets.token_bytes(96))}"
            record = GcmRegistration(token=token, android_id=device.android_id, app_id=app_id, sender=sender)
            self.gcm[token] = record
            return record

    def install(self, project: str, app_id: str, fid: str | None) -> Installation:
        """firebaseinstallations: an installation (the client's FID when it sent a usable one)."""
        with self.lock:
            _room(self.installations)
            if not fid or len(fid) > 64 or fid in self.installations:
                fid = b64url(bytes([0x70 | secrets.randbelow(16)]) + secrets.token_bytes(16))[:22]
            record = Installation(
                fid=fid,
                project=project,
                app_id=app_id,
                auth_token=f"eyJhbGciOiJFUzI1NiJ9.sim.{b64url(secrets.token_bytes(48))}",
                refresh_token=f"3_{b64url(secrets.token_bytes(48))}",
                expires_at=time.time() + INSTALLATION_TTL_S,
            )
            self.installations[fid] = record
            return record

    def installation_by_token(self, auth_token: str) -> Installation | None:
        with self.lock:
            now = time.time()
            return next(
                (i for i in self.installations.values() if i.auth_token == auth_token and i.expires_at > now), None
            )

    def refresh_installation(self, fid: str, refresh_token: str) -> Installation | None:
        with self.lock:
            record = self.installations.get(fid)
            if record is None or not secrets.compare_digest(record.refresh_token, refresh_token):
                return None
            record.auth_token = f"eyJhbGciOiJFUzI1NiJ9.sim.{b64url(secrets.token_bytes(48))}"
            record.expires_at = time.time() + INSTALLATION_TTL_S
            return record

    def register_fcm(
        self, installation: Installation, project: str, gcm_token: str, p256dh: str, auth: str
    ) -> FcmRegistration:
        """fcmregistrations: the FCM token Ring will be told, bound to the GCM token and the web-push keys."""
        with self.lock:
            _room(self.fcm)
            self.stats.registrations += 1
            self._fcm_serial += 1
            token = f"{installation.fid}:APA91b{b64url(secrets.token_bytes(105))}"
            record = FcmRegistration(
                token=token,
                project=project,
                gcm_token=gcm_token,
                endpoint=FCM_SEND_PREFIX + gcm_token,
                p256dh=p256dh,
                auth=auth,
                fid=installation.fid,
                serial=self._fcm_serial,
            )
            self.fcm[token] = record
            return record

    # -----------------------------------------------------------------------------------------------------------
    # delivery

    def send(self, fcm_token: str, payload: bytes) -> str | None:
        """Queue ``payload`` (a JSON document) for the registration behind ``fcm_token``; answers its
        ``persistent_id``, or None when the token is unknown or the message was lost (``lose_next``)."""
        with self.lock:
            registration = self.fcm.get(fcm_token)
            gcm = self.gcm.get(registration.gcm_token) if registration is not None else None
            if registration is None or gcm is None:
                self.stats.undeliverable += 1
                return None
            now_ms = int(time.time() * 1000)
            persistent_id = f"0:{now_ms}%{secrets.token_hex(8)}"
            if self.config.lose_next > 0:
                self.config.lose_next -= 1
                self.stats.lost += 1
                log.info("push: message %s lost (lose_next)", persistent_id)
                return None
            if self._is_stale(registration):
                self.stats.lost += 1
                log.info("push: message %s lost (stale_registrations)", persistent_id)
                return None
            sealed = encrypt(payload, registration.p256dh, registration.auth)
            message = Message(
                persistent_id=persistent_id,
                android_id=gcm.android_id,
                app_id=gcm.app_id,
                app_data=[
                    ("crypto-key", sealed.crypto_key),
                    ("encryption", sealed.encryption),
                    ("subtype", gcm.app_id),
                ],
                raw_data=sealed.raw_data,
                sent_ms=now_ms,
                ready_at=time.monotonic() + self.config.delivery_delay_s,
            )
            if self.config.duplicate_next > 0:
                self.config.duplicate_next -= 1
                message.copies = 2
                self.stats.duplicated += 1
            if self.config.drop_next > 0:
                self.config.drop_next -= 1
                message.drop_first = True
            box = self.outbox.setdefault(gcm.android_id, {})
            box[persistent_id] = message
            while len(box) > MAX_PENDING:
                del box[next(iter(box))]
            self.stats.sent += 1
            link = self.links.get(gcm.android_id)
        if link is not None:
            link.wake()
        return persistent_id

    def stale_registrations_changed(self) -> None:
        """``stale_registrations`` was just set (``PATCH /_sim/push/faults``): every registration made so far goes
        stale now, and only those; turned off, every registration receives again."""
        with self.lock:
            self._stale_upto = self._fcm_serial if self.config.stale_registrations else None

    def _is_stale(self, registration: FcmRegistration) -> bool:
        """Whether ``stale_registrations`` silences this registration (caller holds the lock). Set through
        ``PATCH /_sim/config`` (which does not call ``stale_registrations_changed``), the cut is made at the first
        push after it."""
        if not self.config.stale_registrations:
            self._stale_upto = None
            return False
        if self._stale_upto is None:
            self._stale_upto = self._fcm_serial
        return registration.serial <= self._stale_upto

    def due(self, android_id: int, already_sent: set[str]) -> tuple[list[tuple[Message, int]], bool, float | None]:
        """What a connection should do now: the messages to send (with how many copies), whether to drop the
        connection instead (``drop_next``), and when the next delayed message becomes due (monotonic)."""
        now = time.monotonic()
        out: list[tuple[Message, int]] = []
        next_due: float | None = None
        with self.lock:
            for message in self.outbox.get(android_id, {}).values():
                if message.persistent_id in already_sent:
                    continue
                if message.ready_at > now:
                    next_due = message.ready_at if next_due is None else min(next_due, message.ready_at)
                    continue
                if message.drop_first:
                    message.drop_first = False
                    self.stats.dropped_connections += 1
                    return [], True, None
                out.append((message, message.copies if message.deliveries == 0 else 1))
                message.deliveries += 1
                self.stats.delivered += 1
        return out, False, next_due

    def pending(self, android_id: int) -> list[Message]:
        """The device's unacknowledged messages, oldest first."""
        with self.lock:
            return list(self.outbox.get(android_id, {}).values())

    def acknowledge(self, android_id: int, persistent_ids: Iterable[str]) -> int:
        """Forget acknowledged messages (selective ack, or ``received_persistent_id`` at login)."""
        count = 0
        with self.lock:
            box = self.outbox.get(android_id, {})
            for pid in persistent_ids:
                if box.pop(pid, None) is not None:
                    count += 1
            self.stats.acked += count
        return count

    def attach(self, link: McsLink) -> None:
        """A logged-in connection; a newer login of the same device replaces (and closes) the older one [sim]."""
        with self.lock:
            old = self.links.get(link.android_id)
            self.links[link.android_id] = link
            self.stats.logins += 1
        if old is not None and old is not link:
            old.close()

    def detach(self, link: McsLink) -> None:
        with self.lock:
            if self.links.get(link.android_id) is link:
                del self.links[link.android_id]

    def drop_connections(self) -> int:
        """Abort every MCS connection (the fault knob and ``POST /_sim/push/drop``)."""
        with self.lock:
            links = list(self.links.values())
            self.links.clear()
            self.stats.dropped_connections += len(links)
        for link in links:
            link.close()
        return len(links)

    def connected(self) -> list[int]:
        with self.lock:
            return sorted(self.links)

    def record_event(self, entry: dict[str, Any]) -> None:
        """Remember what a notification was sent for (``GET /_sim/push``), newest last, bounded."""
        with self.lock:
            self.stats.events.append(entry)
            del self.stats.events[:-200]

    def close(self) -> None:
        """Close every connection (simulator reset or shutdown)."""
        self.drop_connections()
