"""A live ``jarvis serve`` under concurrent chat load writes the lines; the shipper rotates
its log file under it and stores every line exactly once."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_scan
from shipper_harness import lines_on_disk, wait_for_metric
from support.jarvis_server import start_jarvis_serve

from shipper.elastic import INDEX_PATTERN

ADDED_BY_SHIPPER = ("@timestamp", "tags", "log", "host")


def canonical(line: dict[str, Any]) -> bytes:
    """A line, compared whole."""
    return orjson.dumps(line, option=orjson.OPT_SORT_KEYS)


def as_written(document: dict[str, Any]) -> dict[str, Any]:
    """The line a document was made of: kept whole in ``event.original`` when the shipper set
    part of it aside (the listen line's own ``host``), else its fields but the shipper's."""
    if "event" in document:
        return dict(orjson.loads(document["event"]["original"]))
    return {key: value for key, value in document.items() if key not in ADDED_BY_SHIPPER}


async def chat_load(url: str, requests: int, concurrency: int) -> collections.Counter[int]:
    statuses: collections.Counter[int] = collections.Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = {"message": f"hello number {n}", "user_id": f"user-{n % 25}"}
            async with session.post(url + "/chat", json=body) as response:
                await response.read()
                statuses[response.status] += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return statuses


async def test_live_server_under_load_every_line_stored_once(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    server = await start_jarvis_serve(tmp_path, env={"RATE_LIMIT_BURST": "1000"})
    shipper = shippers(path=server.log_file, rotate_size="200000", keep="50")
    try:
        shipper.start()
        await shipper.status_port()
        statuses = await chat_load(server.url, requests=1500, concurrency=40)
        assert statuses[200] > 0
    finally:
        assert await server.terminate() == 0
    on_disk = lines_on_disk(server.log_file.parent, "jarvis.jsonl")
    written = [canonical(line) for line in on_disk]
    assert len(written) > 1500  # at least the access log line of every request
    await shipper.wait_until_caught_up(len(written))
    metrics = await wait_for_metric(shipper, "shipper_files_held_back", lambda held: held == 0)
    assert metrics["shipper_files_rotated_total"] >= 2

    await es_client.indices.refresh(index=INDEX_PATTERN)
    everything = {"query": {"match_all": {}}}
    documents = [
        hit["_source"] async for hit in async_scan(es_client, index=INDEX_PATTERN, query=everything)
    ]
    stored = [canonical(as_written(document)) for document in documents]
    assert collections.Counter(stored) == collections.Counter(written)
    traced = sum("traced" in document["tags"] for document in documents)
    assert traced == sum(bool(line.get("request_id")) for line in on_disk) > 0
    assert await shipper.stop() == 0
