"""The Sync page (``/sync``): start a sync, follow it, the last runs, and what the syncs left behind.

Starting a sync is ``POST /api/sync`` from the page's script (``static/sync.js``, with the CSRF header), which then
polls ``GET /api/jobs/{id}`` about once a second while the job is queued or running and shows its one-line error
when it fails (not logged in to Ring, a revoked login...). The last runs are the jobs this server process keeps
(``GET /api/jobs``: the archive keeps no table of runs, so a restart forgets them).

"Left behind" are the recordings that are not archived: ``pending`` (not ready at Ring yet, not tried yet, or
waiting for their next try), ``failed`` (retried by later runs) and ``given_up`` — counted per state in SQL and
listed one state at a time, newest first, in keyset pages (``archive/store/left_behind.py``), each with its reason
and a link to the event's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ringvault.archive.store import InvalidCursorError, MediaStatus
from ringvault.archive.store.left_behind import LEFT_BEHIND, LeftBehind, left_behind_counts, left_behind_page
from ringvault.server.context import ServerContext
from ringvault.server.jobs import Job, JobState
from ringvault.server.ui.render import NavItem, render

router = APIRouter()
NAV = NavItem(order=60, path="/sync", label="Sync")

#: rows of a page of left-behind recordings
PAGE_SIZE = 50
#: the runs shown (the server keeps up to ``ServerSettings.kept_jobs``)
RUNS_SHOWN = 20
#: the kinds the form offers (the API takes any; these are the ones Ring's history holds for cameras and doorbells)
KINDS = ("ding", "motion", "on_demand")
LABELS = {MediaStatus.PENDING: "Pending", MediaStatus.FAILED: "Failed", MediaStatus.GIVEN_UP: "Given up"}


@dataclass(frozen=True, slots=True)
class RunRow:
    """One job as the last-runs table shows it (the counters are ``None`` until the run has a summary)."""

    id: str
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    new: int | None
    downloaded: int | None
    pending: int | None
    failed: int | None
    given_up: int | None
    error: str | None


def run_row(job: Job) -> RunRow:
    summary = job.summary
    return RunRow(
        id=job.id, state=job.state.value, started_at=job.started_at, finished_at=job.finished_at,
        new=summary.new if summary else None, downloaded=summary.downloaded if summary else None,
        pending=summary.pending if summary else None, failed=summary.failed if summary else None,
        given_up=summary.given_up if summary else None, error=job.error,
    )  # fmt: skip


def why(item: LeftBehind) -> str:
    """Why a recording is not archived, in a sentence (its last error is shown beside it)."""
    if item.status is MediaStatus.GIVEN_UP:
        return f"given up after {item.failures} failed runs: a sync with “retry failed and given-up” tries it again"
    if item.status is MediaStatus.FAILED:
        return f"failed {item.failures} run(s) in a row; tried again by {_next_try(item.next_attempt_at)}"
    if item.attempts == 0 and item.last_error is None:
        return "not tried yet: the next sync downloads it"
    if item.last_error:
        return f"not ready at Ring yet; tried again by {_next_try(item.next_attempt_at)}"
    return f"waiting for {_next_try(item.next_attempt_at)}"


def _next_try(at: datetime | None) -> str:
    return "the next sync" if at is None else f"the first sync after {at:%Y-%m-%d %H:%M:%S} UTC"


@router.get("/sync", response_class=HTMLResponse)
def sync_page(
    request: Request,
    status: Annotated[str, Query(max_length=32, description="pending, failed or given_up")] = "pending",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    ctx: ServerContext = request.app.state.ctx
    state = next((s for s in LEFT_BEHIND if s.value == status), MediaStatus.PENDING)
    counts = left_behind_counts(ctx.store)
    try:
        page = left_behind_page(ctx.store, state, limit=PAGE_SIZE, cursor=cursor or None)
        bad_cursor = False
    except InvalidCursorError:
        page = left_behind_page(ctx.store, state, limit=PAGE_SIZE)
        bad_cursor = True
    jobs = ctx.jobs.all()
    active = next((job for job in reversed(jobs) if job.state in (JobState.QUEUED, JobState.RUNNING)), None)
    context: dict[str, Any] = {
        "kinds": KINDS,
        "runs": [run_row(job) for job in jobs[:RUNS_SHOWN]],
        "active_job": active.id if active else "",
        "counts": [(s, LABELS[s], counts[s]) for s in LEFT_BEHIND],
        "status": state,
        "status_label": LABELS[state],
        "items": [(item, why(item)) for item in page.items],
        "next_cursor": page.next_cursor,
        "paged": cursor is not None and not bad_cursor,
        "bad_cursor": bad_cursor,
    }
    return render(request, "sync.html", title="Sync", **context)
