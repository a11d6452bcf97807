"""What every route of the server shares: its settings, the archive, the sync job queue and the Ring client factory.

The Ring client is built per operation, exactly as the CLI builds it (the stored login, ``cloud_url``), so a new
``ringvault login`` is picked up without restarting the server and a missing or revoked login fails one operation
with its one-line error instead of the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ringvault.archive.store import ArchiveStore
from ringvault.archive.sync import ProgressCallback, SyncOptions, SyncSummary, run_sync
from ringvault.server.jobs import JobManager

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.server.portability_hub import PortabilityHub
    from ringvault.server.portability_settings import PortabilityServerSettings

__all__ = ["ServerContext", "ServerSettings"]

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
    503).
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

    def __post_init__(self) -> None:
        self.archive_dir = Path(self.archive_dir).expanduser()


class ServerContext:
    """The live state of one server: ``settings``, the open ``store``, the ``jobs`` queue and the ``clock``."""

    def __init__(self, settings: ServerSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or _now
        self.store = ArchiveStore.open(settings.archive_dir)
        self.jobs = JobManager(self.sync, max_queued=settings.max_queued_jobs, keep=settings.kept_jobs)
        self.portability: PortabilityHub | None = None
        if settings.portability is not None:
            from ringvault.server.portability_hub import PortabilityHub
            from ringvault.server.portability_runner import ImporterRunner

            runner = ImporterRunner(self.store, self.archive_dir)
            self.portability = PortabilityHub(settings.portability, self.store, runner)

    @property
    def archive_dir(self) -> Path:
        return self.settings.archive_dir

    def open_api(self) -> RingApi:
        """A Ring client on the stored login (raises ``NotLoggedInError`` when there is none); close it after use."""
        from ringvault.cloud.api import RingApi
        from ringvault.cloud.auth import RefreshTokenAuth
        from ringvault.cloud.options import RingApiOptions
        from ringvault.cloud.tokens import TokenStore
        from ringvault.config import token_path

        path = self.settings.token_file.expanduser() if self.settings.token_file else token_path()
        auth = RefreshTokenAuth(token_store=TokenStore(path))
        return RingApi(auth, RingApiOptions(cloud_url=self.settings.cloud_url, debug=self.settings.debug))

    async def sync(self, options: SyncOptions, progress: ProgressCallback | None = None) -> SyncSummary:
        """One sync run with a fresh Ring client (the caller holds the job lock)."""
        async with self.open_api() as api:
            return await run_sync(api, self.store, self.archive_dir, options, progress=progress)

    async def start(self) -> None:
        """Called when the server starts: resume unfinished Data Portability imports."""
        if self.portability is not None:
            await self.portability.start()

    async def aclose(self) -> None:
        await self.jobs.shutdown()
        if self.portability is not None:
            await self.portability.aclose()
        self.store.close()
