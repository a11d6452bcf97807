"""Control API of the simulated Data Portability service, under ``/_sim/portability`` (nothing like it exists at
Ring): knobs, apps, customers, grants (revoke), queries (complete/cancel), forced errors, notification attempts
and request statistics."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from ringvault.sim.portability.config import DPApp, PortabilityConfig
from ringvault.sim.portability.errors import ERRORS, UnknownErrorType
from ringvault.sim.portability.intake import BUCKET_HOST, INTAKE_HOSTS, REGIONS
from ringvault.sim.portability.notify import ensure_ticker
from ringvault.sim.portability.oauth import BLINK_OAUTH_HOST, RING_OAUTH_HOST
from ringvault.sim.portability.service import PortabilityService
from ringvault.sim.state import SimState

router = APIRouter(tags=["control: Data Portability"])
JsonBody = Annotated[dict[str, Any], Body()]


def _state(request: Request) -> SimState:
    return cast(SimState, request.app.state.sim)


def _service(request: Request) -> PortabilityService:
    service = _state(request).portability
    ensure_ticker(service)
    return service


def _invalid(detail: Any, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": "invalid", "detail": detail}, status_code=status)


def _validation(exc: ValidationError) -> JSONResponse:
    return _invalid(json.loads(exc.json(include_url=False)))


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": f"no such {what}"}, status_code=404)


@router.get("")
async def overview(request: Request) -> dict[str, Any]:
    """Data Portability: customers, apps, grants, queries, pending notifications, armed error injections."""
    return _service(request).summary()


# -- knobs -------------------------------------------------------------------------------------------------------


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    """The Data Portability knobs (``SimConfig.portability``)."""
    return _service(request).config.model_dump(mode="json")


@router.patch("/config", response_model=None)
async def patch_config(request: Request, patch: JsonBody) -> dict[str, Any] | JSONResponse:
    """Change some Data Portability knobs (validated; unknown keys refused); they apply to new requests."""
    service = _service(request)
    unknown = sorted(set(patch) - set(PortabilityConfig.model_fields))
    if unknown:
        return _invalid([{"type": "extra_forbidden", "loc": unknown, "msg": "unknown field"}])
    try:
        updated = PortabilityConfig.model_validate({**service.config.model_dump(), **patch})
    except ValidationError as exc:
        return _validation(exc)
    with service.lock:
        for key in patch:
            setattr(service.config, key, getattr(updated, key))
        if "customers" in patch:
            service.add_customers(max(0, updated.customers - (len(service.customers) - 1)))
    return service.config.model_dump(mode="json")


# -- apps --------------------------------------------------------------------------------------------------------


@router.get("/apps")
async def list_apps(request: Request) -> dict[str, Any]:
    """Registered apps (security profiles) with their credentials, redirect URIs and notification endpoint."""
    return {"apps": [a.model_dump(mode="json") for a in _service(request).config.apps]}


@router.post("/apps", status_code=201, response_model=None)
async def register_app(request: Request, body: JsonBody) -> dict[str, Any] | JSONResponse:
    """Register (or replace) an app: ``client_id``, ``client_secret``, ``redirect_uris``, ``notification_url``,
    ``allowlisted``, ``scopes``, ``rate_limit_per``."""
    try:
        app = DPApp.model_validate(body)
    except ValidationError as exc:
        return _validation(exc)
    return _service(request).put_app(app).model_dump(mode="json")


@router.patch("/apps/{client_id}", response_model=None)
async def patch_app(request: Request, client_id: str, patch: JsonBody) -> dict[str, Any] | JSONResponse:
    """Change an app (e.g. ``{"allowlisted": false}``, ``{"notification_url": "http://127.0.0.1:9000/n"}``)."""
    service = _service(request)
    app = service.app(client_id)
    if app is None:
        return _not_found("app")
    unknown = sorted(set(patch) - set(DPApp.model_fields) - {"client_id"})
    if unknown or patch.get("client_id", client_id) != client_id:
        return _invalid([{"type": "extra_forbidden", "loc": unknown or ["client_id"], "msg": "cannot change"}])
    try:
        updated = DPApp.model_validate({**app.model_dump(), **patch})
    except ValidationError as exc:
        return _validation(exc)
    return service.put_app(updated).model_dump(mode="json")


@router.delete("/apps/{client_id}", status_code=204)
async def delete_app(request: Request, client_id: str) -> Response:
    """Forget an app: its tokens then answer SECURITY_PROFILE_NOT_FOUND."""
    if not _service(request).delete_app(client_id):
        return _not_found("app")
    return Response(status_code=204)


class SubscriptionBody(BaseModel):
    region: Literal["eu-west-1", "us-east-1", "us-west-2"] = "eu-west-1"


@router.post("/apps/{client_id}/subscription-confirmation", status_code=202, response_model=None)
async def send_subscription_confirmation(
    request: Request, client_id: str, body: SubscriptionBody | None = None
) -> dict[str, Any] | JSONResponse:
    """Send an SNS SubscriptionConfirmation to the app's notification endpoint (its SubscribeURL is served here)."""
    service = _service(request)
    app = service.app(client_id)
    if app is None:
        return _not_found("app")
    region = (body or SubscriptionBody()).region
    delivery = service.subscription_confirmation(app, region, str(request.base_url).rstrip("/"))
    return {"message_id": delivery.message_id, "url": delivery.url}


