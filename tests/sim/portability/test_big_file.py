"""The multi-GB data file knob: generated while it is sent (never held in memory), deterministic, a valid JSON
array; the test reads only its first, last and some middle bytes."""

from __future__ import annotations

import json

import httpx
import pytest

from ringvault.sim.portability.files import BIG_RECORD_WIDTH
from ringvault.sim.server import SimServer
from tests.sim.portability.helpers import all_files, completed_query, login

SIZE = 3 * 1024**3  # 3 GiB


@pytest.mark.parametrize("sim_config", [{"portability": {"big_file_bytes": SIZE}}], indirect=True)
def test_multi_gb_file_streams_by_range(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    entries = all_files(client, tokens, completed_query(client, tokens))
    events = [e for e in entries if "/Ring.EventManager.Events/" in e["file"]]
    big_url = events[-1]["file"]
    assert f"part-{len(events):05d}" in big_url  # after the events' own files
    head = client.head(big_url)
    size = int(head.headers["content-length"])
    assert SIZE - (BIG_RECORD_WIDTH + 2) < size <= SIZE
    first = client.get(big_url, headers={"Range": "bytes=0-4095"})
    assert first.status_code == 206 and first.headers["content-range"] == f"bytes 0-4095/{size}"
    assert first.content.startswith(b"[\n{")
    record = json.loads(first.content[2 : 2 + BIG_RECORD_WIDTH])
    assert record["bulkSequence"] == 0 and {"eventDate", "eventType", "detections"} <= set(record)
    last = client.get(big_url, headers={"Range": "bytes=-4096"})
    assert last.status_code == 206 and last.content.endswith(b"\n]\n")
    tail_record = last.content[-(3 + BIG_RECORD_WIDTH) : -3]
    count = (size - 3) // (BIG_RECORD_WIDTH + 2)
    assert json.loads(tail_record)["bulkSequence"] == count - 1
    middle_index = count // 2
    offset = 2 + middle_index * (BIG_RECORD_WIDTH + 2)
    window = f"bytes={offset}-{offset + BIG_RECORD_WIDTH + 1}"
    middle = client.get(big_url, headers={"Range": window})
    assert middle.content.endswith(b",\n") and json.loads(middle.content[:-2])["bulkSequence"] == middle_index
    assert client.get(big_url, headers={"Range": window}).content == middle.content  # deterministic


@pytest.mark.parametrize("sim_config", [{"portability": {"big_file_bytes": 300_000}}], indirect=True)
def test_small_big_file_is_one_valid_json_array(sim: SimServer, client: httpx.Client) -> None:
    tokens = login(client, sim)
    entries = all_files(client, tokens, completed_query(client, tokens))
    big_url = [e for e in entries if "/Ring.EventManager.Events/" in e["file"]][-1]["file"]
    with client.stream("GET", big_url) as answer:
        chunks = list(answer.iter_bytes())
    body = b"".join(chunks)
    records = json.loads(body)
    assert [r["bulkSequence"] for r in records] == list(range(len(records)))
    assert len(body) == int(answer.headers["content-length"]) and 290_000 < len(body) <= 300_000
