"""A stand-in for the shipper's BulkClient: takes or refuses bulk requests as the test says."""

from __future__ import annotations

from typing import Any

import orjson

from shipper.sink.bulk_client import ElasticsearchUnreachable


class FakeElasticsearch:
    """Stores every ``create`` while ``reachable``; otherwise the connection is refused."""

    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.stored: list[bytes] = []
        self.templates: dict[str, dict[str, Any]] = {}

    async def bulk(self, body: bytes) -> bytes:
        self._connect()
        lines = body.splitlines()
        self.stored.extend(lines[1::2])
        items = [{"create": {"status": 201}} for _ in lines[1::2]]
        return orjson.dumps({"errors": False, "items": items})

    async def put_index_template(self, name: str, template: dict[str, Any]) -> None:
        self._connect()
        self.templates[name] = template

    async def close(self) -> None:
        pass

    def _connect(self) -> None:
        if not self.reachable:
            raise ElasticsearchUnreachable("connection refused")
