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

Confirming a subscription means fetching its ``SubscribeURL``, which arrives in an unauthenticated POST: whoever can
reach the endpoint can send one. ``subscribe_decision`` is the policy (a pure function): only Amazon SNS's own
ConfirmSubscription URL for a topic of the configured regions is allowed — ``https://sns.<region>.amazonaws.com/
?Action=ConfirmSubscription&TopicArn=arn:aws:sns:<region>:<account>:<topic>&Token=<token>`` (AWS, "HTTP/HTTPS
subscription confirmation JSON format"), the host exactly that (no user information, port, other scheme, trailing
dot or non-ASCII look-alike), the TopicArn's region the host's and the same as the message's ``TopicArn``. The URL
then fetched is rebuilt from those checked parts, never the received string, so no parser difference between the
check and the fetch can point it elsewhere. ``confirm_subscription`` applies it: a refusal is one log line and
nothing is fetched. ``subscription_status`` says whether notifications can be expected at all.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from ringvault.portability.errors import NotificationError

if TYPE_CHECKING:
    from ringvault.transport import HttpClient

logger = logging.getLogger("ringvault.portability")

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


# ---------------------------------------------------------------------------------------------------------------
# SNS subscription confirmation: which SubscribeURL may be fetched

#: Amazon SNS's endpoint in a region: where every SubscribeURL of a topic in that region points.
SNS_HOST: Final = "sns.{region}.amazonaws.com"
#: ``arn:aws:sns:<region>:<12-digit account>:<topic name>`` (topic names: letters, digits, ``-``, ``_``, 1 to 256;
#: FIFO topics end in ``.fifo``).
_TOPIC_ARN: Final = re.compile(r"arn:aws:sns:(?P<region>[a-z0-9-]{1,32}):\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
#: SNS tokens are long hexadecimal strings; anything URL-safe is accepted, nothing that needs escaping.
_TOKEN: Final = re.compile(r"[A-Za-z0-9._~-]{1,2048}")
_QUERY_KEYS: Final = frozenset({"Action", "TopicArn", "Token"})
MAX_SUBSCRIBE_URL: Final = 4096


@dataclass(frozen=True)
class SubscribeDecision:
    """What ``subscribe_decision`` concluded: ``url`` to fetch (rebuilt from the checked parts) or ``refusal``."""

    url: str | None = field(default=None, repr=False)
    region: str | None = None
    topic_arn: str | None = None
    refusal: str | None = None

    @property
    def allowed(self) -> bool:
        return self.url is not None


def _refuse(reason: str, topic_arn: str | None = None) -> SubscribeDecision:
    return SubscribeDecision(refusal=reason, topic_arn=topic_arn)


def subscribe_decision(
    confirmation: SubscriptionConfirmation, *, regions: Collection[str], cloud_url: str | None = None
) -> SubscribeDecision:
    """Whether ``confirmation``'s SubscribeURL may be fetched, and the URL to fetch (see the module docstring).

    ``regions``: the Ring regions the app is configured for; a topic elsewhere is refused. ``cloud_url``: the
    configured simulator (the one endpoint rule): its SubscribeURLs are ``{cloud_url}/sns.<region>.amazonaws.com/?...``
    and are checked as the ``https://sns...`` URL they stand for; the URL returned then points at the simulator."""
    raw = confirmation.subscribe_url
    envelope_arn = confirmation.topic_arn
    if len(raw) > MAX_SUBSCRIBE_URL:
        return _refuse(f"the SubscribeURL is {len(raw)} characters long", envelope_arn)
    if not raw.isascii() or not raw.isprintable() or any(c in raw for c in " \\"):
        return _refuse("the SubscribeURL has characters no Amazon SNS URL has (spaces, backslashes, non-ASCII)")
    text = raw
    if cloud_url:
        prefix = cloud_url.rstrip("/") + "/"
        if raw.startswith(prefix):
            text = "https://" + raw[len(prefix) :]
    try:
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return _refuse("the SubscribeURL cannot be parsed", envelope_arn)
    allowed_hosts = {SNS_HOST.format(region=region): region for region in regions}
    if parts.scheme != "https":
        return _refuse(f"the SubscribeURL is not https ({_short(parts.scheme)})", envelope_arn)
    if "@" in parts.netloc:
        return _refuse("the SubscribeURL carries user information before its host", envelope_arn)
    region = allowed_hosts.get(parts.netloc.lower())
    if region is None:
        wanted = ", ".join(sorted(allowed_hosts)) or "none configured"
        return _refuse(
            f"the SubscribeURL's host {_short(parts.netloc)} is not Amazon SNS in a configured region ({wanted})",
            envelope_arn,
        )
    if parts.path not in ("", "/") or parts.fragment:
        return _refuse("the SubscribeURL has a path or fragment an SNS ConfirmSubscription URL does not have")
    keys = [key for key, _ in query]
    values = dict(query)
    if len(keys) != len(set(keys)) or set(keys) != _QUERY_KEYS:
        return _refuse("the SubscribeURL's parameters are not exactly Action, TopicArn and Token", envelope_arn)
    if values["Action"] != "ConfirmSubscription":
        return _refuse(f"the SubscribeURL's Action is {_short(values['Action'])}, not ConfirmSubscription")
    arn = _TOPIC_ARN.fullmatch(values["TopicArn"])
    if arn is None:
        return _refuse("the SubscribeURL's TopicArn is not an Amazon SNS topic ARN", envelope_arn)
    if arn.group("region") != region:
        return _refuse(
            f"the topic is in {_short(arn.group('region'))} but the SubscribeURL's host is in {region}", envelope_arn
        )
    if envelope_arn != values["TopicArn"]:
        return _refuse("the SubscribeURL's TopicArn is not the message's TopicArn", envelope_arn)
    if _TOKEN.fullmatch(values["Token"]) is None:
        return _refuse("the SubscribeURL's Token is not an SNS token", envelope_arn)
    rebuilt = f"https://{SNS_HOST.format(region=region)}/?" + urlencode(
        [("Action", "ConfirmSubscription"), ("TopicArn", values["TopicArn"]), ("Token", values["Token"])]
    )
    from ringvault.cloud.endpoints import resolve

    return SubscribeDecision(url=resolve(rebuilt, cloud_url), region=region, topic_arn=values["TopicArn"])


@dataclass(frozen=True)
class SubscriptionOutcome:
    """What ``confirm_subscription`` did: ``confirmed`` (SNS answered 2xx), else ``error`` says why not (a refusal
    of the policy: ``refused`` True, nothing was fetched)."""

    confirmed: bool
    topic_arn: str | None
    region: str | None
    refused: bool = False
    status: int | None = None
    error: str | None = None


async def confirm_subscription(
    confirmation: SubscriptionConfirmation,
    *,
    regions: Collection[str],
    cloud_url: str | None = None,
    http: HttpClient | None = None,
    timeout_s: float = 10.0,
) -> SubscriptionOutcome:
    """Confirm an SNS subscription if ``subscribe_decision`` allows it: one GET of the rebuilt URL through the shared
    transport (no redirects followed, tokens redacted from the log). A refusal is one warning and nothing is
    fetched; a failed GET is one warning too (the operator can still confirm by hand)."""
    decision = subscribe_decision(confirmation, regions=regions, cloud_url=cloud_url)
    topic = _short(confirmation.topic_arn)
    if decision.url is None:
        logger.warning("not confirming the SNS subscription of topic %s: %s", topic, decision.refusal)
        return SubscriptionOutcome(False, decision.topic_arn, None, refused=True, error=decision.refusal)
    from ringvault.transport import ExponentialBackoff, HttpClient, RetryPolicy, TransportError, display_url

    url = decision.url
    display = f"GET {display_url(url)}"
    owned = http is None
    client = http or HttpClient(timeout_s=timeout_s, user_agent="ringvault-portability", logger=logger)
    try:
        answer = await client.retry(
            lambda: client.send(client.build_request("GET", url), display=display),
            policy=RetryPolicy(backoff=ExponentialBackoff(), max_retries=0),
            retryable=lambda _exc: False,
            what=display,
        )
    except TransportError as exc:
        error = f"confirming it failed: {type(exc).__name__}"
        logger.warning("SNS subscription of topic %s not confirmed: %s", topic, error)
        return SubscriptionOutcome(False, decision.topic_arn, decision.region, error=error)
    finally:
        if owned:
            await client.aclose()
    if not answer.is_success:
        error = f"Amazon SNS answered HTTP {answer.status_code}"
        logger.warning("SNS subscription of topic %s not confirmed: %s", topic, error)
        return SubscriptionOutcome(False, decision.topic_arn, decision.region, status=answer.status_code, error=error)
    logger.info("confirmed the SNS subscription of topic %s (%s)", topic, decision.region)
    return SubscriptionOutcome(True, decision.topic_arn, decision.region, status=answer.status_code)


@dataclass(frozen=True)
class SubscriptionRecord:
    """One SubscriptionConfirmation as the server keeps it (``received_at``; ``confirmed_at`` when SNS accepted the
    confirmation; ``error`` why not)."""

    topic_arn: str | None
    region: str | None
    received_at: datetime
    confirmed_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class SubscriptionStatus:
    """Whether Ring's notifications can arrive: ``code`` ``confirmed`` (every configured region has a confirmed
    subscription), ``partial`` (some regions do not), ``unconfirmed`` (confirmations came, none was confirmed),
    ``none`` (no confirmation and no notification ever came); ``text`` says it, with what to do;
    ``missing_regions`` lists the configured regions without a confirmed subscription."""

    code: Literal["confirmed", "partial", "unconfirmed", "none"]
    text: str
    missing_regions: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == "confirmed"


def topic_region(topic_arn: str | None) -> str | None:
    """The region of an SNS topic ARN (``arn:aws:sns:<region>:...``), None when it is not one."""
    found = _TOPIC_ARN.fullmatch(topic_arn or "")
    return found.group("region") if found else None


def subscription_status(
    records: Sequence[SubscriptionRecord],
    *,
    regions: Collection[str],
    notified_regions: Collection[str] = (),
) -> SubscriptionStatus:
    """What a status page says about notifications. A region counts as confirmed when one of its subscriptions was
    confirmed, or when a genuine notification came from a topic there (``notified_regions``, from the notifications'
    ``TopicArn``: the subscription may have been confirmed before these records were kept). A region without either
    gets no notifications: its exports ride on polling."""
    wanted = tuple(sorted(set(regions)))
    confirmed = {r.region for r in records if r.confirmed_at is not None and r.region} | set(notified_regions)
    missing = tuple(region for region in wanted if region not in confirmed)
    if not missing:
        return SubscriptionStatus("confirmed", f"SNS subscription confirmed for {', '.join(wanted)}")
    polling = "exports are found by polling (slower, and more list calls)"
    if any(region in confirmed for region in wanted):
        return SubscriptionStatus(
            "partial", f"no confirmed SNS subscription for {', '.join(missing)}: {polling} there", missing
        )
    unconfirmed = [r for r in records if r.confirmed_at is None]
    if unconfirmed:
        last = unconfirmed[-1]
        why = f" (the last confirmation: {last.error})" if last.error else ""
        return SubscriptionStatus(
            "unconfirmed",
            f"no SNS subscription is confirmed{why}: {polling}; GET /portability/subscriptions shows the SubscribeURL "
            "to confirm by hand",
            missing,
        )
    return SubscriptionStatus(
        "none",
        f"no SNS subscription confirmation has arrived: {polling}; ask Ring to send it to the notification URL again",
        missing,
    )
