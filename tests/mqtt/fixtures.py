"""Fixtures of the MQTT tests: a real Mosquitto broker per test (``broker``, ``broker_factory``) and recording
clients on it (``subscriber``, ``subscriber_factory``); see ``tests/mqtt/broker.py``. A plugin of the root conftest
(``pytest_plugins``), so that the CLI tests in tests/cli use them too.

A machine without Mosquitto fails these tests with :data:`tests.mqtt.broker.MISSING`, in CI and outside it, never
skips them. Every broker a test started is stopped by its PID when the test ends, and the test errors if one of them
is still running then.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.mqtt.broker import Broker, MosquittoUnavailableError, Subscriber, make_broker, process_alive


class BrokerFactory(Protocol):
    def __call__(
        self,
        *,
        persistence: bool = False,
        tls: bool = False,
        autosave_interval_s: int | None = None,
        log_debug: bool = True,
        extra_config: Sequence[str] = (),
        start: bool = True,
    ) -> Broker: ...


class SubscriberFactory(Protocol):
    def __call__(
        self,
        broker: Broker,
        filters: Sequence[str] = ("#",),
        *,
        persistent: bool = False,
        client_id: str | None = None,
        qos: int | None = None,
        tls: bool = False,
        ca_file: Path | bool | None = True,
        connect: bool = True,
    ) -> Subscriber: ...


@pytest.fixture
def broker_factory() -> Iterator[BrokerFactory]:
    """Make brokers with options (``persistence``, ``tls``, ``autosave_interval_s``, ``extra_config`` lines for
    ``mosquitto.conf``, ``start=False``); each is closed (stopped by PID, its directory removed) after the test."""
    made: list[Broker] = []

    def factory(**options: Any) -> Broker:
        try:
            broker = make_broker(**options)
        except MosquittoUnavailableError as exc:
            pytest.fail(str(exc), pytrace=False)
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        broker.close()
    left = [pid for broker in made for pid in broker.pids if process_alive(pid)]
    if left:
        pytest.fail(f"mosquitto still running after the test: pid {left}", pytrace=False)


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> Broker:
    """A started broker on 127.0.0.1: password required (``broker.url`` carries it), no persistence, no TLS."""
    return broker_factory()


@pytest.fixture
def subscriber_factory(broker_factory: BrokerFactory) -> Iterator[SubscriberFactory]:
    """Make recording clients (:class:`tests.mqtt.broker.Subscriber`), connected and subscribed unless
    ``connect=False``; all are closed after the test, before the brokers are stopped (hence the dependency on
    ``broker_factory``: its teardown comes after this one's)."""
    made: list[Subscriber] = []

    def factory(broker: Broker, filters: Sequence[str] = ("#",), *, connect: bool = True, **options: Any) -> Subscriber:
        subscriber = Subscriber(broker, filters, **options)
        made.append(subscriber)
        return subscriber.connect() if connect else subscriber

    yield factory
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def subscriber(broker: Broker, subscriber_factory: SubscriberFactory) -> Subscriber:
    """A client recording every message on ``broker`` (filter ``#``: the discovery and ``ringvault/`` trees)."""
    return subscriber_factory(broker)
