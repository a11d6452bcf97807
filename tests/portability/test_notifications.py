"""The notification envelope: exactly the documented shape is accepted, anything else is a clear error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringvault.portability.errors import NotificationError
from ringvault.portability.notifications import (
    SUBJECT,
    QueryNotification,
    SubscriptionConfirmation,
    parse_notification,
)

QUERY = "0f8e1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def envelope(**changes: Any) -> dict[str, Any]:
    message = {"id": QUERY, "version": "1.0", "status": "COMPLETED"}
    message.update(changes.pop("message", {}))
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "5e1b9f3c-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:eu-west-1:000000000000:data-portability",
        "Subject": SUBJECT,
        "Message": json.dumps(message),
        "Timestamp": "2025-06-13T16:47:27.000Z",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELED"])
def test_a_documented_notification_is_parsed(status: str) -> None:
    body = json.dumps(envelope(message={"status": status})).encode()
    parsed = parse_notification(body)
    assert isinstance(parsed, QueryNotification)
    assert (parsed.query_id, parsed.status, parsed.version) == (QUERY, status, "1.0")
    assert parsed.completed is (status == "COMPLETED")
    assert parsed.message_id and parsed.timestamp == "2025-06-13T16:47:27.000Z"


def test_the_envelope_type_may_be_left_out_and_a_string_body_works() -> None:
    parsed = parse_notification(json.dumps(envelope(Type=None)))
    assert isinstance(parsed, QueryNotification) and parsed.query_id == QUERY


def test_a_subscription_confirmation_gives_its_subscribe_url() -> None:
    url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn&Token=tok-123"
    body = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "tok-123",
        "TopicArn": "arn:aws:sns:eu-west-1:000000000000:data-portability",
        "Message": "You have chosen to subscribe to the topic ...",
        "SubscribeURL": url,
    }
    parsed = parse_notification(body)
    assert isinstance(parsed, SubscriptionConfirmation)
    assert parsed.subscribe_url == url and parsed.token == "tok-123"
    assert "tok-123" not in repr(parsed)


BAD: list[tuple[str, Any, str]] = [
    ("not json", b"{nope", "not JSON"),
    ("a list", b"[]", "not a JSON object"),
    ("huge", b" " * 70_000 + b"{}", "bytes"),
    ("unsubscribe", envelope(Type="UnsubscribeConfirmation"), "not supported"),
    ("no subject", envelope(Subject=None), "Subject must be"),
    ("other subject", envelope(Subject="Hello"), "Subject must be"),
    ("future version", envelope(Subject="Data Portability Notification 2.0"), "not supported"),
    ("no message", envelope(Message=None), "no Message"),
    ("message not json", envelope(Message="{broken"), "not a JSON string"),
    ("message a list", envelope(Message="[1]"), "not a JSON object"),
    ("no id", envelope(message={"id": ""}), "no query id"),
    ("version mismatch", envelope(message={"version": "0.9"}), "does not match"),
    ("bad status", envelope(message={"status": "IN_PROGRESS"}), "COMPLETED or CANCELED"),
    ("lower-case status", envelope(message={"status": "completed"}), "COMPLETED or CANCELED"),
    ("confirmation without url", {"Type": "SubscriptionConfirmation"}, "SubscribeURL"),
    ("confirmation with ftp url", {"Type": "SubscriptionConfirmation", "SubscribeURL": "ftp://x/y"}, "SubscribeURL"),
]


@pytest.mark.parametrize(("name", "body", "fragment"), BAD, ids=[row[0] for row in BAD])
def test_anything_else_is_a_clear_error(name: str, body: Any, fragment: str) -> None:
    with pytest.raises(NotificationError) as caught:
        parse_notification(body)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value) and caught.value.hint
