"""Data Portability in ``ringvault serve``: Ring's notifications, Login with Ring for new customers, status.

Public (no API key: Ring and customers' browsers cannot send it; see ``security.py``):

- ``POST /portability/notifications/v1`` — Ring's SNS-style notification that a query ended. Only the documented
  envelope is accepted (``Subject: Data Portability Notification 1.0``, ``Message`` a JSON *string* with ``id``,
  ``version`` ``1.0`` and ``status`` ``COMPLETED``/``CANCELED``), whatever the content type (SNS sends
  ``text/plain``): the raw body is read, at most 64 KB. What protects it: it acts only on query ids this server
  created (anything else is 404 and changes nothing), a duplicate changes nothing, and a COMPLETED is believed only
  once Ring's records call agrees (a forged or premature one is ignored). Optionally a path secret
  (``RINGVAULT_PORTABILITY_NOTIFICATION_SECRET``) moves the endpoint to ``/portability/notifications/<secret>/v1``
  (then the plain path is 404). A ``SubscriptionConfirmation`` is logged and kept with its SubscribeURL; it is
  confirmed (``RINGVAULT_PORTABILITY_CONFIRM_SUBSCRIPTIONS``, on by default) only when it is Amazon SNS's own
  ConfirmSubscription URL for a topic of the configured regions (an unauthenticated request must never make the
  server fetch an arbitrary URL; ``portability.notifications.subscribe_decision``).
- ``GET /portability/connect?brand=&region=`` — starts Login with Ring → 302 to Ring. An anonymous visitor always
  gets a new customer key chosen by the server. ``invite=`` (a link from ``POST /portability/invites`` or
  ``ringvault portability invite``) connects the customer the operator named; with the API key, ``customer=`` and
  ``replace=true`` choose the key and allow replacing an active authorization (``server/portability_login.py``).
- ``GET /portability/callback`` — Ring's redirect back: checks the sealed state, refuses a used or replacing login,
  exchanges the code, stores the tokens and starts the customer's first export.

With the API key (when one is set): ``POST /portability/invites``, ``GET /portability/customers``,
``GET /portability/queries/{id}``,
``POST /portability/customers/{customer}/export``, ``POST /portability/queries/{id}/import``,
``GET /portability/subscriptions``, ``GET /portability/records`` (the imported records, paged; its cursor doubles as a
change feed) and ``GET /portability/datasets``.

Without an app configured (client id, secret, redirect URI) every route answers 503 saying what to set.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from ringvault.archive.store.portability import InvalidRecordCursorError
from ringvault.portability.config import CLIENT_ID_ENV, CLIENT_SECRET_ENV, REDIRECT_URI_ENV
from ringvault.portability.endpoints import check_brand, check_region
from ringvault.portability.errors import (
    AuthorizationDeniedError,
    NotificationError,
    OAuthError,
    PortabilityError,
)
from ringvault.portability.notifications import (
    MAX_BODY_BYTES,
    Notification,
    SubscriptionConfirmation,
    parse_notification,
)
from ringvault.portability.scopes import DATASETS
from ringvault.server.api import MAX_TEXT, shown, text_query, when_param
from ringvault.server.portability_hub import LoginError, PortabilityHub, UnknownQueryError
from ringvault.server.portability_login import MAX_INVITE_TTL_S, MAX_TOKEN_CHARS, InviteError, LoginKind
from ringvault.server.schemas import ErrorOut
from ringvault.server.security import is_operator

__all__ = ["router"]

log = logging.getLogger("ringvault.server.portability")

router = APIRouter(prefix="/portability", tags=["data portability"])

NOT_CONFIGURED = (
    f"Data Portability is not configured on this server: set {CLIENT_ID_ENV}, {CLIENT_SECRET_ENV} and "
    f"{REDIRECT_URI_ENV} and restart `ringvault serve`"
)
NO_STORE = {"Cache-Control": "no-store"}
MAX_RECORDS_LIMIT = 1000
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    404: {"model": ErrorOut},
    503: {"model": ErrorOut, "description": "Data Portability is not configured"},
}


def _hub(request: Request) -> PortabilityHub:
    hub: PortabilityHub | None = request.app.state.ctx.portability
    if hub is None:
        raise HTTPException(503, NOT_CONFIGURED)
    return hub


# -- notifications ---------------------------------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    """The raw body, at most ``MAX_BODY_BYTES`` (a notification is 1 KB at most)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"a notification is at most 1 KB; this body announces {declared} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a notification is at most 1 KB; this body has more than {MAX_BODY_BYTES}")
    return bytes(data)


