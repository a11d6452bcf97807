"""``PushListener``: firebase-messaging's ``FcmPushClient`` set up for Ring, told to Ring, and kept running.

1. Credentials come from ``PushStore`` (a restart only checks in again, §8.1); ``checkin_or_register`` registers
   anew when there are none (or Google refuses the stored ones), and the new ones are saved at once.
2. Ring learns the FCM token by ``PATCH clients_api/device`` (§8.2), and again after every new Ring session; only
   **204** counts as accepted (as python-ring-doorbell requires).
3. The library reconnects dropped MCS connections itself, but it gives up for good after a few errors of one kind
   (``abort_on_sequential_error_count``) or on any unexpected exception in its read loop, and then only its
   ``run_state`` says so (python-ring-doorbell #526). A watchdog task looks at that state and starts a new client
   with the same credentials, with a growing pause between attempts.

Every message is handed to ``on_message(message, persistent_id)``; the listener itself never raises into the
library (an exception in the callback counts as an error there, and three of them stop the client). ``on_connected``
is called after every login MCS accepts: the first, each reconnect the library makes itself, and each client the
watchdog starts (``connections`` counts them); messages sent during a gap MCS may not hold (a lost one) are then in
the cameras' history, so that is when a caller catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from firebase_messaging import FcmPushClientConfig, FcmPushClientRunState, FcmRegisterConfig

from ringvault.cloud.endpoints import clients_api
from ringvault.cloud.errors import RingError
from ringvault.cloud.push.connect import (
    McsEndpoint,
    McsEndpointPushClient,
    McsUnavailableError,
    cloud_session,
    discover_mcs_endpoint,
)
from ringvault.cloud.push.store import PushStore, register_credential_secrets
from ringvault.transport.redaction import install_log_redaction, redact, register_secret

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from ringvault.cloud.http import RingHttp

__all__ = ["RING_FCM", "PushListener", "PushSetupError"]

log = logging.getLogger(__name__)

#: The Ring Android app's Firebase project (reference §8.1).
RING_FCM = FcmRegisterConfig(
    project_id="ring-17770",
    app_id="1:876313859327:android:e10ec6ddb3c81f39",
    api_key="AIzaSyCv-hdFBmmdBBJadNy-TFwB-xN_H5m3Bk8",
    messaging_sender_id="876313859327",
)
PN_DICT_VERSION = "2.0.0"
#: How long MCS may take to accept the login before push counts as unavailable.
START_TIMEOUT_S = 30.0
WATCH_INTERVAL_S = 1.0
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class PushSetupError(RingError):
    """Push notifications cannot be set up (registration refused, Ring refused the token, MCS unreachable)."""

    hint = "ringvault falls back to polling the cameras' history; check that outbound TCP 5228 is allowed."


def client_config() -> FcmPushClientConfig:
    """Heartbeats as python-ring-doorbell asks for them (server every 60 s, client after 120 s idle, checked every
    15 s), short connection retries (the watchdog takes over after that), and no verbose logging (it logs tokens)."""
    return FcmPushClientConfig(
        server_heartbeat_interval=60,
        client_heartbeat_interval=120,
        monitor_interval=15,
        connection_retry_count=2,
        start_seconds_before_retry_connect=1.0,
        reset_interval=1.0,
        log_debug_verbose=False,
    )


def device_patch(token: str, device_model: str) -> dict[str, Any]:
    """The ``PATCH clients_api/device`` body of reference §8.2."""
    return {
        "device": {
            "metadata": {
                "api_version": 11,
                "device_model": device_model,
                "pn_dict_version": PN_DICT_VERSION,
                "pn_service": "fcm",
            },
            "os": "android",
            "push_notification_token": token,
        }
    }


class PushListener:
    """Registers with FCM (or reuses stored credentials), tells Ring the token, and keeps the MCS client running.

    ``start()`` raises ``PushSetupError`` (one line saying why) when push cannot be set up; ``on_gave_up`` is called
    when a running listener cannot be restarted (``RESTART_BACKOFF_S`` attempts in a row failed) so that the caller
    can fall back to polling; the watchdog keeps trying after that (and the caller may then run both: events are
    de-duplicated downstream).
    """

    def __init__(
        self,
        http: RingHttp,
        store: PushStore,
        on_message: Callable[[dict[str, Any], str], None],
        *,
        cloud_url: str | None,
        device_model: str = "ringvault",
        received_persistent_ids: list[str] | None = None,
        on_gave_up: Callable[[str], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        fresh_registration: bool = False,
    ) -> None:
        self.http = http
        self.store = store
        self.on_message = on_message
        self.cloud_url = cloud_url
        self.device_model = device_model
        self.on_gave_up = on_gave_up
        self.on_connected = on_connected
        self.fresh_registration = fresh_registration
        """Register with FCM anew at ``start`` instead of reusing the stored credentials (a token Ring has stopped
        pushing to is replaced; the new credentials are stored once the library has them)."""
        self.connections = 0
        """Logins MCS accepted (the first one, then one per reconnect or restart)."""
        self._received = list(received_persistent_ids or [])
        self.client_config = client_config()
        """The library's settings for every client this listener starts."""
        self.restart_backoff_s: tuple[float, ...] = RESTART_BACKOFF_S
        """Pauses before the watchdog's restart attempts; after the last one it calls ``on_gave_up``."""
        self._credentials: dict[str, Any] | None = None
        self._session: ClientSession | None = None
        self._endpoint: McsEndpoint | None = None
        self._client: McsEndpointPushClient | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._unsubscribe_session: Callable[[], None] | None = None
        self._stopping = False
        self._background: set[asyncio.Task[None]] = set()
        self.token: str | None = None
        self.token_updates = 0
        """Times the token was sent to Ring again after a new session."""
        self.registrations = 0
        """New FCM registrations made by this listener (0 when stored credentials were reused)."""
        self.restarts = 0

    @property
    def running(self) -> bool:
        client = self._client
        return client is not None and client.run_state is FcmPushClientRunState.STARTED

    # -- start and stop --------------------------------------------------------------------------------------
    async def start(self) -> None:
        install_log_redaction("ringvault.cloud", "firebase_messaging")
        self._session = cloud_session(self.cloud_url)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        self._unsubscribe_session = self.http.on_session_created.subscribe(self._on_session_created)
        self._watchdog = asyncio.create_task(self._watch(), name="ringvault-push-watchdog")

    async def _start(self) -> None:
        assert self._session is not None
        if self.cloud_url is not None:
            try:
                self._endpoint = await discover_mcs_endpoint(self._session, self.cloud_url)
            except McsUnavailableError as exc:
                raise PushSetupError(f"push unavailable: {exc}") from None
        if self.fresh_registration:
            self._credentials = None
        else:
            self._credentials = await asyncio.to_thread(self.store.load_credentials, self.cloud_url)
        client = self._new_client()
        try:
            token = await client.checkin_or_register()
        except Exception as exc:  # the library raises RuntimeError, KeyError, aiohttp errors ...
            raise PushSetupError(f"FCM registration failed: {redact(str(exc)) or type(exc).__name__}") from None
        self._credentials = client.credentials
        if not token:
            raise PushSetupError("FCM registration returned no token")
        register_secret(token)
        self.token = token
        await self._tell_ring()
        await self._run(client)

    def _new_client(self) -> McsEndpointPushClient:
        client = McsEndpointPushClient(
            self._on_fcm_message,
            RING_FCM,
            self._credentials,
            self._on_credentials,
            received_persistent_ids=list(self._received),
            config=self.client_config,
            http_client_session=self._session,
        )
        client.mcs_endpoint = self._endpoint
        client.on_login = self._on_login
        return client

    def _on_login(self) -> None:
        self.connections += 1
        if self.connections > 1:
            log.info("push: connected again (login %d)", self.connections)
        if self.on_connected is not None:
            self.on_connected()

    async def _run(self, client: McsEndpointPushClient) -> None:
        """Start ``client`` and wait until MCS accepted the login; PushSetupError when it does not."""
        self._client = client
        await client.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while client.run_state is not FcmPushClientRunState.STARTED:
            if _gave_up(client) or loop.time() > deadline:
                await client.stop()
                where = f"{self._endpoint.host}:{self._endpoint.port}" if self._endpoint else "mtalk.google.com:5228"
                raise PushSetupError(f"the push server (MCS) at {where} did not accept the connection")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
            self._unsubscribe_session = None
        for task in list(self._background):
            task.cancel()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watchdog
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.stop()
            for task in list(client.tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- Ring ------------------------------------------------------------------------------------------------
    async def _tell_ring(self) -> None:
        """``PATCH clients_api/device`` with the token; PushSetupError unless Ring answers 204."""
        assert self.token is not None
        try:
            response = await self.http.request(
                "PATCH", clients_api("device"), json=device_patch(self.token, self.device_model)
            )
        except RingError as exc:
            raise PushSetupError(f"Ring refused the push token: {exc.one_line}") from None
        if response.status_code != 204:
            raise PushSetupError(f"Ring answered HTTP {response.status_code} to the push token (204 expected)")

    def _on_session_created(self, _: None) -> None:
        """A new Ring session forgets the token: tell Ring again (§8.2). In a task of its own: ``RingHttp`` emits
        this while it holds its session lock, which the PATCH itself needs."""
        if self.token is None or self._stopping:
            return
        task = asyncio.create_task(self._tell_ring_again(), name="ringvault-push-token")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _tell_ring_again(self) -> None:
        try:
            await self._tell_ring()
        except PushSetupError as exc:
            log.warning("push: %s; events may stop until the next session", exc)
        else:
            self.token_updates += 1

    # -- library callbacks -----------------------------------------------------------------------------------
    def _on_credentials(self, credentials: dict[str, Any]) -> None:
        """New credentials (a new registration): keep them before anything else happens."""
        register_credential_secrets(credentials)
        self.registrations += 1
        self._credentials = credentials
        self.store.save_credentials(credentials, self.cloud_url)
        log.info("push: registered with FCM; credentials saved to %s", self.store.credentials_path or "memory")

    def _on_fcm_message(self, message: dict[str, Any], persistent_id: str, _context: object = None) -> None:
        self._received.append(persistent_id)
        del self._received[:-100]
        try:
            self.on_message(message, persistent_id)
        except Exception:  # never into the library: three errors there stop its client
            log.exception("push: handling message %s failed", persistent_id)

    # -- watchdog --------------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        failures = 0
        while not self._stopping:
            await asyncio.sleep(WATCH_INTERVAL_S)
            client = self._client
            if client is None or not _gave_up(client):
                continue
            reason = "the push client stopped after repeated errors"
            log.warning("push: %s; restarting it", reason)
            while not self._stopping:
                pause = self.restart_backoff_s[min(failures, len(self.restart_backoff_s) - 1)]
                await asyncio.sleep(pause)
                try:
                    await self._restart()
                except PushSetupError as exc:
                    failures += 1
                    reason = str(exc)
                    if failures == len(self.restart_backoff_s) and self.on_gave_up is not None:
                        self.on_gave_up(reason)
                    continue
                failures = 0
                self.restarts += 1
                log.info("push: listening again")
                break

    async def _restart(self) -> None:
        old, self._client = self._client, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        if self.cloud_url is not None and self._session is not None:
            try:
                self._endpoint = await discover_mcs_endpoint(self._session, self.cloud_url)
            except McsUnavailableError as exc:
                raise PushSetupError(f"push unavailable: {exc}") from None
        await self._run(self._new_client())


def _gave_up(client: McsEndpointPushClient) -> bool:
    """The library stopped on its own: STOPPING/STOPPED, or one of its two tasks ended (its read loop returns when
    it could not connect, leaving its monitor task running and the state at STARTING_CONNECTION)."""
    if client.run_state in (FcmPushClientRunState.STOPPING, FcmPushClientRunState.STOPPED):
        return True
    return any(task.done() for task in client.tasks)
