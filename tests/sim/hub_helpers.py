"""A raw ``websockets`` client for the simulated hub socket (not ringvault.cloud: the simulator is tested on its own).

``HubClient`` fetches a ticket over HTTP, opens ``ws://SIM/{host}/ws?authcode=...&ack=false`` as a client pointed
at ``wss://{host}/ws`` would under the CLOUD_URL rule, sends frames with a growing ``seq`` and waits for frames
matching a predicate (with generous timeouts: the tests run on a busy 2-core machine).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from ringvault.sim.server import SimServer
from tests.sim.helpers import APP_API

JSON = dict[str, Any]
WAIT_S = 20.0


def hub_location(sim: SimServer) -> str:
    """The location that has the base station and the bridge (location 0)."""
    return next(iter(sim.state.hub.locations))


async def ticket(client: httpx.AsyncClient, location_id: str) -> JSON:
    answer = await client.get(
        f"{APP_API}/clap/tickets",
        params={"locationID": location_id, "enableExtendedEmergencyCellUsage": "true", "requestedTransport": "ws"},
    )
    assert answer.status_code == 200, answer.text
    data: JSON = answer.json()
    return data


def socket_url(sim: SimServer, host: str, code: str) -> str:
    return f"ws://127.0.0.1:{sim.port}/{host}/ws?authcode={code}&ack=false"


class HubClient:
    def __init__(self, ws: ClientConnection, details: JSON) -> None:
        self.ws = ws
        self.details = details
        self.assets: list[JSON] = details["assets"]
        self.seq = 1
        self.seen: list[JSON] = []

    @classmethod
    async def open(cls, sim: SimServer, client: httpx.AsyncClient, location_id: str) -> HubClient:
        details = await ticket(client, location_id)
        ws = await connect(socket_url(sim, details["host"], details["ticket"]), open_timeout=WAIT_S)
        return cls(ws, details)

    def asset(self, kind: str) -> str:
        return next(str(a["uuid"]) for a in self.assets if a["kind"] == kind)

    async def send(self, msg: JSON) -> None:
        await self.ws.send(json.dumps({"channel": "message", "msg": {**msg, "seq": self.seq}}))
        self.seq += 1

    async def next_frame(self, wait_s: float = WAIT_S) -> JSON:
        raw = await asyncio.wait_for(self.ws.recv(), wait_s)
        frame: JSON = json.loads(raw)
        self.seen.append(frame)
        return frame

    async def wait_for(self, match: Callable[[JSON], bool], wait_s: float = WAIT_S) -> JSON:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            frame = await self.next_frame(left)
            if match(frame):
                return frame

    async def device_list(self, asset_uuid: str) -> list[JSON]:
        await self.send({"msg": "DeviceInfoDocGetList", "dst": asset_uuid})
        frame = await self.wait_for(
            lambda f: f["msg"].get("msg") == "DeviceInfoDocGetList" and f["msg"]["src"] == asset_uuid
        )
        body: list[JSON] = frame["msg"]["body"]
        return body

    async def all_devices(self) -> dict[str, JSON]:
        """Every device of every asset, flattened as clients do, by zid."""
        out: dict[str, JSON] = {}
        for asset in self.assets:
            for doc in await self.device_list(asset["uuid"]):
                flat = {**doc["general"]["v2"], **doc["device"]["v1"], "_asset": asset["uuid"]}
                out[flat["zid"]] = flat
        return out

    async def command(self, asset_uuid: str, zid: str, command_type: str, data: JSON | None = None) -> None:
        body = [{"zid": zid, "command": {"v1": [{"commandType": command_type, "data": data or {}}]}}]
        await self.send({"msg": "DeviceInfoSet", "datatype": "DeviceInfoSetType", "dst": asset_uuid, "body": body})

    async def set_fields(self, asset_uuid: str, zid: str, v1: JSON) -> None:
        body = [{"zid": zid, "device": {"v1": v1}}]
        await self.send({"msg": "DeviceInfoSet", "datatype": "DeviceInfoSetType", "dst": asset_uuid, "body": body})

    async def update_of(self, zid: str, wait_s: float = WAIT_S) -> JSON:
        """The next DataUpdate/DeviceInfoDocType item for ``zid`` (its partial doc plus the message)."""
        return await self.wait_for(lambda f: is_update_of(f, zid), wait_s)

    async def close(self) -> None:
        await self.ws.close()


def is_update_of(frame: JSON, zid: str) -> bool:
    msg = frame.get("msg", {})
    if frame.get("channel") != "DataUpdate" or msg.get("datatype") != "DeviceInfoDocType":
        return False
    return any(doc.get("general", {}).get("v2", {}).get("zid") == zid for doc in msg.get("body", []))


def v1_of(frame: JSON) -> JSON:
    doc: JSON = frame["msg"]["body"][0]["device"]["v1"]
    return doc


def by_type(devices: dict[str, JSON], device_type: str) -> list[JSON]:
    return [d for d in devices.values() if d["deviceType"] == device_type]
