"""ringvault's client for Ring's Data Portability API (Login with Ring, data queries, records, notifications).

    from ringvault.portability import PortabilityAuth, PortabilityClient, PortabilityConfig

    config = PortabilityConfig.from_env()
    auth = PortabilityAuth.from_config(config, customer="alice")
    request = auth.authorization_request()           # send the customer to request.url
    await auth.complete(request, redirect_url)       # after Ring redirects back
    async with PortabilityClient(auth) as client:
        query_id = await client.create_query()

The public names are imported lazily, so importing the package (or the CLI's ``--help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringvault.portability.client import DataQueryRecord, PortabilityClient, RecordsPage
    from ringvault.portability.config import ClientCredentials, PortabilityConfig, PortabilityConfigError
    from ringvault.portability.endpoints import (
        BRANDS,
        REGIONS,
        SCOPE_ID,
        Brand,
        PortabilityEndpoints,
        Region,
        endpoints_for,
    )
    from ringvault.portability.errors import (
        ERROR_TYPES,
        NotificationError,
        OAuthError,
        PortabilityError,
        UnknownPortabilityError,
        error_from_response,
    )
    from ringvault.portability.http import PortabilityHttp, RetryPolicy
    from ringvault.portability.limits import NoRateLimit, PortabilityRateLimiter, RateLimits
    from ringvault.portability.notifications import (
        QueryNotification,
        SubscriptionConfirmation,
        parse_notification,
    )
    from ringvault.portability.oauth import (
        AuthorizationRequest,
        Pkce,
        PortabilityAuth,
        authorization_url,
        code_challenge,
        parse_redirect,
    )
    from ringvault.portability.tokens import PortabilityToken, PortabilityTokenStore
    from ringvault.transport import DownloadResult

_EXPORTS: dict[str, str] = {
    "PortabilityClient": "client",
    "DataQueryRecord": "client",
    "RecordsPage": "client",
    "ClientCredentials": "config",
    "PortabilityConfig": "config",
    "PortabilityConfigError": "config",
    "BRANDS": "endpoints",
    "REGIONS": "endpoints",
    "SCOPE_ID": "endpoints",
    "Brand": "endpoints",
    "Region": "endpoints",
    "PortabilityEndpoints": "endpoints",
    "endpoints_for": "endpoints",
    "ERROR_TYPES": "errors",
    "NotificationError": "errors",
    "OAuthError": "errors",
    "PortabilityError": "errors",
    "UnknownPortabilityError": "errors",
    "error_from_response": "errors",
    "DownloadResult": "ringvault.transport",
    "PortabilityHttp": "http",
    "RetryPolicy": "http",
    "NoRateLimit": "limits",
    "PortabilityRateLimiter": "limits",
    "RateLimits": "limits",
    "QueryNotification": "notifications",
    "SubscriptionConfirmation": "notifications",
    "parse_notification": "notifications",
    "AuthorizationRequest": "oauth",
    "Pkce": "oauth",
    "PortabilityAuth": "oauth",
    "authorization_url": "oauth",
    "code_challenge": "oauth",
    "parse_redirect": "oauth",
    "PortabilityToken": "tokens",
    "PortabilityTokenStore": "tokens",
}

__all__ = [
    "BRANDS",
    "ERROR_TYPES",
    "REGIONS",
    "SCOPE_ID",
    "AuthorizationRequest",
    "Brand",
    "ClientCredentials",
    "DataQueryRecord",
    "DownloadResult",
    "NoRateLimit",
    "NotificationError",
    "OAuthError",
    "Pkce",
    "PortabilityAuth",
    "PortabilityClient",
    "PortabilityConfig",
    "PortabilityConfigError",
    "PortabilityEndpoints",
    "PortabilityError",
    "PortabilityHttp",
    "PortabilityRateLimiter",
    "PortabilityToken",
    "PortabilityTokenStore",
    "QueryNotification",
    "RateLimits",
    "RecordsPage",
    "Region",
    "RetryPolicy",
    "SubscriptionConfirmation",
    "UnknownPortabilityError",
    "authorization_url",
    "code_challenge",
    "endpoints_for",
    "error_from_response",
    "parse_notification",
    "parse_redirect",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # a name of the shared transport that is part of this API (``DownloadResult``) names its package
    value = getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
