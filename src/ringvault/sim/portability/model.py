"""The simulated Data Portability service's records: customers, consent requests, grants, codes, tokens, queries,
the files of a completed query, notification deliveries and injected errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ringvault.sim.portability.datasets import Window
from ringvault.sim.world import World

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
CANCELED = "CANCELED"
TERMINAL = frozenset({COMPLETED, CANCELED})


@dataclass
class Customer:
    """A Ring customer who can sign in on the consent page. Index 0 is the seeded account."""

    id: str
    index: int
    email: str
    password: str
    seed: int
    on_hold: bool = False
    world: World | None = None  # generated on first use (index 0: the live account world)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "email": self.email,
            "password": self.password,
            "seed": self.seed,
            "on_hold": self.on_hold,
        }


@dataclass
class ConsentRequest:
    """A validated authorize request waiting for the customer's answer on the consent page."""

    id: str
    client_id: str
    redirect_uri: str
    state: str
    challenge: str
    method: Literal["S256", "plain"]
    brand: str
    created_at: float


@dataclass
class Grant:
    """A customer's authorization of one app: the consented window and how long it lasts."""

    id: str
    client_id: str
    customer_id: str
    brand: str
    history: str
    since: str | None
    duration: str
    consented_at: float
    window_start: float
    expires_at: float
    once: bool
    used: bool = False
    revoked_at: float | None = None
    ended: str | None = None  # "revoked" | "expired" | None

    def active(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def as_json(self, now: float) -> dict[str, Any]:
        status = "revoked" if self.revoked_at is not None else ("expired" if now >= self.expires_at else "active")
        return {
            "id": self.id,
            "client_id": self.client_id,
            "customer_id": self.customer_id,
            "brand": self.brand,
            "history": self.history,
            "since": self.since,
            "duration": self.duration,
            "consented_at": self.consented_at,
            "window_start": self.window_start,
            "expires_at": self.expires_at,
            "once": self.once,
            "used": self.used,
            "status": status,
        }


@dataclass
class AuthCode:
    value: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    grant_id: str
    expires_at: float
    used_at: float | None = None
    tokens: list[str] = field(default_factory=list)


@dataclass
class Token:
    value: str
    kind: Literal["access", "refresh"]
    client_id: str
    grant_id: str
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class FileRef:
    """One data file of a completed query: records ``first..last-1`` of a data set, or the streamed big file."""

    dataset: str
    part: int
    first: int = 0
    last: int = 0
    big: bool = False

    @property
    def key(self) -> str:
        return f"part-{self.part:05d}.json"


@dataclass
class Query:
    id: str
    scope: str
    client_id: str
    customer_id: str
    grant_id: str
    region: str
    brand: str
    created_at: float
    due_at: float
    window: Window
    records_per_file: int
    big_file_bytes: int
    big_dataset: str
    status: str = IN_PROGRESS
    completed_at: float | None = None
    notified_at: float | None = None
    reason: str | None = None
    files: list[FileRef] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "client_id": self.client_id,
            "customer_id": self.customer_id,
            "grant_id": self.grant_id,
            "region": self.region,
            "brand": self.brand,
            "status": self.status,
            "reason": self.reason,
            "created_at": self.created_at,
            "due_at": self.due_at,
            "completed_at": self.completed_at,
            "notified_at": self.notified_at,
            "window": {"start": self.window.start, "end": self.window.end},
            "files": None if self.files is None else len(self.files),
        }


@dataclass
class Delivery:
    """One notification to deliver (several attempts)."""

    message_id: str
    message_type: str
    query_id: str | None
    client_id: str
    url: str | None
    region: str
    body: bytes
    headers: dict[str, str]
    next_at: float
    attempts: int = 0
    done: bool = False


@dataclass
class Injection:
    """``count`` forced answers of one error for intake requests matching ``path``/``method``: a documented one, or
    (``status`` set) any status/type/message, e.g. an error that is not in the seed's table, and ``raw`` text instead
    of the JSON body; ``retry_after_s`` adds a ``Retry-After`` header."""

    id: int
    error_type: str
    category: str
    remaining: int
    path: re.Pattern[str] | None
    method: str | None
    status: int | None = None
    message: str | None = None
    raw: str | None = None
    retry_after_s: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.error_type,
            "category": self.category,
            "remaining": self.remaining,
            "path": self.path.pattern if self.path else None,
            "method": self.method,
            "status": self.status,
            "message": self.message,
            "raw": self.raw,
            "retry_after_s": self.retry_after_s,
        }
