"""``ringvault serve``: the seed-001 REST connector and the JSON API over the archive, on 127.0.0.1 by default."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ringvault.cli.common import EXIT_ERROR, EXIT_USAGE, fail, options

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from ringvault.server.portability_jobs import WorkerSettings
    from ringvault.server.portability_settings import PortabilityServerSettings

DEFAULT_KEY_ENV = "RINGVAULT_API_KEY"
#: with the archive on PostgreSQL: 1 (default) runs the Data Portability steps in serve too, 0 leaves them to workers
WORKER_ENV = "RINGVAULT_PORTABILITY_WORKER"
_SWITCH = {"1": True, "on": True, "true": True, "yes": True, "0": False, "off": False, "false": False, "no": False}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def _api_key(api_key_env: str | None) -> str | None:
    """The key from the environment variable named by ``--api-key-env`` (default RINGVAULT_API_KEY)."""
    name = (api_key_env or DEFAULT_KEY_ENV).strip()
    value = os.environ.get(name, "").strip()
    if not value:
        if api_key_env:
            fail(f"--api-key-env {name}: that environment variable is not set or empty", code=EXIT_USAGE)
        return None
    return value


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is one clear line (and --port 0 picks a free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}; check --host", code=EXIT_USAGE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections made before uvicorn accepts wait in the backlog instead of being refused
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port or stop what uses it",
            code=EXIT_ERROR,
        )
    return sock


def _worker_settings(portability: PortabilityServerSettings | None) -> tuple[bool, WorkerSettings | None]:
    """With the archive on PostgreSQL: whether this server runs Data Portability steps itself
    (``RINGVAULT_PORTABILITY_WORKER``, default 1) and how (``RINGVAULT_WORKER_*``, as ``ringvault worker``)."""
    from ringvault.archive.store import configured_database_url

    raw = os.environ.get(WORKER_ENV, "").strip().lower() or "1"
    if raw not in _SWITCH:
        fail(f"{WORKER_ENV} must be 1 or 0 (on or off), not {raw!r}", code=EXIT_USAGE)
    if portability is None or configured_database_url() is None:
        return _SWITCH[raw], None
    from ringvault.server.portability_jobs import WorkerSettings
    from ringvault.server.portability_worker import default_concurrency

    try:
        return _SWITCH[raw], WorkerSettings.from_env(concurrency=default_concurrency(portability))
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)


def _notifications(app: FastAPI) -> str:
    """Whether Ring's notifications can arrive (the SNS subscriptions kept in the archive), for the banner."""
    try:
        status = app.state.ctx.portability.notifications()
    except Exception as exc:  # the banner must not stop the server; status endpoints say more
        return f"notifications: unknown ({type(exc).__name__})"
    return f"notifications: {status.text}"


def _server_class(base: type[uvicorn.Server]) -> Any:
    """uvicorn's server, ending the live streams first when it stops: uvicorn waits for open responses to finish
    before the app's shutdown runs, and a Server-Sent Events stream never finishes by itself."""

    class Server(base):  # type: ignore[valid-type,misc]
        def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
            super().__init__(config)
            self._app = app

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            self._app.state.ctx.events.close_streams()
            await super().shutdown(sockets)

    return Server


