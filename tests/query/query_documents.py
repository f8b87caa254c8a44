"""Log lines turned into the documents jarvis-shipper indexes (the contract), and indexed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch

from shipper.elastic import INDEX_PREFIX, index_for
from shipper.sink.index_template import install_template

LOG_PATH = "/app/logs/jarvis.jsonl"
_ADDED_BY_SHIPPER = frozenset({"@timestamp", "tags", "log", "host"})


def shipped(lines: Iterable[dict[str, Any]], path: str = LOG_PATH) -> list[dict[str, Any]]:
    """The documents of ``lines`` written in this order to ``path``: fields, @timestamp, tags,
    log.file.path and the byte offset of each line, host.name."""
    documents = []
    offset = 0
    for line in lines:
        document = dict(line)
        document["@timestamp"] = (
            datetime.fromtimestamp(line["timestamp"], UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        document["tags"] = ["traced"] if line.get("request_id") else []
        document["log"] = {"file": {"path": path}, "offset": offset}
        document["host"] = {"name": "jarvis-test"}
        documents.append(document)
        offset += len(orjson.dumps(line)) + 1
    return documents


def unshipped(document: dict[str, Any]) -> dict[str, Any]:
    """The log line a document was made from: without what the shipper added."""
    return {key: value for key, value in document.items() if key not in _ADDED_BY_SHIPPER}


class PrivateIndices:
    """Daily indices private to one test (``jarvis-logs-t<hex>-YYYY.MM.dd``), so tests sharing
    a node never see each other's events, mapped by the shipper's own index template."""

    def __init__(self, client: AsyncElasticsearch) -> None:
        self.client = client
        self.prefix = f"{INDEX_PREFIX}t{uuid.uuid4().hex[:12]}-"
        self.pattern = self.prefix + "*"
        self._indexed = 0

    async def index(self, documents: Iterable[dict[str, Any]]) -> None:
        """Indexes the documents in their event's daily index, searchable on return."""
        await install_template(self.client)
        operations: list[dict[str, Any]] = []
        for document in documents:
            day = index_for(document["timestamp"]).removeprefix(INDEX_PREFIX)
            self._indexed += 1
            operations.append({"create": {"_index": self.prefix + day, "_id": f"{self._indexed}"}})
            operations.append(document)
        response = await self.client.bulk(operations=operations, refresh=True)
        assert not response["errors"], response

    async def delete(self) -> None:
        await self.client.indices.delete(
            index=self.pattern, ignore_unavailable=True, allow_no_indices=True
        )
