"""Shared CLI plumbing: global options, running coroutines, and turning errors into one clear line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.options import RingApiOptions
    from ringvault.cloud.tokens import TokenStore

T = TypeVar("T")

# Exit codes scripts can rely on (documented in the README).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_UNREACHABLE = 5
EXIT_RATE_LIMITED = 6


@dataclass
class GlobalOptions:
    cloud_url: str | None = None
    token_file: str | None = None
    debug: bool = False

    def token_store(self) -> TokenStore:
        from ringvault.cloud.tokens import TokenStore
        from ringvault.config import token_path

        return TokenStore(Path(self.token_file).expanduser() if self.token_file else token_path())

    def api_options(self) -> RingApiOptions:
        from ringvault.cloud.options import RingApiOptions

        try:
            return RingApiOptions(cloud_url=self.cloud_url, debug=self.debug)
        except ValueError as exc:
            fail(str(exc), code=EXIT_USAGE)


def options(ctx: typer.Context) -> GlobalOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def fail(message: str, *, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def exit_code_for(exc: BaseException) -> int:
    from ringvault.cloud import errors

    if isinstance(exc, errors.AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, errors.DeviceNotFoundError | errors.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, errors.CloudUnreachableError):
        return EXIT_UNREACHABLE
    if isinstance(exc, errors.RateLimitedError):
        return EXIT_RATE_LIMITED
    return EXIT_ERROR


def disk_error_line(exc: BaseException) -> str | None:
    """One line for a local disk that refuses writes (full, over quota, read-only) anywhere in a command."""
    if not isinstance(exc, OSError):
        return None
    from ringvault.archive.files import DISK_REFUSAL_ERRNOS  # only once a command has failed: --help stays light

    if exc.errno not in DISK_REFUSAL_ERRNOS:
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    return (
        f"{exc.strerror or exc}{where}; what was finished is kept. Free space (or fix the mount) and run the command "
        "again: it continues where it stopped"
    )


def database_error_line(exc: BaseException) -> str | None:
    """One line for a failure of the archive database (SQLAlchemy, sqlite3, an unknown schema), else None.

    Checked by module name, so that ``ringvault --help`` never imports SQLAlchemy."""
    module = type(exc).__module__
    if module.startswith("ringvault.archive.store") and type(exc).__name__ == "UnknownSchemaError":
        return str(exc)
    if not (module.startswith("sqlalchemy") or module == "sqlite3"):
        return None
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    detail = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return (
        f"the archive database failed ({type(cause).__name__}: {detail}); the failed step was rolled back. Check "
        "the archive's disk space and permissions (or that the file is a ringvault archive), then run the command "
        "again"
    )


def run(coro: Coroutine[Any, Any, T], *, debug: bool = False) -> T:
    """Run a coroutine; any RingError becomes one line on stderr and a meaningful exit code."""
    from ringvault.cloud.errors import RingError

    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(coro)
    except RingError as exc:
        fail(exc.one_line, code=exit_code_for(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


async def with_api(opts: GlobalOptions, body: Callable[[RingApi], Awaitable[T]]) -> T:
    """Open a RingApi on the stored login, run ``body``, close it."""
    from ringvault.cloud.api import RingApi
    from ringvault.cloud.auth import RefreshTokenAuth

    auth = RefreshTokenAuth(token_store=opts.token_store())
    async with RingApi(auth, opts.api_options()) as api:
        return await body(api)


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
