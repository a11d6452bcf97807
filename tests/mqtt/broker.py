"""A real Mosquitto broker for the MQTT tests, and a small recording MQTT client to watch it.

:class:`Broker` runs Debian's ``mosquitto`` on 127.0.0.1 on a free port with a password file (no anonymous clients),
optionally with persistence (the broker's database in a directory that survives :meth:`Broker.stop` and
:meth:`Broker.start`, so retained messages and persistent sessions outlive a restart the way they do on a real
installation) and a second, TLS listener whose CA and server certificate (for ``127.0.0.1`` and ``localhost``) are made
for that broker alone. It is stopped, restarted and killed by its PID, like the PostgreSQL test server
(``tests/pg/server.py``).

Started as root, Mosquitto drops its privileges to the ``mosquitto`` user (Debian's package creates it) *before* it
reads the password file and the TLS files; those live in a private directory (0700) that belongs to that user, so
nothing in it is readable by other local users. Started as anyone else, Mosquitto runs as that user and the directory
is theirs.

:class:`Subscriber` records every message it receives, with its topic, payload and retain flag, and lets a test wait
for a condition over them (from sync and async tests alike: paho-mqtt runs the connection on its own thread). It can
keep a persistent session (a fixed client id, ``clean_session`` false, QoS 1), so that after a broker restart it
receives what was published while it was away. :meth:`Subscriber.barrier` waits until every message the broker
had accepted before the call has reached the subscriber, which is how :meth:`Subscriber.retained` knows it has seen
every retained message.

A machine without Mosquitto fails the tests that need it (:data:`MISSING`), never skips them: ``make test``
installs it (``make mosquitto``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import itertools
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote

#: Where a developer may point the tests at another ``mosquitto`` binary (``mosquitto_passwd`` is looked for beside
#: it, then on ``PATH``). Set to a path that does not exist, it makes the tests behave as on a machine without one.
MOSQUITTO_ENV = "RINGVAULT_TEST_MOSQUITTO"
#: The one line a test that needs a broker fails with on a machine without Mosquitto.
MISSING = "mosquitto is missing: run `sudo apt-get install mosquitto` (tests/mqtt need it)"
#: How long a broker may take to accept connections after ``start()``; then it is stopped and the start fails.
START_TIMEOUT_S = 20.0
#: How long ``stop()`` waits after SIGTERM (Mosquitto saves its persistence database then) before SIGKILL.
STOP_TIMEOUT_S = 10.0
#: The user Debian's Mosquitto drops to when started as root.
MOSQUITTO_USER = "mosquitto"
#: Topics under this prefix carry :meth:`Subscriber.barrier` markers; no subscriber records them.
BARRIER_PREFIX = "ringvault-test-barrier"

T = TypeVar("T")


class MosquittoUnavailableError(RuntimeError):
    """No Mosquitto on this machine (the message is :data:`MISSING`), or a broker would not start (its log tail)."""


def find_mosquitto() -> tuple[Path, Path]:
    """``(mosquitto, mosquitto_passwd)``: :data:`MOSQUITTO_ENV` if set, else Debian's ``/usr/sbin/mosquitto``, else
    ``mosquitto`` on ``PATH``; raises :class:`MosquittoUnavailableError` with :data:`MISSING`."""
    configured = os.environ.get(MOSQUITTO_ENV, "").strip()
    if configured:
        candidates = [Path(configured)]
    else:
        on_path = shutil.which("mosquitto")
        candidates = [Path("/usr/sbin/mosquitto"), *([Path(on_path)] if on_path else [])]
    for binary in candidates:
        if binary.is_file() and os.access(binary, os.X_OK):
            passwd = binary.parent / "mosquitto_passwd"
            if not (passwd.is_file() and os.access(passwd, os.X_OK)):
                passwd = Path(shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd")
            if passwd.is_file() and os.access(passwd, os.X_OK):
                return binary, passwd
    detail = f" ({MOSQUITTO_ENV}={configured} is no mosquitto binary)" if configured else ""
    raise MosquittoUnavailableError(MISSING + detail)


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (a start that finds it taken after all picks another)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broker_user() -> tuple[int, int] | None:
    """(uid, gid) the broker will run as when we are root (it drops to :data:`MOSQUITTO_USER`); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(MOSQUITTO_USER)
    except KeyError:
        raise MosquittoUnavailableError(
            f"running as root, but there is no `{MOSQUITTO_USER}` user for the broker to run as: "
            "reinstall it (`sudo apt-get install --reinstall mosquitto`)"
        ) from None
    return entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class TlsFiles:
    """A CA certificate and a server certificate + key it signed, for 127.0.0.1 and localhost (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A new CA and a server certificate for 127.0.0.1 / localhost, valid from an hour ago for a day (EC P-256:
    quick to make, and every TLS client and Mosquitto's OpenSSL take it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ringvault test broker CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key_file.chmod(0o600)
    return files


@dataclass
class Broker:
    """One Mosquitto broker of a test. Made by :func:`make_broker` (or the ``broker``/``broker_factory`` fixtures);
    the ports are chosen at the first :meth:`start` and kept by every later one, so :attr:`url` stays valid across
    :meth:`restart` and :meth:`kill` + :meth:`start`.

    ``persistence``: the broker keeps retained messages, subscriptions and queued QoS 1/2 messages of persistent
    sessions in :attr:`persistence_dir` (written on a clean stop and every ``autosave_interval_s``; a :meth:`kill`
    loses what was not saved yet, as a power cut would). ``tls``: a second listener (:attr:`tls_port`) whose
    certificate is signed by :attr:`ca_file`. ``log_debug``: Mosquitto's debug lines (every packet, never a
    password) in :meth:`log_text`."""

    mosquitto: Path
    root: Path
    username: str
    password: str = field(repr=False)
    persistence: bool = False
    tls: TlsFiles | None = None
    autosave_interval_s: int | None = None
    log_debug: bool = True
    extra_config: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    _port: int | None = None
    _tls_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: every PID this broker ever ran as (the tests check none of them is left running)
    pids: list[int] = field(default_factory=list)
    _owner: tuple[int, int] | None = None

    # -- where it is

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the broker has not been started yet: its port is chosen by start()")
        return self._port

    @property
    def tls_port(self) -> int:
        if self.tls is None:
            raise RuntimeError("this broker has no TLS listener (make it with tls=True)")
        if self._tls_port is None:
            raise RuntimeError("the broker has not been started yet: its port is chosen by start()")
        return self._tls_port

    @property
    def ca_file(self) -> Path:
        """The CA certificate (PEM) that signed the TLS listener's certificate."""
        if self.tls is None:
            raise RuntimeError("this broker has no TLS listener (make it with tls=True)")
        return self.tls.ca_file

    @property
    def url(self) -> str:
        """``mqtt://user:password@127.0.0.1:port``, the form ``ringvault mqtt --broker`` takes."""
        return f"mqtt://{self._userinfo()}@{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """``mqtts://user:password@127.0.0.1:tls_port``; a client must trust :attr:`ca_file` to connect."""
        return f"mqtts://{self._userinfo()}@{self.host}:{self.tls_port}"

    def _userinfo(self) -> str:
        return f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"

    @property
    def conf_file(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self.root / "passwd"

    @property
    def persistence_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "mosquitto.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """Everything the broker logged, across every start (for a failing test's message)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(the broker logged nothing)"

    # -- life cycle

    def start(self) -> None:
        """Start the broker and return once it accepts connections on every listener (at most
        :data:`START_TIMEOUT_S`; else it is stopped and :class:`MosquittoUnavailableError` says why, with the end of
        its log). A first start whose port was taken in the meantime picks other ports."""
        if self.running:
            raise RuntimeError(f"the broker is already running (pid {self.pid})")
        first = self._port is None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if first:
                self._port = free_port()
                self._tls_port = free_port() if self.tls is not None else None
            offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            self._write_config()
            outcome = self._launch_and_wait(offset, deadline)
            if outcome == "ready":
                return
            new_log = self._log_since(offset)
            port_taken = "Address already in use" in new_log
            if outcome == "exited" and port_taken and time.monotonic() < deadline:
                if not first:  # the same port is wanted again: another process holds it for now
                    time.sleep(0.2)
                continue
            reason = "did not accept connections in time" if outcome == "timeout" else "exited"
            raise MosquittoUnavailableError(f"mosquitto {reason}; its log ends:\n{self.log_tail()}")

    def _launch_and_wait(self, offset: int, deadline: float) -> str:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.mosquitto), "-c", str(self.conf_file)], cwd=self.root, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl+C in the terminal reaches pytest, which stops the broker itself
            )  # fmt: skip
        self.pids.append(self.process.pid)
        ports = [self.port, *([self.tls_port] if self.tls is not None else [])]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return "exited"
            # "running" is logged once every listener is open and the password file and certificates are loaded
            if " running" in self._log_since(offset) and all(_accepts(self.host, port) for port in ports):
                return "ready"
            time.sleep(0.02)
        self._signal_and_wait()
        return "timeout"

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence database and says goodbye to its clients), SIGKILL after
        :data:`STOP_TIMEOUT_S`; by PID. The directory stays (persistence, log): :meth:`start` again, or
        :meth:`close`."""
        self._signal_and_wait()

    def kill(self) -> None:
        """SIGKILL, as in a crash or a power cut: clients see their connection drop without a word, and with
        persistence the next start brings back what was saved last (at the last clean stop or autosave), no more."""
        self._signal_and_wait(first=signal.SIGKILL)

    def restart(self) -> None:
        """:meth:`stop` then :meth:`start` on the same ports."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its directory (persistence, certificates, log)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _signal_and_wait(self, first: signal.Signals = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        steps = [(first, STOP_TIMEOUT_S)] + ([(signal.SIGKILL, 10.0)] if first != signal.SIGKILL else [])
        for sig, wait_s in steps:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sig)
            try:
                process.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
        raise RuntimeError(f"mosquitto (pid {process.pid}) is still running after SIGKILL")

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            *(
                [
                    f"listener {self.tls_port} {self.host}",
                    f"cafile {self.tls.ca_file}",
                    f"certfile {self.tls.cert_file}",
                    f"keyfile {self.tls.key_file}",
                ]
                if self.tls is not None
                else []
            ),
            # per_listener_settings is false (the default): authentication below covers both listeners
            "allow_anonymous false",
            f"password_file {self.password_file}",
            *([f"user {MOSQUITTO_USER}"] if self._owner is not None else []),
            f"persistence {'true' if self.persistence else 'false'}",
            *([f"persistence_location {self.persistence_dir}/"] if self.persistence else []),
            *([f"autosave_interval {self.autosave_interval_s}"] if self.autosave_interval_s is not None else []),
            "log_dest stderr",
            *(["log_type all"] if self.log_debug else ["log_type error", "log_type warning", "log_type notice",
                                                        "log_type information", "log_type subscribe"]),
            "log_timestamp true",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
            *self.extra_config,
        ]  # fmt: skip
        self.conf_file.write_text("\n".join(lines) + "\n")
        self.own(self.conf_file, 0o600)

    def own(self, path: Path, mode: int) -> None:
        """Give ``path`` to the user the broker runs as (root's broker drops to ``mosquitto``), with ``mode``."""
        path.chmod(mode)
        if self._owner is not None:
            os.chown(path, *self._owner)


