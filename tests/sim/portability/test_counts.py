"""``GET /_sim/portability/queries/{id}/counts``: how many records each data set of a query holds — what an import
must end with — equal to what its files really contain (the big file included)."""

from __future__ import annotations

import httpx
import pytest

from ringvault.sim.portability.config import DATASETS
from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import completed_query, login
from tests.sim.portability.test_records import download


@pytest.mark.parametrize("sim_config", [{"portability": {"big_file_bytes": 200_000}}], indirect=True)
def test_counts_are_what_the_files_hold(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    query_id = completed_query(client, tokens)
    answer = client.get(f"/_sim/portability/queries/{query_id}/counts")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == query_id and body["status"] == "COMPLETED"
    files = download(client, tokens, query_id)
    assert body["datasets"] == {name: len(files[name]) for name in DATASETS}
    assert client.get("/_sim/portability/queries/00000000-0000-0000-0000-000000000000/counts").status_code == 404
