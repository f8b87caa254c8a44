"""BulkSink's own loops and state: its senders deliver every batch until the end of the
stream, and it knows whether Elasticsearch is reachable (the gauge only reports that)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fake_elasticsearch import FakeElasticsearch

from shipper.acknowledgements import Acknowledgements
from shipper.batcher import BatchQueue, IdleSenders
from shipper.event import END_OF_STREAM, Event, document_id
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.sink.bulk_sink import BulkSink, RetryPolicy
from shipper.sink.dead_letter import DeadLetterFile


class Harness:
    def __init__(self, tmp_path: Path, client: FakeElasticsearch) -> None:
        self.registry = FileRegistry(tmp_path / "registry.json")
        self.progress = self.registry.get_or_create("fp", "/logs/app.jsonl")
        self.metrics = ShipperMetrics.create()
        self.batches: BatchQueue = asyncio.Queue()
        self.sink = BulkSink(
            client,  # type: ignore[arg-type]
            self.batches,
            IdleSenders(),
            Acknowledgements(self.registry),
            DeadLetterFile(tmp_path / "dead-letter.jsonl"),
            self.metrics,
            RetryPolicy(initial=0.01, maximum=0.02),
            senders=2,
        )

    def events(self, first: int, count: int) -> list[Event]:
        made = []
        for offset in range(first, first + count):
            self.progress.track(offset, offset + 1)
            made.append(
                Event(self.progress, offset, offset + 1, document_id("fp", offset), "i", b"{}")
            )
        return made

    @property
    def gauge(self) -> float:
        return float(self.metrics.elasticsearch_up.get({}))


async def test_the_senders_deliver_every_batch_until_the_end_of_the_stream(
    tmp_path: Path,
) -> None:
    client = FakeElasticsearch()
    h = Harness(tmp_path, client)
    for first in (0, 3, 6):
        h.batches.put_nowait(h.events(first, 3))
    h.batches.put_nowait(END_OF_STREAM)
    await asyncio.wait_for(h.sink.run(), 10)
    assert len(client.stored) == 9
    assert h.progress.acked == 9 and h.progress.pending == 0


async def test_reachability_is_the_sinks_own_state_and_the_gauge_follows_it(
    tmp_path: Path,
) -> None:
    client = FakeElasticsearch(reachable=False)
    h = Harness(tmp_path, client)
    assert not h.sink.reachable and h.gauge == 0
    delivery = asyncio.create_task(h.sink.deliver(h.events(0, 2)))
    await asyncio.sleep(0.05)
    assert not h.sink.reachable and h.gauge == 0
    assert h.progress.acked == 0
    client.reachable = True
    await asyncio.wait_for(delivery, 10)
    assert h.sink.reachable and h.gauge == 1
    assert h.progress.acked == 2
