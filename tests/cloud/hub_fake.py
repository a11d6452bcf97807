"""A tiny scripted hub for the client's unit tests, written from the reference (§4.10, §7), not from the simulator.

``FakeRing`` answers the REST calls the hub client makes (through an ``httpx.MockTransport``: tokens, locations,
``ring_devices``, ``clap/tickets``) and runs a real ``websockets`` server that plays the hub: device lists per
asset, ``DeviceInfoSet`` writes and commands echoed as ``DataUpdate`` partials, ``RoomGetList``. The end-to-end
tests (``test_hub_e2e.py``) run against the real simulator instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ringvault.cloud.api import RingApi
from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.http import RingHttp
from ringvault.cloud.hub import HubOptions
from ringvault.cloud.options import RingApiOptions

LOC = "loc-alarm-1"
LOC_PLAIN = "loc-cameras-only"
BASE = "asset-base-0001"
BEAM = "asset-beam-0001"
FLOOD = "asset-flood-0001"
HOST = "hub.fake.ring.test"


def doc(zid: str, name: str, device_type: str, general: dict[str, Any] | None = None, **device: Any) -> dict[str, Any]:
    return {
        "general": {"v2": {"zid": zid, "name": name, "deviceType": device_type, **(general or {})}},
        "device": {"v1": dict(device)},
    }


def seed_devices() -> dict[str, list[dict[str, Any]]]:
    return {
        BASE: [
            doc("zid-panel", "Security Panel", "security-panel", {"categoryId": 22}, mode="none"),
            doc("zid-base", "Base Station", "hub.redsky", {"categoryId": 22, "volume": 0.5}),
            doc("zid-keypad", "Keypad", "security-keypad", {"batteryLevel": 88, "commStatus": "ok"}, volume=0.7),
            doc(
                "zid-front", "Front Door Contact", "sensor.contact", {"roomId": 1, "tamperStatus": "ok"}, faulted=False
            ),
            doc("zid-hall", "Hall Motion", "sensor.motion", {"batteryStatus": "ok"}, faulted=False),
            doc("zid-future", "Future Gadget", "gadget.from-2030", {"categoryId": 99}, sparkle=True),
        ],
        BEAM: [
            doc("zid-porch", "Porch Beam", "switch.multilevel.beams", {"level": 0.3, "on": False}),
            doc("zid-beam-motion", "Path Motion", "motion-sensor.beams", {"motionStatus": "clear"}),
        ],
    }


@dataclass
class FakeRing:
    devices: dict[str, list[dict[str, Any]]] = field(default_factory=seed_devices)
    silent: set[str] = field(default_factory=set)
    ticket_status: int = 200
    ticket_assets: list[dict[str, Any]] | None = None
    tickets_issued: list[str] = field(default_factory=list)
    socket_paths: list[str] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    rest: list[tuple[str, str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    clients: set[ServerConnection] = field(default_factory=set)
    port: int = 0

    # -- REST ----------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        path = url.path
        body = json.loads(request.content) if request.content else None
        self.rest.append((request.method, path, dict(url.params)))
        if path.endswith("/oauth/token"):
            return httpx.Response(
                200, json={"access_token": "AT", "refresh_token": "RT2", "expires_in": 3600, "token_type": "Bearer"}
            )
        if path.endswith("/clients_api/session"):
            return httpx.Response(200, json={"profile": {"id": 1}})
        if path.endswith("/devices/v1/locations"):
            return httpx.Response(
                200,
                json={
                    "user_locations": [
                        {"location_id": LOC, "name": "Home"},
                        {"location_id": LOC_PLAIN, "name": "Cabin"},
                    ]
                },
            )
        if path.endswith("/clients_api/ring_devices"):
            return httpx.Response(
                200,
                json={
                    "doorbots": [
                        {"id": 11, "kind": "doorbell_v3", "description": "Cabin Door", "location_id": LOC_PLAIN}
                    ],
                    "base_stations": [
                        {"id": 3001, "kind": "base_station_v1", "description": "Alarm", "location_id": LOC}
                    ],
                    "beams_bridges": [
                        {"id": 4001, "kind": "beams_bridge_v1", "description": "Bridge", "location_id": LOC}
                    ],
                },
            )
        if path.endswith("/clap/tickets"):
            if self.ticket_status != 200:
                return httpx.Response(self.ticket_status, json={"error": "refused"})
            ticket = f"tkt-{len(self.tickets_issued) + 1:03d}-secret"
            self.tickets_issued.append(ticket)
            assets = self.ticket_assets
            if assets is None:
                assets = [
                    {"doorbotId": 3001, "kind": "base_station_v1", "status": "online", "uuid": BASE},
                    {"doorbotId": 4001, "kind": "beams_bridge_v1", "status": "online", "uuid": BEAM},
                    {"doorbotId": 5001, "kind": "floodlight_v2", "status": "online", "uuid": FLOOD},
                ]
            return httpx.Response(
                200, json={"assets": assets, "host": HOST, "subscriptionTopics": [], "ticket": ticket}
            )
        if "/rs/history" in path:
            offset = int(url.params.get("offset", 0))
            limit = int(url.params.get("limit", 50))
            return httpx.Response(200, json=self.history[offset : offset + limit])
        if "/rs/monitoring/accounts/" in path:
            return httpx.Response(200, json={"accountUuid": LOC, "accountState": "PROFESSIONAL"})
        if path.endswith(f"/groups/v1/locations/{LOC}/groups"):
            return httpx.Response(
                200,
                json={
                    "device_groups": [
                        {
                            "device_group_id": "grp-1",
                            "location_id": LOC,
                            "name": "Backyard",
                            "devices": [{"doorbot_id": 7001, "type": "beams_ct200_transformer"}, "junk"],
                        }
                    ]
                },
            )
        if "/groups/grp-1/devices" in path:
            if request.method == "POST":
                self.rest[-1] = ("POST", path, body)
                return httpx.Response(200, json={})
            return httpx.Response(200, json={"device_group_id": "grp-1", "lights_on": False, "devices": []})
        return httpx.Response(404, json={"error": "not found"})

    # -- the hub socket ------------------------------------------------------------------------------------
    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.socket_paths.append(request.path)
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("authcode") or [""])[0]
        if ticket not in self.tickets_issued:
            return Response(401, "Unauthorized", Headers(), b"bad ticket\n")
        return None

    async def _session(self, ws: ServerConnection) -> None:
        self.clients.add(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                await self._answer(ws, frame.get("msg") or {})
        except Exception:
            pass
        finally:
            self.clients.discard(ws)

    async def _answer(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        kind, dst = msg.get("msg"), msg.get("dst")
        if kind == "DeviceInfoDocGetList":
            if dst in self.silent or dst not in self.devices:
                return
            body = copy.deepcopy(self.devices[dst])
            await ws.send(
                json.dumps(
                    {
                        "channel": "message",
                        "msg": {"msg": kind, "datatype": "DeviceInfoDocType", "src": dst, "body": body},
                    }
                )
            )
        elif kind == "RoomGetList":
            await ws.send(
                json.dumps(
                    {"channel": "message", "msg": {"msg": kind, "src": dst, "body": [{"id": 1, "name": "Hall"}]}}
                )
            )
        elif kind == "DeviceInfoSet":
            for item in msg.get("body") or []:
                await self._apply(str(dst), item)

    async def _apply(self, asset: str, item: dict[str, Any]) -> None:
        zid = item.get("zid")
        commands = (item.get("command") or {}).get("v1") or []
        for command in commands:
            if command.get("commandType") == "security-panel.switch-mode":
                wanted = command["data"]["mode"]
                bypass = set(command["data"].get("bypass") or [])
                blocked = [
                    d
                    for d in self.devices[BASE]
                    if d["device"]["v1"].get("faulted") and d["general"]["v2"]["zid"] not in bypass
                ]
                panel = self.find("zid-panel")
                if wanted == "none" or not blocked:
                    panel["device"]["v1"]["mode"] = wanted
                await self.update("zid-panel", {"mode": panel["device"]["v1"]["mode"]}, asset=asset)
            elif command.get("commandType") in ("security-panel.sound-siren", "security-panel.silence-siren"):
                state = "on" if command["commandType"].endswith("sound-siren") else "off"
                await self.update(str(zid), {"siren": {"state": state}}, asset=asset)
        patch = (item.get("device") or {}).get("v1")
        if isinstance(patch, dict) and zid:
            await self.update(str(zid), patch, asset=asset)

    def find(self, zid: str) -> dict[str, Any]:
        for docs in self.devices.values():
            for d in docs:
                if d["general"]["v2"]["zid"] == zid:
                    return d
        raise KeyError(zid)

    async def update(self, zid: str, patch: dict[str, Any], *, asset: str = BASE, send: bool = True) -> None:
        """Change a device; tell connected clients (``send``) with a DataUpdate partial."""
        with contextlib.suppress(KeyError):
            self.find(zid)["device"]["v1"].update(patch)
        if send:
            await self.push(
                {
                    "channel": "DataUpdate",
                    "msg": {
                        "msg": "DataUpdate",
                        "datatype": "DeviceInfoDocType",
                        "src": asset,
                        "body": [{"general": {"v2": {"zid": zid}}, "device": {"v1": patch}}],
                    },
                }
            )

    async def push(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.send(text)

    def drop(self) -> None:
        for ws in list(self.clients):
            ws.transport.abort()


FAST_HUB = HubOptions(
    devices_timeout_s=15.0,
    command_timeout_s=15.0,
    reply_timeout_s=10.0,
    max_failures=3,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    backoff_jitter_s=0.0,
)


@contextlib.asynccontextmanager
async def fake_ring(fake: FakeRing | None = None, **hub: Any) -> AsyncIterator[tuple[FakeRing, RingApi]]:
    ring = fake or FakeRing()
    async with serve(ring._session, "127.0.0.1", 0, process_request=ring._process_request) as server:
        ring.port = next(iter(server.sockets)).getsockname()[1]
        options = RingApiOptions(
            cloud_url=f"http://127.0.0.1:{ring.port}", backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=1
        )
        auth = RefreshTokenAuth("RT1", hardware_id="hid-hub")
        http = RingHttp(auth, options, transport=httpx.MockTransport(ring.handle))
        api = RingApi(auth, options, http=http)
        try:
            for location in await api.get_locations():
                location.hub_options = HubOptions(**{**FAST_HUB.__dict__, **hub})
            yield ring, api
        finally:
            await api.disconnect()
            await http.aclose()
            await asyncio.sleep(0)
