"""Shipping to a 3-node Elasticsearch cluster while one node crashes and comes back.

The shipper and ``jarvis-logs`` are given every node (``ELASTICSEARCH_URL`` comma-separated);
the index template gives each daily index a replica once a second node exists, so losing the
node that holds a primary loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch
from shipper_harness import (
    ShipperProcess,
    assert_exactly_once,
    lines_on_disk,
    markers_in_elasticsearch,
    run_writer,
    writer_markers,
)
from support.elasticsearch_node import ElasticsearchCluster
from support.jarvis_logs_cli import jsonl, run_cli

from shipper.elastic import INDEX_PATTERN

LINES = 3000


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[ElasticsearchCluster]:
    started = ElasticsearchCluster(tmp_path / "cluster", size=3)
    await asyncio.to_thread(started.start)
    try:
        yield started
    finally:
        await asyncio.to_thread(started.stop)


async def node_holding_the_primary(client: AsyncElasticsearch) -> str:
    for _ in range(200):
        shards = await client.cat.shards(index=INDEX_PATTERN, format="json")
        for shard in shards.body:
            if shard["prirep"] == "p" and shard["state"] == "STARTED":
                return str(shard["node"])
        await asyncio.sleep(0.1)
    raise AssertionError("no started primary shard of jarvis-logs-*")


async def trace_answers(cluster: ElasticsearchCluster, request_id: str) -> None:
    result = await run_cli("trace", request_id, "--json", ELASTICSEARCH_URL=cluster.url)
    assert result.status == 0, result.stderr
    assert [event["request_id"] for event in jsonl(result.stdout)] == [request_id]


@pytest.mark.timeout(600)
async def test_a_node_killed_and_restarted_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, cluster: ElasticsearchCluster
) -> None:
    log_path = tmp_path / "logs" / "app.jsonl"
    log_path.parent.mkdir()
    client = AsyncElasticsearch(cluster.url.split(","), request_timeout=30)
    shipper = ShipperProcess(log_path, tmp_path / "state", cluster.url)
    try:
        shipper.start()
        # A steady stream: about 150 lines a second for 20 seconds.
        writer = await run_writer(
            log_path, LINES, "cl", "--batch", "15", "--pause-every", "15", "--pause", "0.1"
        )
        await asyncio.sleep(3)
        first = lines_on_disk(log_path.parent)[0]

        # Steady state first: today's index has its replica on another node.
        await client.cluster.health(index=INDEX_PATTERN, wait_for_status="green", timeout="60s")
        copies = (await client.cat.shards(index=INDEX_PATTERN, format="json")).body
        assert sorted(copy["prirep"] for copy in copies) == ["p", "r"]
        victim_name = await node_holding_the_primary(client)
        victim = next(node for node in cluster.nodes if victim_name in node.cluster_options)
        victim.kill()
        # While a node is gone, what was stored stays findable and shipping goes on.
        for _ in range(3):
            await trace_answers(cluster, first["request_id"])
            await asyncio.sleep(1)
        await asyncio.to_thread(victim.start)
        await asyncio.to_thread(cluster.wait_for_health, "green", 3)

        assert await writer.wait() == 0
        await shipper.wait_until_caught_up(LINES)
        await trace_answers(cluster, first["request_id"])
        assert_exactly_once(await markers_in_elasticsearch(client), writer_markers("cl", LINES))
        assert await shipper.stop() == 0
    finally:
        if shipper.process is not None and shipper.process.poll() is None:
            shipper.kill()
        await client.close()
