"""De-duplication, malformed input and the streams: push messages go through the real hub into a real ``RingApi``
on the simulator (the FCM transport is left out here; ``test_push_e2e`` covers it)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.intercom import RingIntercom
from ringvault.cloud.push import RingEvent
from ringvault.cloud.push.hub import NotificationHub
from ringvault.cloud.push.store import PushStore
from ringvault.sim.server import SimServer
from tests.cloud import push_fixtures as fx
from tests.cloud.api_helpers import open_api

WAIT_S = 20.0


def hub_for(api: RingApi, store: PushStore) -> NotificationHub:
    """A hub wired to ``api`` as ``start_notifications`` wires it, without starting push or polling."""
    hub = NotificationHub(
        api.http,
        store,
        api._route_event,
        api._polled_devices,
        cloud_url=api.options.cloud_url,
        route_update=api._route_update,
    )
    api._notifications = hub
    return hub


async def doorbell(api: RingApi) -> RingCamera:
    return next(c for c in await api.get_cameras() if c.is_doorbot and c.family == "doorbots")


async def test_a_repeated_delivery_reaches_the_streams_once(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        camera = await doorbell(api)
        hub = hub_for(api, PushStore(None))
        pressed: list[RingEvent] = []
        everything: list[RingEvent] = []
        camera.on_doorbell_pressed.subscribe(pressed.append)
        api.on_new_notification.subscribe(everything.append)
        message = fx.ding_v2(device_id=camera.id)
        hub.deliver_message(message, "0:1001")
        hub.deliver_message(message, "0:1001")  # MCS re-delivered after a reconnect: same persistent id
        hub.deliver_message(message, "0:1002")  # pushed twice by Ring (battery doorbells): same ding id
        assert [e.ding_id for e in pressed] == [fx.BIG_DING]
        assert len(everything) == 1 and everything[0].device_id == camera.id
        assert hub.duplicates == 2


async def test_malformed_unknown_and_undecryptable_are_logged_redacted_and_skipped(
    sim: SimServer, rv_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_api(sim, rv_home) as api:
        camera = await doorbell(api)
        hub = hub_for(api, PushStore(None))
        got: list[RingEvent] = []
        api.on_new_notification.subscribe(got.append)
        secret_body = {"device": {"id": "Bearer-abcdefghijkl-not-an-id"}, "token": "tok-ABCDEF123456"}
        bad: list[dict[str, Any]] = [
            {"message": b"\x8a\x00undecryptable"},
            fx.envelope({"android_config": {"category": "com.ring.pn.live-event.ding"}, "data": secret_body}),
            fx.v2("com.ring.pn.brand-new-thing", device_id=camera.id),
            {"data": {"android_config": "{" * 50}},
        ]
        with caplog.at_level(logging.INFO, logger="ringvault.cloud.push"):
            for n, message in enumerate(bad):
                hub.deliver_message(message, f"0:bad{n}")
            hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:good")  # still listening afterwards
        assert [e.persistent_id for e in got] == ["0:good"]
        assert hub.skipped == len(bad)
        assert "tok-ABCDEF123456" not in caplog.text and "abcdefghijkl" not in caplog.text
        assert "Traceback" not in caplog.text


async def test_delivered_ids_are_not_replayed_after_a_restart(sim: SimServer, rv_home: Path) -> None:
    store = PushStore.beside(rv_home / "token.json")
    async with open_api(sim, rv_home) as api:
        camera = await doorbell(api)
        hub = hub_for(api, store)
        got: list[RingEvent] = []
        api.on_new_notification.subscribe(got.append)
        hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:2001")
        assert len(got) == 1
    async with open_api(sim, rv_home) as api:  # a new process: a fresh hub reads the delivery record
        hub = hub_for(api, store)
        got = []
        api.on_new_notification.subscribe(got.append)
        hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:2001")  # MCS hands it over again
        hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:2002")  # the same ding under a new id
        assert got == []
        assert hub.duplicates == 2


async def test_active_dings_window_and_motion_flag(sim: SimServer, rv_home: Path) -> None:
    """An event is active for the window from its first delivery; motion is true while a motion event is active."""
    async with open_api(sim, rv_home) as api:
        camera = await doorbell(api)
        camera.active_window_s = 0.5
        hub = hub_for(api, PushStore(None))
        lists: list[list[str | None]] = []
        motion: list[bool] = []
        emptied = asyncio.Event()

        def on_active(events: list[RingEvent]) -> None:
            lists.append([e.ding_id for e in events])
            if not events:
                emptied.set()

        camera.on_active_dings.subscribe(on_active)
        camera.on_motion_detected.subscribe(motion.append)
        hub.deliver_message(fx.motion_v2(device_id=camera.id, ding_id="1111111111111111111"), "0:m1")
        hub.deliver_message(fx.ding_v2(device_id=camera.id, ding_id="2222222222222222222"), "0:d1")
        assert camera.motion_detected is True
        assert [e.ding_id for e in camera.active_dings] == ["1111111111111111111", "2222222222222222222"]
        await asyncio.wait_for(emptied.wait(), WAIT_S)
        assert lists[0] == ["1111111111111111111"]
        assert lists[1] == ["1111111111111111111", "2222222222222222222"]
        assert lists[-1] == []
        assert motion == [True, False]
        assert camera.active_dings == [] and camera.motion_detected is False


async def test_intercom_and_alarm_streams(sim: SimServer, rv_home: Path) -> None:
    async with open_api(sim, rv_home) as api:
        intercom: RingIntercom = (await api.get_intercoms())[0]
        location = await api.get_location(intercom.location_id or "")
        hub = hub_for(api, PushStore(None))
        dings: list[RingEvent] = []
        unlocks: list[RingEvent] = []
        alarms: list[RingEvent] = []
        intercom.on_ding.subscribe(dings.append)
        intercom.on_unlocked.subscribe(unlocks.append)
        location.on_alarm_notice.subscribe(alarms.append)
        hub.deliver_message(fx.v2("com.ring.pn.live-event.intercom", device_id=intercom.id, eventito=False), "0:i1")
        unlock = fx.intercom_unlock_v1(nested=True)
        gcm = json.loads(unlock["data"]["data"])["gcmData"]
        gcm["alarm_meta"]["device_zid"] = intercom.id
        unlock["data"]["data"] = json.dumps({"gcmData": gcm})
        hub.deliver_message(unlock, "0:i2")
        alarm = fx.alarm_v1("com.ring.push.HANDLE_NEW_USER_SOUND_SIREN")
        alarm_gcm = json.loads(alarm["data"]["gcmData"])
        alarm_gcm["alarm_meta"]["location_id"] = location.id
        alarm["data"]["gcmData"] = json.dumps(alarm_gcm)
        hub.deliver_message(alarm, "0:a1")
        assert [e.kind for e in dings] == ["intercom_ding"]
        assert [e.kind for e in unlocks] == ["intercom_unlock"]
        assert [(e.kind, e.alarm_kind) for e in alarms] == [("alarm", "alarm_siren")]


async def test_the_second_push_with_the_snapshot_is_an_update_not_a_new_event(sim: SimServer, rv_home: Path) -> None:
    """Battery doorbells push twice per event, the second time with the image (§8.4)."""
    async with open_api(sim, rv_home) as api:
        camera = await doorbell(api)
        hub = hub_for(api, PushStore(None))
        pressed: list[RingEvent] = []
        updates: list[RingEvent] = []
        camera.on_doorbell_pressed.subscribe(pressed.append)
        camera.on_notification_updated.subscribe(updates.append)
        hub.deliver_message(fx.ding_v2(device_id=camera.id, snapshot=None), "0:first")
        hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:second")
        hub.deliver_message(fx.ding_v2(device_id=camera.id), "0:third")  # nothing new: dropped
        assert [e.snapshot_uuid for e in pressed] == [None]
        assert len(updates) == 1 and updates[0].snapshot_uuid and updates[0].ding_id == fx.BIG_DING
        assert api.on_notification_updated.value == updates[0]