# -- customers and grants ----------------------------------------------------------------------------------------


class CustomersBody(BaseModel):
    count: int = Field(ge=1, le=10_000)


@router.get("/customers")
async def list_customers(request: Request) -> dict[str, Any]:
    """Customers who can sign in on the consent page (index 0 is the seeded account), with their passwords."""
    service = _service(request)
    with service.lock:
        service.customer("")  # refresh the account's e-mail and password from the config
        return {"customers": [c.as_json() for c in service.customers]}


@router.post("/customers", status_code=201)
async def add_customers(request: Request, body: CustomersBody) -> dict[str, Any]:
    """Create ``count`` more customers, each with a world of its own (derived from its seed)."""
    created = _service(request).add_customers(body.count)
    return {"customers": [c.as_json() for c in created]}


@router.patch("/customers/{customer_id}", response_model=None)
async def patch_customer(request: Request, customer_id: str, body: JsonBody) -> dict[str, Any] | JSONResponse:
    """``{"on_hold": true}`` puts the account on hold: its open queries are CANCELED, calls answer ACCESS_DENIED."""
    service = _service(request)
    customer = service.customer(customer_id)
    if customer is None:
        return _not_found("customer")
    if set(body) != {"on_hold"} or not isinstance(body["on_hold"], bool):
        return _invalid([{"loc": ["on_hold"], "msg": 'expected {"on_hold": true|false}'}])
    service.set_on_hold(customer, body["on_hold"])
    return customer.as_json()


class RevokeBody(BaseModel):
    client_id: str | None = None


@router.post("/customers/{customer_id}/revoke", response_model=None)
async def revoke_customer(
    request: Request, customer_id: str, body: RevokeBody | None = None
) -> dict[str, Any] | JSONResponse:
    """The customer revokes access (of one app with ``client_id``, else of every app)."""
    service = _service(request)
    if service.customer(customer_id) is None:
        return _not_found("customer")
    grants = service.grants_of(customer_id, (body or RevokeBody()).client_id)
    for grant in grants:
        service.revoke(grant)
    return {"revoked": [g.id for g in grants]}


@router.get("/grants")
async def list_grants(request: Request) -> dict[str, Any]:
    """Authorizations given on the consent page: customer, app, window, expiry, status."""
    service = _service(request)
    now = service.now()
    return {"grants": [g.as_json(now) for g in service.grants_of()]}


@router.post("/grants/{grant_id}/revoke", response_model=None)
async def revoke_grant(request: Request, grant_id: str) -> dict[str, Any] | JSONResponse:
    """Revoke one authorization: its tokens stop working and its open queries are CANCELED."""
    service = _service(request)
    grant = next((g for g in service.grants_of() if g.id == grant_id), None)
    if grant is None:
        return _not_found("grant")
    service.revoke(grant)
    return grant.as_json(service.now())


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> dict[str, int]:
    """Expire every Data Portability access token now (refresh tokens keep working)."""
    return {"expired": _service(request).expire_access_tokens()}


# -- queries -----------------------------------------------------------------------------------------------------


@router.get("/queries")
async def list_queries(request: Request) -> dict[str, Any]:
    """Every data query with its status, window, timing and file count."""
    service = _service(request)
    service.advance()
    with service.lock:
        return {"queries": [q.as_json() for q in service.queries.values()]}


@router.get("/queries/{query_id}", response_model=None)
async def get_query(request: Request, query_id: str) -> dict[str, Any] | JSONResponse:
    """One data query."""
    service = _service(request)
    service.advance()
    query = service.query_by_id(query_id)
    return _not_found("query") if query is None else query.as_json()


@router.get("/queries/{query_id}/counts", response_model=None)
async def query_counts(request: Request, query_id: str) -> dict[str, Any] | JSONResponse:
    """How many records each data set of the query holds (its consented window; the big file included)."""
    service = _service(request)
    service.advance()
    query = service.query_by_id(query_id)
    if query is None:
        return _not_found("query")
    return {"id": query.id, "status": query.status, "datasets": await run_in_threadpool(service.record_counts, query)}


@router.post("/queries/{query_id}/complete", response_model=None)
async def complete_query(request: Request, query_id: str) -> dict[str, Any] | JSONResponse:
    """Complete an IN_PROGRESS query now (the notification follows)."""
    service = _service(request)
    query = service.query_by_id(query_id)
    if query is None:
        return _not_found("query")
    service.complete_now(query)
    return query.as_json()


