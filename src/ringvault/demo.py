"""``make demo``: the main job against the embedded simulator, through the real CLI.

Starts a simulated Ring cloud on 127.0.0.1 (small world, realistic latency), logs in with e-mail, password and the
2FA code the simulator "sent", lists locations and devices, archives every event and recording of every device
(``ringvault sync``), takes a snapshot round (``ringvault snapshot --all``), runs the sync again to show that a
no-change re-run downloads nothing, and says what it did and where the archive and its SQLite file are.
Everything stays under ``./.demo`` (override with ``RINGVAULT_DEMO_DIR``); the archive is kept between runs, so a
second ``make demo`` is incremental. It ends with the ``ringvault serve`` command that shows the archive in the web UI,
and the UI's URL (it starts no server and opens no browser).
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from ringvault.archive.store import DB_FILENAME
from ringvault.sim.config import FaultConfig, SimConfig
from ringvault.sim.portability.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    PortabilityConfig,
    demo_app,
)
from ringvault.sim.server import SimServer

console = Console()


def _cli(env: dict[str, str], *args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, echoing the command (password masked) and its output."""
    cmd = [sys.executable, "-m", "ringvault", *args]
    shown = " ".join("****" if prev == "--password" else a for prev, a in zip(["", *args], args, strict=False))
    if not quiet:
        console.print(f"[bold cyan]$ ringvault {shown}[/]")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if quiet:
        if check and proc.returncode != 0:
            raise SystemExit(f"demo step failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc
    if proc.stdout.strip():
        sys.stdout.write(proc.stdout.rstrip() + "\n")
        sys.stdout.flush()
    if proc.stderr.strip():
        console.print(proc.stderr.rstrip(), style="yellow", markup=False, highlight=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo step failed (exit {proc.returncode}): ringvault {' '.join(args[:1])}")
    return proc


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def main() -> int:
    demo_dir = Path(os.environ.get("RINGVAULT_DEMO_DIR", ".demo")).resolve()
    home = demo_dir / "home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    archive = demo_dir / "archive"
    config = SimConfig(
        seed=2026,
        locations=2,
        events_per_device=20,
        media_cache_dir=demo_dir / "sim-media",
        faults=FaultConfig(latency_ms=40, latency_jitter_ms=30),
        # Data Portability: the demo customer consents at once (no browser), queries complete after 2 s, and no
        # notification endpoint is registered (no `ringvault serve` runs here; the export polls instead).
        portability=PortabilityConfig(
            apps=[demo_app().model_copy(update={"notification_url": None})],
            auto_consent=True,
            completion_delay_s=2.0,
        ),
    )
    started = time.monotonic()
    with SimServer(config) as sim:
        world = _get_json(f"{sim.url}/_sim/world?events=count")
        account = world["account"]
        console.print(Rule("ringvault demo"))
        console.print(
            f"Simulated Ring cloud on [bold]{sim.url}[/] (seed {config.seed}, ~40 ms latency). "
            f"Account {account['email']}; control API at {sim.url}/_sim/"
        )
        env = {
            **os.environ,
            "RINGVAULT_CLOUD_URL": sim.url,
            "RINGVAULT_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": str(console.width),
        }
        env.pop("RINGVAULT_TOKEN_FILE", None)
        env.pop("RINGVAULT_2FA_CODE", None)

        console.print(Rule("1. log in (Ring asks for a 2FA code)"))
        first = _cli(env, "login", "--email", account["email"], "--password", account["password"], check=False)
        if first.returncode == 0:
            console.print("(no 2FA needed)")
        else:
            code = _get_json(f"{sim.url}/_sim/2fa")["code"]
            console.print(
                f"The simulator 'sent' code {code} by {account['tsv_state']}; the demo reads it from /_sim/2fa."
            )
            _cli(env, "login", "--email", account["email"], "--password", account["password"], "--code", code)

        console.print(Rule("2. locations and devices"))
        _cli(env, "devices")
        devices = json.loads(_cli(env, "devices", "--json", quiet=True).stdout)

        console.print(Rule("3. archive every event and recording of every device"))
        _cli(env, "sync", "--archive", str(archive))

        console.print(Rule("4. a snapshot round (every camera, into the archive)"))
        _cli(env, "snapshot", "--all", "--archive", str(archive), check=False)

        console.print(Rule("5. sync again: nothing new, so nothing is downloaded"))
        before = _total_requests(sim.url)
        _cli(env, "sync", "--archive", str(archive))
        resync_requests = _total_requests(sim.url) - before

        console.print(Rule("6. Ring's official Data Portability export (Login with Ring, PKCE, query, import)"))
        dp_env = {
            **env,
            "RINGVAULT_PORTABILITY_CLIENT_ID": DEMO_CLIENT_ID,
            "RINGVAULT_PORTABILITY_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "RINGVAULT_PORTABILITY_REDIRECT_URI": "http://127.0.0.1:0/portability/callback",
        }
        _portability_login(dp_env, archive)
        _cli(dp_env, "portability", "export", "--archive", str(archive))

        elapsed = time.monotonic() - started
        console.print(Rule("what happened"))
        locations = {d["location_name"] or d["location_id"] for d in devices}
        families: dict[str, int] = {}
        for d in devices:
            families[d["family"]] = families.get(d["family"], 0) + 1
        counts = _archive_counts(archive / DB_FILENAME)
        console.print(
            f"Logged in with 2FA and found {len(devices)} devices in {len(locations)} locations "
            f"({', '.join(f'{n} {f}' for f, n in sorted(families.items()))})."
        )
        console.print(
            f"The archive holds {counts['events']} events, {counts['videos']} verified recordings and "
            f"{counts['snapshots']} snapshots ({counts['bytes'] / 1e6:.1f} MB); a no-change re-sync cost "
            f"{resync_requests} requests and downloaded nothing."
        )
        console.print(
            f"Data Portability: {counts['dp_records']} records of {counts['dp_datasets']} data sets imported into "
            "the same database (table portability_records)."
        )
        console.print(
            f"{_total_requests(sim.url)} requests to the simulator in {elapsed:.1f} s. "
            f"Login kept in {home / 'token.json'} (mode 0600); the next command needs no password."
        )
        console.print(f"Archive:  {archive}/media (one folder per location and device, a JSON sidecar per video)")
        db = archive / DB_FILENAME
        console.print(f"Database: {db}  (try: sqlite3 {db} 'select kind, count(*) from events group by kind')")
    _print_ui(home, archive)
    return 0


#: where ``ringvault serve`` answers by default (loopback, no key)
UI_URL = "http://127.0.0.1:8080/"


def _print_ui(home: Path, archive: Path) -> None:
    """The last lines: how to look at the archive in the web UI (the demo opens nothing and starts no server)."""
    command = f"RINGVAULT_HOME={shlex.quote(str(home))} ringvault serve --archive {shlex.quote(str(archive))}"
    console.print(Rule("the web UI"))
    console.print(
        "Browse this archive (devices, events, snapshots) in the web UI: run the command below in this directory "
        "(with the virtualenv's ringvault, .venv/bin/ringvault) and open the URL it prints. The simulator stopped "
        "with the demo, so a sync started from the UI fails until you point RINGVAULT_CLOUD_URL at a running one.",
        highlight=False,
    )
    console.print(f"  $ {command}", markup=False, highlight=False, soft_wrap=True)  # one line, to copy whole
    console.print(f"Web UI: {UI_URL}", markup=False, highlight=False, soft_wrap=True)


def _portability_login(env: dict[str, str], archive: Path) -> None:
    """``ringvault portability login --no-browser``: the demo plays the browser, opening the printed authorize URL
    (the simulator consents at once and redirects to the CLI's loopback receiver)."""
    args = ["portability", "login", "--no-browser", "--archive", str(archive)]
    console.print(f"[bold cyan]$ ringvault {' '.join(args)}[/]")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringvault", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            shown = line.rstrip()
            if shown.startswith("http"):
                console.print("  (authorize URL with PKCE challenge and state; the demo opens it like a browser)")
                with urllib.request.urlopen(shown, timeout=30) as resp:  # follows the redirect to the CLI
                    resp.read()
                continue
            sys.stdout.write(shown + "\n")
            sys.stdout.flush()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if code != 0:
        stderr = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"demo step failed (exit {code}): ringvault portability login: {stderr.strip()}")


def _total_requests(url: str) -> int:
    stats = _get_json(f"{url}/_sim/stats")
    total = stats.get("total") if isinstance(stats, dict) else None
    return int(total or 0)


def _archive_counts(db: Path) -> dict[str, int]:
    """What the archive holds, read straight from its SQLite file (as a user would)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        events = conn.execute("select count(*) from events").fetchone()[0]
        rows = dict(conn.execute("select kind, count(*) from media group by kind").fetchall())
        size = conn.execute("select coalesce(sum(bytes), 0) from media").fetchone()[0]
        dp_records, dp_datasets = conn.execute(
            "select count(*), count(distinct dataset) from portability_records"
        ).fetchone()
    return {
        "dp_records": int(dp_records),
        "dp_datasets": int(dp_datasets),
        "events": int(events),
        "videos": int(rows.get("recording", 0)),
        "snapshots": int(rows.get("snapshot", 0)),
        "bytes": int(size),
    }


if __name__ == "__main__":
    raise SystemExit(main())
