"""Data Portability answers nested too deeply to read: one typed error line, never a RecursionError."""

from __future__ import annotations

import httpx
import pytest

from ringvault.portability import errors as e
from ringvault.portability.notifications import parse_notification
from ringvault.portability.scopes.base import to_object_list, to_str_list
from tests.portability.helpers import FakeService, RecordingSleep
from tests.portability.test_client import QUERY_ID, client_for

DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_a_records_page_nested_too_deeply_is_a_response_error() -> None:
    service = FakeService()
    service.script("list", httpx.Response(200, content=DEEP, headers={"content-type": "application/json"}))
    async with client_for(service) as client:
        with pytest.raises(e.PortabilityResponseError) as caught:
            await client.list_page(QUERY_ID)
    assert "nested too deeply" in str(caught.value) and "\n" not in caught.value.one_line


async def test_an_error_answer_nested_too_deeply_keeps_its_status() -> None:
    service = FakeService()
    service.script("create", *[httpx.Response(500, content=DEEP) for _ in range(6)])
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        with pytest.raises(e.UnknownPortabilityError) as caught:
            await client.create_query()
    assert caught.value.status == 500 and caught.value.attempts == 6  # retried as any 500, then reported


def test_a_notification_nested_too_deeply_is_a_notification_error() -> None:
    with pytest.raises(e.NotificationError, match="not JSON"):
        parse_notification(b"[" * 5000)  # well within the 64 KB a body may have, deeper than Python recurses
    envelope = {"Type": "Notification", "Subject": "Data Portability Notification 1.0", "Message": "[" * 5000}
    with pytest.raises(e.NotificationError, match="not a JSON string"):
        parse_notification(envelope)


def test_json_in_a_record_field_nested_too_deeply_is_not_decoded() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert to_object_list(deep) is None
    assert to_str_list(deep) == [deep]  # kept as the one string it is, as any list that is not JSON
