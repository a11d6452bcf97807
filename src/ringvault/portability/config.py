"""Configuration of a Data Portability app: its credentials, brand, region and where authorizations are kept.

Ring issues a ``client_id`` and ``client_secret`` at onboarding and registers the app's redirect URIs. They come from
the environment (or are passed explicitly):

=====================================  ==============================================================
``RINGVAULT_PORTABILITY_CLIENT_ID``     the app's client id (required)
``RINGVAULT_PORTABILITY_CLIENT_SECRET`` the app's client secret (required; never printed or logged)
``RINGVAULT_PORTABILITY_REDIRECT_URI``  a redirect URI registered with Ring (required for login)
``RINGVAULT_PORTABILITY_BRAND``         ``ring`` (default) or ``blink``
``RINGVAULT_PORTABILITY_REGION``        ``eu-west-1`` (default), ``us-east-1`` or ``us-west-2``
``RINGVAULT_PORTABILITY_TOKEN_DIR``     where authorizations are stored (default ``$RINGVAULT_HOME/portability``)
``RINGVAULT_PORTABILITY_TOKEN_URL``     another token endpoint (default ``https://oauth.ring.com/oauth/token``)
``RINGVAULT_PORTABILITY_RETRY_DELAYS``  seconds between retries of 429/500/504 answers (default ``1,2,4,10,30``)
``RINGVAULT_CLOUD_URL``                 send every request to a simulator (the one endpoint rule)
=====================================  ==============================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ringvault.cloud.endpoints import CLOUD_URL_ENV, normalize_cloud_url
from ringvault.config import home_dir
from ringvault.portability.endpoints import (
    DEFAULT_BRAND,
    DEFAULT_REGION,
    Brand,
    PortabilityEndpoints,
    Region,
    check_brand,
    check_region,
    endpoints_for,
)
from ringvault.portability.errors import PortabilityError

ENV_PREFIX = "RINGVAULT_PORTABILITY_"
CLIENT_ID_ENV = ENV_PREFIX + "CLIENT_ID"
CLIENT_SECRET_ENV = ENV_PREFIX + "CLIENT_SECRET"
REDIRECT_URI_ENV = ENV_PREFIX + "REDIRECT_URI"
BRAND_ENV = ENV_PREFIX + "BRAND"
REGION_ENV = ENV_PREFIX + "REGION"
TOKEN_DIR_ENV = ENV_PREFIX + "TOKEN_DIR"
TOKEN_URL_ENV = ENV_PREFIX + "TOKEN_URL"
RETRY_DELAYS_ENV = ENV_PREFIX + "RETRY_DELAYS"
#: the regions whose SNS topics ``ringvault serve`` confirms subscriptions of (comma-separated; default: the region)
SNS_REGIONS_ENV = ENV_PREFIX + "SNS_REGIONS"


class PortabilityConfigError(PortabilityError):
    """A required setting is missing or invalid."""

    hint = f"Set {CLIENT_ID_ENV}, {CLIENT_SECRET_ENV} and {REDIRECT_URI_ENV} to the values Ring gave the app."


@dataclass(frozen=True)
class ClientCredentials:
    """The app's OAuth client. ``repr`` never shows the secret."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id.strip():
            raise PortabilityConfigError("the client id is empty")
        if not self.client_secret.strip():
            raise PortabilityConfigError("the client secret is empty")
        if self.redirect_uri is not None:
            check_redirect_uri(self.redirect_uri)


