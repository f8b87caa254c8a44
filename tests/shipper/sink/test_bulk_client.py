"""The shipper's own HTTP client: what it sends, what it hands back, and where it sends it."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from shipper.elastic import ElasticsearchSettings
from shipper.sink.bulk_client import BulkClient, ElasticsearchUnreachable, RequestRefused
from shipper.sink.bulk_sink import _ALL_STORED

pytestmark = pytest.mark.timeout(120)

INDEX = "jarvis-logs-client-test"


def body(*ids: str) -> bytes:
    return b"".join(
        b'{"create":{"_index":"%s","_id":"%s"}}\n{"message":"m %s"}\n'
        % (INDEX.encode(), i.encode(), i.encode())
        for i in ids
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_all_stored_answer_starts_as_the_sink_expects_and_a_409_does_not(
    es_url, es_client
) -> None:
    client = BulkClient(ElasticsearchSettings(url=es_url))
    try:
        first = await client.bulk(body("a", "b"))
        again = await client.bulk(body("b", "c"))
    finally:
        await client.close()
        await es_client.options(ignore_status=404).indices.delete(index=INDEX)
    # The sink reads no further than these bytes when every item was stored.
    assert first.startswith(_ALL_STORED)
    assert not again.startswith(_ALL_STORED)
    statuses = [item["create"]["status"] for item in orjson.loads(again)["items"]]
    assert statuses == [409, 201]


async def test_a_refused_request_names_its_status_and_error_type(es_url) -> None:
    client = BulkClient(ElasticsearchSettings(url=es_url))
    try:
        with pytest.raises(RequestRefused) as refused:
            await client.put_index_template("jarvis-logs-bad", {"index_patterns": 42})
    finally:
        await client.close()
    assert refused.value.status == 400 and refused.value.error_type


async def test_a_node_refusing_connections_is_passed_over_for_the_next(es_url, es_client) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    client = BulkClient(ElasticsearchSettings(url=f"{dead},{es_url}"))
    try:
        for number in range(4):
            answer = await client.bulk(body(f"n{number}"))
            assert answer.startswith(_ALL_STORED)
    finally:
        await client.close()
        await es_client.options(ignore_status=404).indices.delete(index=INDEX)


async def test_no_node_answering_is_unreachable_naming_each() -> None:
    nodes = [f"http://127.0.0.1:{closed_port()}" for _ in range(2)]
    client = BulkClient(ElasticsearchSettings(url=",".join(nodes)))
    try:
        with pytest.raises(ElasticsearchUnreachable) as unreachable:
            await client.bulk(body("x"))
    finally:
        await client.close()
    assert all(node in str(unreachable.value) for node in nodes)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A loopback server answering every bulk as stored, keeping each request's headers."""
    seen: list[dict[str, str]] = []

    async def bulk(request: web.Request) -> web.Response:
        seen.append({**request.headers, "path": request.path_qs})
        return web.json_response({"errors": False, "items": []})

    app = web.Application()
    app.router.add_post("/{prefix:.*}_bulk", bulk)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("settings", "authorization"),
    [
        ({"api_key": "a2V5"}, "ApiKey a2V5"),
        (
            {"username": "elastic", "password": "s3cret"},
            "Basic " + base64.b64encode(b"elastic:s3cret").decode(),
        ),
        ({}, None),
    ],
)
async def test_credentials_go_in_the_authorization_header(listener, settings, authorization):
    address, seen = listener
    client = BulkClient(ElasticsearchSettings(url=f"http://{address}", **settings))
    try:
        await client.bulk(body("x"))
    finally:
        await client.close()
    assert seen[0].get("Authorization") == authorization
    assert seen[0]["Content-Type"] == "application/x-ndjson"


async def test_credentials_and_a_path_in_the_url_are_used(listener):
    address, seen = listener
    client = BulkClient(ElasticsearchSettings(url=f"http://user:p%40ss@{address}/es"))
    try:
        await client.bulk(body("x"))
    finally:
        await client.close()
    assert seen[0]["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert seen[0]["path"].startswith("/es/_bulk?filter_path=")
