"""createDataQuery and listDataQueryRecords over HTTP: lifecycle, conflicts, the documented limits on the
simulated clock, paging, the 5-minute answers and URLs, the 1-hour access window."""

from __future__ import annotations

import uuid

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import (
    COMPLETION_DELAY_S,
    INTAKE,
    SCOPE,
    advance,
    all_files,
    completed_query,
    create,
    error_of,
    login,
    patch_app,
    patch_dp,
    records,
    refresh,
)

DATASETS = 15


def test_create_answers_201_with_a_uuid_then_409_while_in_progress(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    first = create(client, tokens)
    assert first.status_code == 201 and set(first.json()) == {"id"}
    assert str(uuid.UUID(first.json()["id"])) == first.json()["id"]
    assert error_of(create(client, tokens)) == (409, "CONFLICT", "REQUEST_CONFLICT")
    # another region is the same service ("all responses will be synced")
    other_region = create(client, tokens, host="/intake.us-west-2.portability.data.ring.com")
    assert error_of(other_region)[2] == "REQUEST_CONFLICT"
    advance(client, COMPLETION_DELAY_S + 1)
    assert create(client, tokens).status_code == 201  # COMPLETED is terminal


def test_not_completed_then_completed(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = create(client, tokens).json()["id"]
    assert error_of(records(client, tokens, query_id)) == (403, "FORBIDDEN", "QUERY_NOT_COMPLETED")
    advance(client, COMPLETION_DELAY_S + 1)
    listed = records(client, tokens, query_id)
    assert listed.status_code == 200 and len(listed.json()["records"]) >= DATASETS
    assert client.get(f"/_sim/portability/queries/{query_id}").json()["status"] == "COMPLETED"


def test_canceled_query_is_not_listable(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = create(client, tokens).json()["id"]
    assert client.post(f"/_sim/portability/queries/{query_id}/cancel").json()["status"] == "CANCELED"
    assert error_of(records(client, tokens, query_id))[2] == "QUERY_NOT_COMPLETED"
    assert create(client, tokens).status_code == 201  # CANCELED is terminal too


@pytest.mark.parametrize("sim_config", [{"portability": {"completion_delay_s": 0, "create_rps": 1e-6}}], indirect=True)
def test_create_burst_of_5_then_429(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    statuses = [create(client, tokens).status_code for _ in range(5)]
    assert statuses == [201] * 5
    assert error_of(create(client, tokens)) == (429, "THROTTLED", "TOO_MANY_REQUESTS")  # the Application's limits


@pytest.mark.parametrize(
    "sim_config", [{"portability": {"completion_delay_s": 0, "create_rps": 1e6, "create_burst": 1000}}], indirect=True
)
def test_create_window_of_20_per_20_minutes(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert [create(client, tokens).status_code for _ in range(20)] == [201] * 20
    assert error_of(create(client, tokens))[0] == 429
    # The simulated clock is the wall clock plus an offset, so the 21 requests above also move it: half a minute
    # before the window ends leaves a slow machine room (1 s did not); past its end, a slot is free again.
    advance(client, 1170)
    assert error_of(create(client, tokens))[0] == 429
    advance(client, 31)
    assert create(client, tokens).status_code == 201
    stats = client.get("/_sim/portability/stats").json()
    assert stats["operations"]["createDataQuery"]["by_status"] == {"201": 21, "429": 2}
    assert stats["throttled"] == 2 and sum(stats["throttled_by_customer"].values()) == 2


@pytest.mark.parametrize(
    "sim_config",
    [{"portability": {"completion_delay_s": 0, "create_rps": 1e6, "create_burst": 1000, "create_window_max": 3}}],
    indirect=True,
)
def test_limits_per_app_by_default_and_per_customer_as_a_knob(sim: SimServer, client: httpx.Client) -> None:
    """Seed 003's THROTTLED row: "Your Application's rate limits": every customer of an app draws on one budget."""
    client.post("/_sim/portability/customers", json={"count": 1})
    first = login(client, sim)
    second = login(client, sim, email="customer0001@ringvault.test", password="ring-sim-password")
    assert [create(client, first).status_code for _ in range(3)] == [201] * 3
    assert error_of(create(client, second)) == (429, "THROTTLED", "TOO_MANY_REQUESTS")  # the app's window is full
    patch_app(client, rate_limit_per="customer")
    assert [create(client, second).status_code for _ in range(3)] == [201] * 3  # a budget of its own
    assert error_of(create(client, second)) == (429, "TOO_MANY_REQUESTS", "TOO_MANY_REQUESTS")
    patch_dp(client, retry_after=True)
    throttled = create(client, second)
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 1200


@pytest.mark.parametrize(
    "sim_config",
    [{"portability": {"completion_delay_s": 0, "create_rps": 1e6, "create_burst": 1000, "create_window_max": 1}}],
    indirect=True,
)
def test_429s_that_no_later_call_got_past_are_counted(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    assert create(client, tokens).status_code == 201
    assert error_of(create(client, tokens))[0] == 429
    assert error_of(create(client, tokens))[0] == 429
    stats = client.get("/_sim/portability/stats").json()
    assert (stats["throttled"], stats["throttled_unretried"]) == (2, 2)
    advance(client, 1201)
    assert create(client, tokens).status_code == 201  # a retry got past: the customer's 429s were retried
    stats = client.get("/_sim/portability/stats").json()
    assert (stats["throttled"], stats["throttled_unretried"]) == (2, 0)


@pytest.mark.parametrize("sim_config", [{"portability": {"list_rps": 1e-6, "list_burst": 5}}], indirect=True)
def test_list_rate_limit(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    statuses = [records(client, tokens, query_id).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert error_of(records(client, tokens, query_id)) == (429, "THROTTLED", "TOO_MANY_REQUESTS")


@pytest.mark.parametrize(
    "sim_config", [{"portability": {"list_daily_quota": 3, "list_rps": 1e6, "list_burst": 1000}}], indirect=True
)
def test_list_daily_quota(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    assert [records(client, tokens, query_id).status_code for _ in range(3)] == [200] * 3
    assert error_of(records(client, tokens, query_id)) == (429, "TOO_MANY_REQUESTS", "QUOTA_EXCEEDED")


@pytest.mark.parametrize("sim_config", [{"portability": {"records_per_file": 7}}], indirect=True)
def test_paging_lists_every_file_once(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    whole = all_files(client, tokens, query_id, page=250)
    assert len(whole) > 250  # big enough to need paging at the largest page size
    first = records(client, tokens, query_id).json()
    assert len(first["records"]) == 250 and "nextPageToken" in first
    paged = all_files(client, tokens, query_id, page=17)
    files = [r["file"].split("?")[0] for r in paged]
    assert files == [r["file"].split("?")[0] for r in whole]
    assert len(set(files)) == len(files)
    last = records(client, tokens, query_id, maxResults=len(whole)).status_code  # > 250 is refused
    assert last == 400
    single = records(client, tokens, query_id, maxResults=1).json()
    assert len(single["records"]) == 1 and single["nextPageToken"]


@pytest.mark.parametrize("value", ["0", "251", "-3", "abc", ""])
def test_invalid_max_results(sim: SimServer, client: httpx.Client, value: str) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    answer = records(client, tokens, query_id, maxResults=value)
    assert error_of(answer) == (400, "BAD_REQUEST", "INVALID_MAX_RESULTS")


def test_invalid_next_page_token(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    token = records(client, tokens, query_id, maxResults=2).json()["nextPageToken"]
    for bad in ("StringWithNextPageTokenValue123---==", token[:-4] + "AAAA", "%%%"):
        assert error_of(records(client, tokens, query_id, nextPageToken=bad)) == (
            400,
            "BAD_REQUEST",
            "INVALID_NEXT_PAGE",
        )
    # a token of another query is refused too
    advance(client, 1)
    other = completed_query(client, tokens)
    assert error_of(records(client, tokens, other, nextPageToken=token))[2] == "INVALID_NEXT_PAGE"


def test_same_parameters_same_answer_for_5_minutes(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    first = records(client, tokens, query_id, maxResults=5)
    advance(client, 120)
    again = records(client, tokens, query_id, maxResults=5)
    assert again.content == first.content  # the very same presigned URLs
    other_params = records(client, tokens, query_id, maxResults=6)
    assert other_params.json()["records"][0]["file"] != first.json()["records"][0]["file"]
    advance(client, 181)
    later = records(client, tokens, query_id, maxResults=5)
    assert later.status_code == 200 and later.content != first.content


def test_presigned_urls_expire_after_5_minutes(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    entry = records(client, tokens, query_id, maxResults=1).json()["records"][0]
    assert "X-Amz-Expires=300" in entry["file"]
    advance(client, 290)  # the simulated clock also runs in real time: a margin a loaded machine cannot eat
    assert client.get(entry["file"]).status_code == 200
    advance(client, 11)
    expired = client.get(entry["file"])
    assert expired.status_code == 403 and "<Code>AccessDenied</Code>" in expired.text
    assert "Request has expired" in expired.text
    assert client.get(entry["schema"]).status_code == 403
    tampered = entry["file"].replace("part-00001", "part-00002")
    assert "SignatureDoesNotMatch" in client.get(tampered).text


def test_access_time_elapses_one_hour_after_the_notification(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    notified_at = client.get(f"/_sim/portability/queries/{query_id}").json()["notified_at"]
    assert notified_at is not None
    advance(client, 3500)
    fresh = refresh(client, tokens["refresh_token"]).json()  # the access token itself lasts one hour too
    assert records(client, fresh, query_id).status_code == 200
    advance(client, 101)
    assert error_of(records(client, fresh, query_id)) == (403, "FORBIDDEN", "ACCESS_TIME_ELAPSED")
    assert create(client, fresh).status_code == 201  # "Create a new query."


def test_files_are_json_arrays_with_untitled_json_schemas(sim: SimServer, client: httpx.Client) -> None:
    """By default a schema file is a JSON Schema of the seed's field table without a title (the seed shows none);
    the data set is in the object key (``{query}/{data set}/...``)."""
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    names: list[str] = []
    for entry in all_files(client, tokens, query_id):
        schema = client.get(entry["schema"]).json()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "array" and schema["items"]["type"] == "object"
        assert all(p["description"] for p in schema["items"]["properties"].values())
        assert "title" not in schema and "$id" not in schema
        data = client.get(entry["file"])
        assert data.headers["content-type"] == "application/json"
        assert isinstance(data.json(), list)
        names.append(entry["file"].split("?")[0].split("/")[-2])
    assert len(set(names)) == DATASETS
    assert names == sorted(names, key=names.index)  # the files of one data set are listed together


def test_head_and_range_on_files(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    url = records(client, tokens, query_id, maxResults=1).json()["records"][0]["file"]
    whole = client.get(url)
    head = client.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(whole.content)
    part = client.get(url, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(whole.content)}"
    assert client.get(url, headers={"Range": f"bytes={len(whole.content) + 5}-"}).status_code == 416


def test_the_query_path_must_match_token_and_scope(sim: SimServer, client: httpx.Client) -> None:
    client.post("/_sim/portability/customers", json={"count": 1})
    mine = login(client, sim)
    theirs = login(client, sim, email="customer0001@ringvault.test", password="ring-sim-password")
    query_id = completed_query(client, mine)
    assert error_of(records(client, theirs, query_id)) == (400, "BAD_REQUEST", "INVALID_PARAMETERS")
    assert error_of(records(client, mine, str(uuid.uuid4()))) == (404, "RESOURCE_NOT_FOUND", "QUERY_ID_NOT_FOUND")
    assert error_of(records(client, mine, "not-a-uuid"))[2] == "QUERY_ID_NOT_FOUND"
    assert records(client, mine, query_id.upper()).status_code == 200
    wrong_scope = client.get(
        f"{INTAKE}/other-scope/data-queries/{query_id}/records",
        headers={"Authorization": f"Bearer {mine['access_token']}"},
    )
    assert error_of(wrong_scope) == (404, "RESOURCE_NOT_FOUND", "SCOPE_ID_NOT_FOUND")
    assert SCOPE == "data-portability"