@router.post("/queries/{query_id}/cancel", response_model=None)
async def cancel_query(request: Request, query_id: str) -> dict[str, Any] | JSONResponse:
    """Cancel an IN_PROGRESS query now (the CANCELED notification follows)."""
    service = _service(request)
    query = service.query_by_id(query_id)
    if query is None:
        return _not_found("query")
    service.cancel_now(query)
    return query.as_json()


# -- errors ------------------------------------------------------------------------------------------------------


@router.get("/errors")
async def error_table() -> dict[str, Any]:
    """The documented error table: status, category, type, message."""
    return {"errors": [{"status": e.status, **e.body()} for e in ERRORS]}


class InjectBody(BaseModel):
    type: str
    category: str | None = None
    count: int = Field(1, ge=1, le=100_000)
    path: str | None = Field(None, description="regex searched in the request path (host included)")
    method: str | None = None
    status: int | None = Field(
        None, ge=400, le=599, description="any type at this status (not only the documented table): e.g. a 503"
    )
    message: str | None = Field(None, max_length=1000, description="the message field (with status)")
    raw: str | None = Field(None, max_length=10_000, description="send this text instead of the JSON (with status)")
    retry_after_s: float | None = Field(None, ge=0, le=86400, description="add a Retry-After header")


@router.post("/inject", status_code=201, response_model=None)
async def inject(request: Request, body: InjectBody) -> dict[str, Any] | JSONResponse:
    """Answer the next ``count`` intake requests (matching ``path``/``method``) with a documented error, or with
    ``status`` any error (one the seed's table does not list, a 503, an HTML page in ``raw``)."""
    import re

    try:
        if body.path:
            re.compile(body.path)
        if body.status is None and (body.message is not None or body.raw is not None):
            return _invalid([{"loc": ["status"], "msg": "message and raw need a status"}])
        injection = _service(request).inject(
            body.type, body.category, body.count, body.path, body.method,
            status=body.status, message=body.message, raw=body.raw, retry_after_s=body.retry_after_s,
        )  # fmt: skip
    except UnknownErrorType as exc:
        return _invalid([{"loc": ["type"], "msg": f"not a documented error: {exc.args[0]}"}])
    except re.error as exc:
        return _invalid([{"loc": ["path"], "msg": f"not a regular expression: {exc}"}])
    return injection.as_json()


@router.get("/inject")
async def list_injections(request: Request) -> dict[str, Any]:
    """Armed error injections and how many answers each has left."""
    service = _service(request)
    with service.lock:
        return {"injections": [i.as_json() for i in service.injections]}


@router.delete("/inject", status_code=204)
async def clear_injections(request: Request) -> Response:
    """Disarm every error injection."""
    service = _service(request)
    with service.lock:
        service.injections.clear()
    return Response(status_code=204)


# -- notifications and statistics --------------------------------------------------------------------------------


@router.get("/notifications")
async def notifications(request: Request) -> dict[str, Any]:
    """Every notification delivery attempt (status or error) and how many deliveries are still pending."""
    service = _service(request)
    with service.lock:
        return {
            "attempts": list(service.attempts),
            "pending": sum(1 for d in service.deliveries if not d.done),
            "subscriptions": [{"token_prefix": t[:8], **v} for t, v in service.subscriptions.items()],
        }


def _operation(endpoint: str) -> str | None:
    method, _, path = endpoint.partition(" ")
    host = path.partition("/")[0]
    if host in INTAKE_HOSTS:
        if path.endswith("/records"):
            return "listDataQueryRecords"
        if path.endswith("/data-queries") and method == "POST":
            return "createDataQuery"
        return "other intake requests"
    if host in (RING_OAUTH_HOST, BLINK_OAUTH_HOST) and path.endswith("/v2/authorize"):
        return "authorize"
    if host == BLINK_OAUTH_HOST:
        return "token"
    if host == BUCKET_HOST:
        return "files"
    return None


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    """Data Portability requests per operation and status (all six intake hosts together), every 429, the 429s per
    customer, and the 429s no later call of the same customer and operation got past (``throttled_unretried``:
    what a client dropped). Cleared with ``DELETE /_sim/stats``."""
    state = _state(request)
    operations: dict[str, dict[str, Any]] = {}
    for endpoint, counted in state.stats.counts()["endpoints"].items():
        name = _operation(endpoint)
        if name is None:
            continue
        slot = operations.setdefault(name, {"count": 0, "by_status": {}})
        slot["count"] += counted["count"]
        for status, n in counted["by_status"].items():
            slot["by_status"][status] = slot["by_status"].get(status, 0) + n
    throttled = sum(slot["by_status"].get("429", 0) for slot in operations.values())
    service = state.portability
    with service.lock:
        by_customer = dict(service.throttled)
        unretried = sum(service.unretried.values())
        tokens = {str(k): v for k, v in sorted(service.token_statuses.items())}
    return {
        "operations": operations,
        "requests": sum(slot["count"] for slot in operations.values()),
        "throttled": throttled,
        "throttled_by_customer": by_customer,
        "throttled_unretried": unretried,
        "token_requests_by_status": tokens,
        "regions": list(REGIONS),
    }
