"""Shared CLI plumbing: global options, running coroutines, and turning errors into one clear line."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from ringvault.textsafe import SanitizingFormatter, printable, printable_traceback

if TYPE_CHECKING:
    from rich.text import Text

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
EXIT_PARTIAL = 7  # finished, but some items failed (a one-line count says how many); the rest was kept


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


def echo(message: object = "", *, err: bool = False) -> None:
    """Print one line: every line a command prints goes through here (or through ``cell`` for a rich table), so that
    Ring-supplied text (device, location and customer names, kinds, Ring's messages) cannot carry terminal escapes
    or start a line of its own (see ``ringvault.textsafe``)."""
    typer.echo(printable(message), err=err)


def cell(value: object) -> Text:
    """A rich table cell or progress label: made printable, and never read as rich markup (a name such as
    ``[red]...`` is shown as typed)."""
    from rich.text import Text

    return Text(printable("" if value is None else value))


def label(value: object) -> str:
    """A progress-bar label (rich reads it as markup): made printable, with markup brackets escaped."""
    from rich.markup import escape

    return escape(printable(value))


def fail(message: str, *, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def exit_code_for(exc: BaseException) -> int:
    from ringvault.cloud import errors

    if isinstance(exc, errors.AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, errors.DeviceNotFoundError | errors.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, errors.CloudUnreachableError | errors.HubUnavailableError | errors.HubTimeoutError):
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
    if module.startswith("ringvault.archive.store") and type(exc).__name__ in (
        "UnknownSchemaError",
        "ArchiveDatabaseError",
    ):
        return str(exc)
    if not (module.startswith(("sqlalchemy", "psycopg")) or module == "sqlite3"):
        return None
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    detail = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if type(cause).__module__.startswith("psycopg"):  # PostgreSQL (RINGVAULT_DATABASE_URL)
        from ringvault.transport.redaction import redact

        return redact(
            f"the archive database failed ({type(cause).__name__}: {detail}); the failed step was rolled back. "
            "Check that the PostgreSQL server of RINGVAULT_DATABASE_URL is running and reachable, then run the "
            "command again"
        )
    return (
        f"the archive database failed ({type(cause).__name__}: {detail}); the failed step was rolled back. Check "
        "the archive's disk space and permissions (or that the file is a ringvault archive), then run the command "
        "again"
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (a test runner swaps it per command)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class _LineFormatter(SanitizingFormatter):
    """``warning: message`` for warnings and errors, the bare message below (the simulator's banner); with
    ``--debug`` every record as ``LEVEL logger: message``. Sanitized: no control characters from Ring's text."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s")
        self.debug = debug

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        if not self.debug and record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


_HANDLER = _StderrHandler()


@dataclass
class _RunState:
    debug: bool = False
    root_level: int | None = None  # the root logger's level before --debug lowered it


_STATE = _RunState()


def configure_logging(debug: bool) -> None:
    """The one log handler of every command: stderr, WARNING and up (everything with ``--debug``), each record
    through ``SanitizingFormatter`` so that a log line carries no terminal escapes or fake lines. Idempotent: every
    command of a process (a test session runs many) leaves the same single handler."""
    _STATE.debug = debug
    root = logging.getLogger()
    _HANDLER.setFormatter(_LineFormatter(debug=debug))
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    if debug and _STATE.root_level is None:
        _STATE.root_level = root.level
        root.setLevel(logging.DEBUG)
    elif not debug and _STATE.root_level is not None:
        root.setLevel(_STATE.root_level)
        _STATE.root_level = None


def _unwrap(exc: BaseException) -> BaseException:
    """The first real failure inside (nested) exception groups, such as a TaskGroup raises."""
    while isinstance(exc, ExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def python_error_line(exc: BaseException) -> str:
    """One line for a failure that is no ringvault error: Python itself gave up (data nested too deeply, a number
    too large, out of memory, text that cannot be encoded) or a bug. The traceback is for ``--debug``."""
    if isinstance(exc, RecursionError):
        what = "the data is nested too deeply to process"
    elif isinstance(exc, OverflowError):
        what = "a number is too large to handle"
    elif isinstance(exc, MemoryError):
        what = "out of memory"
    elif isinstance(exc, UnicodeError):
        what = "text that cannot be encoded or decoded"
    else:
        what = "an unexpected failure (a bug in ringvault; please report it)"
    return f"{what} ({_detail(exc)}); run again with --debug for the details"


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for any exception that ends a command."""
    from ringvault.cloud.errors import RingError  # only once a command has failed: --help stays light

    exc = _unwrap(exc)
    if isinstance(exc, RingError):
        return exc.one_line, exit_code_for(exc)
    line = database_error_line(exc) or disk_error_line(exc)
    return (line if line is not None else python_error_line(exc)), EXIT_ERROR


def is_click_control(exc: BaseException) -> bool:
    """typer's and click's Exit and Abort and click's usage errors are how commands end on purpose (Exit and Abort
    are RuntimeErrors, so they must be told apart from failures)."""
    import click

    controls = (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException)
    return isinstance(exc, controls)


def fail_for(exc: BaseException, *, code_for: Callable[[BaseException], int] | None = None) -> NoReturn:
    """End the command with the one line for ``exc`` (after its traceback, with ``--debug``)."""
    if _STATE.debug:
        typer.echo(printable_traceback((type(exc), exc, exc.__traceback__)), err=True)
    line, code = error_line(exc)
    fail(line, code=code_for(_unwrap(exc)) if code_for is not None else code)


def run(
    coro: Coroutine[Any, Any, T],
    *,
    debug: bool = False,
    code_for: Callable[[BaseException], int] | None = None,
    interrupted: str = "interrupted",
) -> T:
    """Run a coroutine; any failure becomes one line on stderr and a meaningful exit code (``code_for`` picks the
    code of a ringvault error; the default is ``exit_code_for``)."""
    configure_logging(debug or _STATE.debug)
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        fail(interrupted, code=130)
    except Exception as exc:
        if is_click_control(exc):
            raise
        fail_for(exc, code_for=code_for)


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
