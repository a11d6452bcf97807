"""The test broker itself: it wants its password, serves TLS only to clients that trust its CA, keeps retained
messages and persistent sessions across a restart only with persistence on, leaves nothing running, and a machine
without Mosquitto fails the tests that need it (in CI and outside), never skips them."""

from __future__ import annotations

import os
import pwd
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mqtt.broker import (
    MISSING,
    Broker,
    MosquittoUnavailableError,
    MqttConnectError,
    Subscriber,
    process_alive,
)
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory

ROOT = Path(__file__).resolve().parents[2]


def test_the_broker_wants_its_password(broker: Broker, subscriber_factory: SubscriberFactory) -> None:
    assert broker.url == f"mqtt://{broker.username}:{broker.password}@127.0.0.1:{broker.port}"
    with pytest.raises(MqttConnectError, match="Not authorized"):
        subscriber_factory(broker, password=broker.password + "x")
    with pytest.raises(MqttConnectError, match="Not authorized"):
        subscriber_factory(broker, username="someone-else")
    good = subscriber_factory(broker, ["t/#"])
    good.publish("t/1", "hello")
    assert good.wait_for_message("t/1").text == "hello"
    assert "not authorised" in broker.log_text()
    assert broker.password not in broker.log_text()


def test_the_broker_listens_on_loopback_only(broker: Broker) -> None:
    assert broker.host == "127.0.0.1"
    conf = broker.conf_file.read_text()
    assert [line for line in conf.splitlines() if line.startswith("listener")] == [f"listener {broker.port} 127.0.0.1"]
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = {line.split()[1] for line in listening if line.split()[3] == "0A"}  # 0A: LISTEN
    assert f"0100007F:{broker.port:04X}" in local  # 127.0.0.1, little-endian
    assert f"00000000:{broker.port:04X}" not in local  # not 0.0.0.0


