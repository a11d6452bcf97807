"""What every route of the server shares: its settings, the archive, the sync job queue and the Ring client factory.

The Ring client is built per operation, exactly as the CLI builds it (the stored login, ``cloud_url``), so a new
``ringvault login`` is picked up without restarting the server and a missing or revoked login fails one operation
with its one-line error instead of the server.

Data Portability steps run in this process on SQLite (``LocalWorkQueue``). With the archive on PostgreSQL they are
procrastinate jobs in the same database (``portability_jobs``): the server opens them at start (applying their schema
when missing), queues the steps of new customers and of Ring's notifications there, and runs a worker of its own
unless ``portability_worker`` is off (``RINGVAULT_PORTABILITY_WORKER=0``: ``ringvault worker`` processes do the work).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.archive.store import ArchiveStore
from ringvault.archive.sync import ProgressCallback, SyncOptions, SyncSummary, run_sync
from ringvault.mqtt.options import BridgeOptions
from ringvault.server.events import EventBroker
from ringvault.server.jobs import JobManager
from ringvault.server.live import LiveRelays
from ringvault.server.watcher import ServeWatcher

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.mqtt.options import BrokerUrl
    from ringvault.server.portability_hub import PortabilityHub
    from ringvault.server.portability_jobs import PortabilityJobs, ProcrastinateWorkQueue, WorkerSettings
    from ringvault.server.portability_settings import PortabilityServerSettings

__all__ = ["ServerContext", "ServerSettings"]

log = logging.getLogger("ringvault.server")

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServerSettings:
    """How ``ringvault serve`` runs.

    ``token_file``: the stored Ring login (``None``: the default, ``$RINGVAULT_HOME/token.json``). ``cloud_url``:
    send Ring traffic to a simulator. ``api_key``: when set, every endpoint but ``/healthz`` needs
    ``Authorization: Bearer <key>``. ``sync_defaults``: the sync options each job and connector call starts from.
    ``portability``: the Data Portability app whose customers the server imports (``None``: those routes answer
    503). ``portability_worker``: with the archive on PostgreSQL, run the steps in this process too (off when
    ``ringvault worker`` processes run them); ``worker``: how (None: the defaults, ``RINGVAULT_PORTABILITY_MAX_IMPORTS``
    + 2 steps at once).

    ``watch``: run the watcher (``server/watcher.py``) while a login is stored, so the archive follows Ring's events
    (``ringvault serve`` turns it on unless ``--no-watch``; off by default for ``create_app``). ``events_*``: the
    live feed's bounds (``server/events.py``): open streams, each stream's queue, the heartbeat interval.
    ``live_*``: the bounds of live views relayed to browsers (``server/live.py``): relays at once, the longest one,
    how long a browser has to connect.
    """

    archive_dir: Path
    token_file: Path | None = None
    cloud_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    debug: bool = False
    sync_defaults: SyncOptions = field(default_factory=SyncOptions)
    max_queued_jobs: int = 8
    kept_jobs: int = 100
    portability: PortabilityServerSettings | None = None
    portability_worker: bool = True
    worker: WorkerSettings | None = None
    watch: bool = False
    events_max_subscribers: int = 100
    events_queue_size: int = 256
    events_heartbeat_s: float = 15.0
    live_max_relays: int = 4
    live_max_duration_s: float = 600.0
    live_connect_timeout_s: float = 30.0
    mqtt_broker: BrokerUrl | None = None
    """``serve --broker``: the watcher also runs the MQTT bridge on its ``EventWatch`` (``mqtt_options``)."""
    mqtt_options: BridgeOptions | None = None

    def __post_init__(self) -> None:
        self.archive_dir = Path(self.archive_dir).expanduser()


def _worker_ended(task: asyncio.Task[None]) -> None:
    """The in-process worker stops only with the server; anything else is said (queued steps wait for a worker)."""
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "the Data Portability worker of this server stopped: %s; queued steps wait for a `ringvault worker`",
            task.exception(),
        )


class ServerContext:
    """The live state of one server: ``settings``, the open ``store``, the ``jobs`` queue and the ``clock``."""

    def __init__(self, settings: ServerSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or _now
        self.store = ArchiveStore.open(settings.archive_dir)
        self.jobs = JobManager(self.sync, max_queued=settings.max_queued_jobs, keep=settings.kept_jobs)
        self.events = EventBroker(
            self.store,
            max_subscribers=settings.events_max_subscribers,
            queue_size=settings.events_queue_size,
            heartbeat_s=settings.events_heartbeat_s,
        )
        self.watcher = ServeWatcher(
            enabled=settings.watch,
            token_file=self.token_file,
            open_api=self.open_api,
            store=self.store,
            archive_dir=settings.archive_dir,
            broker=self.events,
            mqtt=(settings.mqtt_broker, settings.mqtt_options or BridgeOptions()) if settings.mqtt_broker else None,
        )
        #: live views relayed to browsers (``server/live.py``)
        self.live = LiveRelays(
            self.open_api,
            max_relays=settings.live_max_relays,
            max_duration_s=settings.live_max_duration_s,
            connect_timeout_s=settings.live_connect_timeout_s,
        )
        self.portability: PortabilityHub | None = None
        #: the procrastinate jobs of the steps (archive on PostgreSQL only) and this process's worker of them
        self.portability_jobs: PortabilityJobs | None = None
        self._step_queue: ProcrastinateWorkQueue | None = None
        self._worker: asyncio.Task[None] | None = None
        if settings.portability is not None:
            from ringvault.server.portability_hub import PortabilityHub
            from ringvault.server.portability_runner import ImporterRunner

            runner = ImporterRunner(self.store, self.archive_dir)
            if self.store.engine.dialect.name == "postgresql":
                from ringvault.server.portability_jobs import PortabilityJobs

                self.portability_jobs = PortabilityJobs(self.store.engine.url.render_as_string(hide_password=False))
                self._step_queue = self.portability_jobs.work_queue(retry_s=self.worker_settings.step_retry_s)
            self.portability = PortabilityHub(settings.portability, self.store, runner, queue=self._step_queue)

    @property
    def archive_dir(self) -> Path:
        return self.settings.archive_dir

    @property
    def token_file(self) -> Path:
        """The stored Ring login this server uses."""
        from ringvault.config import token_path

        return self.settings.token_file.expanduser() if self.settings.token_file else token_path()

    def open_api(self) -> RingApi:
        """A Ring client on the stored login (raises ``NotLoggedInError`` when there is none); close it after use."""
        from ringvault.cloud.api import RingApi
        from ringvault.cloud.auth import RefreshTokenAuth
        from ringvault.cloud.options import RingApiOptions
        from ringvault.cloud.tokens import TokenStore

        auth = RefreshTokenAuth(token_store=TokenStore(self.token_file))
        return RingApi(auth, RingApiOptions(cloud_url=self.settings.cloud_url, debug=self.settings.debug))

    async def sync(self, options: SyncOptions, progress: ProgressCallback | None = None) -> SyncSummary:
        """One sync run with a fresh Ring client (the caller holds the job lock)."""
        async with self.open_api() as api:
            return await run_sync(api, self.store, self.archive_dir, options, progress=progress)

    @property
    def worker_settings(self) -> WorkerSettings:
        """How this process's worker of the Data Portability jobs runs (PostgreSQL)."""
        from ringvault.server.portability_jobs import WorkerSettings
        from ringvault.server.portability_worker import default_concurrency

        if self.settings.worker is not None:
            return self.settings.worker
        assert self.settings.portability is not None
        return WorkerSettings(concurrency=default_concurrency(self.settings.portability))

    async def start(self) -> None:
        """Called when the server starts: the live feed and the watcher; resume unfinished Data Portability imports
        (on PostgreSQL: open the jobs, queue every customer's next step there, start this process's worker unless
        that is off)."""
        self.events.start()
        self.watcher.start()
        if self.portability is None:
            return
        jobs, queue = self.portability_jobs, self._step_queue
        if jobs is not None:
            await jobs.open()
        await self.portability.start()
        if jobs is not None and queue is not None and self.settings.portability_worker:
            from ringvault.server.portability_worker import step_runner

            run = step_runner(self.portability, queue)
            self._worker = asyncio.get_running_loop().create_task(
                jobs.run_worker(
                    run, self.worker_settings, queue=queue, name=f"ringvault-serve-{os.getpid()}",
                    install_signal_handlers=False,
                ),
                name="dp-worker",
            )  # fmt: skip
            self._worker.add_done_callback(_worker_ended)

    async def aclose(self) -> None:
        await self.live.aclose()
        await self.watcher.aclose()
        await self.events.aclose()
        await self.jobs.shutdown()
        if self._worker is not None:  # a clean stop: running steps get shutdown_timeout_s, then are queued again
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
        if self.portability is not None:
            await self.portability.aclose()
        if self.portability_jobs is not None:
            await self.portability_jobs.aclose()
        self.store.close()
