"""The Data Portability API of one customer: create a data query, list its records, download its files.

    async with PortabilityClient(PortabilityAuth.from_config(config, customer="alice")) as client:
        query_id = await client.create_query()
        ...  # wait for the COMPLETED notification (see ``notifications``)
        async for page in client.list_records(query_id):
            for record in page.records:
                await client.download(record.schema_url, folder / "schema.json")
                await client.download(record.file_url, folder / "data.json")

Every call carries the customer's access token (refreshed when expired, and once more when the service answers
``403 ACCESS_DENIED``, which is also how it reports an expired token), passes the rate limiter (shared by all clients
of an app when they are given the same ``PortabilityRateLimiter``) and the retry policy of ``PortabilityHttp``.

Is a query ready? Ring answers the same listDataQueryRecords parameters with the same response for five minutes
(seed: "During the five-minute period, the API will return the same response for the same parameters"), and that may
include a ``QUERY_NOT_COMPLETED``. So the polls (``is_listable``, ``maxResults=1``) and the check of a COMPLETED
notification (``confirm_completed``) never send the same parameters, and a confirmation that still hears
``QUERY_NOT_COMPLETED`` asks once more after the cached answer has expired before it gives up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ringvault.portability.endpoints import SCOPE_ID, PortabilityEndpoints, Region
from ringvault.portability.errors import AccessDeniedError, PortabilityResponseError, QueryNotCompletedError
from ringvault.portability.http import DEFAULT_MAX_DOWNLOAD_BYTES, ApiResponse, PortabilityHttp, RetryPolicy
from ringvault.portability.limits import Operation, PortabilityRateLimiter
from ringvault.portability.oauth import PortabilityAuth
from ringvault.transport import DownloadProgress, DownloadResult, display_url

if TYPE_CHECKING:
    from ringvault.transport import AsyncBaseTransport

logger = logging.getLogger("ringvault.portability")

MAX_RESULTS = 250
#: "Responses for all operations have a five minute, time-to-live (TTL) [...] the API will return the same response
#: for the same parameters" (seed 003).
RESPONSE_TTL_S = 300.0
#: ``maxResults`` of the "is it completed yet?" polls (the importer's and the server's): one record is enough.
POLL_MAX_RESULTS = 1
#: ``maxResults`` of the checks of a COMPLETED notification (``confirm_completed``): never a poll's, so a
#: ``QUERY_NOT_COMPLETED`` cached for a poll cannot answer them; a re-check adds one (a fresh set of parameters).
CONFIRM_MAX_RESULTS = 2


@dataclass(frozen=True)
class DataQueryRecord:
    """One file of a completed query: presigned URLs (valid 5 minutes) of its JSON Schema and of its data."""

    schema_url: str
    file_url: str

    def __repr__(self) -> str:  # the URLs carry credentials in their query string
        return f"DataQueryRecord(schema={display_url(self.schema_url)!r}, file={display_url(self.file_url)!r})"


@dataclass(frozen=True)
class RecordsPage:
    """One page of listDataQueryRecords."""

    records: list[DataQueryRecord]
    next_page_token: str | None


class PortabilityClient:
    """The API client of one customer (``auth``) in one region.

    ``limiter``: share one ``PortabilityRateLimiter`` between the clients of an app; by default each client has its
    own. ``retry``: the retry policy (429/500/504, waits 1, 2, 4, 10, 30 s). ``transport`` is for tests.
    """

    def __init__(
        self,
        auth: PortabilityAuth,
        *,
        region: Region | str | None = None,
        scope_id: str = SCOPE_ID,
        limiter: PortabilityRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        http: PortabilityHttp | None = None,
        timeout_s: float = 30.0,
        transport: AsyncBaseTransport | None = None,
    ) -> None:
        self.auth = auth
        ends = auth.endpoints
        self.endpoints: PortabilityEndpoints = ends if region is None else ends.in_region(region)
        self.scope_id = scope_id
        self.limiter = limiter or PortabilityRateLimiter()
        self.max_download_bytes = max_download_bytes
        self._owns_http = http is None
        self.http = http or PortabilityHttp(retry=retry, timeout_s=timeout_s, transport=transport)
        auth.use_http(self.http)

    @property
    def customer(self) -> str:
        return self.auth.customer

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> PortabilityClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- operations ----------------------------------------------------------------------------------------------
    async def create_query(self) -> str:
        """createDataQuery: start collecting the customer's data; returns the query id.

        Only one query per customer and scope may be running: a second one raises ``RequestConflictError`` until the
        first is COMPLETED or CANCELED.
        """
        url = self.endpoints.data_queries_url(self.scope_id)
        response = await self._authorized("create", lambda headers: self._call("POST", url, "create", headers))
        data = response.data
        query_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(query_id, str) or not query_id.strip():
            raise PortabilityResponseError(f"POST {display_url(url)} answered no query id")
        logger.info("created data query %s for %s customer %s", query_id, self.auth.brand, self.customer)
        return query_id

    async def list_page(
        self, query_id: str, *, max_results: int = MAX_RESULTS, next_page_token: str | None = None
    ) -> RecordsPage:
        """listDataQueryRecords: one page of a COMPLETED query's records."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise ValueError(f"max_results must be between 1 and {MAX_RESULTS}, not {max_results}")
        url = self.endpoints.records_url(query_id, self.scope_id)
        params: dict[str, Any] = {"maxResults": max_results}
        if next_page_token:
            params["nextPageToken"] = next_page_token
        response = await self._authorized("list", lambda headers: self._call("GET", url, "list", headers, params))
        return _parse_page(response.data, display_url(url))

    async def list_records(
        self, query_id: str, *, max_results: int = MAX_RESULTS, next_page_token: str | None = None
    ) -> AsyncIterator[RecordsPage]:
        """Every page of a COMPLETED query's records, following ``nextPageToken`` until the service sends none."""
        token = next_page_token
        seen: set[str] = set()
        while True:
            page = await self.list_page(query_id, max_results=max_results, next_page_token=token)
            yield page
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise PortabilityResponseError(f"the records of query {query_id} page in a loop (a token came back)")
            seen.add(token)

    async def is_listable(self, query_id: str, *, max_results: int = POLL_MAX_RESULTS) -> bool:
        """One records call: True when the query is COMPLETED (its records can be listed), False while Ring answers
        ``QUERY_NOT_COMPLETED`` (in progress, CANCELED — the two look the same — or that answer still cached). Every
        other error is raised (``ACCESS_TIME_ELAPSED``: the query is dead, see ``errors.is_query_dead``)."""
        try:
            await self.list_page(query_id, max_results=max_results)
        except QueryNotCompletedError:
            return False
        return True

    async def confirm_completed(
        self,
        query_id: str,
        *,
        recheck_after_s: float = RESPONSE_TTL_S + 5.0,
        rechecks: int = 1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> bool:
        """Check with Ring that a query a notification says is COMPLETED really is (a forged or premature notification
        must change nothing), without being fooled by a cached ``QUERY_NOT_COMPLETED``.

        The first check uses ``maxResults=CONFIRM_MAX_RESULTS``, which no poll sends, so a poll's cached answer cannot
        be returned. If Ring still answers ``QUERY_NOT_COMPLETED`` — an earlier confirmation of the same query (a
        premature notification) may be what is cached, or Ring may not list the query yet — that is not final:
        after ``recheck_after_s`` (past the five-minute cache) it asks again with other parameters, ``rechecks``
        times. False only when every check said ``QUERY_NOT_COMPLETED``; other errors are raised."""
        for attempt in range(rechecks + 1):
            if attempt:
                logger.info(
                    "query %s: Ring answered QUERY_NOT_COMPLETED after a COMPLETED notification (perhaps a cached "
                    "answer); asking again in %.0f s",
                    query_id,
                    recheck_after_s,
                )
                await sleep(recheck_after_s)
            max_results = CONFIRM_MAX_RESULTS + attempt % (MAX_RESULTS - CONFIRM_MAX_RESULTS + 1)
            if await self.is_listable(query_id, max_results=max_results):
                return True
        return False

    async def all_records(self, query_id: str, *, max_results: int = MAX_RESULTS) -> list[DataQueryRecord]:
        """All records of a COMPLETED query (every page)."""
        records: list[DataQueryRecord] = []
        async for page in self.list_records(query_id, max_results=max_results):
            records.extend(page.records)
        return records

    async def download(
        self, url: str, dest: Path, *, max_bytes: int | None = None, progress: DownloadProgress | None = None
    ) -> DownloadResult:
        """Download a schema or data file (a presigned URL from ``list_records``) to ``dest``.

        Streams in constant memory to a temporary file renamed over ``dest`` when complete; more than ``max_bytes``
        (default 2 GB) aborts and deletes it (``DownloadTooLargeError``). An expired URL raises
        ``PresignedUrlExpiredError``: list the records again. Returns the size and SHA-256. ``progress(written,
        total)`` follows the bytes as they arrive.
        """
        return await self.http.download(
            self.endpoints.resolve(url),
            Path(dest),
            max_bytes=self.max_download_bytes if max_bytes is None else max_bytes,
            progress=progress,
        )

    # -- plumbing ------------------------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        url: str,
        operation: Operation,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
    ) -> ApiResponse:
        return await self.http.request_json(
            method,
            url,
            headers=headers,
            params=params,
            guard=lambda: self.limiter.slot(operation, self.customer),
        )

    async def _authorized(
        self, operation: Operation, call: Callable[[dict[str, str]], Awaitable[ApiResponse]]
    ) -> ApiResponse:
        """Run ``call`` with the customer's bearer token; after ``403 ACCESS_DENIED`` refresh once and try again."""
        token = await self.auth.access_token()
        try:
            return await call({"Authorization": f"Bearer {token}"})
        except AccessDeniedError:
            logger.info("%s call refused with ACCESS_DENIED; refreshing the access token once", operation)
            token = await self.auth.refresh(failed_token=token)
            return await call({"Authorization": f"Bearer {token}"})


def _parse_page(data: Any, where: str) -> RecordsPage:
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise PortabilityResponseError(f"GET {where} answered no records list")
    records: list[DataQueryRecord] = []
    for item in data["records"]:
        schema = item.get("schema") if isinstance(item, dict) else None
        file = item.get("file") if isinstance(item, dict) else None
        if not isinstance(schema, str) or not isinstance(file, str) or not schema or not file:
            raise PortabilityResponseError(f"GET {where} answered a record without schema and file URLs")
        records.append(DataQueryRecord(schema_url=schema, file_url=file))
    token = data.get("nextPageToken")
    return RecordsPage(records=records, next_page_token=token if isinstance(token, str) and token else None)
