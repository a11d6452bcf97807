"""Ring Data Portability hosts: brands, regions, and the URLs built from them.

Every URL is written as the real ``https://HOST/PATH`` and passed through ``ringvault.cloud.endpoints.resolve`` (the
one endpoint rule), so ``RINGVAULT_CLOUD_URL`` points the portability client at the simulator exactly as it does the
account client.

The seed documents one authorize host per brand (``oauth.ring.com``, ``api.oauth.blink.com``), one token endpoint
(``https://oauth.ring.com/oauth/token``, for both brands: it documents no Blink token endpoint) and one intake host
per brand and region (``intake.{region}.portability.data.{ring|blink}.com``). A different token URL can be given
where it is needed (``token_url=``), should Blink's ever differ.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal, get_args

from ringvault.cloud.endpoints import normalize_cloud_url, resolve

Brand = Literal["ring", "blink"]
Region = Literal["eu-west-1", "us-east-1", "us-west-2"]

BRANDS: Final[tuple[Brand, ...]] = get_args(Brand)
REGIONS: Final[tuple[Region, ...]] = get_args(Region)
DEFAULT_BRAND: Final[Brand] = "ring"
#: The service is for customers in the EU (seed: "Ring Data Portability for EU DA"); responses are synced across
#: regions, so any region works for any customer.
DEFAULT_REGION: Final[Region] = "eu-west-1"

#: The only scope id the seed documents (the path parameter of both operations, and the OAuth scope).
SCOPE_ID: Final = "data-portability"

AUTHORIZE_HOSTS: Final[dict[Brand, str]] = {"ring": "oauth.ring.com", "blink": "api.oauth.blink.com"}
TOKEN_URL: Final = "https://oauth.ring.com/oauth/token"
REGION_NAMES: Final[dict[Region, str]] = {
    "eu-west-1": "Europe (Dublin)",
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
}


def check_brand(value: str) -> Brand:
    """``value`` as a ``Brand``, or ``ValueError`` with the accepted names."""
    name = value.strip().lower()
    for brand in BRANDS:
        if brand == name:
            return brand
    raise ValueError(f"unknown brand {value!r}; use one of: {', '.join(BRANDS)}")


def check_region(value: str) -> Region:
    """``value`` as a ``Region``, or ``ValueError`` with the accepted names."""
    name = value.strip().lower()
    for region in REGIONS:
        if region == name:
            return region
    raise ValueError(f"unknown region {value!r}; use one of: {', '.join(REGIONS)}")


def intake_host(brand: Brand, region: Region) -> str:
    return f"intake.{region}.portability.data.{brand}.com"


@dataclass(frozen=True)
class PortabilityEndpoints:
    """The URLs one client talks to (already resolved through the cloud-URL rule)."""

    brand: Brand
    region: Region
    authorize_url: str
    token_url: str
    intake_url: str
    cloud_url: str | None = None

    def data_queries_url(self, scope_id: str = SCOPE_ID) -> str:
        """``POST`` here to create a data query (createDataQuery)."""
        return f"{self.intake_url}/{_segment(scope_id, 'scope id')}/data-queries"

    def records_url(self, query_id: str, scope_id: str = SCOPE_ID) -> str:
        """``GET`` here to list a completed query's records (listDataQueryRecords)."""
        return f"{self.data_queries_url(scope_id)}/{_segment(query_id, 'query id')}/records"

    def in_region(self, region: Region | str) -> PortabilityEndpoints:
        """The same brand and OAuth URLs with the intake host of another region."""
        checked = check_region(region)
        intake = resolve(f"https://{intake_host(self.brand, checked)}", self.cloud_url).rstrip("/")
        return replace(self, region=checked, intake_url=intake)

    def resolve(self, url: str) -> str:
        """Apply the cloud-URL rule to another URL (a presigned download URL, a SubscribeURL)."""
        return resolve(url, self.cloud_url)


def endpoints_for(
    brand: Brand | str = DEFAULT_BRAND,
    region: Region | str = DEFAULT_REGION,
    *,
    cloud_url: str | None = None,
    token_url: str | None = None,
) -> PortabilityEndpoints:
    """The authorize, token and intake URLs of ``brand`` in ``region``; ``cloud_url`` (e.g. the simulator's) is
    applied with the one endpoint rule. Pass ``cloud_url=cloud_url_from_env()`` to honour ``RINGVAULT_CLOUD_URL``."""
    checked_brand = check_brand(brand)
    checked_region = check_region(region)
    cloud = normalize_cloud_url(cloud_url)
    return PortabilityEndpoints(
        brand=checked_brand,
        region=checked_region,
        authorize_url=resolve(f"https://{AUTHORIZE_HOSTS[checked_brand]}/v2/authorize", cloud),
        token_url=resolve(token_url or TOKEN_URL, cloud),
        intake_url=resolve(f"https://{intake_host(checked_brand, checked_region)}", cloud).rstrip("/"),
        cloud_url=cloud,
    )


def _segment(value: str, what: str) -> str:
    """A path segment that cannot escape its place (no slashes, no blanks)."""
    text = value.strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    if "/" in text or "?" in text or "#" in text or text in (".", ".."):
        raise ValueError(f"the {what} {value!r} is not a single path segment")
    return text
