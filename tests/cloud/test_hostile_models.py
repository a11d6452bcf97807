"""Hostile values in any field of any Ring document: parsing never raises, ids stay exact, nothing is invented.

JSON numbers have no size limit (``10**400`` parses to a Python int, ``1e400`` to infinity), strings may carry control
characters or lone surrogates, and any field may hold the wrong type. Every model is tried with every value in every
field it declares."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

import ringvault.cloud.models as models
from ringvault.cloud.api import RingApi
from ringvault.cloud.camera import RingCamera
from ringvault.cloud.errors import CapabilityError
from ringvault.cloud.models.base import RingModel, to_float, to_id_int
from ringvault.cloud.models.devices import CameraEntry, DeviceEntry, RingDevices
from ringvault.sim.server import SimServer
from tests.cloud.api_helpers import open_api, world_kind

HOSTILE_VALUES: list[Any] = [
    10**400,
    -(10**400),
    2**70,
    json.loads("1e400"),  # inf
    json.loads("-1e400"),
    json.loads("NaN"),
    "9" * 5000,  # beyond Python's int-from-text limit
    "1e400",
    "\x1b[2J\nerror: fake\u202e\ud800",
    "²",
    "",
    True,
    [],
    {},
    [[[[[[["deep"]]]]]]],
    {"a": {"b": {"c": None}}},
    None,
]
MODELS = sorted(
    (cls for _, cls in inspect.getmembers(models, inspect.isclass) if issubclass(cls, RingModel)),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("model", MODELS, ids=[cls.__name__ for cls in MODELS])
def test_every_field_takes_every_hostile_value(model: type[RingModel]) -> None:
    assert MODELS, "the models package exports its models"
    for field in model.model_fields:
        for value in HOSTILE_VALUES:
            document = {field: value}
            parsed = model.model_validate(document)  # must not raise
            assert parsed.raw == document
        parsed_all = model.model_validate(dict.fromkeys(model.model_fields, 10**400))
        assert parsed_all.raw


def test_a_whole_ring_devices_document_of_hostile_values_parses() -> None:
    for value in HOSTILE_VALUES:
        entry = dict.fromkeys(CameraEntry.model_fields, value)
        document = {"doorbots": [entry], "other": [{**entry, "kind": "onvif_camera"}], "chimes": value}
        RingDevices.model_validate(document)  # must not raise


def test_ids_beyond_64_bits_are_exact_and_nothing_is_invented() -> None:
    assert DeviceEntry.model_validate({"id": 2**70}).id == 2**70
    assert DeviceEntry.model_validate({"id": "1180591620717411303424"}).id == 2**70
    assert DeviceEntry.model_validate({"id": 12.0}).id == 12
    assert DeviceEntry.model_validate({"id": 1.2345678901234567e21}).id is None  # digits already lost: no id
    assert DeviceEntry.model_validate({"id": "9" * 5000}).id is None
    assert DeviceEntry.model_validate({"id": "²"}).id is None
    assert DeviceEntry.model_validate({"id": True}).id is None
    assert DeviceEntry.model_validate({"location_id": 2**70}).location_id == "1180591620717411303424"
    assert to_id_int("-5") == -5
    assert to_float(10**400) is None  # beyond the float range: unknown, not an OverflowError


async def test_events_of_a_third_party_camera_say_why(sim: SimServer, rv_home: Path) -> None:
    onvif = world_kind(sim, "onvif_camera")
    async with open_api(sim, rv_home) as api:
        assert isinstance(api, RingApi)
        camera = await api.find_device(str(onvif["id"]))
        assert isinstance(camera, RingCamera)
        assert camera.has_event_history is False
        with pytest.raises(CapabilityError, match=r"third-party .* Ring keeps no event history"):
            await camera.get_events(limit=5)
        others = [c for c in await api.get_cameras() if c.id != onvif["id"]]
        assert others and all(c.has_event_history for c in others)
        page = await others[0].get_events(limit=5)
        assert page.events
