"""``renewal``: closing a dead query as expired in a real archive database, and the bounded wait on 409."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ringvault.archive.store import ArchiveStore
from ringvault.portability import errors as e
from ringvault.portability.renewal import (
    EXPIRED_STATUS,
    ConflictBudget,
    StillConflictingError,
    expire_query,
    is_expired,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ArchiveStore]:
    with ArchiveStore.open(tmp_path / "archive") as opened:
        yield opened


def _grant(store: ArchiveStore) -> int:
    return store.portability.upsert_grant(brand="ring", region="eu-west-1", client_id="app", customer="alice").id


def test_a_created_query_is_closed_as_expired_and_no_longer_open(store: ArchiveStore) -> None:
    dp = store.portability
    grant = _grant(store)
    dp.add_query("q1", grant_id=grant, scope_id="data-portability")
    closed = expire_query(dp, "q1", e.AccessTimeElapsedError())
    assert closed is not None and is_expired(closed)
    assert (closed.state, closed.status) == ("failed", EXPIRED_STATUS)
    assert closed.error is not None and "ACCESS_TIME_ELAPSED" in closed.error
    # the importer and the server adopt only created/notified/listed/downloaded queries
    assert all(q.state == "failed" for q in dp.list_queries(grant_id=grant, open_only=True))
    assert expire_query(dp, "q1") == closed  # idempotent


def test_the_importers_own_message_is_kept_and_finished_queries_are_left_alone(store: ArchiveStore) -> None:
    dp = store.portability
    grant = _grant(store)
    dp.add_query("failed-by-importer", grant_id=grant, scope_id="data-portability")
    dp.update_query("failed-by-importer", state="failed", error="the download window is over; 3 files imported")
    closed = expire_query(dp, "failed-by-importer", e.AccessTimeElapsedError())
    assert closed is not None and is_expired(closed) and closed.error == "the download window is over; 3 files imported"
    for state in ("imported", "canceled"):
        dp.add_query(state, grant_id=grant, scope_id="data-portability")
        dp.update_query(state, state=state)
        kept = expire_query(dp, state)
        assert kept is not None and kept.state == state and not is_expired(kept)
    assert expire_query(dp, "unknown") is None


def test_an_error_that_does_not_kill_the_query_is_refused(store: ArchiveStore) -> None:
    dp = store.portability
    dp.add_query("q1", grant_id=_grant(store), scope_id="data-portability")
    with pytest.raises(ValueError, match="does not mean"):
        expire_query(dp, "q1", e.QueryNotCompletedError())
    assert dp.get_query("q1").state == "created"  # type: ignore[union-attr]


async def test_the_conflict_budget_waits_then_gives_up_with_the_reason() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = ConflictBudget(20.0, customer="alice", clock=lambda: now[0], sleep=sleep)
    await budget(5.0)
    await budget(15.0)
    with pytest.raises(StillConflictingError) as raised:
        await budget(30.0)
    assert slept == [5.0, 15.0]
    err = raised.value
    assert err.status == 409 and err.wait_reason is not None and err.wait_reason.code == "conflict"
    assert "customer 'alice'" in err.one_line and "again later" in err.one_line and "\n" not in err.one_line


async def test_the_last_wait_is_cut_to_the_budget() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = ConflictBudget(8.0, customer="alice", clock=lambda: now[0], sleep=sleep)
    await budget(5.0)
    await budget(5.0)
    assert slept == [5.0, 3.0]
