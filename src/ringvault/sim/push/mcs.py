"""The MCS endpoint (Google's ``mtalk.google.com:5228``) on a loopback port, over TLS with the simulator's
throwaway certificate.

Protocol (reference §8.1; message schemas: firebase-messaging's ``proto/mcs.proto``): the client sends a version
byte (41), then frames of ``tag byte + varint length + protobuf``; its first frame is a ``LoginRequest``
(``user``/``auth_token`` = the check-in's android id and security token, ``received_persistent_id`` = messages it
got since its last login). The server answers its own version byte and a ``LoginResponse``, then sends every
unacknowledged ``DataMessageStanza`` of the device (``persistent_id``, web-push ``app_data``), answers
``HeartbeatPing`` with ``HeartbeatAck``, pings at the interval the client asked for (``heartbeat_stat``), and forgets
a message once its id comes back in a selective ack (``IqStanza`` extension 12) or in the next login.

Anything malformed (a bad version byte, an unknown tag, an oversized or undecodable frame, a first frame that is no
login) closes that connection, never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable

from firebase_messaging.proto.mcs_pb2 import (
    Close,
    DataMessageStanza,
    ErrorInfo,
    HeartbeatAck,
    HeartbeatConfig,
    HeartbeatPing,
    IqStanza,
    LoginRequest,
    LoginResponse,
    SelectiveAck,
    StreamErrorStanza,
)
from google.protobuf.message import DecodeError, Message

from ringvault.sim.push.service import CHROME_CATEGORY, RING_SENDER_ID, PushService
from ringvault.sim.push.service import Message as PushMessage

log = logging.getLogger("ringvault.sim.push")

MCS_VERSION = 41
#: [sim] oldest client version byte accepted (firebase-messaging itself accepts 38 from a server)
MIN_CLIENT_VERSION = 38
#: tag → message class (the tags of mcs.proto; 5, 6, 9, 11–15 are stanzas no web-push client sends)
TAGS: dict[int, type[Message]] = {
    0: HeartbeatPing,
    1: HeartbeatAck,
    2: LoginRequest,
    3: LoginResponse,
    4: Close,
    7: IqStanza,
    8: DataMessageStanza,
    10: StreamErrorStanza,
}
TAG_OF: dict[type[Message], int] = {cls: tag for tag, cls in TAGS.items()}
SELECTIVE_ACK_ID = 12
STREAM_ACK_ID = 13
#: [sim] a client must log in this soon after connecting
LOGIN_TIMEOUT_S = 30.0
#: [sim] server heartbeats no more often than this, whatever the client asks
MIN_HEARTBEAT_S = 1.0
#: [sim] time-to-live stamped on data messages (FCM's default, four weeks)
MESSAGE_TTL_S = 2419200


class ProtocolError(Exception):
    """The peer broke the MCS framing; the connection closes."""


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(message: Message, *, version: bool = False) -> bytes:
    """One MCS frame (preceded by the version byte for the first frame of a stream)."""
    payload: bytes = message.SerializeToString()
    head = bytes([MCS_VERSION]) if version else b""
    return head + bytes([TAG_OF[type(message)]]) + encode_varint(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> Message:
    """Read one frame; raises ``ProtocolError`` on an unknown tag, an oversized or undecodable body."""
    (tag,) = await reader.readexactly(1)
    size = 0
    for shift in range(0, 35, 7):
        (byte,) = await reader.readexactly(1)
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("varint length longer than 5 bytes")
    cls = TAGS.get(tag)
    if cls is None:
        raise ProtocolError(f"unknown tag {tag}")
    if size > max_bytes:
        raise ProtocolError(f"frame of {size} bytes (limit {max_bytes})")
    body = await reader.readexactly(size)
    message = cls()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as exc:  # proto2 required fields missing raise DecodeError too
        raise ProtocolError(f"undecodable {cls.__name__}") from exc
    return message


class McsConnection:
    """One client connection: login, then a reader (pings, acks) and a sender (the device's outbox)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: Callable[[], PushService]
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._service_of = service
        self.service: PushService = service()
        self.loop = asyncio.get_running_loop()
        self.android_id = 0
        self._wakeup = asyncio.Event()
        self._sent: set[str] = set()
        self._first = True
        self._closed = False

    # McsLink -----------------------------------------------------------------------------------------------------
    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(self._wakeup.set)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._abort)

    def _abort(self) -> None:
        """Drop the TCP connection at once (no Close stanza, no TLS close_notify): a network failure."""
        self._closed = True
        self._wakeup.set()
        self.writer.transport.abort()

    # -------------------------------------------------------------------------------------------------------------
    async def _send(self, message: Message) -> None:
        self.writer.write(frame(message, version=self._first))
        self._first = False
        await self.writer.drain()

    async def run(self) -> None:
        """Serve the connection until it closes; every failure ends here, quietly."""
        tasks: list[asyncio.Task[None]] = []
        try:
            login = await asyncio.wait_for(self._read_login(), LOGIN_TIMEOUT_S)
            if not await self._login(login):
                return
            tasks.append(self.loop.create_task(self._sender(), name=f"mcs-send-{self.android_id}"))
            interval = login.heartbeat_stat.interval_ms if login.HasField("heartbeat_stat") else 0
            if interval > 0:
                tasks.append(self.loop.create_task(self._pinger(max(interval / 1000, MIN_HEARTBEAT_S))))
            await self._read_loop()
        except (ProtocolError, TimeoutError) as exc:
            log.info("mcs: closing a connection: %s", exc)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass  # the client went away
        except Exception:  # never let one connection take the server down
            log.exception("mcs: unexpected error on a connection")
        finally:
            self._closed = True
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.android_id:
                self.service.detach(self)
            self.writer.close()

    async def _read_login(self) -> LoginRequest:
        (version,) = await self.reader.readexactly(1)
        if version < MIN_CLIENT_VERSION:
            raise ProtocolError(f"unsupported version byte {version}")
        first = await read_frame(self.reader, self.service.config.mcs_max_frame_bytes)
        if not isinstance(first, LoginRequest):
            raise ProtocolError(f"first frame is {type(first).__name__}, not LoginRequest")
        return first

    async def _login(self, request: LoginRequest) -> bool:
        """Check the device credentials; answer ``LoginResponse`` (with an ``ErrorInfo`` and a close when wrong)."""
        service = self._service_of()  # the current state (a reset replaces it)
        self.service = service
        device = None
        if request.auth_service == LoginRequest.ANDROID_ID:
            device = service.authenticate_device(request.user, request.auth_token)
        if device is None:
            with service.lock:
                service.stats.refused_logins += 1
            error = ErrorInfo(code=401, message="authentication failed", type="auth")  # [sim]
            await self._send(LoginResponse(id=request.id, error=error))
            return False
        self.android_id = device.android_id
        service.acknowledge(device.android_id, request.received_persistent_id)
        answer = LoginResponse(
            id=request.id,
            jid=f"{device.android_id}@mcs.android.com/{request.resource}",  # [sim]
            stream_id=1,
            last_stream_id_received=1,
            server_timestamp=int(time.time() * 1000),
        )
        if request.HasField("heartbeat_stat") and request.heartbeat_stat.interval_ms > 0:
            answer.heartbeat_config.CopyFrom(HeartbeatConfig(interval_ms=request.heartbeat_stat.interval_ms))
        await self._send(answer)
        service.attach(self)
        return True

    async def _read_loop(self) -> None:
        limit = self.service.config.mcs_max_frame_bytes
        while not self._closed:
            message = await read_frame(self.reader, limit)
            if isinstance(message, HeartbeatPing):
                await self._send(HeartbeatAck())
            elif isinstance(message, IqStanza):
                self._handle_iq(message)
            elif isinstance(message, Close):
                return
            elif isinstance(message, LoginRequest):
                raise ProtocolError("second LoginRequest on one connection")
            # HeartbeatAck, upstream DataMessageStanza and the rest: nothing to do [sim]

    def _handle_iq(self, message: IqStanza) -> None:
        if not message.HasField("extension") or message.extension.id != SELECTIVE_ACK_ID:
            return  # stream acks (13) and other extensions need no answer [sim]
        ack = SelectiveAck()
        try:
            ack.ParseFromString(message.extension.data)
        except (DecodeError, ValueError) as exc:
            raise ProtocolError("undecodable SelectiveAck") from exc
        self.service.acknowledge(self.android_id, ack.id)

    def _stanza(self, message: PushMessage) -> DataMessageStanza:
        stanza = DataMessageStanza(
            id=message.persistent_id,
            category=CHROME_CATEGORY,
            persistent_id=message.persistent_id,
            ttl=MESSAGE_TTL_S,
            sent=message.sent_ms,
            raw_data=message.raw_data,
            device_user_id=0,
        )
        setattr(stanza, "from", RING_SENDER_ID)
        for key, value in message.app_data:
            stanza.app_data.add(key=key, value=value)
        return stanza

    async def _sender(self) -> None:
        """Send what is due from the device's outbox; wait for a wake-up or the next delayed message."""
        while not self._closed:
            self._wakeup.clear()
            batch, drop, next_due = self.service.due(self.android_id, self._sent)
            if drop:
                log.info("mcs: dropping the connection of a device (drop_next)")
                self._abort()
                return
            for message, copies in batch:
                self._sent.add(message.persistent_id)
                for _ in range(copies):
                    await self._send(self._stanza(message))
            timeout = None if next_due is None else max(0.0, next_due - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _pinger(self, every_s: float) -> None:
        while not self._closed:
            await asyncio.sleep(every_s)
            await self._send(HeartbeatPing())


class McsServer:
    """The asyncio TLS server on a pre-bound loopback socket; connections find the current ``PushService``."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, service: Callable[[], PushService]) -> None:
        self._socket = sock
        self._context = context
        self._service = service
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, sock=self._socket, ssl=self._context, ssl_handshake_timeout=15
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await McsConnection(reader, writer, self._service).run()
        finally:
            if task is not None:
                self._connections.discard(task)

    def close_socket(self) -> None:
        """Release the listening socket (after the loop has stopped, or when it never started)."""
        self._socket.close()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