def test_the_broker_runs_as_mosquitto_when_started_by_root(broker: Broker) -> None:
    assert broker.pid is not None
    status = Path(f"/proc/{broker.pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    expected = pwd.getpwnam("mosquitto").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert uid == expected
    assert broker.password_file.stat().st_mode & 0o077 == 0  # the hashes are private
    assert broker.root.stat().st_mode & 0o077 == 0


def test_tls_connects_with_the_ca_and_is_refused_without_it(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory(tls=True)
    assert broker.tls_url == f"mqtts://{broker.username}:{broker.password}@127.0.0.1:{broker.tls_port}"
    with subscriber_factory(broker, ["secure/#"], tls=True) as secure:
        secure.publish("secure/x", "over tls")
        assert secure.wait_for_message("secure/x").text == "over tls"
    # the system's CAs do not know the broker's: the handshake fails, nothing is sent
    with pytest.raises(ssl.SSLCertVerificationError):
        subscriber_factory(broker, tls=True, ca_file=None)
    # and the certificate names 127.0.0.1 and localhost, checked by a plain TLS client too
    context = ssl.create_default_context(cafile=str(broker.ca_file))
    for name in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", broker.tls_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    with (
        socket.create_connection(("127.0.0.1", broker.tls_port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="mismatch"),
    ):
        context.wrap_socket(raw, server_hostname="example.com")
    # a wrong password over TLS is refused as on the plain port
    with pytest.raises(MqttConnectError, match="Not authorized"):
        subscriber_factory(broker, tls=True, password="wrong")


@pytest.mark.parametrize("persistence", [True, False])
def test_retained_messages_survive_a_restart_only_with_persistence(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory, persistence: bool
) -> None:
    broker = broker_factory(persistence=persistence)
    port = broker.port
    with subscriber_factory(broker, ["state/#"]) as publisher:
        publisher.publish("state/a", "on", retain=True)
        publisher.publish("state/b", "42", retain=True)
        assert publisher.retained() == {"state/a": b"on", "state/b": b"42"}
    first_pid = broker.pid
    broker.restart()
    assert broker.port == port and broker.pid != first_pid
    assert first_pid is not None and not process_alive(first_pid)
    with subscriber_factory(broker, ["state/#"]) as after:
        assert after.retained() == ({"state/a": b"on", "state/b": b"42"} if persistence else {})


@pytest.mark.parametrize("persistence", [True, False])
def test_a_persistent_subscriber_gets_what_it_missed_across_a_restart_only_with_persistence(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory, persistence: bool
) -> None:
    broker = broker_factory(persistence=persistence)
    client_id = "rv-test-persistent-listener"
    first = subscriber_factory(broker, ["events/#"], persistent=True, client_id=client_id)
    assert first.connections == 1 and not first.session_present and first.qos == 1
    first.close()  # away; the broker keeps its session and queues QoS 1 messages for it
    with subscriber_factory(broker, ["other/#"]) as publisher:
        publisher.publish("events/ding", "1", qos=1)
    broker.restart()
    back = subscriber_factory(broker, ["events/#"], persistent=True, client_id=client_id)
    if persistence:
        assert back.session_present
        assert back.wait_for_message("events/ding").text == "1"
    else:
        assert not back.session_present
        back.barrier()
        assert back.on("events/ding") == []


def test_a_subscriber_reconnects_by_itself_after_a_restart_and_a_kill(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory(persistence=True)
    listener = subscriber_factory(broker, ["live/#"], persistent=True, client_id="rv-test-reconnecting")
    for n, interrupt in enumerate((broker.restart, broker.kill), start=2):
        interrupt()
        if not broker.running:
            broker.start()
        listener.wait_connected(n)
        with subscriber_factory(broker, ["x/#"]) as publisher:
            publisher.publish(f"live/{n}", "after")
        assert listener.wait_for_message(f"live/{n}").payload == b"after"
    assert [m.topic for m in listener.received] == ["live/2", "live/3"]


def test_a_kill_loses_what_was_not_saved_yet(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory
) -> None:
    broker = broker_factory(persistence=True)
    with subscriber_factory(broker, ["k/#"]) as client:
        client.publish("k/saved", "yes", retain=True)
    broker.restart()  # a clean stop saves the database
    with subscriber_factory(broker, ["k/#"]) as client:
        client.publish("k/unsaved", "lost", retain=True)
    broker.kill()
    broker.start()
    with subscriber_factory(broker, ["k/#"]) as client:
        assert client.retained() == {"k/saved": b"yes"}


def test_nothing_is_left_running_or_on_disk(broker_factory: BrokerFactory) -> None:
    broker = broker_factory(persistence=True, tls=True)
    broker.restart()
    broker.kill()
    broker.start()
    pids, root = list(broker.pids), broker.root
    assert len(pids) == 3 and root.is_dir()
    broker.close()
    assert not broker.running and not root.exists()
    assert not any(process_alive(pid) for pid in pids)


def test_a_broker_that_cannot_start_says_why(broker_factory: BrokerFactory) -> None:
    broker = broker_factory(extra_config=["no_such_option true"], start=False)
    with pytest.raises(MosquittoUnavailableError, match=r"(?s)mosquitto exited; its log ends:\n.*no_such_option"):
        broker.start()
    assert not broker.running


def test_barrier_and_retained_see_everything_published_before(
    broker: Broker, subscriber_factory: SubscriberFactory
) -> None:
    with subscriber_factory(broker, ["w/#"]) as writer:
        for n in range(200):
            writer.publish(f"r/{n}", str(n), retain=True, qos=0 if n % 2 else 1)
        reader = subscriber_factory(broker, ["r/#"])
        assert reader.retained() == {f"r/{n}": str(n).encode() for n in range(200)}
        writer.publish("r/live", "x", qos=0)
        reader.barrier()
        live = reader.last("r/live")
        assert live is not None and not live.retain  # forwarded live: the flag is off on delivery


async def test_async_waits_leave_the_event_loop_free(broker: Broker, subscriber: Subscriber) -> None:
    import asyncio

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        sent = time.monotonic()
        await asyncio.to_thread(subscriber.publish, "a/b", "c")
        message = await subscriber.wait_for_message_async("a/b")
        assert message.text == "c" and message.at >= sent
        with pytest.raises(AssertionError, match="a message on 'never' did not happen within 1 s"):
            await subscriber.wait_for_message_async("never", timeout=1.0)
        assert ticks >= 10
    finally:
        ticker.cancel()


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_mosquitto_the_tests_fail_and_never_skip(tmp_path: Path, ci: str) -> None:
    env = {**os.environ, "CI": ci, "RINGVAULT_TEST_MOSQUITTO": str(tmp_path / "no-mosquitto-here")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/mqtt/test_broker_fixture.py::test_the_broker_wants_its_password",
         "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rA"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "1 error" in output and "skipped" not in output, output
    assert MISSING in output
    assert "Traceback" not in output
