"""firebase-messaging's own parts, configured by ringvault: the TLS connection to a local MCS endpoint (trusting only
its certificate), the CLOUD_URL rewrite of the library's HTTP calls, and decryption of real ``aesgcm`` web-push
messages with keys the library itself generates (a message it cannot decrypt is skipped, not fatal)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import ssl
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import http_ece
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from firebase_messaging.fcmregister import FcmRegister
from firebase_messaging.proto.mcs_pb2 import DataMessageStanza

from ringvault.cloud.push.connect import (
    CloudUrlRewrite,
    McsEndpoint,
    McsEndpointPushClient,
    McsUnavailableError,
    cloud_session,
    mcs_endpoint_from_info,
)
from ringvault.cloud.push.listener import RING_FCM, client_config
from tests.cloud import push_fixtures as fx


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """A throwaway certificate for 127.0.0.1: (cert file, key file, PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file, pem


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    """A TLS echo of the first bytes on 127.0.0.1 (the role of an MCS endpoint): (port, its certificate PEM)."""
    cert_file, key_file, pem = self_signed(tmp_path, "mcs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(64)
        writer.write(b"echo:" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield port, pem
    server.close()
    await server.wait_closed()


def push_client(endpoint: McsEndpoint | None, credentials: dict[str, Any] | None = None) -> McsEndpointPushClient:
    received: list[tuple[dict[str, Any], str]] = []
    client = McsEndpointPushClient(
        lambda message, pid, _ctx: received.append((message, pid)), RING_FCM, credentials, config=client_config()
    )
    client.mcs_endpoint = endpoint
    client.received = received  # type: ignore[attr-defined]
    return client


async def test_mcs_connection_goes_to_the_endpoint_and_trusts_only_its_certificate(
    tls_server: tuple[int, str], tmp_path: Path
) -> None:
    port, pem = tls_server
    client = push_client(McsEndpoint("127.0.0.1", port, pem))
    # the library asks for mtalk.google.com:5228 with the system's CAs; the subclass goes to the endpoint instead
    reader, writer = await client._open_connection("mtalk.google.com", 5228, ssl.create_default_context())
    writer.write(b"\x29")
    await writer.drain()
    assert await reader.read() == b"echo:\x29"
    writer.close()
    # a certificate other than the simulator's is refused, even for the right host and port
    _, _, other_pem = self_signed(tmp_path, "other")
    stranger = push_client(McsEndpoint("127.0.0.1", port, other_pem))
    with pytest.raises(ssl.SSLCertVerificationError):
        await stranger._open_connection("mtalk.google.com", 5228, ssl.create_default_context())


def test_mcs_endpoint_from_the_simulators_info(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    cert_file = tmp_path / "mcs.pem"
    cert_file.write_text(pem)
    nested = mcs_endpoint_from_info({"mcs": {"host": "127.0.0.1", "port": 5229, "certificate": pem}}, "http://x:1")
    by_file = mcs_endpoint_from_info({"mcs": {"port": 5229, "certificate": str(cert_file)}}, "http://127.0.0.1:1")
    flat = mcs_endpoint_from_info({"mcs_port": "5229", "mcs_ca_pem": pem}, "http://127.0.0.1:8765")
    assert nested == by_file == flat == McsEndpoint("127.0.0.1", 5229, pem)
    (tmp_path / "empty.pem").write_text("")
    for bad in (
        {},
        {"mcs": None},
        {"mcs": {"port": 5229}},
        {"mcs": {"certificate": pem}},
        {"mcs": {"port": True, "ca_pem": pem}},
        {"mcs": {"port": 5229, "certificate": str(tmp_path / "missing.pem")}},
        {"mcs": {"port": 5229, "certificate": str(tmp_path / "empty.pem")}},
    ):
        with pytest.raises(McsUnavailableError):
            mcs_endpoint_from_info(bad, "http://127.0.0.1:8765")
    with pytest.raises(McsUnavailableError):
        McsEndpoint("127.0.0.1", 1, pem).ssl_context()  # not a certificate


async def test_cloud_url_rewrite_keeps_method_headers_and_body() -> None:
    seen: list[dict[str, Any]] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "type": request.headers.get("Content-Type"),
                "auth": request.headers.get("Authorization"),
                "body": await request.read(),
            }
        )
        return web.Response(text="token=abc")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cloud = f"http://127.0.0.1:{port}"
    try:
        async with cloud_session(cloud) as session:
            async with session.post(
                "https://android.clients.google.com/c2dm/register3?x=1",
                headers={"Authorization": "AidLogin 1:2", "Content-Type": "application/x-www-form-urlencoded"},
                data={"app": "org.chromium.linux", "device": "1"},
            ) as response:
                assert response.status == 200 and await response.text() == "token=abc"
            async with session.post(
                "https://firebaseinstallations.googleapis.com/v1/projects/ring-17770/installations",
                data=json.dumps({"fid": "f"}),
            ) as response:
                assert response.status == 200
            async with session.get(f"{cloud}/already/there") as response:  # not rewritten twice
                assert response.status == 200
    finally:
        await runner.cleanup()
    assert seen[0]["method"] == "POST"
    assert seen[0]["path"] == "/android.clients.google.com/c2dm/register3?x=1"
    assert seen[0]["auth"] == "AidLogin 1:2" and seen[0]["type"] == "application/x-www-form-urlencoded"
    assert seen[0]["body"] == b"app=org.chromium.linux&device=1"
    assert seen[1]["path"] == "/firebaseinstallations.googleapis.com/v1/projects/ring-17770/installations"
    assert json.loads(seen[1]["body"]) == {"fid": "f"}
    assert seen[2]["path"] == "/already/there"
    assert isinstance(CloudUrlRewrite(cloud).cloud_url, str)


def _encrypted_stanza(keys: dict[str, str], app_id: str, payload: bytes, persistent_id: str) -> DataMessageStanza:
    """What an MCS server delivers: ``payload`` encrypted with ``aesgcm`` for the client's keys."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_public = server_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    salt = os.urandom(16)
    client_public = urlsafe_b64decode(keys["public"])
    secret = urlsafe_b64decode(keys["secret"])
    body = http_ece.encrypt(
        payload, salt=salt, private_key=server_key, dh=client_public, auth_secret=secret, version="aesgcm"
    )
    msg = DataMessageStanza()
    msg.persistent_id = persistent_id
    msg.category = "org.chromium.linux"
    msg.raw_data = body
    for key, value in (
        ("crypto-key", "dh=" + urlsafe_b64encode(server_public).decode()),  # fm decodes it without re-padding
        ("encryption", "salt=" + urlsafe_b64encode(salt).decode()),
        ("subtype", app_id),
    ):
        item = msg.app_data.add()
        item.key, item.value = key, value
    return msg


def test_messages_decrypt_with_the_librarys_keys_and_an_undecryptable_one_is_skipped() -> None:
    keys = FcmRegister(RING_FCM).generate_keys()
    app_id = "wp:receiver.push.com#00000000-0000-4000-8000-000000000001"
    credentials = {"keys": keys, "gcm": {"app_id": app_id, "android_id": "1", "security_token": "2"}}
    client = push_client(None, credentials)
    message = fx.ding_v2()
    client._handle_data_message(_encrypted_stanza(keys, app_id, json.dumps(message).encode(), "0:ok"))
    other_keys = FcmRegister(RING_FCM).generate_keys()  # encrypted for someone else
    client._handle_data_message(_encrypted_stanza(other_keys, app_id, b"{}", "0:not-for-us"))
    broken = DataMessageStanza()
    broken.persistent_id = "0:no-crypto-key"
    client._handle_data_message(broken)
    assert client.received == [(message, "0:ok")]  # type: ignore[attr-defined]
    assert client.undecryptable == 2