def strict_notification(body: bytes, sns_type: str | None = None) -> Notification:
    """The documented envelope only (``NotificationError`` otherwise): a JSON object whose ``Type`` is absent,
    ``Notification`` or ``SubscriptionConfirmation`` (and agrees with the ``x-amz-sns-message-type`` header), and
    whose ``Message`` is a JSON *string* for a notification."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # RecursionError: nested too deeply
        raise NotificationError("notification body is not JSON (or is nested too deeply)") from err
    if not isinstance(envelope, dict):
        raise NotificationError("notification body is not a JSON object")
    kind = envelope.get("Type", "Notification")
    if sns_type is not None and sns_type != kind:
        raise NotificationError(f"the x-amz-sns-message-type header says {sns_type!r} but the body's Type is {kind!r}")
    if kind == "Notification" and not isinstance(envelope.get("Message"), str):
        raise NotificationError("notification Message must be a JSON string (the documented envelope)")
    return parse_notification(envelope)


async def _notification(request: Request, hub: PortabilityHub) -> Any:
    try:
        notification = strict_notification(await _body(request), request.headers.get("x-amz-sns-message-type"))
    except NotificationError as exc:
        raise HTTPException(400, str(exc)) from None
    if isinstance(notification, SubscriptionConfirmation):
        return await hub.on_subscription(notification)
    try:
        return await hub.on_notification(notification)
    except UnknownQueryError:
        message = f"unknown data query {notification.query_id!r}: this server did not create it"
        raise HTTPException(404, message) from None


@router.post("/notifications/v1", responses=ERRORS)
async def notification(request: Request) -> Any:
    """Ring's notification that a data query is COMPLETED (its import starts) or CANCELED."""
    hub = _hub(request)
    if hub.settings.notification_secret:
        raise HTTPException(404, "not found")
    return await _notification(request, hub)


@router.post("/notifications/{secret}/v1", responses=ERRORS, include_in_schema=False)
async def notification_with_secret(request: Request, secret: Annotated[str, Path(max_length=MAX_TEXT)]) -> Any:
    """The same, under the path secret (``RINGVAULT_PORTABILITY_NOTIFICATION_SECRET``)."""
    hub = _hub(request)
    expected = hub.settings.notification_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise HTTPException(404, "not found")
    return await _notification(request, hub)


# -- Login with Ring for new customers -------------------------------------------------------------------------


CustomerKey = Annotated[str, Field(min_length=1, max_length=128)]
CustomerPath = Annotated[str, Path(max_length=MAX_TEXT, description="the customer's key")]
QueryPath = Annotated[str, Path(max_length=MAX_TEXT, description="a data query id")]


@router.get(
    "/connect",
    status_code=302,
    responses={
        **ERRORS,
        302: {"description": "to Login with Ring"},
        403: {"model": ErrorOut},
        409: {"model": ErrorOut},
        410: {"model": ErrorOut, "description": "the invitation expired or was already used"},
    },
)
def connect(
    request: Request,
    brand: Annotated[str | None, Query(max_length=16, description="ring or blink (default: the app's)")] = None,
    region: Annotated[str | None, Query(max_length=16, description="eu-west-1, us-east-1 or us-west-2")] = None,
    invite: Annotated[
        str | None, Query(max_length=MAX_TOKEN_CHARS, description="an invitation from the operator")
    ] = None,
    customer: Annotated[
        str | None, Query(max_length=128, description="the operator's key for this customer (API key only)")
    ] = None,
    replace: Annotated[
        bool, Query(description="let this login replace the customer's working authorization (API key only)")
    ] = False,
) -> Any:
    """Start Login with Ring: redirects the browser to Ring's authorize page (PKCE, sealed state). Anonymous
    visitors get a new customer key; an invitation, or the API key, names the customer. (A plain function: checking
    a named customer reads the archive and their token file, so FastAPI runs it in its thread pool.)"""
    hub = _hub(request)
    try:
        chosen_brand = check_brand(brand) if brand else None
        chosen_region = check_region(region) if region else None
        if invite:
            if customer or replace:
                raise HTTPException(400, "an invitation names the customer: pass invite alone")
            card = hub.read_invite(invite)
            url = hub.start_login(
                card.brand or chosen_brand or hub.config.brand, card.region or chosen_region or hub.config.region,
                "invite", customer=card.customer, replace=card.replace, invite=card,
            )  # fmt: skip
        else:
            kind: LoginKind = "operator" if is_operator(request) else "anonymous"
            url = hub.start_login(
                chosen_brand or hub.config.brand, chosen_region or hub.config.region, kind,
                customer=customer.strip() if customer else None, replace=replace,
            )  # fmt: skip
    except InviteError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except LoginError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


