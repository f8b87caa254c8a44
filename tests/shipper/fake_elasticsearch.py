"""A stand-in for AsyncElasticsearch: takes or refuses bulk requests as the test says."""

from __future__ import annotations

from types import SimpleNamespace

import elastic_transport


class FakeElasticsearch:
    """Stores every ``create`` while ``reachable``; otherwise the connection is refused."""

    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.stored: list[bytes] = []
        self.indices = SimpleNamespace(put_index_template=self._put_index_template)

    async def bulk(self, operations: bytes, filter_path: str) -> SimpleNamespace:
        if not self.reachable:
            raise elastic_transport.ConnectionError("connection refused")
        lines = operations.splitlines()
        self.stored.extend(lines[1::2])
        items = [{"create": {"status": 201}} for _ in lines[1::2]]
        return SimpleNamespace(body={"errors": False, "items": items})

    async def _put_index_template(self, **template: object) -> None:
        if not self.reachable:
            raise elastic_transport.ConnectionError("connection refused")
