"""``ringvault --help`` must stay fast: it must not import the HTTP stack, pydantic or the simulator."""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys, json\n"
        "sys.argv = ['ringvault', '--help']\n"
        "from ringvault.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['httpx', 'pydantic', 'fastapi', 'uvicorn', 'av', 'PIL', 'tenacity',\n"
        "         'ringvault.cloud.http', 'ringvault.transport', 'ringvault.sim.app']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Usage" in proc.stdout
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == []


def test_every_command_is_listed() -> None:
    proc = subprocess.run([sys.executable, "-m", "ringvault", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    commands = (
        *("login", "logout", "devices", "health", "light", "siren", "sim", "sync", "snapshot", "serve", "worker"),
        *("chime", "unlock", "motion", "mode", "alarm", "lights", "live"),
    )
    for command in commands:
        assert command in proc.stdout


def test_talking_to_ring_does_not_load_httpx_command_line_tool() -> None:
    """httpx's ``__init__`` imports its CLI (click, rich, pygments) when they are installed; ringvault's transport
    puts a stand-in in its place, and ``httpx.main`` still runs the real tool when called."""
    code = (
        "import sys, ringvault.transport.http, httpx\n"
        "print(sorted(m for m in ('rich', 'pygments', 'click') if m in sys.modules))\n"
        "sys.argv = ['httpx', '--help']\n"
        "httpx.main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, _, rest = proc.stdout.partition("\n")
    assert first == "[]"
    assert "Usage: httpx" in rest
