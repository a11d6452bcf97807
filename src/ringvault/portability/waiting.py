"""What the status of an app's customers says — why a customer waits, in a word and in a sentence, and whether Ring's
notifications can arrive — behind both ``GET /portability/customers`` (``ringvault serve``) and ``ringvault
portability status``.

The word is ``portability_schedule.reason``. The reasons an *error* leaves a customer waiting on (``conflict``,
``daily_quota``, ``listing_window``, ``throttled``, ``ring_failing``) are the client's, with their sentences
(``portability.errors.WAIT_REASONS``; an error says which through ``err.wait_reason``); the others belong to the
schedule and are described here. The row's ``detail`` is the particular sentence of the moment (which query, which
time), ``until`` when the wait ends. It reads rows of the archive and imports nothing of the server, so the CLI
uses it without loading the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from ringvault.archive.store.portability_schedule import ScheduleRow
from ringvault.archive.store.portability_subscriptions import SubscriptionRow
from ringvault.portability.errors import WAIT_REASONS
from ringvault.portability.notifications import SubscriptionRecord, SubscriptionStatus, subscription_status

__all__ = ["SCHEDULE_REASONS", "notification_status", "reason_text", "waiting", "working"]

#: The schedule's own reasons (see the module docstring for the errors' ones).
SCHEDULE_REASONS: Final[dict[str, str]] = {
    "queued": "customers who asked for an export earlier go first (createDataQuery is first come, first served)",
    "imports_first": "completed exports of other customers are listed first, while their hour of listing runs",
    "create_window": "the app's 20 createDataQuery calls per 20 minutes are used up until then",
    "create_rate": "the app's createDataQuery rate (5 a second, burst 5) allows this export then",
    "creating": "asking Ring for a new export",
    "notification": "waiting for Ring's notification that the export is ready; it is checked with Ring then at the "
    "latest",
    "checking": "asking Ring whether the export is ready",
    "notified": "Ring says the export is ready; a records call is confirming it",
    "confirming": "Ring said the export is ready but its records call did not agree yet (Ring may repeat an answer "
    "for 5 minutes); it is asked again then",
    "listing": "Ring finished the export: it is listed and imported within the hour after Ring's notification",
    "importing": "importing the export",
    "retry": "a failure (see the last error); it is tried again then",
    "recurring": "imported; the next recurring export is due then",
    "done": "imported; no recurring export (turned off, or the authorization is not active)",
    "authorization": "Ring refuses the customer's authorization: nothing more until the customer connects again",
}
_CREATE_WAITS = frozenset({"create_window", "create_rate"})


def reason_text(code: str | None) -> str | None:
    """The sentence of a reason code (None for a code this version does not know, e.g. a newer process's)."""
    if code is None:
        return None
    known = WAIT_REASONS.get(code)
    return known.text if known is not None else SCHEDULE_REASONS.get(code)


def working(schedule: ScheduleRow) -> dict[str, Any] | None:
    """The step a process is running for the customer right now, if any."""
    if schedule.running_since is None or schedule.step is None:
        return None
    query_id = None if schedule.step == "export" else schedule.arg
    return {"phase": schedule.step, "query_id": query_id, "since": schedule.running_since}


def waiting(schedule: ScheduleRow) -> dict[str, Any] | None:
    """Why the customer waits (``reason``, its sentence ``text``, the moment's ``message``) and ``until`` when;
    None while a step runs or when nothing was ever scheduled."""
    if schedule.running_since is not None or schedule.reason is None:
        return None
    until: datetime | None = schedule.due_at if schedule.step is not None else None
    if schedule.reason in _CREATE_WAITS and schedule.permit_at is not None:
        until = schedule.permit_at
    return {
        "reason": schedule.reason,
        "text": reason_text(schedule.reason),
        "message": schedule.detail,
        "until": until,
    }


def notification_status(rows: Sequence[SubscriptionRow], regions: Sequence[str]) -> SubscriptionStatus:
    """Whether Ring's notifications can arrive in the configured ``regions`` (``subscription_status``), from an
    app's rows of ``portability_subscriptions``: its confirmations, and the regions notifications came from."""
    records = [
        SubscriptionRecord(row.topic_arn, row.region, row.received_at, row.confirmed_at, row.error)
        for row in rows
        if row.kind == "confirmation"
    ]
    notified = {row.region for row in rows if row.kind == "notification" and row.region}
    return subscription_status(records, regions=regions, notified_regions=notified)
