"""Knobs of the simulated Data Portability service (``SimConfig.portability``).

Everything here can be changed at run time through ``PATCH /_sim/portability/config`` (apps through
``/_sim/portability/apps``). The demo application's credentials are simulator-only values: they are published in
the docs and mean nothing at Ring.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

#: The one scope id the seed documents.
SCOPE_ID = "data-portability"

DEMO_CLIENT_ID = "amzn1.application-oa2-client.ringvaultsimulatordemo0000000001"
DEMO_CLIENT_SECRET = "amzn1.oa2-cs.v1.simulator-only-demo-secret-not-a-ring-credential"
DEMO_REDIRECT_URIS = ("http://127.0.0.1/portability/callback", "http://localhost/portability/callback")
DEMO_NOTIFICATION_URL = "http://127.0.0.1:8080/portability/notifications/v1"

History = Literal["5d", "30d", "60d", "1y", "since"]
Duration = Literal["once", "30d", "90d", "180d", "1y"]
#: how schema files are laid out (``datasets.Dataset.schema``; the seed documents no layout)
SchemaStyle = Literal["json-schema", "titled", "sample"]
#: how the files of a query are named in the bucket (``files.object_key``; the seed documents no naming)
FileNames = Literal["dataset", "opaque"]

#: The 15 data sets of the scope, by their documented names, in the seed's order.
DATASETS: tuple[str, ...] = (
    "Ring.EventManager.Events",
    "Ring.EventManager.DeviceEvents",
    "Ring.RGDS.DeviceLocationMapReference",
    "Ring.RingDeviceRegistry.Location",
    "Ring.RingDeviceRegistry.Authorization",
    "Ring.RingDeviceRegistry.Device",
    "Ring.RingDeviceRegistry.Group",
    "Ring.Alarm.HistoryLog",
    "Ring.Alarm.SmartLightingHistoryLog",
    "Ring.Alarm.DeviceInformation",
    "Ring.Alarm.DeviceLog",
    "Ring.Alarm.ModeSettingPreference",
    "Ring.Alarm.ModeSharingPreference",
    "Ring.Alarm.AuditLog",
    "Ring.Alarm.HubData",
)

HISTORY_DAYS: dict[str, int] = {"5d": 5, "30d": 30, "60d": 60, "1y": 365}
DURATION_DAYS: dict[str, int] = {"30d": 30, "90d": 90, "180d": 180, "1y": 365}


class DPApp(BaseModel):
    """A third-party application ("security profile") onboarded for Data Portability."""

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    name: str = "ringvault (simulator demo app)"
    redirect_uris: list[str] = Field(
        default_factory=list,
        description="registered redirect URIs (exact match; a "
        "loopback URI without a port matches any port, RFC 8252 §7.3)",
    )
    notification_url: str | None = Field(None, description="where query notifications are POSTed (loopback only)")
    allowlisted: bool = True
    scopes: list[str] = Field(default_factory=lambda: [SCOPE_ID], description="scopes enabled for this app")
    rate_limit_per: Literal["customer", "app"] = Field(
        "app",
        description="whose budget the createDataQuery/listDataQueryRecords limits count against (seed 003's "
        'THROTTLED row: "Your Application\'s rate limits"; `customer` is a knob)',
    )


def demo_app() -> DPApp:
    return DPApp(
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        redirect_uris=list(DEMO_REDIRECT_URIS),
        notification_url=DEMO_NOTIFICATION_URL,
    )


class RecordChange(BaseModel):
    """A change to the records of a data set, applied when they are generated (``datasets.apply_changes``): the next
    export of the customer has it, as when something changed at Ring between two exports."""

    dataset: str
    customer: str | None = Field(None, description="the customer's e-mail or id; None: every customer")
    where: dict[str, Any] = Field(default_factory=dict, description="records whose fields equal all of these")
    set: dict[str, Any] = Field(default_factory=dict, description="fields to set (a missing one is added)")
    remove: list[str] = Field(default_factory=list, description="fields to leave out")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}")
        return value


class PortabilityConfig(BaseModel):
    """The simulated Data Portability service: apps, customers, consent, timing, limits, record volumes."""

    apps: list[DPApp] = Field(default_factory=lambda: [demo_app()])
    # customers
    customers: int = Field(0, ge=0, le=10_000, description="customers besides the seeded account")
    customer_password: str = Field("ring-sim-password", description="password of the extra customers")
    # consent
    auto_consent: bool = Field(False, description="authorize answers the redirect with a code at once")
    auto_consent_customer: str | None = Field(
        None, description="e-mail of the auto-consenting customer (None: the seeded account)"
    )
    auto_consent_history: History = "1y"
    auto_consent_since: date | None = None
    auto_consent_duration: Duration = "90d"
    consent_request_ttl_s: float = Field(600.0, gt=0, description="how long a consent page stays valid")
    code_ttl_s: float = Field(300.0, gt=0, description="authorization codes expire after this")
    access_token_ttl_s: int = Field(3600, ge=1, description="expires_in of Data Portability access tokens")
    one_time_ttl_s: float = Field(86400.0, gt=0, description="an unused one-time authorization expires after this")
    # queries
    completion_delay_s: float = Field(2.0, ge=0, description="a query completes this long after its creation")
    access_window_s: float = Field(3600.0, gt=0, description="records can be listed this long after the notification")
    url_ttl_s: int = Field(300, ge=1, description="lifetime of the presigned schema and file URLs")
    response_cache_s: float = Field(300.0, ge=0, description="same parameters, same listDataQueryRecords answer")
    cache_not_completed: bool = Field(
        False,
        description="the same-answer period also applies to QUERY_NOT_COMPLETED (the seed's 'Responses for all "
        "operations have a five minute TTL' may include errors): a COMPLETED query keeps answering it, for the "
        "same token and parameters, until the cached answer expires",
    )
    max_request_bytes: int = Field(8192, ge=0, description="larger request bodies: 413 REQUEST_TOO_LARGE")
    # rate limits (simulated clock)
    rate_limits: bool = Field(True, description="master switch of the documented limits")
    create_rps: float = Field(5.0, gt=0)
    create_burst: int = Field(5, ge=1)
    create_window_max: int = Field(20, ge=1, description="at most this many createDataQuery calls per window")
    create_window_s: float = Field(1200.0, gt=0)
    list_rps: float = Field(10.0, gt=0)
    list_burst: int = Field(5, ge=1)
    list_daily_quota: int = Field(100_000, ge=1, description="listDataQueryRecords per app and UTC day")
    retry_after: bool = Field(False, description="send Retry-After with 429 (the seed documents none)")
    # records
    records_per_file: int = Field(500, ge=1, le=1_000_000, description="a data set is split into files of this many")
    log_records_per_day: float = Field(4.0, ge=0, le=10_000, description="log-like records per location and day")
    big_file_bytes: int = Field(0, ge=0, description="add one streamed data file of about this size; 0 = off")
    big_file_dataset: str = "Ring.EventManager.Events"
    schema_style: SchemaStyle = Field(
        "json-schema", description="schema files: JSON Schema without a title (default), with one, or sample records"
    )
    file_names: FileNames = Field(
        "dataset", description="object keys {query}/{data set}/part-N.json, or opaque ones that name no data set"
    )
    record_changes: list[RecordChange] = Field(
        default_factory=list, description="changes applied to generated records (records differ between exports)"
    )
    # notifications
    notification_attempts: int = Field(4, ge=1, le=20, description="delivery attempts per notification")
    notification_backoff_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])
    notification_timeout_s: float = Field(5.0, gt=0)
    notification_content_type: str = Field("text/plain; charset=UTF-8", description="as Amazon SNS sends it")

    @field_validator("big_file_dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"big_file_dataset must be one of {', '.join(DATASETS)}")
        return value
