"""The Data Portability pages (``/data-portability``; ``/portability`` is the Data Portability API's): the customers of
the app this server imports for, their state and next step; per customer the data sets with their record counts; a
read-only browser of the records of one data set, in keyset pages.

Records are customer data exported by Ring: every field is printed escaped (autoescape), a long value is cut to
:data:`MAX_VALUE_CHARS` characters and a record to :data:`MAX_FIELDS` fields, and nothing in a record is ever
rendered as HTML. Operator-only like every page (the API key or the session), never reachable by a customer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store.portability import GrantRow, InvalidRecordCursorError
from ringvault.archive.store.portability_browse import dataset_total
from ringvault.archive.store.portability_records import RecordRow
from ringvault.portability.scopes import DATASETS
from ringvault.portability.waiting import waiting, working
from ringvault.server.context import ServerContext
from ringvault.server.portability_hub import PortabilityHub
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=70, path="/data-portability", label="Data Portability")

#: records on one page of the browser
PAGE_SIZE = 20
#: fields of one record shown (the rest are counted)
MAX_FIELDS = 60
#: characters of one field's value shown (the rest are counted)
MAX_VALUE_CHARS = 1000
#: characters of a field's name shown
MAX_KEY_CHARS = 200
TEXT = 512


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record as the page prints it: ``value`` is text (JSON for anything but a string), cut to
    :data:`MAX_VALUE_CHARS`; ``cut`` says how many characters were left out."""

    key: str
    value: str
    cut: int


@dataclass(frozen=True, slots=True)
class ShownRecord:
    row: RecordRow
    fields: list[Field]
    hidden_fields: int


def _clip(text: str, limit: int) -> tuple[str, int]:
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def shown_record(row: RecordRow) -> ShownRecord:
    """A record's fields as bounded text (``data`` is whatever Ring exported: any size, any content)."""
    items = list(row.data.items()) if isinstance(row.data, dict) else [("value", row.data)]
    fields: list[Field] = []
    for key, value in items[:MAX_FIELDS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        name, _ = _clip(str(key), MAX_KEY_CHARS)
        clipped, cut = _clip(text, MAX_VALUE_CHARS)
        fields.append(Field(key=name, value=clipped, cut=cut))
    return ShownRecord(row=row, fields=fields, hidden_fields=max(0, len(items) - MAX_FIELDS))


def _hub(request: Request) -> PortabilityHub | None:
    ctx: ServerContext = request.app.state.ctx
    return ctx.portability


def _not_configured(request: Request) -> HTMLResponse:
    return render(request, "portability_off.html", title="Data Portability")


def _unknown_customer(request: Request, customer: str) -> HTMLResponse:
    return render(
        request, "portability_missing.html", title="Data Portability", status_code=404,
        message=f"There is no customer {customer!r} of this app.",
    )  # fmt: skip


def _datasets(hub: PortabilityHub, grant: GrantRow) -> list[tuple[str, str, int]]:
    """Every data set of the scope with the customer's records (current versions, counted in SQL), and any other
    name records were filed under (``unknown``: files whose data set was not recognised)."""
    counts = hub.store.portability.dataset_counts(grant.id)
    rows = [(name, model.DESCRIPTION, counts.get(name, 0)) for name, model in DATASETS.items()]
    rows += [(name, "files whose data set was not recognised", n) for name, n in sorted(counts.items())
             if name not in DATASETS]  # fmt: skip
    return rows


def _overview(hub: PortabilityHub, grant: GrantRow) -> dict[str, Any]:
    """Where one customer stands (as ``GET /portability/customers`` says it), read for that customer alone: the
    overview of every customer counts every customer's records."""
    schedule = hub.schedule.get(grant.id)
    queries = hub.store.portability.list_queries(grant_id=grant.id)
    return {
        "working": working(schedule), "waiting": waiting(schedule), "last_error": schedule.last_error,
        "latest_query": queries[-1] if queries else None,
    }  # fmt: skip


@router.get("/data-portability", response_class=HTMLResponse)
def customers_page(request: Request) -> HTMLResponse:
    hub = _hub(request)
    if hub is None:
        return _not_configured(request)
    customers: list[dict[str, Any]] = hub.customers()
    customers.sort(key=lambda c: str(c["customer"]).casefold())
    return render(
        request, "portability.html", title="Data Portability", customers=customers, notifications=hub.notifications(),
        client_id=hub.client_id,
    )  # fmt: skip


@router.get("/data-portability/customers/{customer}", response_class=HTMLResponse)
def customer_page(request: Request, customer: Annotated[str, Path(max_length=TEXT)]) -> HTMLResponse:
    hub = _hub(request)
    if hub is None:
        return _not_configured(request)
    grant = hub.grant_of(customer)
    if grant is None:
        return _unknown_customer(request, customer)
    return render(
        request, "portability_customer.html", title=f"Customer {customer}", customer=customer, grant=grant,
        overview=_overview(hub, grant), datasets=_datasets(hub, grant),
    )  # fmt: skip


@router.get("/data-portability/customers/{customer}/records", response_class=HTMLResponse)
def records_page(
    request: Request,
    customer: Annotated[str, Path(max_length=TEXT)],
    dataset: Annotated[str, Query(max_length=TEXT)],
    cursor: Annotated[str | None, Query(max_length=TEXT)] = None,
) -> HTMLResponse:
    hub = _hub(request)
    if hub is None:
        return _not_configured(request)
    grant = hub.grant_of(customer)
    if grant is None:
        return _unknown_customer(request, customer)
    total = dataset_total(hub.store, grant.id, dataset)
    if dataset not in DATASETS and total == 0:
        return render(
            request, "portability_missing.html", title="Data Portability", status_code=404,
            message=f"There is no data set {dataset!r} for customer {customer!r}.",
        )  # fmt: skip
    bad_cursor = False
    try:
        page = hub.store.portability.list_records(grant_ids=[grant.id], dataset=dataset, limit=PAGE_SIZE,
                                                  cursor=cursor or None)  # fmt: skip
    except InvalidRecordCursorError:
        page = hub.store.portability.list_records(grant_ids=[grant.id], dataset=dataset, limit=PAGE_SIZE)
        bad_cursor = True
    return render(
        request, "portability_records.html", title=f"{dataset} · {customer}", customer=customer, dataset=dataset,
        total=total, records=[shown_record(row) for row in page.records], next_cursor=page.next_cursor,
        paged=cursor is not None and not bad_cursor, bad_cursor=bad_cursor, max_value=MAX_VALUE_CHARS,
    )  # fmt: skip
