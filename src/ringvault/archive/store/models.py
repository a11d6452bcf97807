"""SQLAlchemy 2 models of the archive: the tables a user queries with ``sqlite3`` or datasette.

Only portable column types are used (Text, Integer, BigInteger, Float, Boolean, DateTime(timezone=True), JSON) so
the same models run on SQLite and PostgreSQL. Every default is computed in Python, never by the server. Timestamps
are stored in UTC (:class:`UTCDateTime`) and read back as aware UTC datetimes; on SQLite they are ISO-like text
(``2024-05-01 12:00:00.000000``) that sorts chronologically.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Account",
    "Base",
    "Device",
    "Event",
    "EventFeedRow",
    "HubDevice",
    "HubHistoryItem",
    "HubSyncStateRow",
    "Location",
    "Media",
    "PortabilityFile",
    "PortabilityGrant",
    "PortabilityLimit",
    "PortabilityQuery",
    "PortabilityRecord",
    "PortabilitySchedule",
    "PortabilitySubscription",
    "SyncStateRow",
    "UTCDateTime",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and always returns aware UTC datetimes.

    Naive datetimes are refused: a time without a zone is a bug waiting to happen in an archive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the archive stores aware datetimes only")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every archive table (constraint names follow one convention, for Alembic)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(none_as_null=True)}


class Account(Base):
    """``accounts``: one row per Ring account (login e-mail)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    profile_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Location(Base):
    """``locations``: Ring locations; ``id`` is Ring's ``location_id``."""

    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    time_zone: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """``devices``: every device ever seen, with Ring's JSON kept in ``raw``."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    family: Mapped[str] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


#: ``events.media_status``: see ``records.MediaStatus``.
MEDIA_STATUSES = ("pending", "done", "failed", "given_up", "no_media")


class Event(Base):
    """``events``: one row per ding id (text: ids exceed 2^53), with the state of its recording download."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_id_created_at", "device_id", "created_at"),
        Index("ix_events_created_at_id", "created_at", "id"),
        Index("ix_events_media_status_media_next_attempt_at", "media_status", "media_next_attempt_at"),
        Index("ix_events_device_id_media_status_created_at", "device_id", "media_status", "created_at"),
        Index("ix_events_media_status_created_at_id", "media_status", "created_at", "id"),
        # the web UI's timeline (migration 0016): filters answered from the index, rows read only for what is shown
        Index("ix_events_timeline", "created_at", "id", "device_id", "kind", "person_detected", "detection_type"),
        Index(
            "ix_events_device_timeline", "device_id", "created_at", "id", "kind", "person_detected", "detection_type"
        ),
        # the web UI's activity plots (migration 0017)
        Index("ix_events_device_id_kind_created_at", "device_id", "kind", "created_at"),
        CheckConstraint(f"media_status IN {MEDIA_STATUSES!r}", name="media_status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    location_id: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    duration_s: Mapped[float | None] = mapped_column(Float)
    answered: Mapped[bool | None] = mapped_column(Boolean)
    favorite: Mapped[bool | None] = mapped_column(Boolean)
    state: Mapped[str | None] = mapped_column(Text)
    person_detected: Mapped[bool | None] = mapped_column(Boolean)
    detection_type: Mapped[str | None] = mapped_column(Text)
    cv_properties: Mapped[dict[str, Any] | None]
    recording_status: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None]
    media_status: Mapped[str] = mapped_column(Text, default="pending")
    media_attempts: Mapped[int] = mapped_column(Integer, default=0)
    media_failures: Mapped[int] = mapped_column(Integer, default=0)
    media_next_attempt_at: Mapped[datetime | None]
    media_last_error: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Media(Base):
    """``media``: files in the archive (``path`` relative to the archive directory)."""

    __tablename__ = "media"
    __table_args__ = (
        UniqueConstraint("event_id", "kind"),
        CheckConstraint("kind IN ('recording', 'snapshot')", name="kind"),
        # a device's newest snapshot in one probe (the web UI's devices page; migration 0015)
        Index("ix_media_device_id_kind_id", "device_id", "kind", "id"),
        Index("ix_media_device_id_kind_captured_at", "device_id", "kind", "captured_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("events.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text, unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    validated: Mapped[bool] = mapped_column(Boolean, default=False)
    captured_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncStateRow(Base):
    """``sync_state``: per device, the newest event reached (the watermark) and the oldest one reached."""

    __tablename__ = "sync_state"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True, autoincrement=False)
    newest_event_id: Mapped[str | None] = mapped_column(Text)
    newest_created_at: Mapped[datetime | None]
    oldest_event_id: Mapped[str | None] = mapped_column(Text)
    oldest_created_at: Mapped[datetime | None]
    last_sync_at: Mapped[datetime | None]
    last_full_scan_at: Mapped[datetime | None]
    has_recordings: Mapped[bool | None] = mapped_column(Boolean)


# -- Data Portability (Ring's official export API) ------------------------------------------------------------------

PORTABILITY_QUERY_STATES = ("created", "notified", "listed", "downloaded", "imported", "failed", "canceled")
#: ``skipped``: a file of a data set left out by ``--only`` (its schema was read, its data not downloaded).
PORTABILITY_FILE_STATES = ("listed", "downloaded", "imported", "skipped", "failed")
#: ``refused``: the token works but Ring refused the last export (a one-time authorization already used, or an account
#: on hold); ``revoked``/``expired``: Ring refuses the token itself
PORTABILITY_GRANT_STATUSES = ("active", "revoked", "expired", "refused")
#: How ``portability_records.record_key`` is computed: 1 = ringvault before migration 0006 (content keys for most data
#: sets, the first version kept forever, occurrence numbers counted per file); 2 = natural keys of each data set with
#: occurrence numbers counted per export (``ringvault.portability.importer.identity``). Bump both together.
RECORD_KEY_SCHEME = 2
#: ``portability_files.recognised_by``: how the data set of a file was told (NULL: not recognised, kept as ``unknown``)
PORTABILITY_RECOGNITION = ("title", "name", "fields", "records")


class PortabilityGrant(Base):
    """``portability_grants``: one customer's authorization of one app (brand + client id) to export their data.

    ``customer`` is ringvault's label for the customer (``default`` for the CLI user, a generated id for the
    customers of an app); tokens live in the token store, never in the database."""

    __tablename__ = "portability_grants"
    __table_args__ = (
        UniqueConstraint("brand", "client_id", "customer"),
        CheckConstraint(f"status IN {PORTABILITY_GRANT_STATUSES!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(Text)
    customer: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the ``RECORD_KEY_SCHEME`` every record of this grant is keyed with (lower: some rows still carry the keys of an
    #: older ringvault; the next import re-keys them first)
    key_scheme: Mapped[int] = mapped_column(Integer, default=RECORD_KEY_SCHEME)


class PortabilityLimit(Base):
    """``portability_limits``: one of an app's API budgets, shared by every process of the app (``serve``, workers,
    the CLI), each call counted in one short write transaction (see ``portability.limits``).

    ``budget`` is ``*`` for the app's own budget (Ring counts the limits per Application) or a customer key when the
    limits are counted per customer. Times are epoch seconds: ``rate_tat`` is the rate bucket's theoretical arrival
    time (the bucket is full again then; GCRA), ``recent`` the send times of the last createDataQuery calls (the
    20-per-20-minutes window, reserved times included), ``day``/``used`` the list calls of one UTC day (the daily
    quota, on the app's row)."""

    __tablename__ = "portability_limits"

    client_id: Mapped[str] = mapped_column(Text, primary_key=True)
    operation: Mapped[str] = mapped_column(Text, primary_key=True)
    budget: Mapped[str] = mapped_column(Text, primary_key=True)
    rate_tat: Mapped[float] = mapped_column(Float, default=0.0)
    recent: Mapped[list[float]] = mapped_column(JSON, default=list)
    day: Mapped[str | None] = mapped_column(Text)
    used: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortabilitySchedule(Base):
    """``portability_schedule``: what ``ringvault serve`` does next for one customer, and why it waits.

    ``step``/``arg``/``due_at``: the next step (``export`` with the grant id, ``check``/``import`` with a query id)
    and when it is due (NULL: nothing to do); ``running_since``: a process is running it. ``reason``/``detail``: why
    it waits (``queued``, ``create_window``, ``conflict``, ``daily_quota``, ``notification``, ``retry``,
    ``recurring`` ...), in a word and in a sentence. ``permit_at``: the createDataQuery slot reserved in the app's
    budget; ``queued_at``: when the customer joined the queue of creates (first come, first served);
    ``failures``/``last_error``: failures of the step in a row (the backoff); ``recur_at``: the next recurring
    export (kept across restarts)."""

    __tablename__ = "portability_schedule"
    __table_args__ = (Index("ix_portability_schedule_step_due_at", "step", "due_at"),)

    grant_id: Mapped[int] = mapped_column(ForeignKey("portability_grants.id"), primary_key=True, autoincrement=False)
    step: Mapped[str | None] = mapped_column(Text)
    arg: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    running_since: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    permit_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    recur_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


#: ``portability_subscriptions.kind``: an SNS SubscriptionConfirmation, or a notification accepted from a topic
PORTABILITY_SUBSCRIPTION_KINDS = ("confirmation", "notification")


class PortabilitySubscription(Base):
    """``portability_subscriptions``: what an app's server heard from Amazon SNS, kept so that a restart (or another
    process of the app) still knows whether Ring's notifications can arrive at all.

    ``confirmation`` rows: an SNS SubscriptionConfirmation (its topic and region, the SubscribeURL shown to the
    operator to confirm by hand), ``confirmed_at`` when SNS accepted the server's confirmation, else ``error`` saying
    why not (a refusal of the allow-list, SNS's answer ``http_status``, confirming turned off). ``notification``
    rows: one per region, the newest notification accepted from a topic there (about a query of the app) — proof
    that a subscription there works, perhaps one confirmed before these rows were kept. Bounded: the newest
    confirmations and the newest confirmed one per region are kept."""

    __tablename__ = "portability_subscriptions"
    __table_args__ = (
        Index("ix_portability_subscriptions_client_id_received_at", "client_id", "received_at"),
        CheckConstraint(f"kind IN {PORTABILITY_SUBSCRIPTION_KINDS!r}", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    topic_arn: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    subscribe_url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class PortabilityQuery(Base):
    """``portability_queries``: a data query and where its import stands (the lifecycle a crash resumes from)."""

    __tablename__ = "portability_queries"
    __table_args__ = (
        Index("ix_portability_queries_grant_id_state", "grant_id", "state"),
        CheckConstraint(f"state IN {PORTABILITY_QUERY_STATES!r}", name="state"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("portability_grants.id"))
    scope_id: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, default="created")
    status: Mapped[str | None] = mapped_column(Text)
    datasets: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    records_imported: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]
    listed_at: Mapped[datetime | None]
    imported_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortabilityFile(Base):
    """``portability_files``: one listed schema + data file pair of a query, by its position in the listing.

    ``name`` is the object key of the data file's URL (the name Ring gave it); ``recognised_by`` how its data set was
    told (``PORTABILITY_RECOGNITION``), NULL when it was not: such a file is kept and imported as ``unknown``."""

    __tablename__ = "portability_files"
    __table_args__ = (
        UniqueConstraint("query_id", "ordinal"),
        CheckConstraint(f"state IN {PORTABILITY_FILE_STATES!r}", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    query_id: Mapped[str] = mapped_column(ForeignKey("portability_queries.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, default="listed")
    records: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    name: Mapped[str | None] = mapped_column(Text)
    recognised_by: Mapped[str | None] = mapped_column(Text)


class PortabilityRecord(Base):
    """``portability_records``: every version of every imported record, per customer, data set and natural key.

    The current version of a record (``is_current``) is unique per (grant, data set, key); earlier versions stay as
    its history (``superseded_at`` set), numbered by ``version``. ``imported_at``/``query_id`` say when and by which
    export a version was first seen, ``last_seen_at``/``last_query_id`` the last export that still contained it."""

    __tablename__ = "portability_records"
    __table_args__ = (
        # one index entry per row: current rows in the unique one, earlier versions (few) in the history one
        Index(
            "ix_portability_records_history",
            "grant_id",
            "dataset",
            "record_key",
            "version",
            sqlite_where=text("NOT is_current"),
            postgresql_where=text("NOT is_current"),
        ),
        Index(
            "ux_portability_records_current",
            "grant_id",
            "dataset",
            "record_key",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index("ix_portability_records_dataset_event_date", "dataset", "event_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("portability_grants.id"))
    dataset: Mapped[str] = mapped_column(Text)
    record_key: Mapped[str] = mapped_column(Text)
    event_date: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]
    query_id: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    #: hash of the record's documented fields in normal form (two versions with the same one are the same record)
    fingerprint: Mapped[str | None] = mapped_column(Text)
    #: hash of the whole record in normal form, unknown fields included
    content_hash: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_query_id: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[datetime | None]
    key_scheme: Mapped[int] = mapped_column(Integer, default=RECORD_KEY_SCHEME)


# -- Ring Alarm and Smart Lighting (the location's hubs) -------------------------------------------------------------

#: ``hub_history.category``: the two categories of ``rs/history`` (alarm base station, Smart Lighting bridge)
HUB_HISTORY_CATEGORIES = ("alarm", "beams")
#: ``hub_history.time_source``: where ``event_ms`` came from (Ring's ``context.eventOccurredTsMs``, or the time the
#: sync first saw an item that carries none)
HUB_TIME_SOURCES = ("event", "first_seen")


class HubDevice(Base):
    """``hub_devices``: every alarm and Smart Lighting device a location's hubs listed (sensors, keypads, the
    security panel, Beams lights...), one row per (location, ``zid``), Ring's flattened document in ``data``.

    Devices the hubs no longer list are kept: ``removed_at`` says since when they are gone (NULL: listed by the
    last complete device list); one that comes back is listed again with ``removed_at`` cleared."""

    __tablename__ = "hub_devices"
    __table_args__ = (UniqueConstraint("location_id", "zid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location_id: Mapped[str] = mapped_column(Text)
    zid: Mapped[str] = mapped_column(Text)
    asset_uuid: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    device_type: Mapped[str | None] = mapped_column(Text)
    #: ringvault's kind (``contact_sensor``, ``beams_light``, ... ``unknown``) and the label scripts use
    kind: Mapped[str | None] = mapped_column(Text)
    type_label: Mapped[str | None] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any] | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]


class HubHistoryItem(Base):
    """``hub_history``: one row per item of a location's ``rs/history`` (alarm and Smart Lighting events: mode
    switches, sensors opening, motion, alarms), stored once whatever how often a sync reads it.

    ``item_key`` is Ring's ``context.eventId`` when the item has one, else ``sha256:`` and the SHA-256 of the item's
    canonical JSON (sorted keys, no spaces). ``event_ms`` is epoch milliseconds (``time_source`` says whether Ring
    gave it or the sync first saw the item then); ``raw`` is the item as Ring sent it, as JSON text."""

    __tablename__ = "hub_history"
    __table_args__ = (
        UniqueConstraint("location_id", "item_key"),
        Index("ix_hub_history_location_id_event_ms_id", "location_id", "event_ms", "id"),
        Index("ix_hub_history_event_ms_id", "event_ms", "id"),
        Index("ix_hub_history_zid", "zid"),
        CheckConstraint(f"category IN {HUB_HISTORY_CATEGORIES!r}", name="category"),
        CheckConstraint(f"time_source IN {HUB_TIME_SOURCES!r}", name="time_source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    location_id: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    item_key: Mapped[str] = mapped_column(Text)
    event_ms: Mapped[int] = mapped_column(BigInteger)
    time_source: Mapped[str] = mapped_column(Text)
    datatype: Mapped[str | None] = mapped_column(Text)
    zid: Mapped[str | None] = mapped_column(Text)
    impulse_types: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    raw: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class HubSyncStateRow(Base):
    """``hub_sync_state``: per location and history category (and ``devices``, its device list), how far the sync
    has read.

    ``complete_at``: when the last run that read it through finished (NULL: no run has, or the last one was cut
    short, so the next reads on past items it holds). ``through_ms``: the newest item time (Ring's) such finished
    runs covered; a later run stops once a page reaches items older than it. ``last_error``: why the last run could
    not read it (NULL when it could)."""

    __tablename__ = "hub_sync_state"

    location_id: Mapped[str] = mapped_column(Text, primary_key=True)
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    complete_at: Mapped[datetime | None]
    through_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class EventFeedRow(Base):
    """``event_feed``: the live feed ``GET /api/events/stream`` sends, one row per message (an event Ring reported,
    a recording archived or left pending), kept so a client resumes after a disconnect or a server restart.

    ``id`` only grows (``AUTOINCREMENT`` on SQLite: an id is never reused, even after the newest rows were deleted);
    it is the stream's ``id:``. ``kind`` is the SSE event name (``ding``, ``motion``, ``intercom_ding``,
    ``intercom_unlock``, ``alarm``, ``recording``), ``data`` the message's JSON text. Old rows are pruned (the newest
    10,000, at most 7 days)."""

    __tablename__ = "event_feed"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