def check_redirect_uri(value: str) -> str:
    """An absolute http(s) URI without a fragment (RFC 6749 3.1.2)."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise PortabilityConfigError(
            f"redirect URI {value!r} must be an absolute http(s) URL without a fragment, registered with Ring"
        )
    return value


@dataclass(frozen=True)
class PortabilityConfig:
    """Everything needed to run Login with Ring and the API for one app."""

    credentials: ClientCredentials
    brand: Brand = DEFAULT_BRAND
    region: Region = DEFAULT_REGION
    token_dir: Path = field(default_factory=lambda: home_dir() / "portability")
    cloud_url: str | None = None
    token_url: str | None = None
    #: waits between retries (None: the client's default, 1, 2, 4, 10, 30 s)
    retry_delays: tuple[float, ...] | None = None

    @property
    def endpoints(self) -> PortabilityEndpoints:
        return endpoints_for(self.brand, self.region, cloud_url=self.cloud_url, token_url=self.token_url)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        brand: str | None = None,
        region: str | None = None,
        require_redirect_uri: bool = False,
    ) -> PortabilityConfig:
        """Read the configuration from the environment (``brand``/``region`` override it). Missing credentials raise
        ``PortabilityConfigError`` naming the variables to set."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        client_id, secret, redirect = get(CLIENT_ID_ENV), get(CLIENT_SECRET_ENV), get(REDIRECT_URI_ENV)
        missing = [
            name
            for name, value in ((CLIENT_ID_ENV, client_id), (CLIENT_SECRET_ENV, secret), (REDIRECT_URI_ENV, redirect))
            if value is None and (name != REDIRECT_URI_ENV or require_redirect_uri)
        ]
        if missing:
            raise PortabilityConfigError(f"missing Data Portability setting(s): {', '.join(missing)}")
        assert client_id is not None and secret is not None
        try:
            chosen_brand = check_brand(brand or get(BRAND_ENV) or DEFAULT_BRAND)
            chosen_region = check_region(region or get(REGION_ENV) or DEFAULT_REGION)
            cloud_url = normalize_cloud_url(get(CLOUD_URL_ENV))
        except ValueError as err:
            raise PortabilityConfigError(str(err), hint="Fix the setting and run the command again.") from err
        token_dir = get(TOKEN_DIR_ENV)
        delays = get(RETRY_DELAYS_ENV)
        return cls(
            credentials=ClientCredentials(client_id, secret, redirect),
            brand=chosen_brand,
            region=chosen_region,
            token_dir=Path(token_dir).expanduser() if token_dir else home_dir() / "portability",
            cloud_url=cloud_url,
            token_url=get(TOKEN_URL_ENV),
            retry_delays=parse_delays(delays) if delays is not None else None,
        )


def parse_delays(value: str) -> tuple[float, ...]:
    """``"1,2,4,10,30"`` -> ``(1.0, 2.0, 4.0, 10.0, 30.0)``; an empty list means no retries."""
    try:
        delays = tuple(float(part) for part in value.replace(" ", "").split(",") if part)
    except ValueError:
        delays = (-1.0,)
    if any(d < 0 or d != d or d > 3600 for d in delays):
        raise PortabilityConfigError(
            f"{RETRY_DELAYS_ENV}={value!r} is not a list of seconds",
            hint=f"Set {RETRY_DELAYS_ENV} to comma-separated seconds between 0 and 3600, e.g. 1,2,4,10,30.",
        )
    return delays


def sns_regions_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The regions whose SNS subscriptions ``ringvault serve`` confirms, read as it reads them
    (``RINGVAULT_PORTABILITY_SNS_REGIONS``, else the app's region ``RINGVAULT_PORTABILITY_REGION``, else its default):
    also what ``ringvault portability status`` judges the kept subscriptions against. ``PortabilityConfigError``
    naming the variable for a region that is not one."""
    env = os.environ if environ is None else environ
    explicit = sns_regions(env.get(SNS_REGIONS_ENV))
    if explicit:
        return explicit
    try:
        return (check_region(env.get(REGION_ENV, "").strip() or DEFAULT_REGION),)
    except ValueError as err:
        raise PortabilityConfigError(f"{REGION_ENV}: {err}") from err


def sns_regions(text: str | None) -> tuple[str, ...]:
    """``RINGVAULT_PORTABILITY_SNS_REGIONS`` as a tuple of checked regions (empty when unset)."""
    try:
        return tuple(check_region(r) for r in (text or "").split(",") if r.strip())
    except ValueError as err:
        raise PortabilityConfigError(f"{SNS_REGIONS_ENV}: {err}") from err
