"""The development Elasticsearch node is the real engine and keeps its data across restarts."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import elasticsearch
import pytest
from elasticsearch import AsyncElasticsearch
from elasticsearch.helpers import async_bulk
from support.elasticsearch_node import Cluster, wipe_jarvis_logs

from shipper.elastic import index_for

DAY = 1_795_651_200.0  # 2026-11-26T00:00:00Z
INDEX = index_for(DAY)

TEMPLATE: dict[str, Any] = {
    "mappings": {
        "properties": {
            "@timestamp": {"type": "date"},
            "level": {"type": "keyword"},
            "user_id": {"type": "keyword"},
            "duration_ms": {"type": "double"},
        }
    }
}


def event(n: int) -> dict[str, Any]:
    """The n-th test event: one every minute from DAY, five users, a known duration."""
    return {
        "@timestamp": f"2026-11-26T{n // 60:02d}:{n % 60:02d}:00.000Z",
        "level": "ERROR" if n % 10 == 0 else "INFO",
        "user_id": f"user-{n % 5}",
        "duration_ms": float(n + 1),
        "marker": f"m-{n}",
    }


async def bulk_index(client: AsyncElasticsearch, events: list[dict[str, Any]]) -> None:
    ok, errors = await async_bulk(
        client, ({"_index": INDEX, "_source": e} for e in events), refresh="wait_for"
    )
    assert (ok, errors) == (len(events), [])


async def markers(client: AsyncElasticsearch) -> set[str]:
    response = await client.search(index="jarvis-logs-*", size=1000, query={"match_all": {}})
    return {hit["_source"]["marker"] for hit in response["hits"]["hits"]}


async def test_bulk_indexed_documents_are_found_by_a_keyword_term(
    es_client: AsyncElasticsearch,
) -> None:
    await es_client.indices.create(index=INDEX, mappings=TEMPLATE["mappings"])
    events = [event(n) for n in range(50)]
    await bulk_index(es_client, events)

    response = await es_client.search(
        index="jarvis-logs-*", size=100, query={"term": {"level": "ERROR"}}
    )

    found = sorted(hit["_source"]["marker"] for hit in response["hits"]["hits"])
    assert found == sorted(e["marker"] for e in events if e["level"] == "ERROR")
    assert response.meta.headers["X-Elastic-Product"] == "Elasticsearch"


async def test_root_endpoint_reports_a_version_this_client_speaks(
    es_client: AsyncElasticsearch,
) -> None:
    info = await es_client.info()

    assert info["version"]["number"].split(".")[0] == str(elasticsearch.__version__[0])
    assert info["tagline"] == "You Know, for Search"
    assert await es_client.ping()


async def test_index_template_maps_new_daily_indices_and_aggregations_work(
    es_client: AsyncElasticsearch,
) -> None:
    await es_client.indices.put_index_template(
        name="jarvis-logs", index_patterns=["jarvis-logs-*"], template=TEMPLATE
    )
    events = [event(n) for n in range(120)]
    await bulk_index(es_client, events)

    mapping = await es_client.indices.get_mapping(index=INDEX)
    properties = mapping[INDEX]["mappings"]["properties"]
    assert properties["user_id"]["type"] == "keyword"  # dynamic mapping would make it text
    assert properties["duration_ms"]["type"] == "double"

    response = await es_client.search(
        index="jarvis-logs-*",
        size=0,
        aggs={
            "p": {"percentiles": {"field": "duration_ms", "percents": [50, 95]}},
            "avg": {"avg": {"field": "duration_ms"}},
            "users": {"cardinality": {"field": "user_id"}},
            "levels": {"terms": {"field": "level"}},
            "hourly": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}},
        },
    )

    aggs = response["aggregations"]
    durations = [float(e["duration_ms"]) for e in events]
    assert aggs["p"]["values"]["50.0"] == pytest.approx(statistics.median(durations), rel=0.02)
    assert aggs["p"]["values"]["95.0"] == pytest.approx(
        statistics.quantiles(durations, n=20)[-1], rel=0.02
    )
    assert aggs["avg"]["value"] == pytest.approx(statistics.fmean(durations))
    assert aggs["users"]["value"] == len({e["user_id"] for e in events})
    levels = {b["key"]: b["doc_count"] for b in aggs["levels"]["buckets"]}
    assert levels == Counter(e["level"] for e in events)
    hourly = {b["key_as_string"][:13]: b["doc_count"] for b in aggs["hourly"]["buckets"]}
    assert hourly == Counter(str(e["@timestamp"])[:13] for e in events)


async def test_wipe_removes_jarvis_logs_indices_and_templates_only(
    es_client: AsyncElasticsearch,
) -> None:
    await es_client.indices.put_index_template(
        name="jarvis-logs", index_patterns=["jarvis-logs-*"], template=TEMPLATE
    )
    await bulk_index(es_client, [event(0)])
    await es_client.indices.create(index="not-jarvis-test")
    try:
        await wipe_jarvis_logs(es_client)

        assert not await es_client.indices.exists(index=INDEX)
        assert not await es_client.indices.exists_index_template(name="jarvis-logs")
        assert await es_client.indices.exists(index="not-jarvis-test")
    finally:
        await es_client.indices.delete(index="not-jarvis-test")


@pytest.mark.timeout(600)
async def test_stop_then_start_keeps_the_data_on_the_same_url(
    elasticsearch_node: Cluster, es_client: AsyncElasticsearch
) -> None:
    events = [event(n) for n in range(20)]
    await bulk_index(es_client, events)

    await elasticsearch_node.astop()
    with pytest.raises(elasticsearch.ConnectionError):
        await es_client.options(max_retries=0).info()
    await elasticsearch_node.astart()

    assert await markers(es_client) == {e["marker"] for e in events}


@pytest.mark.timeout(600)
async def test_a_killed_node_keeps_acknowledged_writes(
    elasticsearch_node: Cluster, es_client: AsyncElasticsearch
) -> None:
    events = [event(n) for n in range(20)]
    # No refresh: an acknowledged bulk is in the translog, which must survive a crash.
    ok, errors = await async_bulk(es_client, ({"_index": INDEX, "_source": e} for e in events))
    assert (ok, errors) == (len(events), [])

    elasticsearch_node.kill()
    await elasticsearch_node.astart()

    assert await markers(es_client) == {e["marker"] for e in events}
