"""How ``ringvault alarm history`` reads rs/history items: only the fields the public clients know (ring-mqtt reads
``body[0].impulse.v1[].impulseType`` and ``context.{eventOccurredTsMs,initiatingEntity*}``); the simulator's extra
``context`` fields are a fallback, never needed; anything else Ring sends is shown, not dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ringvault.cli.alarm import history_row


def _item(body: list[Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"msg": "DataUpdate", "datatype": "DeviceInfoDocType", "body": body}
    if context is not None:
        item["context"] = context
    return item


def test_mode_switch_as_ring_mqtt_reads_it() -> None:
    at = int(datetime(2026, 12, 1, 8, 30, tzinfo=UTC).timestamp() * 1000)
    item = _item(
        [
            {
                "general": {"v2": {"zid": "zid-panel", "name": "Security Panel"}},
                "device": {"v1": {"mode": "some"}},
                "impulse": {"v1": [{"impulseType": "security-panel.mode-switched.some", "data": {}}]},
            }
        ],
        {"eventOccurredTsMs": at, "initiatingEntityType": "user", "initiatingEntityName": "Alice"},
    )
    row = history_row(item)
    assert row == {
        "time": "2026-12-01T08:30:00+00:00",
        "time_ms": at,
        "zid": "zid-panel",
        "device": "Security Panel",
        "event": "armed home",
        "by": "Alice",
        "raw": item,
    }


def test_unknown_impulses_are_shown_by_their_ring_name() -> None:
    item = _item(
        [
            {
                "general": {"v2": {"zid": "z1", "name": "Panel"}},
                "impulse": {"v1": [{"impulseType": "security-panel.exit-delay"}, {"impulseType": "new.thing"}]},
            }
        ]
    )
    row = history_row(item)
    assert row["event"] == "exit delay started, new.thing"
    assert row["time"] is None and row["time_ms"] is None and row["by"] is None


def test_a_sensor_change_without_impulse() -> None:
    door = {"zid": "zc", "name": "Door"}
    opened = history_row(_item([{"general": {"v2": door}, "device": {"v1": {"faulted": True}}}]))
    closed = history_row(_item([{"general": {"v2": {"zid": "zc"}}, "device": {"v1": {"faulted": False}}}]))
    other = history_row(_item([{"general": {"v2": {"zid": "zk"}}, "device": {"v1": {"volume": 0.5}}}]))
    siren = history_row(_item([{"general": {"v2": {"zid": "zp"}}, "device": {"v1": {"siren": {"state": "on"}}}}]))
    alarm = history_row(_item([{"device": {"v1": {"alarmInfo": {"state": "burglar-alarm"}}}}]))
    cleared = history_row(_item([{"device": {"v1": {"alarmInfo": None}}}]))
    assert siren["event"] == "siren on"
    assert alarm["event"] == "alarm: burglar-alarm"
    assert cleared["event"] == "alarm cleared"
    assert opened["event"] == "faulted (open)"
    assert closed["event"] == "cleared (closed)"
    assert other["event"] == "volume=0.5"


def test_simulator_context_fields_are_only_a_fallback() -> None:
    row = history_row(
        _item([{"device": {"v1": {}}}], {"affectedEntityId": "zid-x", "affectedEntityName": "Keypad", "level": 10})
    )
    assert row["zid"] == "zid-x" and row["device"] == "Keypad" and row["event"] == "update"


def test_malformed_items_do_not_crash() -> None:
    for item in (
        {},
        {"body": None},
        {"body": ["not an object"]},
        {"body": [{"impulse": {"v1": "nope"}}], "context": "nope"},
        {"body": [{"impulse": {"v1": [None, {"impulseType": None}]}}], "context": {"eventOccurredTsMs": True}},
    ):
        row = history_row(item)
        assert row["event"] == "update"
        assert row["time_ms"] is None
        assert row["raw"] is item
