"""``MqttLink`` on a real Mosquitto broker: availability (online, clean offline), the retained cache across a broker
that lost everything, the birth message, a broker that is not there yet, refused credentials, TLS, and the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ringvault.mqtt.link import BrokerLoginError, MqttLink
from ringvault.mqtt.model import Topics
from ringvault.mqtt.options import BridgeOptions, BrokerUrl
from tests.mqtt.broker import Broker, free_port
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.mqtt.sink_helpers import wait_until

pytestmark = pytest.mark.timeout(180)

WAIT_S = 30.0


def fast(**overrides: Any) -> BridgeOptions:
    values: dict[str, Any] = {"reconnect_initial_s": 0.1, "reconnect_max_s": 0.5, "keepalive_s": 10}
    values.update(overrides)
    return BridgeOptions(**values)


@contextlib.asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run())
    try:
        yield task
    finally:
        await link.stop()
        with contextlib.suppress(asyncio.CancelledError, BrokerLoginError):
            await asyncio.wait_for(task, 30)


def link_to(broker: Broker, **overrides: Any) -> MqttLink:
    return MqttLink(BrokerUrl.parse(broker.url), Topics(), fast(**overrides))


async def test_online_then_a_clean_stop_publishes_offline(
    broker: Broker, subscriber_factory: SubscriberFactory
) -> None:
    sub = subscriber_factory(broker, ["ringvault/#"])
    link = link_to(broker)
    async with running(link) as task:
        await link.wait_connected(WAIT_S)
        status = await sub.wait_for_message_async("ringvault/status", "online", WAIT_S)
        assert status.qos == 0 or status.qos == 1
    assert task.done() and task.exception() is None
    await sub.wait_for_message_async("ringvault/status", "offline", WAIT_S)
    retained = await subscriber_factory(broker, ["ringvault/status"]).retained_async()
    assert retained == {"ringvault/status": b"offline"}


async def test_the_retained_cache_is_published_again_after_a_broker_that_lost_it(
    broker: Broker, subscriber_factory: SubscriberFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker keeps no retained messages across this restart (no persistence): the bridge's cache puts every
    one back, and the last value of a topic that changed while the broker was away."""
    caplog.set_level(logging.INFO, logger="ringvault.mqtt")
    link = link_to(broker)
    for n in range(60):
        link.retain(f"ringvault/loc/dev{n}/state/state", f"value {n}")
    async with running(link):
        await link.wait_connected(WAIT_S)
        checker = subscriber_factory(broker, ["ringvault/#"])
        first = await checker.retained_async()
        assert len(first) == 61 and first["ringvault/loc/dev7/state/state"] == b"value 7"
        await asyncio.to_thread(broker.stop)
        link.retain("ringvault/loc/dev7/state/state", "changed while away")
        await asyncio.to_thread(broker.start)
        await wait_until(lambda: link.stats.connects == 2, "the link connected again", WAIT_S)
        await link.wait_connected(WAIT_S)
        after = await _retained_when(subscriber_factory, broker, lambda r: len(r) == 61)
        assert after["ringvault/loc/dev7/state/state"] == b"changed while away"
        assert after["ringvault/status"] == b"online"
        assert all(after[f"ringvault/loc/dev{n}/state/state"] == f"value {n}".encode() for n in range(60) if n != 7)
    assert link.stats.outages == 1
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "connection lost" in lines[0], lines
    assert broker.password not in caplog.text