class InviteRequest(BaseModel):
    """Body of ``POST /portability/invites``."""

    model_config = ConfigDict(extra="forbid")

    customer: CustomerKey | None = Field(None, description="your key for the customer (default: a new one)")
    replace: bool = Field(False, description="the login may replace the customer's working authorization")
    valid_hours: float = Field(
        72.0, gt=0, le=MAX_INVITE_TTL_S / 3600, description="how long the link works (default 72 hours)"
    )
    brand: str | None = Field(None, max_length=16, description="ring or blink (default: the app's)")
    region: str | None = Field(None, max_length=16, description="eu-west-1, us-east-1 or us-west-2")


@router.post("/invites", status_code=201, responses={**ERRORS, 409: {"model": ErrorOut}})
def create_invite(request: Request, body: InviteRequest) -> Any:
    """A signed, single-use link that connects the named customer (send it to them). It works until it expires or
    until a login through it completes; an invitation for a connected customer needs ``replace``."""
    hub = _hub(request)
    try:
        answer = hub.invite(
            body.customer.strip() if body.customer else None, replace=body.replace, ttl_s=body.valid_hours * 3600,
            brand=check_brand(body.brand) if body.brand else None,
            region=check_region(body.region) if body.region else None,
        )  # fmt: skip
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except LoginError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


