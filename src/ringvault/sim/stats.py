"""Request statistics and the request log of the simulated Ring cloud (``/_sim/stats``, ``/_sim/requests``).

Every request to a Ring host is counted under its endpoint key (``"GET api.ring.com/clients_api/..."``) and status,
and logged with its secrets redacted (query keys such as ``authcode`` and ``ticket``, the ``authorization`` and
``2fa-code`` headers). ``FaultMiddleware`` (``sim.faults``) records HTTP requests; the hub socket records its
WebSocket handshakes with ``record_websocket``.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.routing import compile_path, replace_params
from starlette.types import Scope

if TYPE_CHECKING:
    from ringvault.sim.state import SimState

LOGGED_HEADERS = ("hardware_id", "user-agent", "content-type", "accept", "2fa-support")
SECRET_HEADERS = ("authorization", "2fa-code")
SECRET_QUERY_KEYS = frozenset(
    {
        "authcode",
        "ticket",
        "access_token",
        "refresh_token",
        "password",
        "x-amz-signature",
        "x-amz-security-token",
        # OAuth (Login with Ring) and SNS confirmation secrets
        "code",
        "code_verifier",
        "client_secret",
        "token",
    }
)
REDACTED = "<redacted>"

# -- statistics --------------------------------------------------------------------------------------------------


@dataclass
class _EndpointCount:
    count: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class RequestStats:
    """Thread-safe request counts per endpoint key (``"GET api.ring.com/clients_api/..."``) and per status,
    plus a bounded log of recent requests with secrets redacted."""

    def __init__(self, log_size: int = 1000) -> None:
        self._lock = threading.Lock()
        self._endpoints: dict[str, _EndpointCount] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def record(self, key: str, status: int, entry: dict[str, Any]) -> None:
        with self._lock:
            counter = self._endpoints.setdefault(key, _EndpointCount())
            counter.count += 1
            counter.by_status[status] = counter.by_status.get(status, 0) + 1
            self._log.append(entry)

    def annotate(self, entry: dict[str, Any], **changes: Any) -> None:
        """Update a logged request after the fact (e.g. a body that was cut off)."""
        with self._lock:
            entry.update(changes)

    def count(self, key: str) -> int:
        """Requests seen for one endpoint key."""
        with self._lock:
            counter = self._endpoints.get(key)
            return counter.count if counter else 0

    def counts(self, prefix: str | None = None) -> dict[str, Any]:
        """A JSON-ready summary; ``prefix`` keeps endpoint keys that start with it (method included or not)."""
        with self._lock:
            endpoints: dict[str, Any] = {}
            total = 0
            by_status: dict[str, int] = {}
            for key, counter in sorted(self._endpoints.items()):
                if prefix and not (key.startswith(prefix) or key.partition(" ")[2].startswith(prefix)):
                    continue
                endpoints[key] = {
                    "count": counter.count,
                    "by_status": {str(s): n for s, n in sorted(counter.by_status.items())},
                }
                total += counter.count
                for status, n in counter.by_status.items():
                    by_status[str(status)] = by_status.get(str(status), 0) + n
            return {"total": total, "by_status": dict(sorted(by_status.items())), "endpoints": endpoints}

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The most recent requests, oldest first."""
        with self._lock:
            items = list(self._log)
        return items[-limit:] if limit else items

    def reset(self) -> None:
        with self._lock:
            self._endpoints.clear()
            self._log.clear()


def endpoint_key(scope: Scope) -> str:
    """``"METHOD host/route-template"`` of a routed request; unrouted ones become ``"METHOD host/*"``."""
    method = str(scope.get("method", "GET"))
    path = str(scope.get("path", "/"))
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    convertors = getattr(route, "param_convertors", None)
    if isinstance(path_format, str) and isinstance(convertors, dict):
        params = dict(scope.get("path_params") or {})
        try:
            rendered, _ = replace_params(path_format, convertors, params)
        except (KeyError, TypeError, ValueError):
            rendered = ""
        # Routers included with a prefix keep a relative path_format: put the prefix back.
        if rendered and path.endswith(rendered):
            return f"{method} {(path[: len(path) - len(rendered)] + path_format).lstrip('/')}"
        return f"{method} {path_format.lstrip('/')}"
    host = path.lstrip("/").partition("/")[0]
    return f"{method} {host}/*"


def route_template(scope: Scope) -> str | None:
    """The route template a request would reach, for requests a fault answered before routing ran, so they are
    counted under their endpoint and not under ``host/*``. Built once per app from its OpenAPI paths."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    if app is None or state is None:
        return None
    table: list[tuple[re.Pattern[str], set[str], str]] | None = getattr(state, "route_table", None)
    if table is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate operation ids of GET+HEAD routes are harmless here
            paths: dict[str, dict[str, Any]] = app.openapi().get("paths", {})
        table = [(compile_path(path)[0], {m.upper() for m in ops}, path) for path, ops in paths.items()]
        state.route_table = table
    method, path = str(scope.get("method", "GET")), str(scope.get("path", "/"))
    for regex, methods, template in table:
        if method in methods and regex.match(path):
            return template
    return None


def redact_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs], safe="[]:/,")


def logged_headers(headers: Mapping[str, str]) -> dict[str, str]:
    logged = {name: headers[name] for name in LOGGED_HEADERS if name in headers}
    for name in SECRET_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        scheme = value.split(" ", 1)[0] if name == "authorization" and " " in value else ""
        logged[name] = f"{scheme} {REDACTED}".strip() if value.strip() else ""
    return logged


def record_websocket(state: SimState, scope: Scope, status: int, fault: str | None = None) -> None:
    """Count a WebSocket handshake like a request (``"GET HOST/ws"``; 101 accepted, else the refusal's status), with
    the ticket redacted in the logged query: the middleware passes WebSockets through untouched."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
    path = str(scope.get("path", "/"))
    key = f"GET {path.lstrip('/')}"
    entry: dict[str, Any] = {
        "time": state.clock.now(),
        "method": "GET",
        "path": path,
        "query": redact_query(bytes(scope.get("query_string") or b"").decode("latin-1")),
        "endpoint": key,
        "status": status,
        "duration_ms": 0.0,
        "headers": logged_headers(headers),
        "fault": fault,
        "aborted": False,
    }
    state.stats.record(key, status, entry)
