"""The notification the service POSTs to the app when a data query reaches its final state.

The envelope is SNS-style JSON::

    {"Type": "Notification", "MessageId": "...", "Subject": "Data Portability Notification 1.0",
     "Message": "{\\"id\\": \\"<query id>\\", \\"version\\": \\"1.0\\", \\"status\\": \\"COMPLETED\\"}",
     "Timestamp": "..."}

``Message`` is a JSON object encoded as a string, with the query ``id``, the notification ``version`` and the
``status`` (``COMPLETED``: list the records within the hour; ``CANCELED``: authorization expired or revoked, or the
account is on hold — there is no data). A ``Type: SubscriptionConfirmation`` message carries the ``SubscribeURL`` to
confirm the endpoint. ``parse_notification`` accepts exactly these and raises ``NotificationError`` with one line
saying what is wrong for anything else. It does not verify SNS signatures (the seed documents none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from ringvault.portability.errors import NotificationError

QueryStatus = Literal["COMPLETED", "CANCELED"]
QUERY_STATUSES: Final[tuple[QueryStatus, ...]] = ("COMPLETED", "CANCELED")
SUBJECT_PREFIX: Final = "Data Portability Notification "
SUPPORTED_VERSIONS: Final[tuple[str, ...]] = ("1.0",)
SUBJECT: Final = SUBJECT_PREFIX + SUPPORTED_VERSIONS[-1]
#: The seed caps a notification at 1 KB; a body far larger than that is not one.
MAX_BODY_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class QueryNotification:
    """A data query reached its final state."""

    query_id: str
    status: QueryStatus
    version: str
    message_id: str | None = None
    timestamp: str | None = None
    topic_arn: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"


@dataclass(frozen=True)
class SubscriptionConfirmation:
    """The endpoint must be confirmed by visiting ``subscribe_url``."""

    subscribe_url: str = field(repr=False)
    topic_arn: str | None = None
    message_id: str | None = None
    message: str | None = None
    token: str | None = field(default=None, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


Notification = QueryNotification | SubscriptionConfirmation


def parse_notification(body: bytes | str | Mapping[str, Any]) -> Notification:
    """Validate a notification POST body; see the module docstring."""
    envelope = _object(body)
    kind = envelope.get("Type", "Notification")
    if kind == "SubscriptionConfirmation":
        return _confirmation(envelope)
    if kind != "Notification":
        raise NotificationError(f"notification Type {kind!r} is not supported (expected Notification)")
    subject = envelope.get("Subject")
    if not isinstance(subject, str) or not subject.startswith(SUBJECT_PREFIX):
        raise NotificationError(f"notification Subject must be {SUBJECT!r}, got {_short(subject)}")
    subject_version = subject[len(SUBJECT_PREFIX) :]
    if subject_version not in SUPPORTED_VERSIONS:
        raise NotificationError(
            f"notification version {subject_version!r} is not supported (supported: {', '.join(SUPPORTED_VERSIONS)})"
        )
    message = _message(envelope.get("Message"))
    query_id = message.get("id")
    if not isinstance(query_id, str) or not query_id.strip():
        raise NotificationError("notification Message has no query id")
    version = message.get("version")
    if version != subject_version:
        raise NotificationError(
            f"notification Message version {_short(version)} does not match the Subject's {subject_version!r}"
        )
    status = message.get("status")
    if status not in QUERY_STATUSES:
        raise NotificationError(f"notification status must be COMPLETED or CANCELED, got {_short(status)}")
    return QueryNotification(
        query_id=query_id.strip(),
        status=status,
        version=subject_version,
        message_id=_opt_str(envelope.get("MessageId")),
        timestamp=_opt_str(envelope.get("Timestamp")),
        topic_arn=_opt_str(envelope.get("TopicArn")),
        raw=envelope,
    )


def _object(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if len(body) > MAX_BODY_BYTES:
        raise NotificationError(f"notification body has {len(body)} bytes, far more than a notification's 1 KB")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise NotificationError("notification body is not JSON") from err
    if not isinstance(data, dict):
        raise NotificationError("notification body is not a JSON object")
    return data


def _message(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise NotificationError("notification has no Message")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as err:
        raise NotificationError("notification Message is not a JSON string") from err
    if not isinstance(data, dict):
        raise NotificationError("notification Message is not a JSON object")
    return data


def _confirmation(envelope: Mapping[str, Any]) -> SubscriptionConfirmation:
    url = envelope.get("SubscribeURL")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
        raise NotificationError("SubscriptionConfirmation has no usable SubscribeURL")
    assert isinstance(url, str)
    return SubscriptionConfirmation(
        subscribe_url=url,
        topic_arn=_opt_str(envelope.get("TopicArn")),
        message_id=_opt_str(envelope.get("MessageId")),
        message=_opt_str(envelope.get("Message")),
        token=_opt_str(envelope.get("Token")),
        raw=envelope,
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