@router.get("/callback", responses={**ERRORS, 403: {"model": ErrorOut}, 502: {"model": ErrorOut}})
async def callback(request: Request) -> Any:
    """Ring redirects the customer here with ``code`` and ``state`` (or ``error``): the tokens are stored and the
    customer's first export starts in the background."""
    hub = _hub(request)
    try:
        grant = await hub.finish_login(dict(request.query_params))
    except LoginError as exc:
        return _error(exc.status, str(exc))
    except AuthorizationDeniedError as exc:
        return _error(403, f"the customer did not authorize this app ({exc.message}); nothing was imported")
    except OAuthError as exc:
        return _error(400, exc.one_line)
    except PortabilityError as exc:
        log.warning("Login with Ring failed: %s", exc.one_line)
        return _error(502, exc.one_line)
    return JSONResponse(
        {
            "status": "connected",
            "customer": grant.customer,
            "brand": grant.brand,
            "region": grant.region,
            "message": "Connected. The import of your Ring data has started; you can close this page.",
        },
        headers=NO_STORE,
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


# -- status ----------------------------------------------------------------------------------------------------


@router.get("/customers", responses=ERRORS)
def customers(request: Request) -> Any:
    """Every connected customer: grant status, what is running or why they wait, their latest query, records per
    data set; and whether Ring's notifications can arrive (``notifications``: without a confirmed SNS subscription
    every export is found by polling)."""
    hub = _hub(request)
    return {"customers": hub.customers(), "notifications": _notifications(hub)}


@router.post("/customers/{customer}/export", status_code=202, responses={**ERRORS, 409: {"model": ErrorOut}})
async def export(request: Request, customer: CustomerPath) -> Any:
    """Start another export for a connected customer (refused while one of theirs is still open)."""
    hub = _hub(request)
    grant = hub.grant_of(customer)
    if grant is None:
        raise HTTPException(404, f"no customer {shown(customer)}; GET /portability/customers lists them")
    if grant.status in ("revoked", "expired"):  # "refused" may be tried again (an account on hold may be released)
        raise HTTPException(409, f"customer {customer!r}'s authorization is {grant.status}; they must connect again")
    current = hub.open_query(grant.id)
    if current is not None:
        raise HTTPException(409, f"customer {customer!r} already has query {current.id} ({current.state})")
    queued = await hub.export(grant)
    return JSONResponse({"customer": customer, "export": "queued" if queued else "already queued"}, status_code=202)


@router.get("/queries/{query_id}", responses=ERRORS)
def query(request: Request, query_id: QueryPath) -> Any:
    """One data query: its lifecycle state, Ring's status, the files and records imported."""
    hub = _hub(request)
    try:
        return hub.query_detail(query_id.strip())
    except UnknownQueryError:
        raise HTTPException(404, f"no data query {shown(query_id)} on this server") from None


@router.post("/queries/{query_id}/import", status_code=202, responses={**ERRORS, 409: {"model": ErrorOut}})
async def resume(request: Request, query_id: QueryPath) -> Any:
    """Resume an unfinished query now (after its automatic retries gave up, for instance); a query still
    ``created`` is first checked with Ring."""
    hub = _hub(request)
    try:
        detail = hub.query_detail(query_id.strip())
    except UnknownQueryError:
        raise HTTPException(404, f"no data query {shown(query_id)} on this server") from None
    if detail["running"]:
        raise HTTPException(409, f"query {query_id} is being imported right now")
    query = hub.store.portability.get_query(detail["id"])
    assert query is not None
    if not await hub.resume(query):
        raise HTTPException(
            409,
            f"query {query_id} is {query.state}: nothing to resume; POST /portability/customers/"
            f"{detail['customer']}/export starts a new export",
        )
    return JSONResponse({"query_id": query.id, "state": query.state, "resumed": True}, status_code=202)


@router.get("/records", responses=ERRORS)
def records(
    request: Request,
    customer: Annotated[str | None, text_query("one customer (default: every customer of this app)")] = None,
    dataset: Annotated[str | None, text_query("a data set, e.g. Ring.Alarm.HistoryLog")] = None,
    since: Annotated[str | None, text_query("YYYY-MM-DD or ISO date-time of the record (inclusive)")] = None,
    until: Annotated[str | None, text_query("YYYY-MM-DD (inclusive day) or ISO date-time (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RECORDS_LIMIT)] = 100,
    cursor: Annotated[str | None, text_query("next_cursor (or cursor) of an earlier page")] = None,
    history: Annotated[bool, Query(description="every version of each record, not only the current one")] = False,
    key: Annotated[str | None, text_query("one record: the key of a record of an earlier page")] = None,
) -> Any:
    """Imported records in the order they were stored, one page at a time: the current version of each record
    (``history=true``: every version; ``current`` false for the earlier ones). Keep the last page's ``cursor`` and
    ask again later with it: you get exactly the records imported or changed since (a change feed)."""
    hub = _hub(request)
    if dataset is not None and dataset not in DATASETS:
        raise HTTPException(400, f"unknown data set {dataset!r}; GET /portability/datasets lists the 15 names")
    client_id = hub.config.credentials.client_id
    grants = {
        g.id: g
        for g in hub.store.portability.list_grants()
        if g.client_id == client_id and customer in (None, g.customer)
    }
    if customer is not None and not grants:
        raise HTTPException(404, f"no customer {shown(customer)}; GET /portability/customers lists them")
    try:
        page = hub.store.portability.list_records(
            grant_ids=grants, dataset=dataset, since=when_param(since, "since"),
            until=when_param(until, "until", end=True), limit=limit, cursor=cursor or None, history=history,
            key=key or None,
        )  # fmt: skip
    except InvalidRecordCursorError:
        raise HTTPException(400, "invalid cursor: pass the cursor of a previous page unchanged") from None
    out = [
        {
            "customer": grants[r.grant_id].customer, "dataset": r.dataset, "key": r.key,
            "event_date": r.event_date.isoformat() if r.event_date else None, "query_id": r.query_id,
            "imported_at": r.imported_at.isoformat(), "data": r.data, "version": r.version, "current": r.current,
            "last_seen_at": r.last_seen_at.isoformat() if r.last_seen_at else None, "last_query_id": r.last_query_id,
            "superseded_at": r.superseded_at.isoformat() if r.superseded_at else None,
        }
        for r in page.records
    ]  # fmt: skip
    return {"records": out, "next_cursor": page.next_cursor, "cursor": page.cursor}


@router.get("/datasets", responses=ERRORS)
def datasets(request: Request) -> Any:
    """The 15 data sets of the data-portability scope: name, description, and records imported of each."""
    hub = _hub(request)
    counts = hub.store.portability.dataset_counts()
    return {
        "datasets": [
            {"name": name, "description": model.DESCRIPTION, "records": counts.get(name, 0)}
            for name, model in DATASETS.items()
        ]
    }


@router.get("/subscriptions", responses=ERRORS)
def subscriptions(request: Request) -> Any:
    """SNS SubscriptionConfirmations received (newest last), with their SubscribeURL and whether they were confirmed
    (``error`` says why not), and whether Ring's notifications can arrive (``notifications``)."""
    hub = _hub(request)
    return {"subscriptions": hub.subscriptions(), "notifications": _notifications(hub)}


def _notifications(hub: PortabilityHub) -> dict[str, Any]:
    status = hub.notifications()
    return {"code": status.code, "text": status.text, "missing_regions": list(status.missing_regions)}
