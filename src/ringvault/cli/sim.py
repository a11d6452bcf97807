"""``ringvault sim``: run the simulated Ring cloud as a real server."""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Annotated

import typer

from ringvault.cli.common import EXIT_USAGE, fail

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)


def sim(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port (0: any free one).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback only).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", help="World seed: same seed, same world.")] = 1,
    locations: Annotated[int, typer.Option("--locations", min=1, max=20)] = 2,
    events_per_device: Annotated[int, typer.Option("--events-per-device", min=0, max=5000)] = 40,
    history_days: Annotated[float, typer.Option("--history-days", min=0.01)] = 30.0,
    family: Annotated[
        list[str] | None,
        typer.Option("--family", help="Only devices of this family (doorbots, stickup_cams, ...); repeat."),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="Account e-mail.")] = None,
    password: Annotated[str | None, typer.Option("--password", help="Account password.")] = None,
    no_2fa: Annotated[bool, typer.Option("--no-2fa", help="Log in without a verification code.")] = False,
    tsv_state: Annotated[str, typer.Option("--tsv-state", help="2FA channel: sms, email or totp.")] = "sms",
    token_ttl: Annotated[int, typer.Option("--token-ttl", min=1, help="expires_in of access tokens (s).")] = 3600,
    session_ttl: Annotated[float, typer.Option("--session-ttl", min=1, help="Session lifetime (s).")] = 86400.0,
    refresh_grace: Annotated[float, typer.Option("--refresh-grace", min=0, help="Superseded token grace (s).")] = 0.0,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, help="Added to every request.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option("--jitter-ms", min=0, help="Random extra latency.")] = 0.0,
    bandwidth_kbps: Annotated[float, typer.Option("--bandwidth-kbps", min=0, help="Per-connection media cap.")] = 0.0,
    rate_limit_rps: Annotated[float, typer.Option("--rate-limit-rps", min=0, help="429 above this rate.")] = 0.0,
    retry_after: Annotated[int, typer.Option("--retry-after", min=0, help="Retry-After sent with 429 (s).")] = 1,
    error_rate: Annotated[float, typer.Option("--error-rate", min=0, max=1, help="Fraction answered 5xx.")] = 0.0,
    timeout_rate: Annotated[float, typer.Option("--timeout-rate", min=0, max=1, help="Fraction answered 504.")] = 0.0,
    drop_rate: Annotated[float, typer.Option("--drop-rate", min=0, max=1, help="Media bodies cut mid-way.")] = 0.0,
    recording_delay: Annotated[
        float, typer.Option("--recording-delay", min=0, help="Recordings not ready for N s after an event.")
    ] = 0.0,
    expire_access_every: Annotated[
        int, typer.Option("--expire-access-every", min=0, help="Expire access tokens every N requests.")
    ] = 0,
    media_cache: Annotated[
        Path | None, typer.Option("--media-cache", help="Cache directory for generated JPEG/MP4 media.")
    ] = None,
    dp_auto_consent: Annotated[
        bool, typer.Option("--dp-auto-consent", help="Data Portability: authorize redirects with a code at once.")
    ] = False,
    dp_customers: Annotated[
        int, typer.Option("--dp-customers", min=0, max=10000, help="Data Portability: extra simulated customers.")
    ] = 0,
    dp_completion_delay: Annotated[
        float, typer.Option("--dp-completion-delay", min=0, help="Data Portability: seconds until a query completes.")
    ] = 2.0,
    dp_notification_url: Annotated[
        str | None,
        typer.Option("--dp-notification-url", help="Data Portability: the demo app's notification endpoint."),
    ] = None,
    dp_big_file_bytes: Annotated[
        int, typer.Option("--dp-big-file-bytes", min=0, help="Data Portability: add one streamed file this big.")
    ] = 0,
) -> None:
    """Run the simulated Ring cloud on 127.0.0.1. Point ringvault at it with RINGVAULT_CLOUD_URL=http://127.0.0.1:PORT.

    Control and inspection: http://127.0.0.1:PORT/_sim/ (world, 2FA code, request counts, faults, clock)."""
    if host not in LOOPBACK:
        fail(f"the simulator only binds to loopback (127.0.0.1), not {host!r}", code=EXIT_USAGE)
    if tsv_state not in ("sms", "email", "totp"):
        fail(f"--tsv-state must be sms, email or totp, not {tsv_state!r}", code=EXIT_USAGE)
    from typing import cast, get_args

    from ringvault.sim.config import DeviceFamily, FaultConfig, SimConfig
    from ringvault.sim.portability.config import PortabilityConfig, demo_app
    from ringvault.sim.server import SimServer

    known = get_args(DeviceFamily)
    for name in family or []:
        if name not in known:
            fail(f"--family must be one of {', '.join(known)}, not {name!r}", code=EXIT_USAGE)
    app = demo_app()
    if dp_notification_url:
        app = app.model_copy(update={"notification_url": dp_notification_url})

    account: dict[str, str] = {}
    if email:
        account["email"] = email
    if password:
        account["password"] = password
    config = SimConfig(
        seed=seed,
        locations=locations,
        events_per_device=events_per_device,
        history_days=history_days,
        device_families=cast("list[DeviceFamily]", family) if family else None,
        two_factor=not no_2fa,
        tsv_state=tsv_state,
        access_token_ttl_s=token_ttl,
        session_ttl_s=session_ttl,
        refresh_grace_s=refresh_grace,
        media_cache_dir=media_cache,
        faults=FaultConfig(
            latency_ms=latency_ms,
            latency_jitter_ms=jitter_ms,
            bandwidth_kbps=bandwidth_kbps,
            rate_limit_rps=rate_limit_rps,
            retry_after_s=retry_after,
            error_rate=error_rate,
            timeout_rate=timeout_rate,
            drop_rate=drop_rate,
            recording_delay_s=recording_delay,
            expire_access_every=expire_access_every,
        ),
        portability=PortabilityConfig(
            apps=[app],
            customers=dp_customers,
            auto_consent=dp_auto_consent,
            completion_delay_s=dp_completion_delay,
            big_file_bytes=dp_big_file_bytes,
        ),
        **account,
    )
    logging.getLogger("ringvault.sim").setLevel(logging.INFO)  # the "listening on" line
    try:
        server = SimServer(config, host=host, port=port)
    except OSError as exc:
        fail(bind_error_line(exc, host, port))
    server.serve_forever()


def bind_error_line(exc: OSError, host: str, port: int) -> str:
    """One line for a port the simulator cannot listen on: which one, and what to do."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another `ringvault sim` or another server?); choose another "
            "with --port (--port 0 picks a free one)"
        )
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {port} on {host} (ports below 1024 need privileges); choose another "
            "with --port"
        )
    return f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