def _portability(cloud_url: str | None) -> PortabilityServerSettings | None:
    """The Data Portability app from the environment (None: not configured); a partial one is a usage error."""
    from ringvault.portability.config import PortabilityConfigError
    from ringvault.server.portability_settings import PortabilityServerSettings

    try:
        return PortabilityServerSettings.from_env(cloud_url=cloud_url)
    except PortabilityConfigError as exc:
        fail(exc.one_line, code=EXIT_USAGE)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on. Anything but loopback needs an API key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port (0: any free port).")] = 8080,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            envvar="RINGVAULT_ARCHIVE",
            show_envvar=True,
            help="Archive directory (default: the platform data dir, e.g. ~/.local/share/ringvault/archive).",
        ),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help=f"Read the API key from this environment variable (default {DEFAULT_KEY_ENV}). With a key, every "
            "endpoint but /healthz needs `Authorization: Bearer <key>`.",
        ),
    ] = None,
    no_watch: Annotated[
        bool,
        typer.Option(
            "--no-watch",
            help="Do not follow Ring's events into the archive (by default serve does, while logged in, and streams "
            "them at /api/events/stream).",
        ),
    ] = False,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="Also bridge Ring to this MQTT broker for Home Assistant (as `ringvault mqtt`, on the watcher's "
            "events): mqtt[s]://[user[:password]@]host[:port]; password also from RINGVAULT_MQTT_PASSWORD.",
        ),
    ] = None,
    mqtt_ca_file: Annotated[
        Path | None, typer.Option("--mqtt-ca-file", help="With mqtts:// --broker: the CA that signed its certificate.")
    ] = None,
    mqtt_base_topic: Annotated[str, typer.Option("--mqtt-base-topic", help="The MQTT topic tree root.")] = "ringvault",
    mqtt_discovery_prefix: Annotated[
        str, typer.Option("--mqtt-discovery-prefix", help="Home Assistant's MQTT discovery prefix.")
    ] = "homeassistant",
    mqtt_motion_hold: Annotated[
        float, typer.Option("--mqtt-motion-hold", min=1, help="As `ringvault mqtt --motion-hold`.")
    ] = 180.0,
    mqtt_ding_hold: Annotated[
        float, typer.Option("--mqtt-ding-hold", min=1, help="As `ringvault mqtt --ding-hold`.")
    ] = (180.0),
    mqtt_snapshot: Annotated[
        list[str] | None, typer.Option("--mqtt-snapshot", help="As `ringvault mqtt --snapshot` (repeat).")
    ] = None,
    mqtt_bypass: Annotated[str, typer.Option("--mqtt-bypass", help="As `ringvault mqtt --bypass`.")] = "none",
    mqtt_health_check: Annotated[
        float, typer.Option("--mqtt-health-check", min=60, help="As `ringvault mqtt --health-check`.")
    ] = 300.0,
    mqtt_command_rate: Annotated[
        int, typer.Option("--mqtt-command-rate", min=1, max=1000, help="As `ringvault mqtt --command-rate`.")
    ] = 10,
) -> None:
    """Serve the archive over HTTP: the seed-001 connector (/connector/download/...), the JSON API (/api/...),
    OpenAPI docs at /docs. Binds 127.0.0.1 unless an API key is set."""
    opts = options(ctx)
    key = _api_key(api_key_env)

    from ringvault.server.security import check_bind, check_key

    try:
        if key is not None:
            check_key(key)
        check_bind(host, key)
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)
    api_options = opts.api_options()  # a bad --cloud-url is a usage error now, not a failed job later
    portability = _portability(api_options.cloud_url)
    in_process_worker, worker_settings = _worker_settings(portability)

    from ringvault.archive.store import database_label, default_archive_dir

    archive_dir = (archive or default_archive_dir()).expanduser()
    mqtt_broker = None
    if broker is not None:
        from ringvault.cli.mqtt import parse_broker

        if no_watch:
            fail("--broker bridges the watcher's events: drop --no-watch", code=EXIT_USAGE)
        mqtt_broker = parse_broker(broker, mqtt_ca_file)
    sock = _listen(host, port)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        mqtt_options = None
        if mqtt_broker is not None:
            from ringvault.cli.mqtt import bridge_options

            mqtt_options = bridge_options(
                base_topic=mqtt_base_topic, discovery_prefix=mqtt_discovery_prefix,
                serve_url=f"http://{shown}:{bound_port}", motion_hold=mqtt_motion_hold, ding_hold=mqtt_ding_hold,
                snapshot=mqtt_snapshot, bypass=mqtt_bypass, health_check=mqtt_health_check,
                command_rate=mqtt_command_rate, prefix="--mqtt-",
            )  # fmt: skip
        import uvicorn

        from ringvault.server import ServerSettings, create_app

        settings = ServerSettings(
            archive_dir=archive_dir,
            token_file=Path(opts.token_file).expanduser() if opts.token_file else None,
            cloud_url=opts.cloud_url,
            api_key=key,
            debug=opts.debug,
            portability=portability,
            portability_worker=in_process_worker,
            worker=worker_settings,
            watch=not no_watch,
            mqtt_broker=mqtt_broker,
            mqtt_options=mqtt_options,
        )
        from ringvault.portability.config import PortabilityConfigError

        try:
            app = create_app(settings)
        except PortabilityConfigError as exc:  # the server secret is unreadable or readable by others
            fail(exc.one_line, code=EXIT_USAGE)
        except Exception as exc:  # the archive cannot be opened: say why in one line
            fail(f"cannot open the archive {archive_dir}: {exc}", code=EXIT_ERROR)
        typer.echo(f"ringvault serve: listening on http://{shown}:{bound_port} (web UI at /, OpenAPI docs at /docs)")
        typer.echo(f"archive: {archive_dir}")
        typer.echo(
            "API key: required (Authorization: Bearer ..., or the web UI's login form)"
            if key
            else "API key: none (loopback clients only)"
        )
        if portability is None:
            typer.echo("Data Portability: off (set RINGVAULT_PORTABILITY_CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URI)")
        else:
            path = (
                "/portability/notifications/<secret>/v1"
                if portability.notification_secret
                else "/portability/notifications/v1"
            )
            typer.echo(
                f"Data Portability: customers connect at /portability/connect; Ring notifies {path}; "
                f"{_notifications(app)}"
            )
            typer.echo(
                "Data Portability: invite a named customer with `ringvault portability invite NAME` "
                "(or POST /portability/invites)"
            )
            if worker_settings is not None:
                who = (
                    "this server and any `ringvault worker`"
                    if in_process_worker
                    else f"`ringvault worker` processes ({WORKER_ENV}=0)"
                )
                typer.echo(f"Data Portability: steps queued in the database for {who}")
        typer.echo(f"database: {database_label(archive_dir)}")  # a PostgreSQL URL with its password masked
        logged_in = opts.token_store().path.exists()
        if not logged_in:
            typer.echo("note: not logged in to Ring yet; syncs fail until you run `ringvault login`")
        if no_watch:
            typer.echo("watcher: off (--no-watch); live feed at /api/events/stream")
        elif logged_in:
            typer.echo("watcher: on: the archive follows Ring's events; live feed at /api/events/stream")
        else:
            typer.echo("watcher: off until `ringvault login`; live feed at /api/events/stream")
        if mqtt_broker is not None:
            typer.echo(f"MQTT: bridging to {mqtt_broker.display} under {mqtt_base_topic}/ while the watcher runs")
        config = uvicorn.Config(
            app,
            log_level="debug" if opts.debug else "info",
            lifespan="on",
            server_header=False,
            proxy_headers=False,
        )
        # uvicorn shuts down gracefully on Ctrl+C, then re-raises it: a requested stop is a success.
        with contextlib.suppress(KeyboardInterrupt):
            _server_class(uvicorn.Server)(config, app).run(sockets=[sock])
        typer.echo("ringvault serve: stopped")
    finally:
        sock.close()
