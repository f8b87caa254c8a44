"""BulkSink's own loops and state: its senders deliver every batch until the end of the
stream, it knows whether Elasticsearch is reachable (the gauge only reports that), a refused
document is replaced by its fallback under the same ``_id``, and only a refused fallback is
dead-lettered, once the disk takes it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fake_elasticsearch import FakeElasticsearch
from support.small_disk import SmallDisk

from shipper.acknowledgements import Acknowledgements
from shipper.batcher import BatchQueue, IdleSenders
from shipper.disk_health import DiskHealth
from shipper.event import END_OF_STREAM, Event, document_id
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.sink.bulk_sink import BulkSink, RetryPolicy
from shipper.sink.dead_letter import DeadLetterFile
from shipper.source.line_decoder import Line
from shipper.transform import to_event


class RefusingElasticsearch(FakeElasticsearch):
    """Refuses (400) every document ``refuses`` says it would; remembers every ``create``."""

    def __init__(self, refuses: Callable[[dict[str, Any]], bool]) -> None:
        super().__init__()
        self.refuses = refuses
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def bulk(self, body: bytes) -> bytes:
        lines = body.splitlines()
        items = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            document = orjson.loads(source)
            self.sent.append((orjson.loads(action)["create"]["_id"], document))
            if self.refuses(document):
                error = {"type": "document_parsing_exception", "reason": "refused"}
                items.append({"create": {"status": 400, "error": error}})
            else:
                self.stored.append(source)
                items.append({"create": {"status": 201}})
        return orjson.dumps({"errors": True, "items": items})


class Harness:
    def __init__(
        self, tmp_path: Path, client: FakeElasticsearch, dead_letter: Path | None = None
    ) -> None:
        self.registry = FileRegistry(tmp_path / "registry.json")
        self.progress = self.registry.get_or_create("fp", "/logs/app.jsonl")
        self.metrics = ShipperMetrics.create()
        self.disk = DiskHealth(self.metrics)
        self.batches: BatchQueue = asyncio.Queue()
        self.dead_letter = dead_letter or tmp_path / "dead-letter.jsonl"
        self.sink = BulkSink(
            client,  # type: ignore[arg-type]
            self.batches,
            IdleSenders(),
            Acknowledgements(self.registry),
            DeadLetterFile(self.dead_letter),
            self.metrics,
            RetryPolicy(initial=0.01, maximum=0.02),
            senders=2,
            disk=self.disk,
        )

    def events(self, first: int, count: int) -> list[Event]:
        made = []
        for offset in range(first, first + count):
            self.progress.track(offset, offset + 1)
            made.append(
                Event(self.progress, offset, offset + 1, document_id("fp", offset), "i", b"{}")
            )
        return made

    def events_of(self, *lines: bytes) -> list[Event]:
        """Events made of ``lines`` by the transform, as the pipeline makes them."""
        made, start = [], 0
        for data in lines:
            line = Line(start, start + len(data) + 1, data, False)
            self.progress.track(line.start, line.end)
            made.append(to_event(line, self.progress, "/logs/app.jsonl", "box"))
            start = line.end
        return made

    def fallbacks(self, reason: str) -> float:
        return float(self.metrics.events_fallback.get({"reason": reason}))

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


GOOD, BAD = b'{"timestamp": 1.0, "marker": "good"}', b'{"timestamp": 2.0, "marker": "bad", "x": 1}'


def refuses_the_bad_line(document: dict[str, Any]) -> bool:
    return document.get("marker") == "bad"


def refuses_even_its_fallback(document: dict[str, Any]) -> bool:
    return document.get("marker") == "bad" or "bad" in document.get("event", {}).get("original", "")


async def test_a_refused_document_is_sent_again_as_its_fallback_under_the_same_id(
    tmp_path: Path,
) -> None:
    client = RefusingElasticsearch(refuses_the_bad_line)
    h = Harness(tmp_path, client)
    good, bad = h.events_of(GOOD, BAD)
    await asyncio.wait_for(h.sink.deliver([good, bad]), 10)
    assert [doc_id for doc_id, _ in client.sent] == [good.doc_id, bad.doc_id, bad.doc_id]
    _, fallback = client.sent[-1]
    assert fallback["tags"] == ["_mapping_fallback"] and "marker" not in fallback
    assert fallback["event"]["original"] == BAD.decode()
    assert (
        "refused by Elasticsearch (400 document_parsing_exception)"
        in (fallback["event"]["fallback_reason"])
    )
    assert h.progress.acked == bad.end and h.progress.pending == 0
    assert h.fallbacks("refused") == 1
    assert h.metrics.events_retried.get({}) == 0, "a fallback is sent at once, not retried"
    assert not h.dead_letter.exists()


async def test_a_refused_fallback_is_dead_lettered_and_counts_done(tmp_path: Path) -> None:
    client = RefusingElasticsearch(refuses_even_its_fallback)
    h = Harness(tmp_path, client)
    good, bad = h.events_of(GOOD, BAD)
    await asyncio.wait_for(h.sink.deliver([good, bad]), 10)
    assert [doc_id for doc_id, _ in client.sent] == [good.doc_id, bad.doc_id, bad.doc_id]
    (record,) = [orjson.loads(raw) for raw in h.dead_letter.read_bytes().splitlines()]
    assert record["id"] == bad.doc_id and record["event"]["tags"] == ["_mapping_fallback"]
    assert h.progress.pending == 0
    assert h.metrics.events_dead_lettered.get({}) == 1
    assert h.metrics.dead_letter_bytes.get({}) == h.dead_letter.stat().st_size
    assert h.fallbacks("refused") == 0, "counted when stored, and it never was"


async def test_while_the_dead_letter_disk_is_full_the_event_waits_unacknowledged(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    client = RefusingElasticsearch(refuses_even_its_fallback)
    h = Harness(tmp_path, client, dead_letter=small_disk.path / "dead-letter.jsonl")
    good, bad = h.events_of(GOOD, BAD)
    small_disk.fill()
    delivery = asyncio.create_task(h.sink.deliver([good, bad]))
    for _ in range(500):
        if h.metrics.disk_errors.get({"target": "dead_letter"}) >= 3:
            break
        await asyncio.sleep(0.01)
    assert not delivery.done()
    assert h.disk.report()["dead_letter"]["path"] == str(h.dead_letter)
    assert h.progress.acked == good.end and h.progress.pending == 1
    assert h.metrics.events_dead_lettered.get({}) == 0
    small_disk.free_up()
    await asyncio.wait_for(delivery, 10)
    assert h.disk.ok and h.progress.pending == 0
    assert len(h.dead_letter.read_bytes().splitlines()) == 1
