"""``ringvault mqtt``: every Ring device and event on an MQTT broker, with Home Assistant discovery, until Ctrl+C.

The options map one to one onto ``BridgeOptions``; ``serve --broker`` takes the essentials (``bridge_options``
builds both). Heavy imports (aiomqtt, the client, the archive) happen inside the command: ``--help`` stays fast.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ringvault.cli.common import EXIT_AUTH, EXIT_USAGE, echo, fail, options, run

if TYPE_CHECKING:
    from ringvault.archive.store import ArchiveStore
    from ringvault.cloud.api import RingApi
    from ringvault.mqtt.options import BridgeOptions, BrokerUrl

#: What ``--snapshot`` and ``--bypass`` accept (kept here so that ``--help`` imports nothing of the bridge).
SNAPSHOT_MODES = ("motion", "ding", "interval")
BYPASS_POLICIES = ("none", "faulted", "always")


def register(app: typer.Typer) -> None:
    app.command("mqtt")(mqtt)


def parse_broker(url: str, ca_file: Path | None) -> BrokerUrl:
    """The ``--broker`` URL, or one usage line (without the password) and exit 2."""
    from ringvault.mqtt.options import BrokerUrl, BrokerUrlError

    if ca_file is not None and not ca_file.expanduser().is_file():
        fail(f"--ca-file {ca_file}: no such file (the CA certificate, PEM, that signed the broker's)", code=EXIT_USAGE)
    try:
        broker = BrokerUrl.parse(url, ca_file=str(ca_file.expanduser()) if ca_file is not None else None)
    except BrokerUrlError as exc:
        fail(str(exc), code=EXIT_USAGE)
    if ca_file is not None and not broker.tls:
        fail("--ca-file is for mqtts:// brokers (TLS); use mqtts://host:8883 or drop --ca-file", code=EXIT_USAGE)
    return broker


def bridge_options(
    *,
    base_topic: str = "ringvault",
    discovery_prefix: str = "homeassistant",
    motion_hold: float = 180.0,
    ding_hold: float = 180.0,
    snapshot: list[str] | None = None,
    snapshot_interval: float = 3600.0,
    bypass: str = "none",
    serve_url: str | None = None,
    health_check: float = 300.0,
    command_rate: int = 10,
    prefix: str = "--",
) -> BridgeOptions:
    """``BridgeOptions`` from the command's options, or one usage line and exit 2 (naming the option as the command
    spells it: ``prefix`` is ``--mqtt-`` for ``serve``)."""
    from ringvault.mqtt.options import BridgeOptions

    modes = list(snapshot) if snapshot is not None else ["motion", "ding"]
    bad = [mode for mode in modes if mode not in SNAPSHOT_MODES]
    if bad:
        fail(f"{prefix}snapshot {bad[0]!r}: the modes are {', '.join(SNAPSHOT_MODES)}", code=EXIT_USAGE)
    if bypass not in BYPASS_POLICIES:
        fail(f"{prefix}bypass {bypass!r}: the policies are {', '.join(BYPASS_POLICIES)}", code=EXIT_USAGE)
    if serve_url is not None and not serve_url.startswith(("http://", "https://")):
        fail(f"--serve-url {serve_url!r} must start with http:// or https://", code=EXIT_USAGE)
    try:
        return BridgeOptions(
            base_topic=base_topic, discovery_prefix=discovery_prefix, motion_hold_s=motion_hold,
            ding_hold_s=ding_hold, snapshot_modes=frozenset(modes),  # type: ignore[arg-type]  # checked above
            snapshot_interval_s=snapshot_interval,
            bypass_policy=bypass, serve_url=serve_url.rstrip("/") if serve_url else None,  # type: ignore[arg-type]
            health_check_s=health_check, command_rate=command_rate,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)


def mqtt(
    ctx: typer.Context,
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            help="The MQTT broker: mqtt[s]://[user[:password]@]host[:port]. Keep the password out of the process "
            "list with mqtt://user@host and RINGVAULT_MQTT_PASSWORD.",
        ),
    ],
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="For mqtts://: the CA certificate (PEM) that signed the broker's.")
    ] = None,
    base_topic: Annotated[str, typer.Option("--base-topic", help="The root of the topic tree.")] = "ringvault",
    discovery_prefix: Annotated[
        str, typer.Option("--discovery-prefix", help="Home Assistant's MQTT discovery prefix.")
    ] = "homeassistant",
    motion_hold: Annotated[
        float, typer.Option("--motion-hold", min=1, help="Seconds a motion sensor stays on after a motion.")
    ] = 180.0,
    ding_hold: Annotated[
        float, typer.Option("--ding-hold", min=1, help="Seconds a ding sensor stays on after a doorbell press.")
    ] = 180.0,
    snapshot: Annotated[
        list[str] | None,
        typer.Option(
            "--snapshot",
            help="When camera images refresh: motion, ding, interval (repeat; default motion and ding). Battery "
            "cameras at most every 10 minutes.",
        ),
    ] = None,
    snapshot_interval: Annotated[
        float, typer.Option("--snapshot-interval", min=10, help="Seconds between interval snapshots.")
    ] = 3600.0,
    bypass: Annotated[
        str,
        typer.Option("--bypass", help="Which sensors arming the alarm bypasses: none, faulted (open ones), always."),
    ] = "none",
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Also archive each event and its recording here (as `watch --archive`); events then link to it.",
        ),
    ] = None,
    serve_url: Annotated[
        str | None,
        typer.Option("--serve-url", help="The URL of `ringvault serve` on that archive, for recording links."),
    ] = None,
    health_check: Annotated[
        float,
        typer.Option(
            "--health-check",
            min=60,
            help="Seconds between the checks of Ring's history against what push delivered (one page per camera).",
        ),
    ] = 300.0,
    command_rate: Annotated[
        int,
        typer.Option("--command-rate", min=1, max=1000, help="Commands accepted per device per 10 seconds."),
    ] = 10,
) -> None:
    """Publish every Ring device and event to an MQTT broker with Home Assistant discovery, until Ctrl+C or
    SIGTERM. Events are kept while the broker is away and delivered when it is back."""
    opts = options(ctx)
    url = parse_broker(broker, ca_file)
    settings = bridge_options(
        base_topic=base_topic, discovery_prefix=discovery_prefix, motion_hold=motion_hold, ding_hold=ding_hold,
        snapshot=snapshot, snapshot_interval=snapshot_interval, bypass=bypass, serve_url=serve_url,
        health_check=health_check, command_rate=command_rate,
    )  # fmt: skip
    store: ArchiveStore | None = None
    if archive is not None:
        from ringvault.archive.store import ArchiveStore

        archive = archive.expanduser()
        store = ArchiveStore.open(archive)

    from ringvault.cli.common import with_api
    from ringvault.mqtt.link import BrokerLoginError

    def code_for(exc: BaseException) -> int:
        from ringvault.cli.common import exit_code_for

        return EXIT_AUTH if isinstance(exc, BrokerLoginError) else exit_code_for(exc)

    async def body(api: RingApi) -> None:
        await run_bridge(api, url, settings, store, archive)

    try:
        run(with_api(opts, body), debug=opts.debug, code_for=code_for)
    finally:
        if store is not None:
            store.close()


async def run_bridge(
    api: RingApi, broker: BrokerUrl, settings: BridgeOptions, store: ArchiveStore | None, archive: Path | None
) -> None:
    """The bridge until SIGINT/SIGTERM (a clean stop: ``offline`` published), or until the broker refuses the
    login (``BrokerLoginError``)."""
    from ringvault.archive.follow import EventWatch
    from ringvault.mqtt.bridge import Bridge
    from ringvault.mqtt.link import BrokerLoginError

    watch = None
    links = None
    if store is not None and archive is not None:
        from ringvault.archive.watch import ArchiveFollower
        from ringvault.mqtt.archive import StoreLinks

        watch = EventWatch(api, ArchiveFollower(api, store, archive))
        links = StoreLinks(store, archive, settings.serve_url)
    bridge = Bridge(api, settings, broker, watch=watch, archive=links)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bridge.start()
        if watch is not None:  # started after the bridge subscribed to it: no event goes unpublished
            await watch.start()
        echo(f"mqtt: publishing to {broker.display} under {settings.base_topic}/; Ctrl+C stops", err=True)
        waiter = asyncio.create_task(bridge.wait())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if waiter in done:
            error = waiter.exception()
            if isinstance(error, BrokerLoginError):
                raise error
        else:
            waiter.cancel()
    finally:
        await bridge.aclose()
        if watch is not None:
            await watch.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    echo("mqtt stopped", err=True)
