"""The Data Portability API on its six intake hosts (``intake.{eu-west-1|us-east-1|us-west-2}.portability.data.
{ring|blink}.com``), and the bucket that serves the presigned schema and data files.

- ``POST /{scopeId}/data-queries`` → 201 ``{"id"}`` (createDataQuery);
- ``GET /{scopeId}/data-queries/{queryId}/records?maxResults=1..250&nextPageToken=`` → 200
  ``{"records": [{"schema", "file"}], "nextPageToken"?}`` (listDataQueryRecords): one record per data FILE, in the
  seed's data set order; ``nextPageToken`` only while more remain;
- anything else on an intake host → 404 ``RESOURCE_NOT_FOUND`` (or the ``BLANK_*``/``INVALID_API_PATH`` errors);
- ``GET|HEAD /ring-data-portability-exports.s3.amazonaws.com/{queryId}/{dataset}/schema.json|part-NNNNN.json``
  (``{queryId}/set-NN/...`` with ``file_names: opaque``): the files, presigned for ``url_ttl_s`` (an expired or
  altered URL answers S3's 403 XML).

Every error is the seed's ``{"category", "type", "message"}`` with its status. Injected errors (control API) are
answered before anything else.
"""

from __future__ import annotations

import hashlib
from typing import cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ringvault.sim import s3
from ringvault.sim.portability.datasets import CATALOGUE
from ringvault.sim.portability.errors import DPError
from ringvault.sim.portability.files import (
    BigFile,
    StreamedFile,
    bytes_reader,
    object_key,
    parse_object_key,
    render_schema,
)
from ringvault.sim.portability.model import FileRef, Query
from ringvault.sim.portability.notify import ensure_ticker
from ringvault.sim.portability.service import PortabilityService
from ringvault.sim.state import SimState

REGIONS = ("eu-west-1", "us-east-1", "us-west-2")
BRANDS = ("ring", "blink")
INTAKE_HOSTS = tuple(f"intake.{region}.portability.data.{brand}.com" for brand in BRANDS for region in REGIONS)
BUCKET_HOST = "ring-data-portability-exports.s3.amazonaws.com"
MAX_RESULTS = 250
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter(tags=["Data Portability API"])
bucket_router = APIRouter(tags=["Data Portability files (fake S3)"])


def _state(request: Request) -> SimState:
    return cast(SimState, request.app.state.sim)


def _host(request: Request) -> tuple[str, str, str]:
    """(host, region, brand) of the intake host this request was sent to."""
    host = request.url.path.lstrip("/").partition("/")[0]
    parts = host.split(".")
    return host, parts[1], parts[4]


async def _prelude(request: Request) -> PortabilityService:
    """What every intake request goes through first: the ticker, injected errors, the payload size."""
    service = _state(request).portability
    ensure_ticker(service)
    injected = service.take_injection(request.method, request.url.path)
    if injected is not None:
        raise injected
    limit = service.config.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DPError("REQUEST_TOO_LARGE")
    if len(await request.body()) > limit:
        raise DPError("REQUEST_TOO_LARGE")
    return service


@router.post("/{scope_id}/data-queries", status_code=201)
async def create_data_query(scope_id: str, request: Request) -> Response:
    """createDataQuery: start collecting the customer's data; 201 ``{"id": queryId}``."""
    service = await _prelude(request)
    _, region, brand = _host(request)
    query = service.create_query(request.headers.get("authorization"), scope_id, region, brand)
    return JSONResponse({"id": query.id}, status_code=201)


def _max_results(raw: str | None) -> int:
    if raw is None:
        return MAX_RESULTS
    try:
        value = int(raw.strip())
    except ValueError:
        raise DPError("INVALID_MAX_RESULTS") from None
    if not 1 <= value <= MAX_RESULTS:
        raise DPError("INVALID_MAX_RESULTS")
    return value


def _signed(request: Request, state: SimState, query: Query, ref: FileRef, *, schema: bool) -> str:
    name = "schema.json" if schema else ref.key
    config = state.portability.config
    key = object_key(query.id, ref.dataset, name, config.file_names)
    return s3.signed_url(request, state, BUCKET_HOST, key, config.url_ttl_s)


@router.get("/{scope_id}/data-queries/{query_id}/records")
async def list_data_query_records(scope_id: str, query_id: str, request: Request) -> Response:
    """listDataQueryRecords: the presigned schema and file URLs of a COMPLETED query, page by page."""
    service = await _prelude(request)
    state = _state(request)
    token, query = service.check_query(request.headers.get("authorization"), scope_id, query_id)
    params = request.query_params
    max_results = _max_results(params.get("maxResults"))
    next_token = params.get("nextPageToken")
    offset = service.page_offset(query, next_token)
    cache_key = (token.value, scope_id, query.id, str(max_results), next_token or "")
    cached = service.cached_page(cache_key)
    if cached is not None and "type" in cached:  # a cached QUERY_NOT_COMPLETED (knob cache_not_completed)
        raise DPError(str(cached["type"]))
    try:
        service.check_listable(query)
    except DPError as error:
        if error.spec.type == "QUERY_NOT_COMPLETED" and service.config.cache_not_completed:
            service.store_page(cache_key, error.spec.body())
        raise
    if cached is not None:
        return JSONResponse(cached)
    files = await run_in_threadpool(service.files, query)
    if next_token and offset >= len(files):
        raise DPError("INVALID_NEXT_PAGE")
    page = files[offset : offset + max_results]
    body: dict[str, object] = {
        "records": [
            {
                "schema": _signed(request, state, query, ref, schema=True),
                "file": _signed(request, state, query, ref, schema=False),
            }
            for ref in page
        ]
    }
    if offset + max_results < len(files):
        body["nextPageToken"] = service.page_token(query.id, offset + max_results)
    service.store_page(cache_key, body)
    return JSONResponse(body)


