"""Who last armed, disarmed and cleared the alarm, and when, on the security panel's attributes (ring-mqtt
security-panel.js ``lastArmedBy``/``lastDisarmedBy``/``alarmClearedBy``): from the panel's newest ``rs/history`` at
start, then live from the impulses and context of its updates — against the simulator's hub socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud import RingApi
from ringvault.cloud.hub.device import Impulse
from ringvault.mqtt.families._panel_log import PanelLog, impulse_action
from ringvault.mqtt.families.alarm import AlarmFamily
from ringvault.mqtt.model import MqttDevice
from ringvault.mqtt.options import BridgeOptions
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api
from tests.mqtt.family_helpers import alarm_location, hub_control, prepare, started
from tests.mqtt.sink_helpers import MemorySink, wait_until


@pytest.fixture
async def api(sim: SimServer, rv_home: Path) -> AsyncIterator[RingApi]:
    async with open_api(sim, rv_home, max_retries=1) as ring:
        yield ring


def _attributes(sink: MemorySink) -> dict[str, Any]:
    panel: MqttDevice = next(d for d in sink.devices if d.model == "Alarm Control Panel")
    alarm = panel.entity("alarm")
    assert alarm.attributes is not None
    found = alarm.attributes()
    assert found is not None
    return found


def _recent(iso: str | None) -> bool:
    return iso is not None and abs(datetime.fromisoformat(iso) - datetime.now(UTC)) < timedelta(hours=1)


async def test_history_says_who_armed_and_disarmed_before_the_bridge_started(sim: SimServer, api: RingApi) -> None:
    who = f"{sim.config.first_name} {sim.config.last_name}"
    home = await alarm_location(api)
    await prepare(api)
    await home.arm_home()
    await home.disarm()
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        await wait_until(lambda: _attributes(sink)["last_disarmed_by"] == who, "the disarm from history")
        found = _attributes(sink)
        assert found["last_armed_by"] == who and _recent(found["last_armed_at"]) and _recent(found["last_disarmed_at"])
        assert found["last_armed_at"] <= found["last_disarmed_at"]


async def test_live_arming_disarming_and_a_cleared_alarm_name_who_did_it(sim: SimServer, api: RingApi) -> None:
    who = f"{sim.config.first_name} {sim.config.last_name}"
    home = await alarm_location(api)
    async with started(api, AlarmFamily(BridgeOptions())) as (_, sink):
        panel = next(d for d in sink.devices if d.model == "Alarm Control Panel")
        alarm = panel.entity("alarm")
        assert alarm.command is not None
        await alarm.command("ARM_AWAY")
        await wait_until(lambda: _attributes(sink)["last_armed_by"] == who, "armed by")
        changes = len([d for d in sink.changes if d is panel])
        await asyncio.to_thread(hub_control, sim, "POST", f"/{home.id}/alarm", {"kind": "burglar"})
        await wait_until(lambda: sink.state(alarm) == "triggered", "the alarm")
        await alarm.command("DISARM")
        await wait_until(lambda: _attributes(sink)["alarm_cleared_by"] == who, "alarm cleared by")
        found = _attributes(sink)
        assert found["last_disarmed_by"] == who and _recent(found["alarm_cleared_at"])
        assert len([d for d in sink.changes if d is panel]) > changes


def test_the_log_keeps_live_news_over_history_and_bounds_what_it_reads() -> None:
    assert impulse_action("security-panel.mode-switched.all") == "armed"
    assert impulse_action("security-panel.exit-delay") == "armed"
    assert impulse_action("security-panel.mode-switched.none") == "disarmed"
    assert impulse_action("security-panel.alarm-cleared") == "cleared"
    assert impulse_action("security-panel.mode-switched.allx") is None and impulse_action("keypad.motion") is None

    record = PanelLog()
    assert record.seen(Impulse("security-panel.mode-switched.some", "Live Person\x1b[2J", 1_700_000_000_000))
    assert not record.seen(Impulse("keypad.motion", "Someone", 1))
    history = [
        5,  # odd items are skipped
        {"body": "not a list"},
        {"body": [{"impulse": {"v1": [{"impulseType": "security-panel.mode-switched.all"}]}}],
         "context": {"initiatingEntityName": "Old Person", "eventOccurredTsMs": 1_600_000_000_000}},
        {"body": [{"impulse": {"v1": [{"impulseType": "security-panel.mode-switched.none"}]}}],
         "context": {"initiatingEntityType": "system", "eventOccurredTsMs": "not a time"}},
        {"body": [{"impulse": {"v1": [{"impulseType": "security-panel.mode-switched.none"}]}}],
         "context": {"initiatingEntityName": "Older Person", "eventOccurredTsMs": 1_500_000_000_000}},
    ]  # fmt: skip
    assert record.seed(history)  # type: ignore[arg-type]
    found = record.attributes()
    by = found["last_armed_by"]
    assert by is not None and by.startswith("Live Person") and "\x1b" not in by  # live wins over history; cleaned
    assert found["last_armed_at"] == "2023-11-14T22:13:20+00:00"
    assert found["last_disarmed_by"] == "system" and found["last_disarmed_at"] is not None  # the newest disarm
    assert found["alarm_cleared_by"] is None and found["alarm_cleared_at"] is None
    huge = PanelLog()
    huge.seen(Impulse("security-panel.alarm-cleared", "x" * 10_000, None))
    assert len(huge.attributes()["alarm_cleared_by"] or "") <= 100
