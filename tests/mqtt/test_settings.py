"""What a user sets through the bridge that Ring keeps nowhere — a sensor's bypass mode, a chime's snooze length, a
light's on-duration — survives a restart of the bridge (``BridgeSettings``, a 0600 file beside the token file), and
a damaged or unwritable file costs one log line, never the bridge."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from ringvault.mqtt.bridge import Bridge
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.families.lighting import LightingFamily
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from ringvault.mqtt.settings import MAX_KEYS, BridgeSettings
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import started
from tests.mqtt.rest_family_helpers import running


def test_values_survive_a_new_instance_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "token.mqtt.json"
    first = BridgeSettings(path)
    first.set("bypass_mode", "zid-1", "Always")
    first.set("snooze_minutes", "42", 30)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = BridgeSettings(path)
    assert again.get("bypass_mode", "zid-1") == "Always" and again.get("snooze_minutes", "42") == 30
    assert again.get("bypass_mode", "other") is None
    assert BridgeSettings.beside(tmp_path / "token.json").path == path
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # replaced atomically


def test_two_bridges_on_one_file_keep_each_other_s_changes(tmp_path: Path) -> None:
    """Two bridges on one home (another base topic, or a second machine on the same directory) each hold a copy;
    a write merges into the file as it is now instead of replacing it with the writer's copy."""
    path = tmp_path / "token.mqtt.json"
    one, two = BridgeSettings(path), BridgeSettings(path)
    one.set("bypass_mode", "zid-1", "Always")
    two.set("snooze_minutes", "42", 30)  # two never read zid-1: it must not drop it
    one.set("light_duration", "zid-9", 120)  # nor one the snooze
    again = BridgeSettings(path)
    assert again.snapshot() == {
        "bypass_mode": {"zid-1": "Always"}, "snooze_minutes": {"42": 30}, "light_duration": {"zid-9": 120},
    }  # fmt: skip
    assert stat.S_IMODE(os.stat(f"{path}.lock").st_mode) == 0o600


def test_a_damaged_file_is_one_line_and_the_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt.settings")
    for damaged in ("{not json", "[]", json.dumps({"values": {"bypass_mode": {"z": {"deep": 1}}, "x": 5}})):
        path = tmp_path / "token.mqtt.json"
        path.write_text(damaged)
        caplog.clear()
        settings = BridgeSettings(path)
        assert settings.get("bypass_mode", "z") is None
        assert len(caplog.records) <= 1
    settings.set("bypass_mode", "z", "Faulted")  # rewritten whole on the next change
    assert json.loads(path.read_text())["values"] == {"bypass_mode": {"z": "Faulted"}}


def test_what_is_kept_is_bounded_and_typed(tmp_path: Path) -> None:
    settings = BridgeSettings(tmp_path / "s.json")
    for n in range(MAX_KEYS + 50):
        settings.set("light_duration", f"light-{n}", n)
    kept = settings.snapshot()["light_duration"]
    assert len(kept) == MAX_KEYS and "light-0" not in kept and f"light-{MAX_KEYS + 49}" in kept
    for bad in (True, 2**60, "x" * 1000, 1.5, None):
        with pytest.raises(ValueError):
            settings.set("bypass_mode", "z", bad)  # type: ignore[arg-type]


def test_an_unwritable_file_is_one_line_and_kept_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ringvault.mqtt.settings")
    (tmp_path / "a-file").write_text("")  # a parent that is a file: no lock, no write (root ignores modes)
    settings = BridgeSettings(tmp_path / "a-file" / "s.json")
    settings.set("bypass_mode", "z", "Always")
    assert settings.get("bypass_mode", "z") == "Always"
    assert len([r for r in caplog.records if "cannot be saved" in r.getMessage()]) == 1


async def test_a_bypass_mode_and_a_light_duration_survive_a_restart(
    sim: SimServer, rv_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "token.mqtt.json"
    async with open_api(sim, rv_home) as api:
        async with started(api, AlarmFamily(BridgeOptions()), settings=BridgeSettings(path)) as (_, sink):
            select = sink.device("Front Door Contact").entity("bypass_mode")
            assert sink.state(select) == "Never" and select.command is not None
            await select.command("Always")
        async with started(api, LightingFamily(BridgeOptions()), settings=BridgeSettings(path)) as (_, sink):
            duration = sink.device("Path Light 1").entity("duration")
            assert duration.command is not None
            await duration.command("900")
        # the bridge restarts: new families, the settings read again from the file
        async with started(api, AlarmFamily(BridgeOptions()), settings=BridgeSettings(path)) as (_, sink):
            assert sink.state(sink.device("Front Door Contact").entity("bypass_mode")) == "Always"
            assert sink.state(sink.device("Kitchen Window").entity("bypass_mode")) == "Never"
        async with started(api, LightingFamily(BridgeOptions()), settings=BridgeSettings(path)) as (_, sink):
            assert sink.state(sink.device("Path Light 1").entity("duration")) == "900"


async def test_a_chime_s_snooze_length_survives_a_restart(sim: SimServer, rv_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "token.mqtt.json"
    async with running(sim, rv_home, "chimes", ctx_extra={"settings": BridgeSettings(path)}) as run:
        minutes = run.sink.device("Hall Chime").entity("snooze_minutes")
        assert minutes.command is not None
        await minutes.command("45")
    async with running(sim, rv_home, "chimes", ctx_extra={"settings": BridgeSettings(path)}) as run:
        assert run.sink.state(run.sink.device("Hall Chime").entity("snooze_minutes")) == "45"
        assert run.sink.state(run.sink.device("Upstairs Chime").entity("snooze_minutes")) == "1440"


async def test_the_bridge_keeps_its_settings_beside_the_token_file(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        bridge = Bridge(api, BridgeOptions(), BrokerUrl.parse("mqtt://u@127.0.0.1:9"), families=[])
        assert bridge.settings.path == rv_home / "token.mqtt.json"
