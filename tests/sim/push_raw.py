"""A raw MCS/registration client for protocol-level tests: plain httpx for Google's HTTP side, protobuf frames
over TLS for MCS, http_ece to decrypt. Only the schemas are shared with the simulator (firebase-messaging's
generated protobuf modules)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

import http_ece  # type: ignore[import-untyped]
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from firebase_messaging.proto.android_checkin_pb2 import DEVICE_CHROME_BROWSER, AndroidCheckinProto
from firebase_messaging.proto.checkin_pb2 import AndroidCheckinRequest, AndroidCheckinResponse
from firebase_messaging.proto.mcs_pb2 import (
    DataMessageStanza,
    HeartbeatAck,
    HeartbeatPing,
    IqStanza,
    LoginRequest,
    LoginResponse,
    SelectiveAck,
)

from ringvault.sim.server import SimServer

GOOGLE = "/android.clients.google.com"
PROJECT = "ring-17770"
TAGS: dict[int, Any] = {0: HeartbeatPing, 1: HeartbeatAck, 3: LoginResponse, 8: DataMessageStanza, 7: IqStanza}
TAG_OF = {HeartbeatPing: 0, HeartbeatAck: 1, LoginRequest: 2, IqStanza: 7}
READ_S = 60.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def frame(message: Any, *, version: bool = False) -> bytes:
    body = message.SerializeToString()
    return (b"\x29" if version else b"") + bytes([TAG_OF[type(message)]]) + varint(len(body)) + body


@dataclass
class Device:
    android_id: int
    security_token: int
    gcm_token: str = ""
    app_id: str = ""
    fcm_token: str = ""
    private_key: ec.EllipticCurvePrivateKey | None = None
    auth: bytes = b""


def checkin(http: httpx.Client, android_id: int | None = None, token: int | None = None) -> Device:
    request = AndroidCheckinRequest(
        user_serial_number=0, version=3, checkin=AndroidCheckinProto(type=DEVICE_CHROME_BROWSER)
    )
    if android_id is not None and token is not None:
        request.id, request.security_token = android_id, token
    answer = http.post(
        f"{GOOGLE}/checkin", content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    assert answer.status_code == 200, answer.text
    parsed = AndroidCheckinResponse()
    parsed.ParseFromString(answer.content)
    return Device(parsed.android_id, parsed.security_token)


def register(http: httpx.Client) -> Device:
    """The whole chain, as a web-push client runs it (§8.1): check-in, register3, installation, registration."""
    device = checkin(http)
    device.app_id = f"wp:receiver.push.com#{uuid.uuid4()}"
    form = {"app": "org.chromium.linux", "X-subtype": device.app_id, "device": str(device.android_id), "sender": "K"}
    answer = http.post(
        f"{GOOGLE}/c2dm/register3",
        data=form,
        headers={"Authorization": f"AidLogin {device.android_id}:{device.security_token}"},
    )
    assert answer.text.startswith("token="), answer.text
    device.gcm_token = answer.text.removeprefix("token=")
    install = http.post(
        f"/firebaseinstallations.googleapis.com/v1/projects/{PROJECT}/installations",
        json={
            "appId": "1:876313859327:android:e10ec6ddb3c81f39",
            "authVersion": "FIS_v2",
            "fid": "",
            "sdkVersion": "w",
        },
        headers={"x-goog-api-key": "key"},
    )
    assert install.status_code == 200, install.text
    device.private_key = ec.generate_private_key(ec.SECP256R1())
    public = device.private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    device.auth = b"0123456789abcdef"
    web = {"endpoint": f"https://fcm.googleapis.com/fcm/send/{device.gcm_token}", "p256dh": b64(public)}
    registration = http.post(
        f"/fcmregistrations.googleapis.com/v1/projects/{PROJECT}/registrations",
        json={"web": {**web, "auth": b64(device.auth)}},
        headers={"x-goog-firebase-installations-auth": install.json()["authToken"]["token"]},
    )
    assert registration.status_code == 200, registration.text
    device.fcm_token = registration.json()["token"]
    return device


def login_request(device: Device, *, received: list[str] | None = None, heartbeat_ms: int = 0) -> LoginRequest:
    request = LoginRequest(
        id="chrome-94.0.4606.51",
        domain="mcs.android.com",
        user=str(device.android_id),
        resource=str(device.android_id),
        auth_token=str(device.security_token),
        device_id=f"android-{device.android_id:x}",
        auth_service=LoginRequest.ANDROID_ID,
        use_rmq2=True,
    )
    request.received_persistent_id.extend(received or [])
    if heartbeat_ms:
        request.heartbeat_stat.ip, request.heartbeat_stat.timeout = "", True
        request.heartbeat_stat.interval_ms = heartbeat_ms
    return request


class Mcs:
    """One raw MCS connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.first_out = True
        self.first_in = True

    @classmethod
    async def connect(cls, sim: SimServer) -> Mcs:
        context = ssl.create_default_context(cafile=sim.mcs_certificate)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", sim.mcs_port, ssl=context, server_hostname="mtalk.google.com"
        )
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, message: Any) -> None:
        await self.send_raw(frame(message, version=self.first_out))
        self.first_out = False

    async def read(self) -> Any:
        async with asyncio.timeout(READ_S):
            if self.first_in:
                assert (await self.reader.readexactly(1))[0] == 41
                self.first_in = False
            (tag,) = await self.reader.readexactly(1)
            size, shift = 0, 0
            while True:
                (byte,) = await self.reader.readexactly(1)
                size |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            message = TAGS[tag]()
            message.ParseFromString(await self.reader.readexactly(size))
            return message

    async def read_until(self, kind: type) -> Any:
        while True:
            message = await self.read()
            if isinstance(message, kind):
                return message

    async def closed_by_server(self) -> bool:
        """True when the server closes the connection (EOF or reset) within the read deadline."""
        try:
            async with asyncio.timeout(READ_S):
                while await self.reader.read(65536):
                    pass
        except (ConnectionError, ssl.SSLError):
            pass  # a reset is a close too
        return True

    async def ack(self, persistent_id: str) -> None:
        iq = IqStanza(type=IqStanza.SET, id="")
        iq.extension.id = 12
        iq.extension.data = SelectiveAck(id=[persistent_id]).SerializeToString()
        await self.send(iq)

    def close(self) -> None:
        self.writer.close()


def decrypt(device: Device, stanza: DataMessageStanza) -> dict[str, Any]:
    app_data = {item.key: item.value for item in stanza.app_data}
    assert device.private_key is not None
    plain = http_ece.decrypt(
        stanza.raw_data,
        salt=base64.urlsafe_b64decode(app_data["encryption"].removeprefix("salt=")),
        private_key=device.private_key,
        dh=base64.urlsafe_b64decode(app_data["crypto-key"].removeprefix("dh=")),
        auth_secret=device.auth,
        version="aesgcm",
    )
    document: dict[str, Any] = json.loads(plain)
    return document
