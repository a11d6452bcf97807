"""Alarm and Smart Lighting history (``rs/history``, §4.9, §5.6) and professional monitoring status.

History items are kept raw: they look like live updates (``{"msg": "DataUpdate", "datatype", "body": [...],
"context": {...}}``) and their shape beyond that is unknown (brief of issue 11). Pages are newest first and taken
by ``offset`` until a short page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ringvault.cloud.endpoints import app_api
from ringvault.cloud.errors import ResponseFormatError

if TYPE_CHECKING:
    from ringvault.cloud.http import RingHttp

__all__ = ["fetch_alarm_history", "fetch_monitoring_status", "iter_alarm_history"]

#: Pages ``iter_alarm_history`` reads at most (a server that ignores ``offset`` must not loop us forever).
MAX_PAGES = 10_000


async def fetch_alarm_history(
    http: RingHttp,
    location_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    category: str | None = None,
    affected_id: str | None = None,
    max_level: int = 50,
) -> list[dict[str, Any]]:
    """One page of ``rs/history`` (raw items, newest first)."""
    if limit < 1 or offset < 0:
        raise ValueError("limit must be at least 1 and offset at least 0")
    params: dict[str, Any] = {"accountId": location_id, "limit": limit, "offset": offset, "maxLevel": max_level}
    if category is not None:
        params["category"] = category
    if affected_id is not None:
        params["affectedId"] = affected_id
    doc = await http.request_json("GET", app_api("rs/history"), params=params)
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise ResponseFormatError("rs/history did not answer a JSON array")
    return [item for item in doc if isinstance(item, dict)]


async def iter_alarm_history(
    http: RingHttp, location_id: str, *, category: str | None = None, page_size: int = 50
) -> AsyncIterator[dict[str, Any]]:
    """Every history item, newest first, page by page until a short page."""
    offset = 0
    previous_first: dict[str, Any] | None = None
    for _ in range(MAX_PAGES):
        page = await fetch_alarm_history(http, location_id, limit=page_size, offset=offset, category=category)
        if not page or (offset and page[0] == previous_first):
            return  # done, or the server ignores offset
        previous_first = page[0]
        for item in page:
            yield item
        if len(page) < page_size:
            return
        offset += len(page)


async def fetch_monitoring_status(http: RingHttp, location_id: str) -> dict[str, Any]:
    """``rs/monitoring/accounts/{loc}``: professional monitoring state (raw)."""
    doc = await http.request_json("GET", app_api(f"rs/monitoring/accounts/{location_id}"))
    if not isinstance(doc, dict):
        raise ResponseFormatError("rs/monitoring did not answer a JSON object")
    return doc
