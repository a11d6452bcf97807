"""Notifications: the SNS-style POST to the app's endpoint when a query reaches COMPLETED or CANCELED, retried
when the endpoint fails; revocation, authorization expiry and the SubscriptionConfirmation handshake."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import (
    CLIENT_ID,
    COMPLETION_DELAY_S,
    NotificationSink,
    advance,
    create,
    login,
    patch_app,
    records,
    wait_until,
)


def _logged(client: httpx.Client, count: int) -> dict[str, Any]:
    """The simulator's delivery log once it holds ``count`` attempts: it logs an attempt after the endpoint's answer
    arrived, so a sink can have the request before the log has the attempt."""
    wait_until(lambda: len(client.get("/_sim/portability/notifications").json()["attempts"]) >= count, "the log")
    log: dict[str, Any] = client.get("/_sim/portability/notifications").json()
    return log


def test_completed_notification_is_delivered_in_sns_shape(
    sim: SimServer, client: httpx.Client, sink: NotificationSink
) -> None:
    patch_app(client, notification_url=sink.url)
    tokens = login(client, sim)
    query_id = create(client, tokens, host="/intake.us-west-2.portability.data.ring.com").json()["id"]
    advance(client, COMPLETION_DELAY_S + 1)
    assert sink.wait_for(1) == [{"id": query_id, "version": "1.0", "status": "COMPLETED"}]
    received = sink.received[0]
    assert received["path"] == "/portability/notifications/v1"
    headers = {k.lower(): v for k, v in received["headers"].items()}
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["content-type"] == "text/plain; charset=UTF-8"  # as Amazon SNS sends it
    envelope = json.loads(received["body"])
    assert envelope["Type"] == "Notification" and envelope["Subject"] == "Data Portability Notification 1.0"
    assert envelope["TopicArn"].startswith("arn:aws:sns:us-west-2:")  # the region of the create request
    assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
    for field in ("Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"):
        assert envelope[field]
    assert len(received["body"]) <= 1024  # "The notification file size is at 1KB max."
    assert isinstance(envelope["Message"], str)
    attempts = _logged(client, 1)["attempts"]
    assert [(a["query_id"], a["status"], a["delivered"]) for a in attempts] == [(query_id, 200, True)]
    assert records(client, tokens, query_id).status_code == 200


def test_failed_delivery_is_retried(sim: SimServer, client: httpx.Client, sink: NotificationSink) -> None:
    patch_app(client, notification_url=sink.url)
    sink.statuses.extend([500, 503])
    tokens = login(client, sim)
    create(client, tokens)
    advance(client, COMPLETION_DELAY_S + 1)
    wait_until(lambda: len(sink.received) >= 1, "the first attempt")
    advance(client, 1)  # backoff 1 s, then 2 s (simulated clock)
    wait_until(lambda: len(sink.received) >= 2, "the second attempt")
    advance(client, 2)
    sink.wait_for(3)
    assert [r["answered"] for r in sink.received] == [500, 503, 200]
    attempts = _logged(client, 3)
    assert [(a["attempt"], a["status"]) for a in attempts["attempts"]] == [(1, 500), (2, 503), (3, 200)]
    assert attempts["pending"] == 0
    ids = {m["MessageId"] for m in sink.messages()}
    assert len(ids) == 1  # a retry is the same message


def test_unreachable_endpoint_gives_up_after_the_configured_attempts(sim: SimServer, client: httpx.Client) -> None:
    with NotificationSink() as gone:
        url = gone.url
    patch_app(client, notification_url=url)  # nothing listens there any more
    client.patch("/_sim/portability/config", json={"notification_attempts": 2, "notification_backoff_s": [0.5]})
    create(client, login(client, sim))
    advance(client, COMPLETION_DELAY_S + 1)
    wait_until(lambda: len(client.get("/_sim/portability/notifications").json()["attempts"]) >= 1, "an attempt")
    advance(client, 1)
    wait_until(lambda: client.get("/_sim/portability/notifications").json()["pending"] == 0, "giving up")
    attempts = client.get("/_sim/portability/notifications").json()["attempts"]
    assert len(attempts) == 2 and all(a["status"] is None and "ConnectError" in a["error"] for a in attempts)


def test_non_loopback_endpoints_are_never_contacted(sim: SimServer, client: httpx.Client) -> None:
    patch_app(client, notification_url="https://notifications.example.com/v1")
    create(client, login(client, sim))
    advance(client, COMPLETION_DELAY_S + 1)
    wait_until(lambda: client.get("/_sim/portability/notifications").json()["attempts"] != [], "the refusal")
    attempt = client.get("/_sim/portability/notifications").json()["attempts"][0]
    assert attempt["status"] is None and "loopback" in attempt["error"]


def test_revoke_cancels_the_open_query(sim: SimServer, client: httpx.Client, sink: NotificationSink) -> None:
    patch_app(client, notification_url=sink.url)
    tokens = login(client, sim)
    query_id = create(client, tokens).json()["id"]
    customer = client.get("/_sim/portability/customers").json()["customers"][0]
    revoked = client.post(f"/_sim/portability/customers/{customer['id']}/revoke", json={})
    assert len(revoked.json()["revoked"]) == 1
    assert sink.wait_for(1) == [{"id": query_id, "version": "1.0", "status": "CANCELED"}]
    assert client.get(f"/_sim/portability/queries/{query_id}").json()["reason"] == "revoked by the customer"
    denied = records(client, tokens, query_id)
    assert denied.status_code == 403 and denied.json()["type"] == "ACCESS_DENIED"
    advance(client, COMPLETION_DELAY_S + 1)
    assert client.get(f"/_sim/portability/queries/{query_id}").json()["status"] == "CANCELED"


def test_authorization_expiry_cancels(sim: SimServer, client: httpx.Client, sink: NotificationSink) -> None:
    patch_app(client, notification_url=sink.url)
    client.patch("/_sim/portability/config", json={"completion_delay_s": 40 * 86400})
    tokens = login(client, sim, duration="30d")
    query_id = create(client, tokens).json()["id"]
    advance(client, 30 * 86400 + 1)
    assert sink.wait_for(1) == [{"id": query_id, "version": "1.0", "status": "CANCELED"}]
    grant = client.get("/_sim/portability/grants").json()["grants"][0]
    assert grant["status"] == "expired"


def test_one_time_transfer_allows_one_query(sim: SimServer, client: httpx.Client, sink: NotificationSink) -> None:
    patch_app(client, notification_url=sink.url)
    tokens = login(client, sim, duration="once")
    query_id = create(client, tokens).json()["id"]
    advance(client, COMPLETION_DELAY_S + 1)
    sink.wait_for(1)
    assert records(client, tokens, query_id).status_code == 200
    again = create(client, tokens)
    assert again.status_code == 403 and again.json()["type"] == "ACCESS_DENIED"


def test_subscription_confirmation_handshake(sim: SimServer, client: httpx.Client, sink: NotificationSink) -> None:
    patch_app(client, notification_url=sink.url)
    sent = client.post(f"/_sim/portability/apps/{CLIENT_ID}/subscription-confirmation", json={"region": "us-east-1"})
    assert sent.status_code == 202
    wait_until(lambda: len(sink.received) >= 1, "the SubscriptionConfirmation")
    message = sink.messages()[0]
    assert message["Type"] == "SubscriptionConfirmation" and message["TopicArn"].startswith("arn:aws:sns:us-east-1:")
    headers = {k.lower(): v for k, v in sink.received[0]["headers"].items()}
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    subscribe = message["SubscribeURL"]
    assert subscribe.startswith(sim.url + "/sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    confirmed = client.get(subscribe)
    assert confirmed.status_code == 200 and "<SubscriptionArn>" in confirmed.text
    subscriptions = client.get("/_sim/portability/notifications").json()["subscriptions"]
    assert subscriptions[0]["confirmed_at"] is not None
    assert client.get(subscribe.replace("Token=", "Token=x")).status_code == 400