@router.api_route("/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
async def unknown_path(rest: str, request: Request) -> Response:
    """Everything else: RESOURCE_NOT_FOUND; blank scope or query ids and dot segments get their own errors."""
    service = await _prelude(request)
    segments = rest.split("/")
    if any(s in ("..", ".") for s in segments):
        raise DPError("INVALID_API_PATH")
    method = request.method
    blank_scope = len(segments) >= 2 and segments[1] == "data-queries" and not segments[0].strip()
    create_shape = method == "POST" and len(segments) == 2
    list_shape = method == "GET" and len(segments) == 4 and segments[3] == "records"
    if blank_scope and (create_shape or list_shape):
        service.authenticate(request.headers.get("authorization"))
        raise DPError("BLANK_SCOPE_ID")
    if list_shape and segments[1] == "data-queries" and not segments[2].strip():
        service.authenticate(request.headers.get("authorization"))
        raise DPError("BLANK_QUERY_ID")
    raise DPError("RESOURCE_NOT_FOUND")


# ---------------------------------------------------------------------------------------------------------------------
# the files


def _file_response(request: Request, state: SimState, query: Query, ref: FileRef | None, dataset: str) -> Response:
    service = state.portability
    faults = state.faults
    common = {
        "x-amz-request-id": hashlib.sha256(request.url.path.encode()).hexdigest()[:16].upper(),
        "Server": "AmazonS3",
    }
    if ref is None:
        data = render_schema(CATALOGUE[dataset].schema(service.config.schema_style))
        size, reader = len(data), bytes_reader(data)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    elif ref.big:
        customer = service.customer(query.customer_id)
        assert customer is not None
        world = service.world_of(customer)
        location = world.locations[0]
        big = BigFile(query.big_file_bytes, query.window.start, query.window.end, location.latitude, location.longitude)
        size, reader = big.size, big.iter_range
        etag = hashlib.md5(f"{query.id}:{ref.dataset}:{big.size}".encode(), usedforsecurity=False).hexdigest()
    else:
        data = service.file_bytes(query, ref)
        size, reader = len(data), bytes_reader(data)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return StreamedFile(
        size,
        reader,
        content_type="application/json",
        headers={**common, "ETag": f'"{etag}"'},
        request_range=request.headers.get("range"),
        bandwidth=faults.bandwidth_bytes_per_s,
        roll_drop=faults.roll_drop,
    )


@bucket_router.api_route(f"/{BUCKET_HOST}/{{key:path}}", methods=["GET", "HEAD"])
async def data_file(key: str, request: Request) -> Response:
    """The schema and data files of completed queries (presigned, ``url_ttl_s``)."""
    state = _state(request)
    refused = s3.check_signature(request, state, BUCKET_HOST, key)
    if refused is not None:
        return refused
    parsed = parse_object_key(key)
    query = state.portability.query_by_id(parsed[0]) if parsed else None
    if parsed is None or query is None or query.files is None:
        return s3.no_such_key(state, key)
    _, dataset, part = parsed
    if part is None:
        return _file_response(request, state, query, None, dataset)
    ref = next((f for f in query.files if f.dataset == dataset and f.part == part), None)
    if ref is None:
        return s3.no_such_key(state, key)
    return await run_in_threadpool(_file_response, request, state, query, ref, dataset)


sns_router = APIRouter(tags=["Data Portability notifications (fake SNS)"])


@sns_router.get("/sns.{region}.amazonaws.com/")
async def sns_action(region: str, request: Request) -> Response:
    """The SubscribeURL of a SubscriptionConfirmation: ``?Action=ConfirmSubscription&TopicArn=&Token=``."""
    service = _state(request).portability
    params = request.query_params
    found = None
    if params.get("Action") == "ConfirmSubscription":
        found = service.confirm_subscription(params.get("Token", ""))
    if found is None:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid token"
            "</Message></Error></ErrorResponse>"
        )
        return Response(body, status_code=400, media_type="text/xml")
    arn = f"{found['topic']}:{hashlib.sha256(str(found['client_id']).encode()).hexdigest()[:36]}"
    body = (
        '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult>'
        f"<SubscriptionArn>{arn}</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
    )
    return Response(body, media_type="text/xml")


async def _dp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DPError)
    return exc.response()


def register(app: FastAPI) -> None:
    """Mount the intake router on all six hosts and the files bucket; DPError answers in the seed's shape."""
    app.add_exception_handler(DPError, _dp_error)
    for host in INTAKE_HOSTS:
        app.include_router(router, prefix=f"/{host}")
    app.include_router(bucket_router)
    app.include_router(sns_router)
