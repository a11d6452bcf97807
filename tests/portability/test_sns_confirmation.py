"""SNS subscription confirmation: only Amazon SNS's own ConfirmSubscription URL for a topic of the configured regions
is ever fetched (``subscribe_decision``); anything else is refused with one log line and nothing is fetched
(``confirm_subscription``, against a listener that counts connections and against the simulator's SNS)."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ringvault.portability.notifications import (
    SubscriptionConfirmation,
    SubscriptionRecord,
    confirm_subscription,
    parse_notification,
    subscribe_decision,
    subscription_status,
    topic_region,
)
from ringvault.sim.config import SimConfig
from ringvault.sim.portability.config import DEMO_CLIENT_ID
from ringvault.sim.server import SimServer
from tests.portability.flow import control, import_sim_config

ARN = "arn:aws:sns:eu-west-1:123456789012:ring-data-portability-notifications"
TOKEN = "2336412f37fb687f5d51e6e241d164b0533302ec696efc8f113cd2252ce8a925"
QUERY = f"Action=ConfirmSubscription&TopicArn={ARN}&Token={TOKEN}"
GOOD = f"https://sns.eu-west-1.amazonaws.com/?{QUERY}"
REGIONS = ("eu-west-1",)


def confirmation(url: str, topic_arn: str | None = ARN) -> SubscriptionConfirmation:
    return SubscriptionConfirmation(subscribe_url=url, topic_arn=topic_arn, token=TOKEN)


def test_amazon_sns_of_a_configured_region_is_allowed_and_the_url_is_rebuilt() -> None:
    decision = subscribe_decision(confirmation(GOOD), regions=REGIONS)
    assert decision.allowed and decision.region == "eu-west-1" and decision.topic_arn == ARN
    assert decision.url == (
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456789012%3Aring-data-portability-notifications&Token={TOKEN}"
    )
    upper = subscribe_decision(confirmation(GOOD.replace("sns.eu-west-1", "SNS.EU-WEST-1")), regions=REGIONS)
    assert upper.url == decision.url  # host names are case-insensitive; the rebuilt URL is the canonical one
    two = subscribe_decision(confirmation(GOOD), regions=("us-east-1", "eu-west-1"))
    assert two.allowed


HOSTILE = {
    "another host": f"https://evil.example/?{QUERY}",
    "a look-alike suffix": f"https://sns.eu-west-1.amazonaws.com.evil.example/?{QUERY}",
    "a region not configured": GOOD.replace("sns.eu-west-1", "sns.us-east-1"),
    "the topic in another region": GOOD.replace("sns:eu-west-1", "sns:us-east-1"),
    "http": GOOD.replace("https://", "http://"),
    "no scheme": GOOD.replace("https://", "//"),
    "userinfo before the host": f"https://sns.eu-west-1.amazonaws.com@evil.example/?{QUERY}",
    "user and password": f"https://a:b@sns.eu-west-1.amazonaws.com/?{QUERY}",
    "a backslash": f"https://sns.eu-west-1.amazonaws.com\\@evil.example/?{QUERY}",
    "an IDN look-alike": f"https://sns.eu-west-1.amazon\u0430ws.com/?{QUERY}",  # Cyrillic a
    "a punycode host": f"https://sns.eu-west-1.xn--amazonws-5jg.com/?{QUERY}",
    "a full-width dot": f"https://sns.eu-west-1.amazonaws\uff0ecom/?{QUERY}",
    "a trailing dot": f"https://sns.eu-west-1.amazonaws.com./?{QUERY}",
    "a port": f"https://sns.eu-west-1.amazonaws.com:8443/?{QUERY}",
    "a path": f"https://sns.eu-west-1.amazonaws.com/x/?{QUERY}",
    "a fragment": f"{GOOD}#x",
    "another action": GOOD.replace("ConfirmSubscription", "Unsubscribe"),
    "a repeated action": f"{GOOD}&Action=Unsubscribe",
    "an extra parameter": f"{GOOD}&Redirect=https://evil.example/",
    "no token": f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={ARN}",
    "a token with markup": GOOD.replace(TOKEN, "<script>"),
    "a malformed topic": GOOD.replace("123456789012", "1234"),
    "spaces": GOOD.replace("?", " ?"),
    "a newline": GOOD + "\n",
    "a huge URL": GOOD + "0" * 5000,
}


@pytest.mark.parametrize("url", list(HOSTILE.values()), ids=list(HOSTILE))
def test_anything_else_is_refused_with_a_reason(url: str) -> None:
    decision = subscribe_decision(confirmation(url), regions=REGIONS)
    assert not decision.allowed and decision.url is None
    assert decision.refusal and "\n" not in decision.refusal


def test_the_topic_must_be_the_messages_own() -> None:
    other = "arn:aws:sns:eu-west-1:123456789012:someone-elses-topic"
    assert not subscribe_decision(confirmation(GOOD, topic_arn=other), regions=REGIONS).allowed
    assert not subscribe_decision(confirmation(GOOD, topic_arn=None), regions=REGIONS).allowed


def test_the_simulators_subscribe_url_is_allowed_only_when_it_is_the_configured_cloud_url() -> None:
    cloud = "http://127.0.0.1:5123"
    url = f"{cloud}/sns.eu-west-1.amazonaws.com/?{QUERY}"
    allowed = subscribe_decision(confirmation(url), regions=REGIONS, cloud_url=cloud)
    assert allowed.url is not None and allowed.url.startswith(f"{cloud}/sns.eu-west-1.amazonaws.com/?Action=")
    assert not subscribe_decision(confirmation(url), regions=REGIONS).allowed  # in production: plain http, refused
    assert not subscribe_decision(confirmation(url), regions=REGIONS, cloud_url="http://127.0.0.1:5124").allowed
    assert not subscribe_decision(confirmation(url), regions=("us-east-1",), cloud_url=cloud).allowed


# -- over the network ----------------------------------------------------------------------------------------------


class Listener:
    """A TCP listener on loopback that counts connections (any fetch would open one) and answers nothing."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener() as opened:
        yield opened


