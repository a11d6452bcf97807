"""The API client over a mocked transport: URLs and headers, paging, retries and their waits, downloads."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringvault.portability import errors as e
from ringvault.portability.client import PortabilityClient
from ringvault.portability.endpoints import endpoints_for
from ringvault.portability.http import RetryPolicy
from ringvault.portability.oauth import PortabilityAuth
from tests.portability.helpers import (
    CREDENTIALS,
    FakeService,
    RecordingSleep,
    chunks,
    error_body,
    fast_policy,
    no_limits,
    valid_token,
)

QUERY_ID = "a1111111-b222-c333-d444-e55555555555"


def client_for(
    service: FakeService,
    sleep: RecordingSleep | None = None,
    *,
    brand: str = "ring",
    region: str | None = None,
    cloud_url: str | None = None,
    **options: Any,
) -> PortabilityClient:
    auth = PortabilityAuth(
        CREDENTIALS,
        brand=brand,
        token=valid_token(service),
        endpoints=endpoints_for(brand, cloud_url=cloud_url),
    )
    options.setdefault("retry", fast_policy(sleep or RecordingSleep()))
    return PortabilityClient(auth, region=region, transport=service.transport(), limiter=no_limits(), **options)


# -- requests ------------------------------------------------------------------------------------------------------


async def test_create_query_posts_to_the_intake_host_with_the_bearer_token() -> None:
    service = FakeService()
    async with client_for(service) as client:
        assert await client.create_query() == QUERY_ID
        token = client.auth.token
    [request] = service.routed("create")
    assert request.method == "POST"
    assert str(request.url) == "https://intake.eu-west-1.portability.data.ring.com/data-portability/data-queries"
    assert token is not None and request.headers["authorization"] == f"Bearer {token.access_token}"


@pytest.mark.parametrize("brand", ["ring", "blink"])
@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "us-west-2"])
async def test_every_brand_and_region_has_its_intake_host(brand: str, region: str) -> None:
    service = FakeService()
    async with client_for(service, brand=brand, region=region) as client:
        await client.create_query()
    assert service.routed("create")[0].url.host == f"intake.{region}.portability.data.{brand}.com"


async def test_the_cloud_url_rule_sends_everything_to_the_simulator() -> None:
    service = FakeService()
    service.files["/127.0.0.1:9/bucket.s3.amazonaws.com/f.json"] = b"[]"
    service.pages = [{"records": []}]
    async with client_for(service, cloud_url="http://127.0.0.1:9", region="us-east-1") as client:
        await client.create_query()
        await client.all_records(QUERY_ID)
    urls = [str(r.url) for r in service.requests]
    assert urls[0] == "http://127.0.0.1:9/intake.us-east-1.portability.data.ring.com/data-portability/data-queries"
    assert urls[1].startswith(
        f"http://127.0.0.1:9/intake.us-east-1.portability.data.ring.com/data-portability/data-queries/{QUERY_ID}/records"
    )


async def test_a_create_answer_without_an_id_is_a_response_error() -> None:
    service = FakeService()
    service.script("create", httpx.Response(201, json={"queryId": "x"}))
    async with client_for(service) as client:
        with pytest.raises(e.PortabilityResponseError, match="no query id"):
            await client.create_query()


async def test_a_conflict_is_raised_at_once() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("create", httpx.Response(409, content=error_body("CONFLICT", "REQUEST_CONFLICT")))
    async with client_for(service, sleep) as client:
        with pytest.raises(e.RequestConflictError) as caught:
            await client.create_query()
    assert caught.value.attempts == 1 and sleep.waits == []


# -- paging --------------------------------------------------------------------------------------------------------


def _pages(count: int, per_page: int) -> list[dict[str, Any]]:
    pages = []
    for index in range(count):
        records = [
            {"schema": f"https://b.s3.amazonaws.com/{index}-{n}.schema.json?X-Amz-Signature=abc", "file": f"f{n}"}
            for n in range(per_page)
        ]
        page: dict[str, Any] = {"records": records}
        if index + 1 < count:
            page["nextPageToken"] = f"page-{index + 1}"
        pages.append(page)
    return pages


async def test_list_records_follows_next_page_tokens() -> None:
    service = FakeService(pages=_pages(3, 4))
    async with client_for(service) as client:
        pages = [page async for page in client.list_records(QUERY_ID, max_results=4)]
    assert [len(p.records) for p in pages] == [4, 4, 4]
    assert [p.next_page_token for p in pages] == ["page-1", "page-2", None]
    sent = service.routed("list")
    assert [r.url.params.get("nextPageToken") for r in sent] == [None, "page-1", "page-2"]
    assert {r.url.params["maxResults"] for r in sent} == {"4"}
    assert all(r.method == "GET" for r in sent)
    assert "X-Amz-Signature" not in repr(pages[0].records[0])


async def test_all_records_collects_every_page() -> None:
    service = FakeService(pages=_pages(2, 3))
    async with client_for(service) as client:
        records = await client.all_records(QUERY_ID)
    assert len(records) == 6
    assert records[0].schema_url.startswith("https://b.s3.amazonaws.com/0-0.schema.json")


@pytest.mark.parametrize("bad", [0, 251, -1])
async def test_max_results_outside_1_to_250_is_refused_before_sending(bad: int) -> None:
    service = FakeService(pages=_pages(1, 1))
    async with client_for(service) as client:
        with pytest.raises(ValueError, match="between 1 and 250"):
            await client.list_page(QUERY_ID, max_results=bad)
    assert service.requests == []


async def test_a_page_token_that_comes_back_is_a_loop() -> None:
    service = FakeService(pages=[{"records": [], "nextPageToken": "page-0"}])
    async with client_for(service) as client:
        with pytest.raises(e.PortabilityResponseError, match="loop"):
            async for _ in client.list_records(QUERY_ID):
                pass


@pytest.mark.parametrize(
    "answer",
    [{"records": "nope"}, {"records": [{"schema": "s"}]}, {"records": [{"schema": 1, "file": "f"}]}, ["records"]],
)
async def test_malformed_pages_are_response_errors(answer: Any) -> None:
    service = FakeService(pages=[answer])
    async with client_for(service) as client:
        with pytest.raises(e.PortabilityResponseError):
            await client.list_page(QUERY_ID)


async def test_query_not_completed_is_typed_and_not_retried() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("list", httpx.Response(403, content=error_body("FORBIDDEN", "QUERY_NOT_COMPLETED")))
    async with client_for(service, sleep) as client:
        with pytest.raises(e.QueryNotCompletedError):
            await client.list_page(QUERY_ID)
    assert sleep.waits == [] and service.refresh_grants == 0


# -- retries -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category", "type_", "cls"),
    [
        (429, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS", e.TooManyRequestsError),
        (429, "THROTTLED", "TOO_MANY_REQUESTS", e.TooManyRequestsError),
        (500, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR", e.InternalServerError),
        (500, "INTERNAL_SERVER_ERROR", "INTEGRATION_FAILURE", e.IntegrationFailureError),
        (504, "GATEWAY_TIMEOUT", "INTEGRATION_TIMEOUT", e.IntegrationTimeoutError),
    ],
)
async def test_retryable_statuses_wait_1_2_4_10_30_then_fail_typed(
    status: int, category: str, type_: str, cls: type[e.PortabilityError]
) -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("create", *[httpx.Response(status, content=error_body(category, type_)) for _ in range(6)])
    async with client_for(service, sleep) as client:
        with pytest.raises(cls) as caught:
            await client.create_query()
    assert sleep.waits == [1.0, 2.0, 4.0, 10.0, 30.0]
    assert len(service.routed("create")) == 6
    assert caught.value.attempts == 6 and caught.value.status == status
    assert "after 6 attempts" in str(caught.value)


async def test_a_retry_that_succeeds_stops_waiting() -> None:
    service = FakeService(pages=_pages(1, 2))
    sleep = RecordingSleep()
    fail = httpx.Response(500, content=error_body("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"))
    service.script("list", fail, httpx.Response(504, content=error_body("GATEWAY_TIMEOUT", "INTEGRATION_TIMEOUT")))
    async with client_for(service, sleep) as client:
        page = await client.list_page(QUERY_ID)
    assert len(page.records) == 2
    assert sleep.waits == [1.0, 2.0]


@pytest.mark.parametrize(
    ("status", "category", "type_"),
    [
        (400, "BAD_REQUEST", "INVALID_PARAMETERS"),
        (403, "FORBIDDEN", "SCOPE_NOT_ENABLED"),
        (403, "FORBIDDEN", "ACCESS_TIME_ELAPSED"),
        (404, "RESOURCE_NOT_FOUND", "QUERY_ID_NOT_FOUND"),
        (409, "CONFLICT", "REQUEST_CONFLICT"),
        (413, "CONTENT_TOO_LARGE", "REQUEST_TOO_LARGE"),
        (429, "TOO_MANY_REQUESTS", "QUOTA_EXCEEDED"),
    ],
)
async def test_other_errors_are_not_retried(status: int, category: str, type_: str) -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("list", httpx.Response(status, content=error_body(category, type_)))
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PortabilityError) as caught:
            await client.list_page(QUERY_ID)
    assert caught.value.status == status and caught.value.attempts == 1
    assert sleep.waits == [] and len(service.routed("list")) == 1


async def test_retry_after_is_honoured_when_larger_than_the_schedule() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    body = error_body("THROTTLED", "TOO_MANY_REQUESTS")
    service.script(
        "create",
        httpx.Response(429, content=body, headers={"Retry-After": "7"}),  # larger than 1 s: wins
        httpx.Response(429, content=body, headers={"Retry-After": "1"}),  # smaller than 2 s: the schedule wins
        httpx.Response(429, content=body, headers={"Retry-After": "100000"}),  # capped
    )
    async with client_for(service, sleep) as client:
        assert await client.create_query() == QUERY_ID
    assert sleep.waits == [7.0, 2.0, 300.0]


async def test_a_configured_schedule_is_used() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    fail = httpx.Response(500, content=error_body("INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"))
    service.script("create", fail, fail, fail)
    async with client_for(service, sleep, retry=RetryPolicy(delays=(0.5, 3.0), sleep=sleep)) as client:
        with pytest.raises(e.InternalServerError) as caught:
            await client.create_query()
    assert sleep.waits == [0.5, 3.0] and caught.value.attempts == 3


async def test_a_refused_connection_is_retried_then_reported() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("create", *[httpx.ConnectError("connection refused") for _ in range(6)])
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PortabilityUnreachableError, match="after 6 attempt"):
            await client.create_query()
    assert sleep.waits == [1.0, 2.0, 4.0, 10.0, 30.0]


async def test_a_timed_out_create_is_not_repeated() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("create", httpx.ReadTimeout("read timed out"))
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PortabilityUnreachableError):
            await client.create_query()
    assert len(service.routed("create")) == 1 and sleep.waits == []


async def test_a_timed_out_list_is_retried() -> None:
    service = FakeService(pages=_pages(1, 1))
    sleep = RecordingSleep()
    service.script("list", httpx.ReadTimeout("read timed out"))
    async with client_for(service, sleep) as client:
        await client.list_page(QUERY_ID)
    assert sleep.waits == [1.0]


async def test_token_endpoint_throttling_is_retried_too() -> None:
    service = FakeService()
    sleep = RecordingSleep()
    service.script("token", httpx.Response(429, content=error_body("THROTTLED", "TOO_MANY_REQUESTS")))
    async with client_for(service, sleep) as client:
        token = client.auth.token
        assert token is not None
        await client.auth.refresh(failed_token=token.access_token)
    assert sleep.waits == [1.0] and service.refresh_grants == 1


# -- downloads -----------------------------------------------------------------------------------------------------

FILE_URL = "https://bucket.s3.amazonaws.com/query/data-0.json?X-Amz-Signature=deadbeef&X-Amz-Expires=300"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


async def test_download_writes_the_file_atomically_and_returns_size_and_sha256(tmp_path: Path) -> None:
    payload = json.dumps([{"locationId": "l", "deviceName": f"Sensor {n}"} for n in range(2000)]).encode()
    service = FakeService()
    service.files["/query/data-0.json"] = payload
    async with client_for(service) as client:
        result = await client.download(FILE_URL, tmp_path / "out" / "data-0.json")
    assert result.bytes == len(payload)
    assert result.sha256 == hashlib.sha256(payload).hexdigest()
    assert result.path.read_bytes() == payload
    assert result.content_type == "application/json"
    assert _leftovers(tmp_path / "out") == []
    [request] = service.routed("file")
    assert "authorization" not in request.headers  # presigned: no credentials of ours


async def test_a_file_announced_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    service = FakeService()
    consumed: list[int] = []
    body = b"x" * 10_000
    service.script(
        "file",
        httpx.Response(200, content=chunks(body, 1000, consumed), headers={"Content-Length": str(len(body))}),
    )
    async with client_for(service, max_download_bytes=4096) as client:
        with pytest.raises(e.DownloadTooLargeError, match="announces 10000 bytes"):
            await client.download(FILE_URL, tmp_path / "big.json")
    assert not (tmp_path / "big.json").exists() and _leftovers(tmp_path) == []
    assert consumed == []


async def test_a_stream_over_the_cap_is_stopped_and_deleted(tmp_path: Path) -> None:
    service = FakeService()
    consumed: list[int] = []
    service.script("file", httpx.Response(200, content=chunks(b"y" * 100_000, 1000, consumed)))
    dest = tmp_path / "big.json"
    dest.write_bytes(b"previous version")
    async with client_for(service) as client:
        with pytest.raises(e.DownloadTooLargeError, match="more than 4096 bytes"):
            await client.download(FILE_URL, dest, max_bytes=4096)
    assert dest.read_bytes() == b"previous version"  # an earlier complete file is not touched
    assert _leftovers(tmp_path) == []
    assert len(consumed) <= 6  # stopped right after the cap, not after 100 chunks


async def test_an_expired_presigned_url_says_to_list_again(tmp_path: Path) -> None:
    service = FakeService()
    expired = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    service.script("file", httpx.Response(403, content=expired))
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PresignedUrlExpiredError) as caught:
            await client.download(FILE_URL, tmp_path / "f.json")
    assert "list the query's records again" in caught.value.hint
    assert sleep.waits == [] and _leftovers(tmp_path) == []
    assert "deadbeef" not in str(caught.value)


async def test_a_download_failing_with_500_is_retried(tmp_path: Path) -> None:
    service = FakeService()
    service.files["/query/data-0.json"] = b"[1, 2, 3]"
    service.script("file", httpx.Response(500, content=b"<Error><Code>InternalError</Code></Error>"))
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        result = await client.download(FILE_URL, tmp_path / "f.json")
    assert result.bytes == 9 and sleep.waits == [1.0]


async def test_a_body_cut_short_is_resumed_with_range(tmp_path: Path) -> None:
    service = FakeService()
    full = b"[1, 2, 3, 4]"
    service.script(
        "file",
        httpx.Response(200, content=chunks(full[:5], 2), headers={"Content-Length": "12"}),
        httpx.Response(206, content=full[5:], headers={"Content-Range": "bytes 5-11/12"}),
    )
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        result = await client.download(FILE_URL, tmp_path / "f.json")
        assert client.http.stats.resumes == 1
    assert result.path.read_bytes() == full and result.sha256 == hashlib.sha256(full).hexdigest()
    assert [r.headers.get("range") for r in service.routed("file")] == [None, "bytes=5-"]
    assert sleep.waits == [0.0]  # it moved forward: go on at once, without using up the schedule
    assert _leftovers(tmp_path) == []


async def test_a_server_ignoring_range_makes_the_download_start_over(tmp_path: Path) -> None:
    service = FakeService()
    service.files["/query/data-0.json"] = b"[1, 2, 3, 4]"
    service.script("file", httpx.Response(200, content=chunks(b"[1, 2", 2), headers={"Content-Length": "12"}))
    async with client_for(service) as client:
        result = await client.download(FILE_URL, tmp_path / "f.json")
        assert client.http.stats.resumes == 0
    assert result.path.read_bytes() == b"[1, 2, 3, 4]" and result.bytes == 12


async def test_a_download_that_never_moves_gives_up_after_the_schedule(tmp_path: Path) -> None:
    service = FakeService()
    service.script("file", *[httpx.ReadError("connection reset") for _ in range(6)])
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PortabilityUnreachableError, match="after 6 attempt"):
            await client.download(FILE_URL, tmp_path / "f.json")
    assert sleep.waits == [1.0, 2.0, 4.0, 10.0, 30.0]
    assert _names(tmp_path) == []


async def test_download_memory_stays_flat(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB

    async def body() -> Any:
        for _ in range(size // len(block)):
            yield block

    service = FakeService()
    service.script("file", httpx.Response(200, content=body()))
    async with client_for(service) as client:
        tracemalloc.start()
        try:
            result = await client.download(FILE_URL, tmp_path / "large.json")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.bytes == size
    assert peak < 4 * 1024 * 1024  # a few chunks in flight, not the 24 MiB body


async def test_a_body_cut_off_every_time_gives_up_after_the_schedule_and_says_so(tmp_path: Path) -> None:
    service = FakeService()
    service.script(
        "file", *[httpx.Response(200, content=chunks(b"", 1), headers={"Content-Length": "12"}) for _ in range(6)]
    )
    sleep = RecordingSleep()
    async with client_for(service, sleep) as client:
        with pytest.raises(e.PortabilityUnreachableError) as caught:
            await client.download(FILE_URL, tmp_path / "f.json")
    assert "cut the body off 6 times (0 of 12 bytes" in str(caught.value) and "after 6 attempt" in str(caught.value)
    assert sleep.waits == [1.0, 2.0, 4.0, 10.0, 30.0]  # the service's schedule is kept as it is
    assert _names(tmp_path) == []