async def test_a_broker_that_is_not_there_yet_one_line_then_connected(
    broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringvault.mqtt")
    broker = broker_factory(start=False)
    link = MqttLink(
        BrokerUrl(host="127.0.0.1", port=free_port(), username=broker.username, password=broker.password),
        Topics(),
        fast(),
    )
    # the broker's port is chosen at its first start: point a link at a closed port, then at the broker
    async with running(link):
        await wait_until(lambda: link.stats.outages == 1, "the outage noticed", WAIT_S)
        await asyncio.sleep(2.0)  # several attempts (every 0.1-0.5 s) ...
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings  # ... one line
        assert "unreachable" in warnings[0] and broker.password not in warnings[0]
    await asyncio.to_thread(broker.start)
    link = link_to(broker)
    link.event("ringvault/loc/dev/events", '{"type":"new"}')  # queued before the first connection
    sub = subscriber_factory(broker, ["ringvault/#"])
    async with running(link):
        await sub.wait_for_message_async("ringvault/loc/dev/events", '{"type":"new"}', WAIT_S)
        assert link.queued_events == 0 and link.stats.events_sent == 1


async def test_refused_credentials_end_the_link_with_one_line_without_the_password(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-the-password-" + broker.password[:6]
    link = MqttLink(BrokerUrl(host=broker.host, port=broker.port, username=broker.username, password=secret),
                    Topics(), fast())  # fmt: skip
    with pytest.raises(BrokerLoginError) as raised:
        await asyncio.wait_for(link.run(), WAIT_S)
    line = str(raised.value)
    assert "refused the login" in line and "\n" not in line
    assert secret not in line and broker.password not in line
    assert broker.username in line  # the URL shown names the user, not the password
    assert secret not in caplog.text


async def test_tls_with_the_brokers_ca(broker_factory: BrokerFactory, subscriber_factory: SubscriberFactory) -> None:
    broker = broker_factory(tls=True)
    link = MqttLink(BrokerUrl.parse(broker.tls_url, ca_file=str(broker.ca_file)), Topics(), fast())
    sub = subscriber_factory(broker, ["ringvault/#"])
    link.retain("ringvault/loc/dev/x/state", "over TLS")
    async with running(link):
        await sub.wait_for_message_async("ringvault/loc/dev/x/state", "over TLS", WAIT_S)


async def test_tls_without_trusting_the_ca_never_connects(
    broker_factory: BrokerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broker = broker_factory(tls=True)
    link = MqttLink(BrokerUrl.parse(broker.tls_url), Topics(), fast())  # the system's CAs: not the test CA
    async with running(link):
        await wait_until(lambda: link.stats.outages == 1, "the refused certificate noticed", WAIT_S)
        await asyncio.sleep(1.0)
        assert link.stats.connects == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "certificate" in warnings[0].lower(), warnings


async def test_birth_online_republishes_and_a_retained_command_is_ignored(
    broker: Broker, subscriber_factory: SubscriberFactory, caplog: pytest.LogCaptureFixture
) -> None:
    commands: list[tuple[str, bytes]] = []
    link = MqttLink(BrokerUrl.parse(broker.url), Topics(), fast(), on_command=lambda t, p: commands.append((t, p)))
    link.retain("homeassistant/sensor/n/x/config", "{}")
    link.retain("ringvault/loc/dev/x/state", "42")
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    # a command someone published retained: the broker hands it to every new subscription (each reconnect)
    sub.publish("ringvault/loc/dev/y/set", "kept", retain=True)
    async with running(link):
        await link.wait_connected(WAIT_S)
        await sub.barrier_async()
        sub.clear()
        sub.publish("homeassistant/status", "online")
        await sub.wait_for_async(
            lambda ms: {m.topic for m in ms} >= {"homeassistant/sensor/n/x/config", "ringvault/loc/dev/x/state"},
            WAIT_S,
            "both published again",
        )
        assert link.stats.birth_republishes == 1
        sub.publish("ringvault/loc/dev/x/set", "live")
        await wait_until(lambda: len(commands) >= 1, "the live command handed over", WAIT_S)
        await asyncio.sleep(0.5)
        assert commands == [("ringvault/loc/dev/x/set", b"live")]  # not the retained one
        ignored = [r.getMessage() for r in caplog.records if "retained command" in r.getMessage()]
        assert len(ignored) == 1 and "ringvault/loc/dev/y/set" in ignored[0]
    sub.publish("ringvault/loc/dev/y/set", b"", retain=True)


async def _retained_when(factory: SubscriberFactory, broker: Broker, check: Any) -> dict[str, bytes]:
    """The retained snapshot, taken again until ``check`` holds (the link republishes in batches)."""
    checker = factory(broker, ["ringvault/#"])
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        snapshot = await checker.retained_async()
        if check(snapshot) or asyncio.get_running_loop().time() > deadline:
            return snapshot
        await asyncio.sleep(0.2)


async def test_an_event_leaves_the_outbox_only_after_the_brokers_puback(
    broker: Broker, subscriber_factory: SubscriberFactory
) -> None:
    """A broker frozen (SIGSTOP) after the event was sent cannot acknowledge it: the event stays in the outbox until
    the broker runs again and acknowledges, then it is delivered once."""
    sub = subscriber_factory(broker, ["ringvault/+/+/events"], persistent=True)
    link = link_to(broker)
    async with running(link):
        await link.wait_connected(WAIT_S)
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            link.event("ringvault/loc/dev/events", '{"event_id":"1"}')
            await asyncio.sleep(1.5)  # sent on the socket long ago; no PUBACK from a frozen broker
            assert link.queued_events == 1
            assert link.stats.events_sent == 0
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await wait_until(lambda: link.queued_events == 0, "the PUBACK", WAIT_S)
        await sub.wait_for_message_async("ringvault/loc/dev/events", '{"event_id":"1"}', WAIT_S)
        await sub.barrier_async()
        assert len(sub.on("ringvault/loc/dev/events")) == 1
        assert link.stats.events_sent == 1


@pytest.mark.parametrize("when", ["connecting", "publishing"])
async def test_a_stop_at_any_moment_leaves_offline_never_a_stale_online(
    broker: Broker, subscriber_factory: SubscriberFactory, when: str
) -> None:
    """Stopped while it connects, or while it is busy sending its cache: the broker ends up holding ``offline``
    (or nothing, when it never got as far as ``online``), never an ``online`` nobody will take back."""
    link = link_to(broker)
    for n in range(3000):
        link.retain(f"ringvault/loc/dev{n}/x/state", str(n))
    task = asyncio.create_task(link.run())
    if when == "publishing":
        await wait_until(lambda: link.connected, "connected", WAIT_S)
    else:
        await asyncio.sleep(0)
    await link.stop()
    assert task.done() and task.exception() is None
    held = await subscriber_factory(broker, ["ringvault/status"]).retained_async()
    assert held.get("ringvault/status") in (None, b"offline"), held
    if when == "publishing":
        assert held == {"ringvault/status": b"offline"}