def _accepts(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True


def make_broker(
    *,
    persistence: bool = False,
    tls: bool = False,
    autosave_interval_s: int | None = None,
    log_debug: bool = True,
    extra_config: Sequence[str] = (),
    start: bool = True,
) -> Broker:
    """A broker in a new private directory, with its own user and password (and CA, with ``tls``); started unless
    ``start=False``. Raises :class:`MosquittoUnavailableError` (:data:`MISSING` on a machine without Mosquitto)."""
    mosquitto, mosquitto_passwd = find_mosquitto()
    owner = _broker_user()
    root = Path(tempfile.mkdtemp(prefix="ringvault-mqtt-"))
    try:
        username = f"rv-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(18)
        broker = Broker(
            mosquitto=mosquitto, root=root, username=username, password=password, persistence=persistence,
            autosave_interval_s=autosave_interval_s, log_debug=log_debug, extra_config=tuple(extra_config),
            _owner=owner,
        )  # fmt: skip
        _make_password_file(mosquitto_passwd, broker.password_file, username, password)
        broker.own(broker.password_file, 0o600)
        if persistence:
            broker.persistence_dir.mkdir()
            broker.own(broker.persistence_dir, 0o700)
        if tls:
            broker.tls = make_tls_files(root)
            for path in (broker.tls.ca_file, broker.tls.cert_file):
                broker.own(path, 0o644)
            broker.own(broker.tls.key_file, 0o600)
        broker.own(root, 0o700)
        if start:
            broker.start()
        return broker
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _make_password_file(mosquitto_passwd: Path, path: Path, username: str, password: str) -> None:
    """``mosquitto_passwd -c -b``: Mosquitto's own hashing, so the broker checks passwords the way it does on a
    real installation."""
    done = subprocess.run(
        [str(mosquitto_passwd), "-c", "-b", str(path), username, password],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0 or not path.exists():
        detail = (done.stderr or done.stdout).strip().replace(password, "***")
        raise MosquittoUnavailableError(f"mosquitto_passwd failed (exit {done.returncode}): {detail}")


# -- the recording client


@dataclass(frozen=True)
class Received:
    """One message as a subscriber got it. ``retain`` is the flag on delivery: True for a retained message sent
    because of a (re)subscription, False for a message forwarded live, even one its publisher retained (MQTT 3.1.1,
    section 3.3.1.3)."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    #: ``time.monotonic()`` when the client's network thread got it (for latency measurements in bench/)
    at: float = field(default=0.0, compare=False)

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttConnectError(RuntimeError):
    """The broker refused the connection (bad credentials...) or could not be reached in time."""


_client_ids = itertools.count(1)


class Subscriber:
    """An MQTT client that subscribes to ``filters`` and records every message (see :class:`Received`).

    ``persistent=True``: a fixed ``client_id``, ``clean_session`` false and QoS 1, so the broker keeps the session
    while the client is away (across a broker restart, with the broker's persistence on) and delivers what was
    published meanwhile when it comes back. The client reconnects by itself (every 0.1-1 s) after the broker goes
    away; :attr:`connections` counts its successful connections and :attr:`session_present` tells whether the
    broker still had its session the last time.

    Its socket has TCP_NODELAY set, so a measurement through it is not the client's Nagle delay. The broker keeps
    Mosquitto's default (Nagle on: a client that receives its own QoS 1 messages waits ~40 ms for each PUBACK;
    ``extra_config=["set_tcp_nodelay true"]`` turns that off).

    Use it as a context manager, or :meth:`connect` and :meth:`close` (the ``subscriber_factory`` fixture closes
    the ones it made)."""

    def __init__(
        self,
        broker: Broker,
        filters: Sequence[str] = ("#",),
        *,
        persistent: bool = False,
        client_id: str | None = None,
        qos: int | None = None,
        tls: bool = False,
        ca_file: Path | bool | None = True,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        """``tls``: connect to the broker's TLS listener, trusting ``ca_file`` (True: the broker's own CA; None:
        the system's CAs). ``username``/``password``: others than the broker's (to test a refusal)."""
        import paho.mqtt.client as mqtt

        self.broker = broker
        self.filters = tuple(filters)
        self.persistent = persistent
        self.qos = qos if qos is not None else (1 if persistent else 0)
        self.client_id = client_id or f"rv-test-{os.getpid()}-{next(_client_ids)}-{secrets.token_hex(3)}"
        self.tls = tls
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._barriers: set[str] = set()
        self.connections = 0
        self.session_present = False
        self._refused: str | None = None
        self._closed = False
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=not persistent,
            protocol=mqtt.MQTTv311,
        )  # fmt: skip
        self._client.username_pw_set(
            username if username is not None else broker.username,
            password if password is not None else broker.password,
        )
        if tls:
            ca = broker.ca_file if ca_file is True else (ca_file or None)
            self._client.tls_set(ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=1)  # type: ignore[arg-type]  # floats work
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._subscribe_mid: int | None = None

    @property
    def port(self) -> int:
        return self.broker.tls_port if self.tls else self.broker.port

    # -- connection

    def connect(self, timeout: float = 20.0) -> Self:
        """Connect, subscribe, and return once the broker has acknowledged the subscriptions. Raises
        :class:`MqttConnectError` when the broker refuses the credentials, and the TLS error as it is (e.g.
        ``ssl.SSLCertVerificationError``) when the certificate is not trusted."""
        self._client.connect(self.broker.host, self.port, keepalive=30)  # TLS errors surface here
        self._client.loop_start()
        try:
            self.wait_connected(1, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def wait_connected(self, connections: int, timeout: float = 20.0) -> None:
        """Wait until this client has connected (and subscribed) ``connections`` times in all; e.g. ``n + 1`` after
        a broker restart, when it was ``n`` before."""
        with self._lock:
            done = self._lock.wait_for(lambda: self._refused is not None or self.connections >= connections, timeout)
            if self._refused is not None:
                raise MqttConnectError(f"the broker refused the connection: {self._refused}")
            if not done:
                raise MqttConnectError(
                    f"not connected {connections} time(s) within {timeout:.0f} s (connected {self.connections}); "
                    f"broker log:\n{self.broker.log_tail()}"
                )

    async def wait_connected_async(self, connections: int, timeout: float = 20.0) -> None:  # noqa: ASYNC109 - as the sync twin
        await asyncio.to_thread(self.wait_connected, connections, timeout)

    def close(self) -> None:
        """Disconnect cleanly (a persistent session stays on the broker) and stop the network thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            with self._lock:
                self._refused = str(reason)
                self._lock.notify_all()
            client.disconnect()  # no retrying with credentials that were refused
            return
        with contextlib.suppress(OSError, AttributeError):  # small packets go out at once (no Nagle delay)
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session_present = bool(flags.session_present)
        if session_present and self.persistent:  # the broker kept the subscriptions with the session
            self._connected(session_present)
            return
        filters = [(topic, self.qos) for topic in self.filters]
        filters.append((f"{BARRIER_PREFIX}/{self.client_id}/#", 1))
        # this network thread reads the SUBACK only after this callback returns: the mid is stored in time
        _, self._subscribe_mid = client.subscribe(filters)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            with self._lock:
                self._refused = "subscription refused: " + ", ".join(refused)
                self._lock.notify_all()
            return
        self._connected(session_present=False)

    def _connected(self, session_present: bool) -> None:
        with self._lock:
            self.connections += 1
            self.session_present = session_present
            self._lock.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            if message.topic.startswith(BARRIER_PREFIX + "/"):
                self._barriers.add(message.topic)
            else:
                self._received.append(
                    Received(
                        message.topic, bytes(message.payload), bool(message.retain), int(message.qos), time.monotonic()
                    )
                )
            self._lock.notify_all()

    # -- what it got

    @property
    def received(self) -> list[Received]:
        """Every message so far, in the order of arrival."""
        with self._lock:
            return list(self._received)

    def on(self, topic: str) -> list[Received]:
        """The messages received on exactly ``topic``."""
        return [message for message in self.received if message.topic == topic]

    def last(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def wait_for(
        self, predicate: Callable[[list[Received]], T], timeout: float = 20.0, what: str = "the condition"
    ) -> T:
        """Wait until ``predicate(messages so far)`` is truthy and return its value; on timeout an AssertionError
        that lists the last messages received. Blocks the calling thread: from async code use
        :meth:`wait_for_async`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                result = predicate(list(self._received))
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_message(what, timeout))
                self._lock.wait(remaining)

    async def wait_for_async(
        self,
        predicate: Callable[[list[Received]], T],
        timeout: float = 20.0,  # noqa: ASYNC109 - as the sync twin
        what: str = "the condition",
    ) -> T:
        """:meth:`wait_for` without blocking the event loop (the bridge under test may run on it)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.received)
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(what, timeout))
            await asyncio.sleep(0.02)

    def wait_for_message(self, topic: str, payload: bytes | str | None = None, timeout: float = 20.0) -> Received:
        """The first message on ``topic`` (with exactly ``payload``, when given)."""
        return self.wait_for(_message_on(topic, payload), timeout, f"a message on {topic!r}")

    async def wait_for_message_async(
        self,
        topic: str,
        payload: bytes | str | None = None,
        timeout: float = 20.0,  # noqa: ASYNC109 - as the sync twin
    ) -> Received:
        return await self.wait_for_async(_message_on(topic, payload), timeout, f"a message on {topic!r}")

    def _timeout_message(self, what: str, timeout: float) -> str:
        with self._lock:
            recent = self._received[-15:]
            count = len(self._received)
        lines = [f"{m.topic} {'(retained) ' if m.retain else ''}{m.payload[:200]!r}" for m in recent]
        return f"{what} did not happen within {timeout:.0f} s; {count} message(s) received, the last ones:\n  " + (
            "\n  ".join(lines) or "(none)"
        )

    # -- talking to the broker

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False, timeout: float = 20.0
    ) -> None:
        """Publish and, for QoS 1/2, return once the broker has acknowledged it (e.g. Home Assistant's birth message:
        ``publish("homeassistant/status", "online")``, or a command on a ``set`` topic)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise MqttConnectError(f"the broker did not acknowledge a message on {topic!r} within {timeout:.0f} s")

    def barrier(self, timeout: float = 20.0) -> None:
        """Return once every message the broker accepted before this call (and sent to this client) has been
        received: a marker published now on this client's own barrier topic comes after them (the broker sends
        a client its messages in order)."""
        token = f"{BARRIER_PREFIX}/{self.client_id}/{secrets.token_hex(6)}"
        self.publish(token, b"", qos=1, timeout=timeout)
        with self._lock:
            if not self._lock.wait_for(lambda: token in self._barriers, timeout):
                raise AssertionError(f"the barrier message did not come back within {timeout:.0f} s")

    async def barrier_async(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109 - as the sync twin
        await asyncio.to_thread(self.barrier, timeout)

    def retained(self, timeout: float = 20.0) -> dict[str, bytes]:
        """Every retained message on this subscriber's filters, topic → payload, as the broker holds them now: a
        new subscription gets them all before the :meth:`barrier` marker. Meant for a subscriber made for the
        purpose (its earlier records are cleared)."""
        self.clear()
        # a subscription made again is answered with every retained message again (MQTT 3.1.1, section 3.8.4)
        self._client.subscribe([(topic, self.qos) for topic in self.filters])
        self.barrier(timeout)
        return {message.topic: message.payload for message in self.received if message.retain}

    async def retained_async(self, timeout: float = 20.0) -> dict[str, bytes]:  # noqa: ASYNC109 - as the sync twin
        return await asyncio.to_thread(self.retained, timeout)


def _message_on(topic: str, payload: bytes | str | None) -> Callable[[list[Received]], Received | None]:
    wanted = payload.encode() if isinstance(payload, str) else payload

    def find(messages: list[Received]) -> Received | None:
        return next((m for m in messages if m.topic == topic and (wanted is None or m.payload == wanted)), None)

    return find


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not: it only waits to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "zombie" not in state