def aimed_at(port: int) -> dict[str, str]:
    """Hostile SubscribeURLs that would reach the listener if they were fetched as received."""
    here = f"127.0.0.1:{port}"
    return {
        "plain http elsewhere": f"http://{here}/?{QUERY}",
        "https elsewhere": f"https://{here}/?{QUERY}",
        "userinfo": f"https://sns.eu-west-1.amazonaws.com@{here}/?{QUERY}",
        "backslash userinfo": f"http://sns.eu-west-1.amazonaws.com\\@{here}/?{QUERY}",
        "the simulator path on another host": f"http://{here}/sns.eu-west-1.amazonaws.com/?{QUERY}",
    }


async def test_hostile_urls_are_refused_with_one_log_line_and_nothing_is_fetched(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringvault.portability")
    for name, url in aimed_at(listener.port).items():
        caplog.clear()
        outcome = await confirm_subscription(confirmation(url), regions=REGIONS, cloud_url=None)
        assert not outcome.confirmed and outcome.refused and outcome.error, name
        lines = [r for r in caplog.records if r.name == "ringvault.portability"]
        assert len(lines) == 1 and lines[0].levelno == logging.WARNING, name
        assert "not confirming the SNS subscription" in lines[0].getMessage() and TOKEN not in lines[0].getMessage()
    await asyncio.sleep(0.2)  # a connection in flight would have been accepted by now
    assert listener.connections == 0


class Receiver(http.server.ThreadingHTTPServer):
    """The app's notification endpoint: keeps every POSTed body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler) -> None:
                size = int(handler.headers.get("content-length", "0"))
                self.bodies.append(handler.rfile.read(size))
                handler.send_response(200)
                handler.send_header("content-length", "0")
                handler.end_headers()

            def log_message(handler, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def sim_config(sim_config: SimConfig) -> SimConfig:
    return import_sim_config(sim_config)


def delivered_confirmation(sim: SimServer, receiver: Receiver, region: str) -> SubscriptionConfirmation:
    """Have the simulator send the app a SubscriptionConfirmation for its topic in ``region``; the parsed message."""
    port = receiver.server_address[1]
    control(
        sim, "PATCH", f"/_sim/portability/apps/{DEMO_CLIENT_ID}", {"notification_url": f"http://127.0.0.1:{port}/n/v1"}
    )
    before = len(receiver.bodies)
    control(sim, "POST", f"/_sim/portability/apps/{DEMO_CLIENT_ID}/subscription-confirmation", {"region": region})
    deadline = time.monotonic() + 30
    while len(receiver.bodies) == before:
        assert time.monotonic() < deadline, "the simulator did not deliver the SubscriptionConfirmation"
        time.sleep(0.02)
    parsed = parse_notification(receiver.bodies[-1])
    assert isinstance(parsed, SubscriptionConfirmation)
    return parsed


def confirmed_topics(sim: SimServer) -> list[str]:
    subscriptions = control(sim, "GET", "/_sim/portability/notifications")["subscriptions"]
    return [s["topic"] for s in subscriptions if s["confirmed_at"] is not None]


async def test_the_simulators_confirmation_for_a_configured_region_is_confirmed(
    sim: SimServer, receiver: Receiver
) -> None:
    message = delivered_confirmation(sim, receiver, "eu-west-1")
    outcome = await confirm_subscription(message, regions=REGIONS, cloud_url=sim.url)
    assert outcome.confirmed and outcome.region == "eu-west-1" and outcome.status == 200
    assert confirmed_topics(sim) == [message.topic_arn]


async def test_a_topic_of_another_region_is_not_confirmed(
    sim: SimServer, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ringvault.portability")
    message = delivered_confirmation(sim, receiver, "us-east-1")
    outcome = await confirm_subscription(message, regions=REGIONS, cloud_url=sim.url)
    assert outcome.refused and not outcome.confirmed and "us-east-1" in (outcome.error or "")
    assert [r.levelno for r in caplog.records if r.name == "ringvault.portability"] == [logging.WARNING]
    assert confirmed_topics(sim) == []  # Amazon SNS (the simulator's) was never asked
    # with us-east-1 configured too, the same message is confirmed
    assert (await confirm_subscription(message, regions=("eu-west-1", "us-east-1"), cloud_url=sim.url)).confirmed


# -- what status shows ---------------------------------------------------------------------------------------------


def test_status_says_when_no_subscription_is_confirmed() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert subscription_status([], regions=REGIONS).code == "none"
    refused = SubscriptionRecord(ARN, None, now, error="the SubscribeURL is not https ('http')")
    status = subscription_status([refused], regions=REGIONS)
    assert status.code == "unconfirmed" and not status.ok and "polling" in status.text and "not https" in status.text
    assert status.missing_regions == REGIONS
    confirmed = SubscriptionRecord(ARN, "eu-west-1", now, confirmed_at=now)
    assert subscription_status([refused, confirmed], regions=REGIONS).ok
    both = subscription_status([confirmed], regions=("eu-west-1", "us-east-1"))
    assert both.code == "partial" and both.missing_regions == ("us-east-1",)
    # a notification from a topic proves its region's subscription, even with no record of the confirmation
    notified = subscription_status([], regions=REGIONS, notified_regions=[topic_region(ARN) or ""])
    assert notified.ok
    assert topic_region("not an arn") is None


def test_envelopes_from_the_wire_are_parsed_before_the_policy() -> None:
    body = json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": ARN, "SubscribeURL": GOOD, "Token": TOKEN})
    parsed = parse_notification(body)
    assert isinstance(parsed, SubscriptionConfirmation)
    assert subscribe_decision(parsed, regions=REGIONS).allowed
