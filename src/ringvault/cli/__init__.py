"""The ``ringvault`` command line. Commands live one group per module; heavy imports happen inside commands so
``ringvault --help`` stays fast."""

from __future__ import annotations

import gc
import io
import sys
from typing import Annotated

import typer

from ringvault import __version__
from ringvault.cli import (
    alarm,
    auth,
    chime,
    devices,
    intercom,
    lights,
    live,
    mode,
    motion,
    mqtt,
    portability,
    serve,
    sim,
    snapshot,
    sync,
    watch,
    worker,
)
from ringvault.cli.common import GlobalOptions, configure_logging, fail_for, is_click_control

app = typer.Typer(
    name="ringvault",
    help="Get your data out of Ring and keep it. Every command talks to Ring's cloud, or to the simulator when "
    "RINGVAULT_CLOUD_URL / --cloud-url is set.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ringvault {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    cloud_url: Annotated[
        str | None,
        typer.Option(
            "--cloud-url",
            envvar="RINGVAULT_CLOUD_URL",
            help="Send Ring traffic to {URL}/HOST/PATH instead of https://HOST/PATH (e.g. the simulator).",
            show_envvar=True,
        ),
    ] = None,
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            envvar="RINGVAULT_TOKEN_FILE",
            help="Where the login (refresh token + hardware id) is kept; default $RINGVAULT_HOME/token.json.",
            show_envvar=True,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Log every request (secrets are redacted).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(cloud_url=cloud_url, token_file=token_file, debug=debug)
    configure_logging(debug)


auth.register(app)
devices.register(app)
chime.register(app)
intercom.register(app)
motion.register(app)
mode.register(app)
alarm.register(app)
lights.register(app)
sim.register(app)
sync.register(app)
snapshot.register(app)
live.register(app)
serve.register(app)
portability.register(app)
watch.register(app)
mqtt.register(app)
worker.register(app)


def _tolerant_output() -> None:
    """A terminal that cannot show a character (an ASCII locale, a device named with an emoji) gets an escape
    (``\\xe9``) instead of ending the command with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    """The ``ringvault`` entry point: whatever ends a command ends it with one line and an exit code, never a
    traceback (except with ``--debug``, which prints the traceback before the line). Ctrl-C and exits pass."""
    _tolerant_output()
    try:
        app()
    except Exception as exc:
        if is_click_control(exc):
            raise
        try:
            fail_for(exc)
        except Exception as ended:  # fail_for ends with typer.Exit: outside typer's own handling, exit here
            raise SystemExit(getattr(ended, "exit_code", 1)) from None
    finally:
        # The command is over and the process is about to exit: every file and the database were closed by the
        # command itself. Interpreter shutdown would otherwise run the cycle collector over the ~100,000 objects
        # the libraries (SQLAlchemy, pydantic, httpx) created: 0.2-0.3 s of a 1 s re-sync, for nothing.
        gc.freeze()
